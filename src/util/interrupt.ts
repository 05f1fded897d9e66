/**
 * Stopping a command that is busy in a long synchronous computation (docs/ARCHITECTURE.md,
 * "Interrupting"). Node runs a signal listener only when the main thread returns to its event loop;
 * a training step on the wasm backend keeps it inside wasm (and in Atomics.wait for the GEMM threads)
 * for minutes, so SIGINT and SIGTERM went unheard. Here:
 *
 *  - one shared word says "stop requested" (the signal's number). Long computations on the main
 *    thread look at it between pieces of work (the GEMM pool, before each chunk) and throw
 *    `Interrupted`; the training loop catches that and saves a checkpoint of the last finished step.
 *  - the CLI's listener sets the word too, and acknowledges the request (the main thread is listening).
 *  - a watcher thread sets the word at the moment the signal arrives, whatever the main thread is
 *    doing. If the main thread has not acknowledged within `graceMs` (a computation that cannot look at
 *    the word: a native libtensorflow kernel), or on a second signal, it ends the process at once:
 *    the last checkpoint on disk is complete (written to a temporary folder, then renamed), so a
 *    rerun with --resume continues from it.
 *
 * Worker threads get no `process.on('SIGINT')` events, so the watcher listens through Node's own
 * signal binding (`process.binding('signal_wrap')`, what `process.on` uses on the main thread). Where
 * a Node release lacks it, the watcher does not start and signals are heard between computations only.
 */
import { Worker } from 'node:worker_threads';
import { WitError } from './errors.js';

const REQUESTED = 0;
const ACKNOWLEDGED = 1;
/** Signals the watcher thread has seen (a second one ends the process). */
const SEEN = 2;
const word = new Int32Array(new SharedArrayBuffer(16));

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

/** The command a stop request interrupts (names the stage of Interrupted thrown deep in computations). */
let command = 'wit';

/** Thrown by a long computation that saw a stop request; exit code 128 + the signal's number. */
export class Interrupted extends WitError {
  constructor(stage: string = command, message = `interrupted by ${signalName(requestedSignal())}`, signal = requestedSignal() || 2) {
    super(stage, message, { exitCode: 128 + signal });
    this.name = 'Interrupted';
  }
}

function signalName(n: number): string {
  return Object.entries(SIGNAL_NUMBERS).find(([, v]) => v === n)?.[0] ?? 'a signal';
}

/** The number of the signal that asked to stop, or 0. */
export function requestedSignal(): number {
  return Atomics.load(word, REQUESTED);
}

/** Records a stop request (from the CLI's signal listener, which also acknowledges it). */
export function requestInterrupt(signal: NodeJS.Signals | number): void {
  Atomics.store(word, REQUESTED, typeof signal === 'number' ? signal : SIGNAL_NUMBERS[signal] ?? 2);
  Atomics.store(word, ACKNOWLEDGED, 1);
}

/** Clears a request (a new command in the same process). */
export function clearInterrupt(): void {
  Atomics.store(word, REQUESTED, 0);
  Atomics.store(word, ACKNOWLEDGED, 0);
  Atomics.store(word, SEEN, 0);
}

/** For long synchronous work: throws Interrupted when a stop was requested. One atomic load. */
export function throwIfInterrupted(): void {
  if (Atomics.load(word, REQUESTED) !== 0) throw new Interrupted();
}

const WATCHER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const word = new Int32Array(workerData.word);
process.noDeprecation = true; // process.binding's notice, for a binding Node itself uses
const { Signal } = process.binding('signal_wrap');
const stopNow = (why) => {
  try { writeSync(2, '\\nwit ' + workerData.command + ': ' + why + '; stopping now (a rerun with --resume continues from the last checkpoint, if any)\\n'); } catch {}
  process.kill(process.pid, 'SIGKILL');
};
for (const [name, num] of workerData.signals) {
  const handle = new Signal();
  handle.unref();
  handle.onsignal = () => {
    if (Atomics.add(word, ${SEEN}, 1) > 0) return stopNow('second ' + name);
    Atomics.compareExchange(word, ${REQUESTED}, 0, num);
    setTimeout(() => {
      if (Atomics.load(word, ${ACKNOWLEDGED}) === 0) stopNow(name + ' not answered in ' + workerData.graceMs / 1000 + ' s (busy in a computation that cannot stop)');
    }, workerData.graceMs).unref();
  };
  if (handle.start(num) !== 0) throw new Error('cannot listen for ' + name);
}
require('node:worker_threads').parentPort.postMessage('ready');
setInterval(() => {}, 1 << 30);
`;

/** A running watcher; stop() ends its thread. */
export interface SignalWatcher {
  stop(): Promise<void>;
}

/**
 * Starts the watcher thread for SIGINT and SIGTERM (the CLI does, around one command). Resolves to
 * undefined when it cannot start (no signal binding in this Node), after which signals are heard by
 * the main thread's listeners only.
 */
export async function startSignalWatcher(name: string, opts: { graceMs?: number } = {}): Promise<SignalWatcher | undefined> {
  clearInterrupt();
  command = name;
  let worker: Worker;
  try {
    worker = new Worker(WATCHER_SOURCE, {
      eval: true,
      workerData: { word: word.buffer, command: name, graceMs: opts.graceMs ?? 5000, signals: Object.entries(SIGNAL_NUMBERS) },
      stderr: false,
      stdout: false,
    });
  } catch {
    return undefined;
  }
  worker.unref();
  const ready = await new Promise<boolean>((resolve) => {
    worker.once('message', () => resolve(true));
    worker.once('error', () => resolve(false));
    worker.once('exit', () => resolve(false));
  });
  if (!ready) return undefined;
  return { stop: async () => void (await worker.terminate()) };
}
