/**
 * A small pool of querygen worker threads: tasks go to whichever worker is idle (or to a named
 * one), replies come back as promises. A worker that dies rejects what it was doing.
 */
import { Worker } from 'node:worker_threads';
import { workerUrl } from '../util/worker-url.js';
import type { WorkerInit, WorkerReply, WorkerTask } from './protocol.js';

type TaskOf<T extends WorkerTask['type']> = Extract<WorkerTask, { type: T }>;
/** A task without its sequence number (distributes over the union). */
export type TaskInput = WorkerTask extends infer T ? (T extends WorkerTask ? Omit<T, 'seq'> : never) : never;
type Pending = {
  task: WorkerTask;
  transfer?: ArrayBuffer[];
  resolve: (r: WorkerReply) => void;
  reject: (e: unknown) => void;
  onProgress?: (r: Extract<WorkerReply, { type: 'progress' }>) => void;
};

/** Error reply of a worker, with what it said about the position. */
export class WorkerTaskError extends Error {
  constructor(readonly reply: Extract<WorkerReply, { type: 'error' }>) {
    super(reply.message);
    this.name = 'WorkerTaskError';
  }
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly busy: (Pending | undefined)[] = [];
  private readonly queue: Pending[] = [];
  private readonly targeted: Pending[][] = [];
  private readonly roomWaiters: Array<() => void> = [];
  private seq = 0;
  private dead: unknown;

  constructor(size: number, init: (id: number) => WorkerInit, heapMb: number) {
    const url = workerUrl(import.meta.url, './count-worker.js');
    for (let i = 0; i < size; i++) {
      const w = new Worker(url, { workerData: init(i), resourceLimits: { maxOldGenerationSizeMb: heapMb } });
      w.on('message', (r: WorkerReply) => this.onReply(i, r));
      w.on('error', (e) => this.onDeath(i, e));
      w.on('exit', (code) => {
        if (code !== 0) this.onDeath(i, new Error(`querygen worker ${i} exited with code ${code}`));
      });
      this.workers.push(w);
      this.busy.push(undefined);
      this.targeted.push([]);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Tasks waiting for a worker. */
  get queued(): number {
    return this.queue.length;
  }

  /** Resolves when fewer than `max` tasks wait (backpressure for the chunk producer). */
  async room(max: number): Promise<void> {
    while (this.queue.length >= max) await new Promise<void>((r) => this.roomWaiters.push(r));
  }

  /** Runs a task on any worker. */
  run(task: TaskInput, opts: { transfer?: ArrayBuffer[]; onProgress?: Pending['onProgress']; on?: number } = {}): Promise<WorkerReply> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      const p: Pending = { task: { ...task, seq: this.seq++ } as WorkerTask, transfer: opts.transfer, resolve, reject, onProgress: opts.onProgress };
      if (opts.on !== undefined) this.targeted[opts.on]!.push(p);
      else this.queue.push(p);
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (let i = 0; i < this.workers.length; i++) {
      if (this.busy[i]) continue;
      const p = this.targeted[i]!.shift() ?? this.queue.shift();
      if (!p) continue;
      this.busy[i] = p;
      this.workers[i]!.postMessage(p.task, p.transfer ?? []);
    }
    while (this.roomWaiters.length > 0) this.roomWaiters.shift()!();
  }

  private onReply(i: number, r: WorkerReply): void {
    const p = this.busy[i];
    if (!p) return;
    if (r.type === 'progress') {
      p.onProgress?.(r);
      return;
    }
    this.busy[i] = undefined;
    if (r.type === 'error') p.reject(new WorkerTaskError(r));
    else p.resolve(r);
    this.dispatch();
  }

  private onDeath(i: number, e: unknown): void {
    if (!this.dead) this.dead = e;
    const p = this.busy[i];
    this.busy[i] = undefined;
    p?.reject(e);
    for (const q of [...this.queue.splice(0), ...this.targeted.flatMap((t) => t.splice(0))]) q.reject(e);
    while (this.roomWaiters.length > 0) this.roomWaiters.shift()!();
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    this.dead ??= new Error('querygen worker pool closed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

export type { TaskOf };
