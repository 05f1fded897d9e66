/**
 * Every kernel wit registers for the wasm backend must agree with tfjs's cpu backend on random
 * inputs, forward and gradients.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/train/backend/index.js';

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

type Spec = { shape: number[]; seed: number; dtype?: 'float32' | 'int32'; values?: number[] };
type Fn = (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

async function runOn(backend: string, specs: Spec[], fn: Fn): Promise<{ shape: number[]; dtype: string; data: number[] }[]> {
  await tf.setBackend(backend);
  const xs = specs.map((s) =>
    s.values ? tf.tensor(s.values, s.shape, s.dtype ?? 'float32') : tf.tensor(rand(tf.util.sizeFromShape(s.shape), s.seed), s.shape, s.dtype ?? 'float32'),
  );
  const out = fn(...xs);
  const outs = Array.isArray(out) ? out : [out];
  const res = await Promise.all(outs.map(async (t) => ({ shape: t.shape, dtype: t.dtype, data: Array.from(await t.data()) })));
  tf.dispose([...xs, ...outs]);
  return res;
}

/** Runs fn on cpu and on wasm and expects the same shapes, dtypes and (within tol, relative to scale) values. */
async function expectSame(specs: Spec[], fn: Fn, tol = 1e-5): Promise<void> {
  const want = await runOn('cpu', specs, fn);
  const got = await runOn('wasm', specs, fn);
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(got[i]!.shape).toEqual(want[i]!.shape);
    expect(got[i]!.dtype).toBe(want[i]!.dtype);
    const w = want[i]!.data;
    const g = got[i]!.data;
    const scale = Math.max(1, ...w.map(Math.abs));
    let worst = 0;
    for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(w[j]! - g[j]!));
    expect(worst / scale, `output ${i}: max abs diff ${worst} (scale ${scale})`).toBeLessThanOrEqual(tol);
  }
}

/** fn's value and the gradients of sum(fn(xs) * fixed random weights) with respect to every input. */
function withGrads(fn: (...xs: tf.Tensor[]) => tf.Tensor): Fn {
  return (...xs) => {
    const y = fn(...xs);
    const w = tf.tensor(rand(y.size, 99), y.shape);
    const grads = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(fn(...ys), w)))(xs);
    w.dispose();
    return [y, ...grads];
  };
}

beforeAll(async () => {
  await initBackend('wasm', { threads: 2 });
  await tf.setBackend('cpu');
  await tf.ready();
});

describe('BatchMatMul and _FusedMatMul (wit GEMM)', () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[7, 5], [5, 9], false, false],
    [[5, 7], [5, 9], true, false],
    [[7, 5], [9, 5], false, true],
    [[5, 7], [9, 5], true, true],
    [[1, 1], [1, 1], false, false],
    [[3, 13, 33], [3, 33, 17], false, false], // edges of the 4x8 tiles
    [[3, 13, 33], [3, 17, 33], false, true],
    [[3, 33, 13], [3, 33, 17], true, false],
    [[3, 33, 13], [3, 17, 33], true, true],
    [[9, 600], [600, 11], false, false], // k over one 256-deep block: accumulation
    [[600, 9], [11, 600], true, true],
    [[130, 200], [200, 100], false, false], // big enough to run on the worker threads: rows split
    [[30, 200], [200, 301], false, false], // columns split (fewer rows than columns)
    [[200, 30], [200, 301], true, false], // a weight gradient's shape: columns split, A transposed
    [[16, 40, 30], [16, 30, 40], false, false], // batches split over threads
    [[4, 0], [0, 3], false, false], // k = 0: zeros
  ];
  for (const [sa, sb, ta, tb] of cases) {
    it(`matMul ${JSON.stringify(sa)} x ${JSON.stringify(sb)} transposeA=${ta} transposeB=${tb}, with gradients`, async () => {
      await expectSame(
        [{ shape: sa, seed: 1 }, { shape: sb, seed: 2 }],
        withGrads((a, b) => tf.matMul(a!, b!, ta, tb)),
        1e-5,
      );
    });
  }

  // tfjs-core has no gradient for broadcast batch dims: forward only.
  const broadcast: [number[], number[], boolean, boolean][] = [
    [[2, 3, 13, 30], [30, 21], false, false], // B shared: batches folded into rows
    [[2, 3, 13, 30], [21, 30], false, true],
    [[30, 13], [2, 30, 21], true, false], // A shared
    [[2, 3, 6, 4], [1, 1, 4, 5], false, false],
  ];
  for (const [sa, sb, ta, tb] of broadcast) {
    it(`matMul ${JSON.stringify(sa)} x ${JSON.stringify(sb)} transposeA=${ta} transposeB=${tb} (broadcast)`, async () => {
      await expectSame([{ shape: sa, seed: 1 }, { shape: sb, seed: 2 }], (a, b) => tf.matMul(a!, b!, ta, tb));
    });
  }

  it('fused matMul with bias (and transposes), with gradients', async () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      await expectSame(
        [{ shape: ta ? [21, 10] : [10, 21], seed: 3 }, { shape: tb ? [13, 21] : [21, 13], seed: 4 }, { shape: [13], seed: 5 }],
        withGrads((a, b, bias) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: bias!, transposeA: ta, transposeB: tb })),
      );
    }
  });

  it('fused matMul with an activation falls back to the stock kernel and still agrees', async () => {
    await expectSame([{ shape: [6, 7], seed: 6 }, { shape: [7, 5], seed: 7 }, { shape: [5], seed: 8 }], (a, b, bias) =>
      tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: bias!, activation: 'relu' }),
    );
  });
});

describe('UnsortedSegmentSum (gradient of gather)', () => {
  it('sums rows by segment, drops ids out of range, for float32 and int32', async () => {
    const ids = { shape: [6], seed: 0, dtype: 'int32' as const, values: [2, 0, 2, -1, 7, 4] };
    await expectSame([{ shape: [6, 3], seed: 9 }, ids], (x, s) => tf.unsortedSegmentSum(x!, s as tf.Tensor1D, 5));
    // int32 stays int32 (TensorFlow's rule; tfjs's cpu backend returns float32 here).
    await tf.setBackend('wasm');
    const sums = tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4, 5, 6], 'int32'), tf.tensor1d(ids.values, 'int32'), 5);
    expect(sums.dtype).toBe('int32');
    expect(Array.from(await sums.data())).toEqual([2, 0, 4, 0, 6]);
    sums.dispose();
    await expectSame([{ shape: [6, 2, 3], seed: 10 }, ids], (x, s) => tf.unsortedSegmentSum(x!, s as tf.Tensor1D, 8));
  });

  it('gives the embedding gradient of gather (repeated indices add up)', async () => {
    await expectSame(
      [{ shape: [50, 8], seed: 11 }, { shape: [4, 6], seed: 0, dtype: 'int32', values: Array.from({ length: 24 }, (_, i) => (i * 7) % 13) }],
      (table, idx) => {
        const w = tf.tensor(rand(4 * 6 * 8, 12), [4, 6, 8]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, idx!), w)))(table!);
        w.dispose();
        return g;
      },
    );
  });
});

describe('GatherV2', () => {
  it('gathers along any axis, with batch dims, for float32 and int32, with gradients', async () => {
    const idx = (values: number[], shape: number[]): Spec => ({ shape, seed: 0, dtype: 'int32', values });
    await expectSame([{ shape: [7, 5], seed: 25 }, idx([6, 0, 2, 2, 5], [5])], (x, i) => {
      const w = tf.tensor(rand(25, 98), [5, 5]);
      const out = [tf.gather(x!, i!), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, i!), w)))(x!)];
      w.dispose();
      return out;
    });
    await expectSame([{ shape: [3, 7, 4], seed: 26 }, idx([1, 6, 0, 3, 3, 2], [2, 3])], (x, i) => tf.gather(x!, i!, 1));
    await expectSame([{ shape: [3, 7, 4], seed: 27 }, idx([3, 0, 1], [3])], (x, i) => tf.gather(x!, i!, 2));
    await expectSame([{ shape: [2, 5, 3], seed: 28 }, idx([4, 0, 1, 1], [2, 2])], (x, i) => tf.gather(x!, i!, 1, 1));
    await expectSame([{ shape: [6], seed: 0, dtype: 'int32', values: [10, 11, 12, 13, 14, 15] }, idx([5, 5, 0], [3])], (x, i) => tf.gather(x!, i!));
  });

  it('rejects an index out of range', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([4, 2]);
    const i = tf.tensor1d([1, 4], 'int32');
    expect(() => tf.gather(x, i)).toThrow(/index value 4 is not in \[0, 3\]/);
    tf.dispose([x, i]);
  });
});

describe('Slice, SplitV, Sum, Identity', () => {
  it('slices every rank and dtype like the cpu backend', async () => {
    const cases: [number[], number[], number[]][] = [
      [[10], [3], [5]],
      [[6, 7], [1, 2], [4, 3]],
      [[6, 7], [2, 0], [3, 7]],
      [[4, 5, 6], [1, 0, 2], [2, 5, 3]],
      [[4, 5, 6], [0, 1, 0], [4, 3, 6]],
      [[3, 4, 5, 6], [1, 1, 1, 1], [2, 2, 3, 4]],
      [[3, 4, 5, 6, 2], [0, 1, 2, 3, 0], [3, 2, 2, 2, 2]],
      [[3, 4], [0, 0], [0, 4]],
    ];
    for (const [shape, begin, size] of cases) {
      await expectSame([{ shape, seed: 13 }], (x) => tf.slice(x!, begin, size));
      await expectSame([{ shape, seed: 0, dtype: 'int32', values: Array.from({ length: tf.util.sizeFromShape(shape) }, (_, i) => i) }], (x) =>
        tf.slice(x!, begin, size),
      );
    }
    await expectSame([{ shape: [4, 5], seed: 14 }], (x) => tf.slice(tf.greater(x!, 0), [1, 1], [2, 3]).toInt());
  });

  it('splits along any axis (the attention q/k/v split), with gradients', async () => {
    await expectSame([{ shape: [2, 12, 5, 4], seed: 15 }], withGrads((x) => tf.concat(tf.split(x!, 3, 1).map((t, i) => t.mul(i + 1)), 3)));
    await expectSame([{ shape: [5, 9], seed: 16 }], (x) => tf.split(x!, [2, 3, 4], 1));
    await expectSame([{ shape: [5, 9], seed: 17 }], (x) => tf.split(x!, [1, 4], 0));
  });

  it('concatenates along any axis, empty parts included, for float32, int32 and bool', async () => {
    await expectSame([{ shape: [3, 4, 5], seed: 30 }, { shape: [3, 2, 5], seed: 31 }, { shape: [3, 0, 5], seed: 32 }], (a, b, c) => tf.concat([a!, b!, c!], 1));
    await expectSame([{ shape: [3, 4], seed: 33 }, { shape: [3, 1], seed: 34 }], withGrads((a, b) => tf.concat([a!, b!], -1)));
    await expectSame([{ shape: [2, 3], seed: 35 }, { shape: [4, 3], seed: 36 }], (a, b) => tf.concat([a!, b!], 0));
    await expectSame([{ shape: [2, 2], seed: 0, dtype: 'int32', values: [1, 2, 3, 4] }, { shape: [2, 1], seed: 0, dtype: 'int32', values: [5, 6] }], (a, b) =>
      tf.concat([a!, b!], 1),
    );
    await expectSame([{ shape: [2, 3], seed: 37 }, { shape: [2, 2], seed: 38 }], (a, b) => tf.concat([tf.greater(a!, 0), tf.greater(b!, 0)], 1).toInt());
  });

  it('sums over leading axes (keepDims or not) and falls back elsewhere', async () => {
    await expectSame([{ shape: [37, 13], seed: 18 }], (x) => tf.sum(x!, 0));
    await expectSame([{ shape: [4, 9, 6], seed: 19 }], (x) => tf.sum(x!, [0, 1], true));
    await expectSame([{ shape: [4, 9, 6], seed: 20 }], (x) => tf.sum(x!, [1, 0]));
    await expectSame([{ shape: [4, 9, 6], seed: 21 }], (x) => tf.sum(x!, -1));
    await expectSame([{ shape: [4, 9, 6], seed: 22 }], (x) => tf.sum(x!));
    await expectSame([{ shape: [4, 3], seed: 23 }], (x) => tf.sum(x!, 0)); // fewer than 4 columns: stock
    await expectSame([{ shape: [5, 6], seed: 24 }], withGrads((x) => tf.add(x!, tf.ones([6])).sum(0)));
  });

  it('clones without copying and keeps the clone alive after the original is disposed', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const x = tf.tensor([1, 2, 3]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3]);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
