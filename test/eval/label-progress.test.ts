import { describe, expect, it } from 'vitest';
import { classEmbeddings } from '../../src/eval/index.js';
import type { ClipHandle } from '../../src/train/index.js';

/** A stand-in CLIP text tower: a 4-d vector per prompt; counts the prompts of each call. */
function fakeClip(calls: number[]): ClipHandle {
  return {
    embedTexts: async (texts: string[]) => {
      calls.push(texts.length);
      return texts.map((t) => Float32Array.from([t.length, 1, 0, 0]));
    },
  } as unknown as ClipHandle;
}

describe('eval with a long label file (issue 26)', () => {
  it('embeds labels in chunks and reports progress with an estimate', async () => {
    const calls: number[] = [];
    const lines: string[] = [];
    const labels = Array.from({ length: 3000 }, (_, i) => `label ${i}`);
    const t0 = Date.now();
    const emb = await classEmbeddings(fakeClip(calls), labels, ['a photo of a {}.', '{}'], (l) => lines.push(l));
    expect(emb).toHaveLength(3000);
    // bounded work per call: never every prompt of a 100,000-label file at once
    expect(Math.max(...calls)).toBeLessThanOrEqual(256 * 2);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(6000);
    // the last line says all are done; lines before it (when the run took over a second) carry an estimate
    expect(lines.at(-1)).toMatch(/^eval: 3000 of 3000 labels embedded \(2 prompts each\)/);
    if (Date.now() - t0 > 1500) expect(lines.some((l) => /about .* left/.test(l))).toBe(true);
    // each class is the normalised mean of its prompts
    const n = Math.hypot(...emb[0]!);
    expect(n).toBeCloseTo(1, 5);
  });
});
