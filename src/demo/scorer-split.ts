/**
 * The demo compare stage's scorer data (docs/ARCHITECTURE.md, "compare"): the crawl is split by image,
 * a third of its distinct pictures (by sha256, every pair showing one goes with it) to train the scorer
 * and the rest as the pool the recipes curate. The scorer is then a model of the same kind, trained on
 * other pairs of the same web: no image it saw is in the pool or in the eval set, which is checked by
 * hash before it trains, not assumed.
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { shardFormatOnDisk, listShards, readShardExtras, readShards, readShardFile, shardImageFormat, shardPath, ShardWriter } from '../shards/index.js';
import { WitError } from '../util/errors.js';
import { seedOf } from '../compare/stats.js';

/** What the split made. */
export interface ScorerSplit {
  pool_pairs: number;
  scorer_pairs: number;
  /** Distinct images (sha256) of each side, and those the scorer's share with the pool and with the eval set (0, checked). */
  pool_images: number;
  scorer_images: number;
  shared_with_pool: number;
  shared_with_eval: number;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The scorer's side: a third of the distinct images, by a hash of their sha256 (seeded). */
function toScorer(hash: string, seed: number): boolean {
  return seedOf(`${seed}:${hash}`) % 3 === 0;
}

/**
 * Splits the crawl's shards into `poolDir` and `scorerDir` (one shard each side per crawl shard) by
 * image, then checks that no scorer image is in the pool or in the eval shards. Throws WitError when one is.
 */
export async function splitForScorer(crawl: string, poolDir: string, scorerDir: string, evalDir: string, seed: number): Promise<ScorerSplit> {
  await rm(poolDir, { recursive: true, force: true });
  await rm(scorerDir, { recursive: true, force: true });
  const files = await listShards(crawl);
  const res: ScorerSplit = { pool_pairs: 0, scorer_pairs: 0, pool_images: 0, scorer_images: 0, shared_with_pool: 0, shared_with_eval: 0 };
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    const opts = { imageFormat: (await shardImageFormat(file)) ?? 'jpg', extras: await readShardExtras(file), metadata: { 'wit.stage': 'demo' } } as const;
    const pool = await ShardWriter.open(shardPath(poolDir, i, '', await shardFormatOnDisk(file)), opts);
    const scorer = await ShardWriter.open(shardPath(scorerDir, i, '', await shardFormatOnDisk(file)), opts);
    try {
      for await (const rec of readShardFile(file)) {
        if (toScorer(sha(rec.image), seed)) {
          res.scorer_pairs++;
          await scorer.write(rec);
        } else {
          res.pool_pairs++;
          await pool.write(rec);
        }
      }
      await pool.close({ stage: 'demo' });
      await scorer.close({ stage: 'demo' });
    } catch (err) {
      await pool.abort();
      await scorer.abort();
      throw err;
    }
  }
  // The check, from the files as written.
  const hashes = async (dir: string) => {
    const s = new Set<string>();
    for await (const r of readShards(dir)) s.add(sha(r.image));
    return s;
  };
  const poolSet = await hashes(poolDir);
  const scorerSet = await hashes(scorerDir);
  const evalSet = await hashes(evalDir);
  res.pool_images = poolSet.size;
  res.scorer_images = scorerSet.size;
  for (const h of scorerSet) {
    if (poolSet.has(h)) res.shared_with_pool++;
    if (evalSet.has(h)) res.shared_with_eval++;
  }
  if (res.shared_with_pool || res.shared_with_eval) {
    throw new WitError('demo', `the scorer's images are not disjoint: ${res.shared_with_pool} in the pool, ${res.shared_with_eval} in the eval set`);
  }
  return res;
}
