import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend, currentBackend } from '../../src/train/backend/index.js';
import { UsageError } from '../../src/util/errors.js';

describe('initBackend', () => {
  it('refuses an explicit tensorflow backend that is not installed, naming the install command', async () => {
    await expect(initBackend('tensorflow')).rejects.toThrow(UsageError);
    await expect(initBackend('tensorflow')).rejects.toThrow(/npm install @tensorflow\/tfjs-node/);
  });

  it('starts wasm with SIMD and the requested threads, and computes', async () => {
    const info = await initBackend('wasm', { threads: 2 });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.detail).toMatch(/SIMD.*GEMM.* on 2 threads/);
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    expect(Array.from(await tf.matMul(a, a).data())).toEqual([7, 10, 15, 22]);
    expect(currentBackend()?.name).toBe('wasm');
  });

  it('auto takes wasm here (no native packages), and cpu can be selected', async () => {
    const auto = await initBackend('auto');
    expect(auto.name).toBe('wasm');
    const cpu = await initBackend('cpu');
    expect(cpu.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });
});
