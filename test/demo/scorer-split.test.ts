import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readShards } from '../../src/shards/index.js';
import { splitForScorer } from '../../src/demo/scorer-split.js';
import { writeShapePool } from '../compare/shapes.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function images(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const r of readShards(dir)) out.push(sha(r.image));
  return out;
}

describe("the demo compare stage's scorer data", () => {
  test('the crawl is split by image: every pair goes to one side, no image on both, none in the eval set; an eval image in the scorer side is refused', async () => {
    const root = mkdtempSync(join(tmpdir(), 'wit-split-'));
    try {
      const crawl = join(root, 'crawl');
      await writeShapePool(crawl, { perClass: 3 });
      // The same pictures again under other keys: a picture's copies go with it.
      await writeShapePool(join(root, 'copies'), { perClass: 3, shards: 1 });
      // each copy with its completion record: a shard without one is unfinished and refused by every reader
      for (const f of readdirSync(join(root, 'copies')).filter((n) => n.endsWith('.parquet'))) {
        cpSync(join(root, 'copies', f), join(crawl, `9${f}`));
        cpSync(join(root, 'copies', f.replace(/\.parquet$/, '_stats.json')), join(crawl, `9${f.replace(/\.parquet$/, '_stats.json')}`));
      }
      const heldout = join(root, 'heldout');
      await writeShapePool(heldout, { perClass: 1, offset: 20, shards: 1 });
      const s = await splitForScorer(crawl, join(root, 'pool'), join(root, 'scorer'), heldout, 0);
      expect(s.pool_pairs + s.scorer_pairs).toBe(72);
      expect(s.scorer_pairs).toBeGreaterThan(0);
      expect(s.pool_pairs).toBeGreaterThan(s.scorer_pairs);
      const pool = await images(join(root, 'pool'));
      const scorer = await images(join(root, 'scorer'));
      expect(pool.filter((h) => scorer.includes(h))).toEqual([]);
      expect(scorer.length).toBe(2 * new Set(scorer).size); // both copies of each picture on the same side
      expect(s).toMatchObject({ shared_with_pool: 0, shared_with_eval: 0, scorer_images: new Set(scorer).size });
      // An eval set holding a picture the scorer trains on is refused, not reported as disjoint.
      const leaky = join(root, 'leaky');
      cpSync(join(root, 'scorer'), leaky, { recursive: true });
      await expect(splitForScorer(crawl, join(root, 'pool2'), join(root, 'scorer2'), leaky, 0)).rejects.toThrow(/not disjoint: 0 in the pool, \d+ in the eval set/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});
