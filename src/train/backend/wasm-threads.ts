/**
 * Makes the multi-threaded build of @tensorflow/tfjs-backend-wasm start under Node.
 *
 * tfjs 4.22 refuses threads in Node (WASM_HAS_MULTITHREAD_SUPPORT is hard-wired to false there,
 * tfjs issue 3830) because its Emscripten glue hands the pthread workers `blob:` urls, which Node's
 * worker_threads cannot load, and because the main script it sends them is a `toString()` of a
 * function that refers to variables of the Node bundle (`require$$0`, `commonjsGlobal`, ...).
 * We cannot patch node_modules (npm ci would undo it), so during the backend's initialisation only:
 *  - the `Blob` constructor records the text of the scripts tfjs wraps in blobs;
 *  - `globalThis.Worker` (which the glue assigns and then calls) is a worker_threads Worker subclass
 *    that runs the recorded worker script with `eval: true` and rewrites the `load` message so the
 *    worker evaluates the recorded main script (prefixed with the bundle's free variables) itself;
 *  - `os.cpus()` reports twice the wanted thread count, because the C++ side caps its XNNPACK
 *    thread pool at `emscripten_num_logical_cores() / 2`, read once when the module starts.
 * Everything is restored when initialisation ends. Workers are unref'd: the pool threads live as long
 * as the process and must not keep it from exiting.
 */
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';

/** Marker the rewritten `load` message carries instead of a blob url. */
const MAIN_SCRIPT_MARKER = 'wit:tfjs-wasm-main-script';

/**
 * Appended to the Emscripten worker script: takes the main script from the `load` message and
 * serves it to the worker's own `importScripts` when asked for the marker.
 */
const WORKER_APPENDIX = `
;(function () {
  var witMain = null;
  var origOnMessage = self.onmessage;
  var origImport = global.importScripts;
  self.onmessage = function (e) {
    if (e && e.data && typeof e.data.witMainScript === 'string') witMain = e.data.witMainScript;
    return origOnMessage(e);
  };
  global.importScripts = function (f) {
    if (f === ${JSON.stringify(MAIN_SCRIPT_MARKER)}) { (0, eval)(witMain); return; }
    return origImport(f);
  };
})();
`;

/** The free variables of the factory function inside tf-backend-wasm.node.js. */
function mainScriptPreamble(distDir: string): string {
  return (
    "var require$$0 = require('fs'), require$$1 = require('path'), require$$3 = require('perf_hooks'), " +
    "require$$4 = require('os'); var commonjsGlobal = globalThis; " +
    `var __dirname = ${JSON.stringify(distDir)};\n`
  );
}

/**
 * Runs `init` (which must initialise the wasm backend) with the shims above in place, then restores
 * the globals. `threads` is the XNNPACK pool size wanted (1..8).
 */
export async function withNodeWasmThreads<T>(threads: number, distDir: string, init: () => Promise<T>): Promise<T> {
  const RealBlob = globalThis.Blob;
  const realCreateObjectURL = URL.createObjectURL;
  const realCpus = os.cpus;
  const blobText = new WeakMap<Blob, string>();
  const urlText = new Map<string, string>();
  const preamble = mainScriptPreamble(distDir);

  class RecordingBlob extends RealBlob {
    constructor(...args: ConstructorParameters<typeof Blob>) {
      super(...args);
      const parts = args[0];
      if (parts && parts.every((p) => typeof p === 'string')) blobText.set(this, (parts as unknown as string[]).join(''));
    }
  }

  class NodeWasmWorker extends NodeWorker {
    constructor(url: string | URL, options?: WorkerOptions) {
      const text = typeof url === 'string' ? urlText.get(url) : undefined;
      if (text !== undefined) super(text + WORKER_APPENDIX, { ...options, eval: true });
      else super(url, options);
      this.unref();
    }
    // Emscripten ref()s a worker while it runs a pthread; XNNPACK's pool threads never finish.
    override ref(): void {}
    override postMessage(value: unknown, transferList?: readonly import('node:worker_threads').TransferListItem[]): void {
      const msg = value as { cmd?: unknown; urlOrBlob?: unknown } | null;
      if (msg && msg.cmd === 'load' && msg.urlOrBlob instanceof RealBlob) {
        const text = blobText.get(msg.urlOrBlob);
        if (text === undefined) throw new Error('wasm threads: the main script blob was not recorded');
        value = { ...msg, urlOrBlob: MAIN_SCRIPT_MARKER, witMainScript: preamble + text };
      }
      super.postMessage(value, transferList);
    }
  }

  const workerDescriptor = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    get: () => NodeWasmWorker,
    // The glue assigns worker_threads.Worker here; keep ours.
    set: () => {},
  });
  globalThis.Blob = RecordingBlob as typeof Blob;
  URL.createObjectURL = (obj: Blob) => {
    const url = realCreateObjectURL.call(URL, obj);
    const text = blobText.get(obj);
    if (text !== undefined) urlText.set(url, text);
    return url;
  };
  os.cpus = () => {
    const one = realCpus.call(os)[0];
    return Array.from({ length: 2 * threads }, () => one!);
  };
  const events = ['uncaughtException', 'unhandledRejection'] as const;
  const listenersBefore = events.map((e) => new Set(process.listeners(e as 'uncaughtException')));
  try {
    return await init();
  } finally {
    // The Emscripten glue installs handlers that rethrow from inside its own code; Node's defaults are the same
    // behaviour with clearer stacks, and the CLI's own handlers must stay in charge.
    events.forEach((e, i) => {
      for (const l of process.listeners(e as 'uncaughtException')) if (!listenersBefore[i]!.has(l)) process.removeListener(e as 'uncaughtException', l as NodeJS.UncaughtExceptionListener);
    });
    os.cpus = realCpus;
    URL.createObjectURL = realCreateObjectURL;
    globalThis.Blob = RealBlob;
    if (workerDescriptor) Object.defineProperty(globalThis, 'Worker', workerDescriptor);
    else delete (globalThis as { Worker?: unknown }).Worker;
  }
}

/** Directory holding the backend's .wasm binaries, with a trailing slash (nothing is fetched). */
export function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve('@tensorflow/tfjs-backend-wasm');
  return path.dirname(main) + path.sep;
}
