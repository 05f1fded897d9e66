/**
 * wit's GEMM thread pool. Training on 2 loaded cores once hung forever: the main thread was descheduled
 * between publishing a product and notifying the workers, a worker ran that product meanwhile (it saw
 * the new generation without sleeping), went back to sleep, and then got the late notify, took it for
 * new work, ran the old slice again and counted down `pending` below zero, so the main thread waited
 * for ever. Every chunk must run exactly once however the workers are woken, every product must finish
 * even when the workers do not run at all, and results must agree with the cpu backend while the shared
 * wasm memory grows between products.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/train/backend/index.js';
import { gemmPool } from '../../src/train/backend/wasm-kernels.js';

/** Deterministic values in [-1, 1). */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

type Case = { b: number; m: number; n: number; k: number; ta: boolean; tb: boolean; seed: number };

/** Shapes large enough to be split over threads (>= 2 MFLOP), covering batch, row and column splits. */
function cases(count: number, seed: number): Case[] {
  let s = seed;
  const next = (lo: number, hi: number): number => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return lo + (s % (hi - lo + 1));
  };
  const out: Case[] = [];
  while (out.length < count) {
    const c = { b: next(1, 6), m: next(3, 130), n: next(3, 130), k: next(8, 300), ta: next(0, 1) === 1, tb: next(0, 1) === 1, seed: next(1, 1e6) };
    if (2 * c.b * c.m * c.n * c.k >= 2e6) out.push(c);
  }
  return out;
}

function product(backend: string, c: Case): Float32Array {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const a = tf.tensor(rand(c.b * c.m * c.k, c.seed), c.ta ? [c.b, c.k, c.m] : [c.b, c.m, c.k]);
    const b = tf.tensor(rand(c.b * c.k * c.n, c.seed + 1), c.tb ? [c.b, c.n, c.k] : [c.b, c.k, c.n]);
    return tf.matMul(a, b, c.ta, c.tb).dataSync() as Float32Array;
  });
}

function expectClose(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect(worst, `${what}: max abs diff`).toBeLessThanOrEqual(1e-3);
}

describe('GEMM pool', () => {
  beforeAll(async () => {
    await initBackend('wasm', { threads: 2 });
    await tf.setBackend('cpu');
    await tf.ready();
  });
  afterAll(() => gemmPool()?.holdWorkers(false));

  it('finishes every product on the main thread while the workers never run', () => {
    const pool = gemmPool();
    expect(pool, 'the wasm backend started wit GEMM threads').not.toBeNull();
    const before = pool!.getStats();
    pool!.holdWorkers(true);
    try {
      for (const c of cases(12, 7)) expectClose(product('wasm', c), product('cpu', c), JSON.stringify(c));
    } finally {
      pool!.holdWorkers(false);
    }
    const after = pool!.getStats();
    expect(after.parallelRuns - before.parallelRuns).toBe(12);
    expect(after.chunksOnWorkers).toBe(before.chunksOnWorkers);
    // Held workers claimed nothing: every chunk ran here.
    expect(after.chunksOnMain - before.chunksOnMain).toBe(after.chunks - before.chunks);
  });

  it('agrees with cpu over many products while the shared memory grows between them', () => {
    const pool = gemmPool()!;
    const before = pool.getStats();
    const memory = (tf.findBackend('wasm') as unknown as { wasm: { wasmMemory: { buffer: ArrayBufferLike } } }).wasm.wasmMemory;
    const bytesBefore = memory.buffer.byteLength;
    tf.setBackend('wasm');
    const held: tf.Tensor[] = [];
    const all = cases(150, 11);
    const wasmOut: Float32Array[] = [];
    try {
      all.forEach((c, i) => {
        // Keep growing the heap (4 MiB more every 10 products) so that memory.grow happens between
        // products that workers then read and write.
        if (i % 10 === 0) {
          tf.setBackend('wasm');
          held.push(tf.fill([1 << 20], i, 'float32'));
        }
        wasmOut.push(product('wasm', c));
      });
      tf.setBackend('wasm');
      expect(memory.buffer.byteLength, 'the shared memory grew').toBeGreaterThan(bytesBefore);
      for (const [j, t] of held.entries()) expect(t.dataSync()[(j * 7919) % t.size]).toBe(j * 10);
    } finally {
      tf.setBackend('wasm');
      tf.dispose(held);
    }
    all.forEach((c, i) => {
      if (i % 5 === 0) expectClose(wasmOut[i]!, product('cpu', c), JSON.stringify(c));
    });
    const after = pool.getStats();
    expect(after.parallelRuns - before.parallelRuns).toBe(all.length);
    expect(after.chunksOnMain + after.chunksOnWorkers).toBe(after.chunks);
  });

  it('runs every chunk exactly once when workers get late (stray) notifies between products', () => {
    const pool = gemmPool()!;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const all = cases(40, 23);
    let woken = 0;
    for (const c of all) {
      expectClose(product('wasm', c), product('cpu', c), JSON.stringify(c));
      // Let the worker go back to sleep, then wake it with no new work, as a late notify does.
      for (let i = 0; i < 200; i++) {
        const n = pool.nudgeWorkers();
        woken += n;
        if (n > 0) break;
        Atomics.wait(nap, 0, 0, 1);
      }
      const s = pool.getStats();
      expect(s.chunksOnMain + s.chunksOnWorkers, 'chunks run = chunks published').toBe(s.chunks);
    }
    expect(woken, 'the stray notifies reached a sleeping worker').toBeGreaterThan(0);
  });
});
