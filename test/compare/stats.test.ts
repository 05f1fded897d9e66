import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, test } from 'vitest';
import { listShards, readShards } from '../../src/shards/index.js';
import { writeShapePool } from './shapes.js';
import { mean, pairedDiff, sd, tQuantile975 } from '../../src/compare/stats.js';
import { validateRecipe } from '../../src/compare/recipes.js';
import { balancePool } from '../../src/compare/curate.js';

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
