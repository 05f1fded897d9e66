/**
 * Runs wit's SIMD GEMM (gemm/gemm.c, compiled into gemm-wasm.ts) on the tfjs wasm backend's shared
 * linear memory from the main thread and `threads - 1` worker threads at once.
 *
 * Why not XNNPACK: tfjs-backend-wasm 4.22 reaches XNNPACK's GEMM only for batch-1, untransposed
 * products and runs it without its thread pool; every other matmul (all the gradients, attention)
 * takes a scalar loop. This GEMM takes any strides (both transposes), batches (with broadcasting),
 * and splits rows or batches over threads.
 *
 * One product is cut into `threads` chunks (row, column or batch ranges). Every thread, the main one
 * included, claims chunks by compare-and-swap on one shared word until none is left, so each chunk runs
 * exactly once and the main thread never waits for a worker that has not started: a worker that is
 * descheduled, slow to wake, or gone costs speed, never progress (the main thread runs its chunks).
 * The main thread then waits only for chunks a worker has claimed and is computing. Workers block in
 * Atomics.wait on that word between products (no spinning), and treat every wake-up as "look again",
 * never as "there is work": a notify can arrive late. (The earlier protocol — wait on a generation
 * counter, run your slice, count `pending` down — hung training on loaded machines: the main thread,
 * descheduled between bumping the generation and notifying, let a worker run the new slice without
 * sleeping and go back to sleep; the late notify then woke it, it ran the slice again and took
 * `pending` to -1, and the main thread waited for 0 for ever.) Workers are unref'd so they never keep
 * the process alive.
 */
import { Worker } from 'node:worker_threads';
import v8 from 'node:v8';
import { GEMM_FMA_WASM_BASE64, GEMM_WASM_BASE64 } from './gemm-wasm.js';
import { WebAssemblyApi, type WasmGlobal, type WasmMemory, type WasmModule } from './webassembly.js';
import { requestedSignal, throwIfInterrupted } from '../../util/interrupt.js';
import { countFlops } from './meter.js';

/** Rows of one micro-tile (MR in gemm.c): row slices are multiples of this. */
const MR = 4;
const NR = 8;
const KC = 256;
const STACK_BYTES = 64 * 1024;
/** Products smaller than this (FLOPs) run on the calling thread only: waking workers costs more. */
const PARALLEL_MIN_FLOPS = 2e6;
/** On one thread, products above twice this run in slices of about this many FLOPs (a fraction of a second), at most MAX_SERIAL_SLICES. */
const SERIAL_SLICE_FLOPS = 2e9;
const MAX_SERIAL_SLICES = 32;

// Control block (Int32 slots).
/**
 * The claim word: (generation << 10) | (chunks << 5) | next unclaimed chunk. A claim is a CAS of this
 * word from its current value, so a claim made by a thread that read an old value fails; the chunk's
 * arguments are read after the claim, and the publisher does not write new ones until every chunk of
 * the current product is done.
 */
const CLAIM = 0;
/** Chunks of the current product finished (by any thread). */
const DONE = 1;
const ERROR = 2;
/** Test hook: workers claim nothing while this is 1 (simulates workers that never get to run). */
const HOLD = 3;
/** Chunks run by workers since the pool started (diagnostics: with chunksOnMain, every chunk exactly once). */
const WORKER_CHUNKS = 4;
const ARGS = 8; // 13 shared arguments
const WORKER_SCRATCH = 24; // per worker slot (index = slot): scratch pointer
const MAX_THREADS = 16;
const CHUNKS = WORKER_SCRATCH + MAX_THREADS; // per chunk: b0, b1, i0, i1, j0, j1
const CHUNK_INTS = 8;
const CHUNK_BITS = 5;
const CHUNK_MASK = (1 << CHUNK_BITS) - 1;

type GemmFn = (
  b0: number, b1: number, i0: number, i1: number, j0: number, j1: number, k: number,
  a: number, sa: number, rsa: number, csa: number, b: number, sb: number, rsb: number, csb: number,
  c: number, sc: number, ldc: number, bias: number, scratch: number,
) => void;

interface GemmExports {
  gemm: GemmFn;
  colsum(x: number, rows: number, cols: number, out: number): void;
  copy2d(dst: number, dstStride: number, src: number, srcStride: number, rows: number, rowBytes: number): void;
  __stack_pointer: WasmGlobal;
}

/** Memory allocation functions of the Emscripten module. */
export interface WasmHeap {
  memory: WasmMemory;
  malloc(bytes: number): number;
  free(ptr: number): void;
}

/** One GEMM: strides in elements; pointers are byte addresses in the shared memory. */
export interface GemmArgs {
  batch: number;
  m: number;
  n: number;
  k: number;
  a: number; sa: number; rsa: number; csa: number;
  b: number; sb: number; rsb: number; csb: number;
  c: number; sc: number; ldc: number;
  /** Byte address of a length-n bias added to every row, or 0. */
  bias: number;
}

/** How often a waiting main thread looks at the clock, and how long it waits for a worker at most. */
const STALL_CHECK_MS = 1000;
const STALL_LIMIT_MS = 120_000;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, ctrl: ctrlBuf, slot, stackTop } = workerData;
const ctrl = new Int32Array(ctrlBuf);
const inst = new WebAssembly.Instance(module, { env: { memory } });
inst.exports.__stack_pointer.value = stackTop;
const gemm = inst.exports.gemm;
parentPort.postMessage('ready');
for (;;) {
  if (Atomics.load(ctrl, ${HOLD}) !== 0) { Atomics.wait(ctrl, ${HOLD}, 1); continue; }
  const v = Atomics.load(ctrl, ${CLAIM});
  const n = (v >>> ${CHUNK_BITS}) & ${CHUNK_MASK};
  const c = v & ${CHUNK_MASK};
  if (c >= n) { Atomics.wait(ctrl, ${CLAIM}, v); continue; }
  if (Atomics.compareExchange(ctrl, ${CLAIM}, v, v + 1) !== v) continue;
  const s = ${CHUNKS} + c * ${CHUNK_INTS};
  const g = ${ARGS};
  try {
    if (ctrl[s] < ctrl[s + 1] && ctrl[s + 2] < ctrl[s + 3] && ctrl[s + 4] < ctrl[s + 5]) gemm(ctrl[s], ctrl[s + 1], ctrl[s + 2], ctrl[s + 3], ctrl[s + 4], ctrl[s + 5], ctrl[g], ctrl[g + 1] >>> 0, ctrl[g + 2],
      ctrl[g + 3], ctrl[g + 4], ctrl[g + 5] >>> 0, ctrl[g + 6], ctrl[g + 7], ctrl[g + 8], ctrl[g + 9] >>> 0, ctrl[g + 10],
      ctrl[g + 11], ctrl[g + 12] >>> 0, ctrl[${WORKER_SCRATCH} + slot] >>> 0);
  } catch (e) {
    Atomics.store(ctrl, ${ERROR}, 1);
  }
  Atomics.add(ctrl, ${WORKER_CHUNKS}, 1);
  if (Atomics.add(ctrl, ${DONE}, 1) + 1 === n) Atomics.notify(ctrl, ${DONE});
}
`;

/** Counters of a pool's work (diagnostics and tests). */
export interface GemmPoolStats {
  /** Products split over threads. */
  parallelRuns: number;
  /** Chunks of those products. */
  chunks: number;
  /** Chunks the main thread ran itself. */
  chunksOnMain: number;
  /** Chunks the workers ran (chunksOnMain + chunksOnWorkers = chunks: each ran exactly once). */
  chunksOnWorkers: number;
}

/** One chunk of a product: batch, row and column ranges [b0, b1, i0, i1, j0, j1). */
type Range = [number, number, number, number, number, number];

/**
 * Cuts a product into `threads` chunks: batches when there are enough of them; else rows (every
 * thread then packs all of B) or columns (every thread packs all of A), whichever duplicates less packing.
 */
function splitRanges(g: GemmArgs, threads: number): Range[] {
  const ranges: Range[] = [];
  if (g.batch >= threads * 2 || (g.m < MR * threads && g.n < NR * threads)) {
    const per = Math.ceil(g.batch / threads);
    for (let t = 0; t < threads; t++) ranges.push([Math.min(g.batch, t * per), Math.min(g.batch, (t + 1) * per), 0, g.m, 0, g.n]);
  } else if (g.m >= g.n ? g.m >= MR * threads : g.n < NR * threads) {
    const per = Math.ceil(g.m / threads / MR) * MR;
    for (let t = 0; t < threads; t++) ranges.push([0, g.batch, Math.min(g.m, t * per), Math.min(g.m, (t + 1) * per), 0, g.n]);
  } else {
    const per = Math.ceil(g.n / threads / NR) * NR;
    for (let t = 0; t < threads; t++) ranges.push([0, g.batch, 0, g.m, Math.min(g.n, t * per), Math.min(g.n, (t + 1) * per)]);
  }
  return ranges;
}

/** A pool of GEMM threads bound to one wasm memory. */
export class GemmPool {
  readonly threads: number;
  /** Whether the fused multiply-add build (relaxed SIMD) runs. */
  readonly fma: boolean;
  private readonly heap: WasmHeap;
  private readonly gemm: GemmFn;
  private readonly colsumFn: (x: number, rows: number, cols: number, out: number) => void;
  private readonly copy2dFn: (dst: number, dstStride: number, src: number, srcStride: number, rows: number, rowBytes: number) => void;
  private readonly ctrl: Int32Array;
  private readonly workers: Worker[];
  /** Per thread (0 = main): scratch pointer and its capacity in floats. */
  private readonly scratch: { ptr: number; floats: number }[];
  /** Set when a worker stalled: the pool must not be used again. */
  private broken = false;
  private generation = 0;
  private readonly stats = { parallelRuns: 0, chunks: 0, chunksOnMain: 0 };

  private constructor(heap: WasmHeap, exports: GemmExports, ctrl: Int32Array, workers: Worker[], fma: boolean) {
    this.fma = fma;
    const gemm = exports.gemm;
    this.colsumFn = exports.colsum;
    this.copy2dFn = exports.copy2d;
    this.heap = heap;
    this.gemm = gemm;
    this.ctrl = ctrl;
    this.workers = workers;
    this.threads = workers.length + 1;
    this.scratch = Array.from({ length: this.threads }, () => ({ ptr: 0, floats: 0 }));
  }

  /**
   * Compiles the GEMM module, instantiates it on `heap.memory` here and in `threads - 1` workers.
   * Throws when the memory is not shared (threads > 1) or the module does not instantiate.
   */
  static async create(heap: WasmHeap, threads: number, opts: { fma?: boolean } = {}): Promise<GemmPool> {
    const { module, fma } = await compileGemm(opts.fma ?? true);
    const stackTop = (): number => heap.malloc(STACK_BYTES) + STACK_BYTES;
    const inst = new WebAssemblyApi.Instance(module, { env: { memory: heap.memory } });
    const exports = inst.exports as unknown as GemmExports;
    exports.__stack_pointer.value = stackTop();
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new Error(`wit gemm: threads must be 1..${MAX_THREADS}, got ${threads}`);
    const ctrl = new Int32Array(new SharedArrayBuffer(4 * (CHUNKS + CHUNK_INTS * MAX_THREADS)));
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let slot = 1; slot < threads; slot++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory: heap.memory, ctrl: ctrl.buffer, slot, stackTop: stackTop() } });
      w.unref();
      workers.push(w);
      ready.push(
        new Promise((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
        }),
      );
    }
    await Promise.all(ready);
    return new GemmPool(heap, exports, ctrl, workers, fma);
  }

  /**
   * C = op(A)·op(B) (+ bias) for every batch entry; blocks until all threads are done. One product
   * from publishing to joining, kept in one piece: the claim protocol reads best whole (comments are
   * most of its length).
   */
  run(g: GemmArgs): void {
    if (g.batch === 0 || g.m === 0 || g.n === 0) return;
    if (this.broken) throw new Error('wit gemm: the thread pool stalled earlier; rerun with --threads 1 (or WIT_GEMM_THREADS=1)');
    // A stop request (SIGINT/SIGTERM, seen by a watcher thread) ends a long step here, between products.
    throwIfInterrupted();
    const flops = 2 * g.batch * g.m * g.n * g.k;
    countFlops(flops);
    const useThreads = this.threads > 1 && flops >= PARALLEL_MIN_FLOPS ? this.threads : 1;
    const ranges = splitRanges(g, useThreads);
    const need = KC * (MR + Math.ceil(g.n / NR) * NR);
    if (useThreads === 1) {
      this.ensureScratch(0, need);
      // One thread: a product of a large model is seconds, so it runs in slices with a look at the stop
      // word between them (the multi-threaded path looks between chunks).
      const slices = Math.min(MAX_SERIAL_SLICES, Math.floor(flops / SERIAL_SLICE_FLOPS));
      for (const r of slices > 1 ? splitRanges(g, slices) : ranges) {
        if (slices > 1) throwIfInterrupted();
        if (r[0] < r[1] && r[2] < r[3] && r[4] < r[5]) this.gemm(r[0], r[1], r[2], r[3], r[4], r[5], g.k, g.a, g.sa, g.rsa, g.csa, g.b, g.sb, g.rsb, g.csb, g.c, g.sc, g.ldc, g.bias, this.scratch[0]!.ptr);
      }
      return;
    }
    for (let t = 0; t < this.threads; t++) this.ensureScratch(t, need);
    const c = this.ctrl;
    const args = [g.k, g.a, g.sa, g.rsa, g.csa, g.b, g.sb, g.rsb, g.csb, g.c, g.sc, g.ldc, g.bias];
    for (let i = 0; i < args.length; i++) c[ARGS + i] = args[i]! | 0;
    for (let w = 1; w <= this.workers.length; w++) c[WORKER_SCRATCH + w] = this.scratch[w]!.ptr | 0;
    const n = ranges.length;
    for (let t = 0; t < n; t++) {
      const s = CHUNKS + t * CHUNK_INTS;
      for (let i = 0; i < 6; i++) c[s + i] = ranges[t]![i]!;
    }
    Atomics.store(c, ERROR, 0);
    Atomics.store(c, DONE, 0);
    this.generation = (this.generation + 1) & 0x1fffff;
    // Publishing the claim word (sequentially consistent) makes the plain writes above visible to
    // whoever claims a chunk of this product.
    Atomics.store(c, CLAIM, (this.generation << (2 * CHUNK_BITS)) | (n << CHUNK_BITS));
    Atomics.notify(c, CLAIM);
    this.stats.parallelRuns++;
    this.stats.chunks += n;
    let stopped = false;
    try {
      for (;;) {
        const v = Atomics.load(c, CLAIM);
        const t = v & CHUNK_MASK;
        if (t >= n) break;
        // Between chunks too (one product of a large model is seconds): the finally below cancels the
        // chunks nobody started and waits for those running, so no thread writes after this returns.
        if (requestedSignal() !== 0) {
          stopped = true;
          break;
        }
        if (Atomics.compareExchange(c, CLAIM, v, v + 1) !== v) continue;
        const r = ranges[t]!;
        try {
          if (r[0] < r[1] && r[2] < r[3] && r[4] < r[5]) this.gemm(r[0], r[1], r[2], r[3], r[4], r[5], g.k, g.a, g.sa, g.rsa, g.csa, g.b, g.sb, g.rsb, g.csb, g.c, g.sc, g.ldc, g.bias, this.scratch[0]!.ptr);
        } finally {
          Atomics.add(c, DONE, 1);
          this.stats.chunksOnMain++;
        }
      }
    } finally {
      // After a failure here, take the chunks nobody has started, so that no worker starts one after
      // this call returns; then wait for those a worker is running (they write the output).
      for (;;) {
        const v = Atomics.load(c, CLAIM);
        const t = v & CHUNK_MASK;
        if (t >= n) break;
        if (Atomics.compareExchange(c, CLAIM, v, v - t + n) === v) {
          Atomics.add(c, DONE, n - t);
          break;
        }
      }
      // A claimed chunk is a worker inside the GEMM (milliseconds of arithmetic, no locks): one not
      // done in minutes means the thread is gone or wedged, and blocking here forever would also make
      // the process deaf to signals. Fail the step loudly instead (training resumes from a checkpoint).
      const started = Date.now();
      for (let d = Atomics.load(c, DONE); d !== n; d = Atomics.load(c, DONE)) {
        if (Atomics.wait(c, DONE, d, STALL_CHECK_MS) === 'timed-out' && Date.now() - started > STALL_LIMIT_MS) {
          this.broken = true;
          throw new Error(`wit gemm: a worker thread has not finished its slice in ${STALL_LIMIT_MS / 1000} s; rerun with --threads 1 (or WIT_GEMM_THREADS=1)`);
        }
      }
    }
    if (Atomics.load(c, ERROR)) throw new Error('wit gemm: a worker thread failed');
    if (stopped) throwIfInterrupted();
  }

  /** Work counters since the pool started. */
  getStats(): GemmPoolStats {
    return { ...this.stats, chunksOnWorkers: Atomics.load(this.ctrl, WORKER_CHUNKS) };
  }

  /**
   * Tests only: wakes the waiting workers with no new work, as a notify that arrives late does (the
   * main thread descheduled between publishing a product and notifying). Returns how many woke.
   */
  nudgeWorkers(): number {
    return Atomics.notify(this.ctrl, CLAIM);
  }

  /**
   * Tests only: while `hold` is true the workers claim no chunk (as if never scheduled), so the main
   * thread must run every chunk itself.
   */
  holdWorkers(hold: boolean): void {
    Atomics.store(this.ctrl, HOLD, hold ? 1 : 0);
    if (!hold) Atomics.notify(this.ctrl, HOLD);
  }

  /** out[j] = Σᵢ x[i·cols + j] over float32 arrays at byte addresses x and out (this thread only). */
  colsum(x: number, rows: number, cols: number, out: number): void {
    this.colsumFn(x, rows, cols, out);
  }

  /** `rows` copies of `rowBytes` bytes between strided rows (byte addresses and strides; no overlap). */
  copy2d(dst: number, dstStride: number, src: number, srcStride: number, rows: number, rowBytes: number): void {
    this.copy2dFn(dst, dstStride, src, srcStride, rows, rowBytes);
  }

  private ensureScratch(t: number, floats: number): void {
    const s = this.scratch[t]!;
    if (s.floats >= floats) return;
    if (s.ptr) this.heap.free(s.ptr);
    const grow = Math.max(floats, s.floats * 2);
    s.ptr = this.heap.malloc(grow * 4);
    if (!s.ptr) throw new Error(`wit gemm: out of wasm memory for ${grow * 4} bytes of scratch`);
    s.floats = grow;
  }

  /** Stops the workers (tests; a process may also just exit). */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * The FMA build when the runtime validates relaxed SIMD (Node >= 22 does by default; Node 20's V8 has
 * it behind --experimental-wasm-relaxed-simd, which is switched on here for that), else the plain one.
 */
async function compileGemm(wantFma: boolean): Promise<{ module: WasmModule; fma: boolean }> {
  if (wantFma) {
    const bytes = Buffer.from(GEMM_FMA_WASM_BASE64, 'base64');
    try {
      return { module: await WebAssemblyApi.compile(bytes), fma: true };
    } catch {
      try {
        v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
        return { module: await WebAssemblyApi.compile(bytes), fma: true };
      } catch {
        // Plain SIMD below.
      }
    }
  }
  return { module: await WebAssemblyApi.compile(Buffer.from(GEMM_WASM_BASE64, 'base64')), fma: false };
}
