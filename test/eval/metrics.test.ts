import { describe, expect, test } from 'vitest';
import { fillTemplate, meanEmbedding, retrievalRecall, zeroShotAccuracy } from '../../src/eval/index.js';

const v = (...x: number[]): Float32Array => {
  const n = Math.hypot(...x);
  return Float32Array.from(x.map((y) => y / n));
};

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
  });

  test('ties count for the model (identical captions of different pairs)', () => {
    const a = v(1, 0);
    const r = retrievalRecall([a, a], [a, a]);
    expect(r.imageToText.r1).toBe(1);
    expect(r.textToImage.r1).toBe(1);
  });

  test('prompt ensemble: mean of unit vectors, renormalised; templates fill {} or {label}', () => {
    const m = meanEmbedding([v(1, 0), v(0, 1)]);
    expect(m[0]).toBeCloseTo(Math.SQRT1_2);
    expect(m[1]).toBeCloseTo(Math.SQRT1_2);
    expect(fillTemplate('a photo of a {}.', 'cat')).toBe('a photo of a cat.');
    expect(fillTemplate('{label}!', 'dog')).toBe('dog!');
  });
});
