import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/train/backend/index.js';
import { clipLoss, siglipLoss } from '../../src/train/loss.js';

interface Case {
  batch: number; dim: number; logit_scale: number; logit_bias: number;
  image: number[][]; text: number[][];
  clip_loss: number; clip_grad_image: number[][]; clip_grad_text: number[][];
  siglip_loss: number; siglip_grad_image: number[][]; siglip_grad_text: number[][];
}
const fixtures = JSON.parse(readFileSync(new URL('../fixtures/losses/losses.json', import.meta.url), 'utf8')) as { cases: Case[] };

beforeAll(async () => {
  await initBackend('cpu');
});

const val = (t: tf.Scalar): number => {
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
};

describe('clipLoss', () => {
  test('hand-computed: identity features, scale 1', () => {
    const f = tf.tensor2d([[1, 0], [0, 1]]);
    // Each row: -log(e / (e + 1)) = log(1 + e^-1); both directions equal.
    expect(val(clipLoss(f, f, 1))).toBeCloseTo(Math.log(1 + Math.exp(-1)), 6);
  });
  test('hand-computed: 3 orthonormal pairs at scale 10, and a swapped pair', () => {
    const eye = tf.eye(3) as tf.Tensor2D;
    expect(val(clipLoss(eye, eye, 10))).toBeCloseTo(Math.log(1 + 2 * Math.exp(-10)), 6); // float32 rounding ~2e-7
    // Swap two texts: rows 0 and 1 now put their mass on the wrong column.
    const swapped = tf.tensor2d([[0, 1, 0], [1, 0, 0], [0, 0, 1]]);
    const wrong = Math.log(Math.exp(10) + 2) - 0; // target logit 0
    const right = Math.log(1 + 2 * Math.exp(-10));
    expect(val(clipLoss(eye, swapped, 10))).toBeCloseTo((2 * wrong + right) / 3, 4);
  });
  test('a scalar tensor scale equals a number scale', () => {
    const a = tf.tensor2d([[0.6, 0.8], [1, 0]]);
    const b = tf.tensor2d([[0, 1], [0.8, 0.6]]);
    expect(val(clipLoss(a, b, tf.scalar(3)))).toBeCloseTo(val(clipLoss(a, b, 3)), 6);
  });
  test.each(fixtures.cases.map((c, i) => [i, c] as const))('PyTorch fixture %i: value and gradients', (_i, c) => {
    const img = tf.tensor2d(c.image);
    const txt = tf.tensor2d(c.text);
    expect(val(clipLoss(img, txt, c.logit_scale))).toBeCloseTo(c.clip_loss, 4);
    const [gi, gt] = tf.grads((a: tf.Tensor, b: tf.Tensor) => clipLoss(a as tf.Tensor2D, b as tf.Tensor2D, c.logit_scale))([img, txt]);
    const maxErr = (g: tf.Tensor, ref: number[][]) => tf.max(tf.abs(tf.sub(g, tf.tensor2d(ref)))).dataSync()[0]!;
    expect(maxErr(gi!, c.clip_grad_image)).toBeLessThan(1e-4);
    expect(maxErr(gt!, c.clip_grad_text)).toBeLessThan(1e-4);
  });
});

describe('siglipLoss', () => {
  test('hand-computed: identity features, t = 1, b = 0', () => {
    const f = tf.tensor2d([[1, 0], [0, 1]]);
    // Diagonal: -log σ(1); off-diagonal (z = -1, logit 0): -log σ(0) = log 2; summed, over B = 2.
    const expected = (2 * Math.log(1 + Math.exp(-1)) + 2 * Math.log(2)) / 2;
    expect(val(siglipLoss(f, f, 1, 0))).toBeCloseTo(expected, 6);
  });
  test("hand-computed: SigLIP's init t = 10, b = -10 on orthonormal pairs", () => {
    const eye = tf.eye(3) as tf.Tensor2D;
    // Diagonal logit 0 -> log 2 each; off-diagonal logit -10 with z = -1 -> log(1 + e^-10) each.
    const expected = (3 * Math.log(2) + 6 * Math.log(1 + Math.exp(-10))) / 3;
    expect(val(siglipLoss(eye, eye, 10, -10))).toBeCloseTo(expected, 6);
  });
  test('stable for large logits (no Infinity)', () => {
    const eye = tf.eye(2) as tf.Tensor2D;
    const v = val(siglipLoss(eye, tf.tensor2d([[0, 1], [1, 0]]), 100, 0));
    expect(Number.isFinite(v)).toBe(true);
    // Diagonal logits 0 (z = +1): log 2 each; off-diagonal logits 100 with z = -1: -log σ(-100) ≈ 100 each.
    expect(v).toBeCloseTo((2 * Math.log(2) + 2 * 100) / 2, 3);
  });
  test.each(fixtures.cases.map((c, i) => [i, c] as const))('PyTorch fixture %i: value and gradients', (_i, c) => {
    const img = tf.tensor2d(c.image);
    const txt = tf.tensor2d(c.text);
    expect(val(siglipLoss(img, txt, c.logit_scale, c.logit_bias))).toBeCloseTo(c.siglip_loss, 3);
    const [gi, gt] = tf.grads((a: tf.Tensor, b: tf.Tensor) => siglipLoss(a as tf.Tensor2D, b as tf.Tensor2D, c.logit_scale, c.logit_bias))([img, txt]);
    const maxErr = (g: tf.Tensor, ref: number[][]) => tf.max(tf.abs(tf.sub(g, tf.tensor2d(ref)))).dataSync()[0]!;
    expect(maxErr(gi!, c.siglip_grad_image)).toBeLessThan(1e-3);
    expect(maxErr(gt!, c.siglip_grad_text)).toBeLessThan(1e-3);
  });
});
