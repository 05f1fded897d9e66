import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, test } from 'vitest';
import { listShards, readShards } from '../../src/shards/index.js';
import { writeShapePool } from './shapes.js';
import { mean, pairedDiff, sd, tQuantile975 } from '../../src/compare/stats.js';
import { validateRecipe } from '../../src/compare/recipes.js';
import { balancePool } from '../../src/compare/curate.js';
import { Rng } from '../../src/util/rng.js';

describe('compare statistics', () => {
  test('mean, sample sd and the t quantiles', () => {
    expect(mean([1, 2, 3, 6])).toBe(3);
    expect(sd([1, 2, 3, 6])).toBeCloseTo(Math.sqrt(14 / 3), 12);
    expect(sd([5])).toBe(0);
    expect(tQuantile975(1)).toBe(12.706);
    expect(tQuantile975(2)).toBe(4.303);
    expect(tQuantile975(30)).toBe(2.042);
    expect(tQuantile975(60)).toBeCloseTo(2.0003, 3);
    expect(tQuantile975(1e9)).toBeCloseTo(1.96, 3);
  });

  test('the paired interval uses the per-seed differences, not the two spreads', () => {
    // Seeds vary a lot, the difference hardly: the paired interval is narrow and excludes 0.
    const raw = new Map([[0, 0.2], [1, 0.5], [2, 0.8]]);
    const better = new Map([[0, 0.25], [1, 0.56], [2, 0.84]]);
    const d = pairedDiff(better, raw)!;
    expect(d.n).toBe(3);
    expect(d.mean).toBeCloseTo(0.05, 12);
    const half = (4.303 * sd([0.05, 0.06, 0.04])) / Math.sqrt(3);
    expect(d.lo).toBeCloseTo(0.05 - half, 12);
    expect(d.hi).toBeCloseTo(0.05 + half, 12);
    expect(d.lo).toBeGreaterThan(0);
    // Only the seeds both have; one common seed gives no interval; none gives null.
    expect(pairedDiff(new Map([[0, 0.3], [7, 0.9]]), raw)).toEqual({ mean: 0.3 - 0.2, lo: null, hi: null, n: 1 });
    expect(pairedDiff(new Map([[9, 0.3]]), raw)).toBeNull();
  });
});

describe('recipes', () => {
  test('fields are checked and the model is resolved against the recipes file', () => {
    expect(validateRecipe({ name: 'f', model: 'm', keep_fraction: 0.3 }, 0, '/x/r.json', '/x')).toEqual({ name: 'f', model: '/x/m', keep_fraction: 0.3 });
    expect(() => validateRecipe({ name: 'f', min_similarity: 0.2, keep_fraction: 0.3, model: 'm' }, 0, 'r.json', '/x')).toThrow(/two ways to cut by score/);
    expect(() => validateRecipe({ name: 'f', sample_seed: 1 }, 0, 'r.json', '/x')).toThrow(/sample_seed needs sample_threshold/);
    expect(() => validateRecipe({ name: 'f', model: 'm' }, 0, 'r.json', '/x')).toThrow(/nothing uses it/);
  });
});


describe('balancing a pool over its queries column', () => {
  test("cap keeps the first N a query in pool order; MetaCLIP's t keeps each pair with probability t / count, deterministically", async () => {
    const root = mkdtempSync(join(tmpdir(), 'wit-balance-'));
    try {
      await writeShapePool(join(root, 'pool'), { perClass: 6, wrongPerClass: 2, format: 'webdataset' });
      const files = await listShards(join(root, 'pool'));
      const capped = await balancePool(files, join(root, 'cap'), { name: 'c', cap: 2 });
      expect(capped).toEqual({ input: 96, kept: 24, dropped: 72, no_queries: 0, queries: 12 });
      const keys = async (dir: string) => { const k: string[] = []; for await (const r of readShards(dir, { images: false })) k.push(r.key); return k.sort(); };
      expect((await listShards(join(root, 'cap')))[0]!.endsWith('.tar')).toBe(true); // the pool's format
      // Every query counts 8 pairs: t = 4 keeps each with probability 1/2.
      const a = await balancePool(files, join(root, 's1'), { name: 's', sample_threshold: 4 });
      const b = await balancePool(files, join(root, 's2'), { name: 's', sample_threshold: 4 });
      const c = await balancePool(files, join(root, 's3'), { name: 's', sample_threshold: 4, sample_seed: 1 });
      expect(a.kept).toBeGreaterThan(30);
      expect(a.kept).toBeLessThan(66);
      expect(await keys(join(root, 's1'))).toEqual(await keys(join(root, 's2')));
      expect(await keys(join(root, 's3'))).not.toEqual(await keys(join(root, 's1')));
      const all = await balancePool(files, join(root, 's4'), { name: 's', sample_threshold: 8 });
      expect(all.kept).toBe(96); // count <= t keeps everything (MetaCLIP's count[count < t] = t)
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 600_000);
});

describe('verdict', () => {
  it('says better, worse or not shown to differ from where the interval lies', async () => {
    const { verdict } = await import('../../src/compare/table.js');
    expect(verdict({ mean: 0.05, lo: 0.01, hi: 0.09, n: 3 })).toMatch(/^better than raw/);
    expect(verdict({ mean: -0.05, lo: -0.09, hi: -0.01, n: 3 })).toMatch(/^worse than raw/);
    expect(verdict({ mean: 0.05, lo: -0.02, hi: 0.12, n: 3 })).toMatch(/^not shown to differ/);
    expect(verdict({ mean: 0.05, lo: null, hi: null, n: 1 })).toMatch(/^one seed/);
    expect(verdict(null)).toMatch(/no seed in common/);
  });
});

describe('the bootstrap over seeds and eval images, Holm across the table', async () => {
  const { bootstrapDraws, bootstrapP, holm, percentileInterval } = await import('../../src/compare/stats.js');
  const { buildTable } = await import('../../src/compare/table.js');
  type Cell = import('../../src/compare/cells.js').CellResult;
  /** A cell whose zero-shot hits are `hits` (1 = rank 0, 0 = rank 10) over the eval images. */
  const cell = (recipe: string, seed: number, hits: number[]): Cell => {
    const ranks = hits.map((h) => (h ? 0 : 10));
    const r = { r1: mean(hits), r5: mean(hits), r10: mean(hits) };
    return {
      recipe, seed, pairs_kept: 100, steps: 10, batch_size: 10, samples: 100, epochs: 1, top1: mean(hits), top5: mean(hits), image_to_text: r, text_to_image: r,
      classes: 10, chance_top1: 0.1, per_item: { zero_shot: ranks, image_to_text: ranks, text_to_image: ranks }, train_seconds: 0, eval_seconds: 0,
    };
  };
  /** Seeded 0/1 hits with probability p over n images. */
  const draw = (seed: number, n: number, p: number) => { const rng = new Rng(seed); return Array.from({ length: n }, () => (rng.next() < p ? 1 : 0)); };
  const run = { poolPairs: 100, steps: 10, batchSize: 10, seeds: 1, arch: 'x', primary: 'top1' as const, tokenizer: null, overlap: null };

  test('a recipe identical to raw is not shown to differ at any seed count; a clearly better one is better', () => {
    for (const seeds of [1, 2, 3, 5, 8]) {
      const raw = Array.from({ length: seeds }, (_, s) => draw(100 + s, 200, 0.4));
      const better = Array.from({ length: seeds }, (_, s) => raw[s]!.map((h, i) => (h || i % 3 === 0 ? 1 : 0))); // +~20 points
      const results = raw.flatMap((h, s) => [cell('raw', s, h), cell('same', s, h), cell('better', s, better[s]!)]);
      const t = buildTable([{ name: 'raw' }, { name: 'same', cap: 1000 }, { name: 'better', cap: 10 }], new Map(), results, { ...run, seeds });
      const same = t.recipes[1]!;
      expect(same.vs_raw, `${seeds} seeds`).toMatchObject({ mean: 0, lo: 0, hi: 0, verdict: 'not shown to differ', n: seeds, items: 200 });
      expect(same.metrics.top1.diff_to_raw).toMatchObject({ mean: 0, lo: 0, hi: 0 });
      const b = t.recipes[2]!.vs_raw!;
      expect(b.verdict, `${seeds} seeds: ${JSON.stringify(b)}`).toBe('better');
      expect(b.lo).toBeGreaterThan(0.1);
      expect(t.intervals.comparisons).toBe(2);
      expect(t.eval_items.zero_shot).toBe(200);
    }
  });

  test('the eval set counts: a small difference on few images is not shown, the same difference on many is', () => {
    const make = (n: number) => {
      const raw = draw(7, n, 0.5);
      const rng = new Rng(8);
      // About 6 points better, with churn as between two models: 20 % of the hits are lost, 32 % of the misses won.
      return { raw, rec: raw.map((h) => (h ? (rng.next() < 0.2 ? 0 : 1) : rng.next() < 0.32 ? 1 : 0)) };
    };
    const few = make(60);
    const many = make(4000);
    const d = (x: { raw: number[]; rec: number[] }) => bootstrapDraws([x.rec], [x.raw], 4000, 1);
    expect(bootstrapP(d(few).draws)).toBeGreaterThan(0.05);
    expect(bootstrapP(d(many).draws)).toBeLessThan(0.001);
    // Seeds count too: a difference that flips sign between seeds is not shown, whatever the images.
    const a = draw(1, 500, 0.5);
    const up = a.map((h, i) => (i < 50 ? 1 : h));
    const down = a.map((h, i) => (i < 50 ? 0 : h));
    const mixed = bootstrapDraws([up, down, up, down], [a, a, a, a], 4000, 2);
    const ci = percentileInterval(mixed.draws, 0.05);
    expect(ci.lo).toBeLessThan(0);
    expect(ci.hi).toBeGreaterThan(0);
  });

  test("Holm's step-down: adjusted p-values and the level each comparison is tested at", () => {
    const h = holm([0.01, 0.04, 0.03, 0.5]);
    expect(h.adjusted[0]).toBeCloseTo(0.04, 12); // 4 x 0.01
    expect(h.adjusted[2]).toBeCloseTo(0.09, 12); // 3 x 0.03
    expect(h.adjusted[1]).toBeCloseTo(0.09, 12); // max(2 x 0.04, 0.09)
    expect(h.adjusted[3]).toBe(0.5);
    expect(h.level).toEqual([0.05 / 4, 0.05 / 2, 0.05 / 3, 0.05]);
  });
});
