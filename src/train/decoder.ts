import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { workerUrl } from '../util/worker-url.js';
import { decodeRgb, type CropSpec } from './preprocess.js';
import type { DecodeJob, DecodeReply } from './decode-worker.js';

/** Options for the decoder pool. */
export interface ImageDecoderOptions {
  /**
   * Worker threads decoding in parallel with the training step; 0 decodes in this thread
   * (through sharp's own async pool). Default: cores - 1, at least 1, at most 4.
   */
  workers?: number;
}

/** Default worker count: leave one core to the backend. */
export function defaultDecodeWorkers(): number {
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}

/**
 * Decodes images to RGB in worker threads (sharp in each), so that batches are prepared while
 * the backend computes a step. Jobs go to the least busy worker; results come back as
 * transferred buffers. `close()` ends the workers.
 */
export class ImageDecoder {
  private readonly workers: Worker[] = [];
  private readonly busy: number[] = [];
  private readonly dead = new Set<number>();
  private readonly pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; worker: number }>();
  private nextId = 0;
  private closed = false;

  constructor(opts: ImageDecoderOptions = {}) {
    const n = opts.workers ?? defaultDecodeWorkers();
    if (n <= 0) return;
    const url = workerUrl(import.meta.url, './decode-worker.js');
    for (let i = 0; i < n; i++) {
      const w = new Worker(url);
      w.on('message', (r: DecodeReply) => this.settle(r));
      w.on('error', (err) => this.failWorker(i, err));
      this.workers.push(w);
      this.busy.push(0);
    }
  }

  /** Threads decoding (0 = inline). */
  get size(): number {
    return this.workers.length;
  }

  private settle(r: DecodeReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    this.busy[p.worker]!--;
    if ('error' in r) p.reject(new Error(r.error));
    else p.resolve(r.rgb);
  }

  private failWorker(i: number, err: Error): void {
    // A dead worker takes no more jobs; when none is left, decoding continues inline.
    this.dead.add(i);
    for (const [id, p] of this.pending) {
      if (p.worker !== i) continue;
      this.pending.delete(id);
      p.reject(new Error(`decode worker died: ${err.message}`));
    }
  }

  /**
   * size×size RGB bytes of one image: a random resized crop when `crop` is given, else the
   * centre crop. Rejects when the image does not decode (callers count it and go on).
   */
  decode(bytes: Uint8Array, size: number, crop?: CropSpec): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error('decoder closed'));
    let w = -1;
    for (let i = 0; i < this.busy.length; i++) if (!this.dead.has(i) && (w < 0 || this.busy[i]! < this.busy[w]!)) w = i;
    if (w < 0) return decodeRgb(bytes, size, crop);
    const id = this.nextId++;
    // Copy: the bytes may be a view into a larger row-group buffer that must not be detached.
    const copy = bytes.slice();
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: w });
      this.busy[w]!++;
      this.workers[w]!.postMessage({ id, bytes: copy, size, crop } satisfies DecodeJob, [copy.buffer as ArrayBuffer]);
    });
  }

  /** Ends the workers; pending decodes reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new Error('decoder closed'));
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
