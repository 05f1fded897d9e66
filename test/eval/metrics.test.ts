import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/train/backend/index.js';
import { fillTemplate, meanEmbedding, retrievalRecall, zeroShotAccuracy } from '../../src/eval/index.js';

const v = (...x: number[]): Float32Array => {
  const n = Math.hypot(...x);
  return Float32Array.from(x.map((y) => y / n));
};

beforeAll(async () => {
  await initBackend('cpu'); // similarities are one matMul on the active backend
});

describe('eval metrics on hand-made cases', () => {
  test('zero-shot top-1/top-5 over 6 classes', () => {
    // Six class directions in 3-D; each image names which class is its nearest, second nearest, ….
    const classes = [v(1, 0, 0), v(0, 1, 0), v(0, 0, 1), v(-1, 0, 0), v(0, -1, 0), v(0, 0, -1)];
    const images = [
      v(1, 0.1, 0), // nearest class 0: right (label 0)
      v(0.1, 1, 0), // nearest 1: right (label 1)
      v(1, 0.2, 0), // label 2: class 2 ranks behind 0 and 1 -> top-5 only
      v(1, 0.3, 0.2), // label 3: x-negative is the least similar of all 6 -> misses top-5 too
    ];
    const r = zeroShotAccuracy(images, [0, 1, 2, 3], classes, ['a', 'b', 'c', 'd', 'e', 'f']);
    expect(r.top1).toBe(0.5);
    expect(r.top5).toBe(0.75);
    expect(r.classes).toBe(6);
    expect(r.samples).toBe(4);
    expect(r.perClass).toEqual({ a: 1, b: 1, c: 0, d: 0 });
    // Per image (wit compare's bootstrap): the classes ranked above the right one.
    expect(r.ranks).toBeUndefined();
    expect([...zeroShotAccuracy(images, [0, 1, 2, 3], classes, undefined, { ranks: true }).ranks!]).toEqual([0, 0, 2, 5]);
  });

  test('retrieval recall@1/5/10 with a known mismatch', () => {
    // 12 pairs on distinct directions; texts 0 and 1 swapped, so pairs 0 and 1 are rank 2 both ways.
    const dirs = Array.from({ length: 12 }, (_, i) => v(Math.cos(i), Math.sin(i), i / 5));
    const texts = [dirs[1]!, dirs[0]!, ...dirs.slice(2)];
    const r = retrievalRecall(dirs, texts);
    expect(r.samples).toBe(12);
    expect(r.imageToText.r1).toBeCloseTo(10 / 12);
    expect(r.textToImage.r1).toBeCloseTo(10 / 12);
    expect(r.imageToText.r5).toBe(1);
    expect(r.imageToText.r10).toBe(1);
    const ranked = retrievalRecall(dirs, texts, { ranks: true });
    // Per pair: the swapped pairs miss R@1, every other is first; the counts are the recalls.
    for (const ranks of [ranked.imageRanks!, ranked.textRanks!]) {
      expect(ranks[0]).toBeGreaterThan(0);
      expect(ranks[1]).toBeGreaterThan(0);
      expect([...ranks.slice(2)]).toEqual(Array(10).fill(0));
      expect([...ranks].filter((x) => x < 5).length / 12).toBe(r.imageToText.r5);
    }
  });

  test('blocked similarity (over 1024 rows) agrees with a brute-force count', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
    const n = 1100;
    const images = Array.from({ length: n }, () => v(rnd(), rnd(), rnd(), rnd()));
    const texts = images.map((x) => v(...[...x].map((y) => y + 0.3 * rnd())));
    const dot = (a: Float32Array, b: Float32Array) => a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]! + a[3]! * b[3]!;
    let r1 = 0;
    let r5t = 0;
    for (let i = 0; i < n; i++) {
      const d = dot(images[i]!, texts[i]!);
      let row = 0;
      let col = 0;
      for (let j = 0; j < n; j++) {
        if (dot(images[i]!, texts[j]!) > d + 1e-6) row++;
        if (dot(images[j]!, texts[i]!) > d + 1e-6) col++;
      }
      if (row < 1) r1++;
      if (col < 5) r5t++;
    }
    const r = retrievalRecall(images, texts);
    expect(Math.abs(r.imageToText.r1 - r1 / n)).toBeLessThan(0.01);
    expect(Math.abs(r.textToImage.r5 - r5t / n)).toBeLessThan(0.01);
    const classes = texts.slice(0, 50);
    const labels = images.map((_, i) => i % 50);
    const z = zeroShotAccuracy(images, labels, classes);
    let top1 = 0;
    images.forEach((img, i) => {
      const s = dot(img, classes[labels[i]!]!);
      if (!classes.some((c, k) => k !== labels[i] && dot(img, c) > s + 1e-6)) top1++;
    });
    expect(Math.abs(z.top1 - top1 / n)).toBeLessThan(0.01);
  });

  test('ties are broken by index, never in the model\'s favour: equal embeddings score chance', () => {
    const a = v(1, 0);
    const r = retrievalRecall([a, a], [a, a]);
    expect(r.imageToText.r1).toBe(0.5);
    expect(r.textToImage.r1).toBe(0.5);
    // A collapsed model: every embedding the same. 20 pairs, 10 classes of 2 images each.
    const same = Array.from({ length: 20 }, () => v(0, 0, 1));
    const z = zeroShotAccuracy(same, same.map((_, i) => i % 10), Array.from({ length: 10 }, () => v(0, 0, 1)));
    expect(z.top1).toBe(0.1);
    expect(z.top5).toBe(0.5);
    const rr = retrievalRecall(same, same);
    expect([rr.imageToText.r1, rr.imageToText.r5, rr.imageToText.r10]).toEqual([1 / 20, 5 / 20, 10 / 20]);
    expect([rr.textToImage.r1, rr.textToImage.r5, rr.textToImage.r10]).toEqual([1 / 20, 5 / 20, 10 / 20]);
  });

  test('a right answer with a non-finite score is a miss', () => {
    const nan = Float32Array.from([NaN, NaN]);
    const ok = v(1, 0);
    const z = zeroShotAccuracy([nan, nan], [0, 1], [ok, v(0, 1)]);
    expect([z.top1, z.top5]).toEqual([0, 0]);
    const r = retrievalRecall([nan, ok], [nan, ok]);
    expect(r.imageToText.r10).toBe(0.5);
    expect(r.textToImage.r10).toBe(0.5);
  });

  test('prompt ensemble: mean of unit vectors, renormalised; templates fill {} or {label}', () => {
    const m = meanEmbedding([v(1, 0), v(0, 1)]);
    expect(m[0]).toBeCloseTo(Math.SQRT1_2);
    expect(m[1]).toBeCloseTo(Math.SQRT1_2);
    expect(fillTemplate('a photo of a {}.', 'cat')).toBe('a photo of a cat.');
    expect(fillTemplate('{label}!', 'dog')).toBe('dog!');
  });
});
