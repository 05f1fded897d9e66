/**
 * Curating a recipe's pool once, for all its seeds (docs/ARCHITECTURE.md, "compare"): the balance over
 * the pool's `queries` column (this file, with src/crawl/balance.ts's cap store and MetaCLIP draws),
 * then one `wit filter` run (src/filter's library: basic filters, exact and semantic dedup, CLIP score).
 * Everything is built in a hidden temporary folder and renamed to `recipes/NAME/` when complete, so a
 * kill leaves no curated pool that looks finished, and two machines curating the same recipe at once
 * both end with the same folder (the second rename finds it there and discards its own).
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryCapStore, sampleKeep } from '../crawl/balance.js';
import { filter, type FilterSummary } from '../filter/index.js';
import { shardFormatOnDisk, readShardExtras, readShardFile, shardImageFormat, shardPath, ShardWriter, writeJsonAtomic } from '../shards/index.js';
import { tempPathFor } from '../util/atomic.js';
import { UsageError, WitError } from '../util/errors.js';
import { mixSeed, Rng } from '../util/rng.js';
import { balances, describeRecipe, filters, type Recipe } from './recipes.js';

/** What curating a recipe did (`recipes/NAME/curation.json`). */
export interface Curation {
  recipe: Recipe;
  description: string;
  pool_pairs: number;
  /** The balance step: pairs in, kept, dropped because no query had room / no draw passed, without queries. */
  balance: { input: number; kept: number; dropped: number; no_queries: number; queries: number } | null;
  /** The filter step's counts (src/filter's summary). */
  filter: { input: number; kept: number; dropped: Record<string, number>; threshold: number | null } | null;
  pairs_kept: number;
  seconds: number;
}

/** Where a curated recipe lives under the compare folder. */
export function recipeDir(out: string, name: string): string {
  return join(out, 'recipes', name);
}

/** Settings of the scorer and filter runs. */
export interface CurateContext {
  out: string;
  pool: string[];
  poolPairs: number;
  backend: string;
  log: (line: string) => void;
  progress: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * The balance step: one output shard per pool shard (same format, image format and extra columns),
 * keeping a pair when a query of it has room under `cap` (in pool order) or, with `sample_threshold`,
 * when MetaCLIP's draw keeps it (counts from a first pass over the `queries` column). A pair without
 * queries cannot be balanced and is dropped (MetaCLIP keeps matched pairs only).
 */
export async function balancePool(files: readonly string[], dir: string, r: Recipe, signal?: AbortSignal): Promise<NonNullable<Curation['balance']>> {
  const ids = new Map<string, number>();
  const idsOf = (queries: readonly string[]) =>
    queries.map((q) => {
      let id = ids.get(q);
      if (id === undefined) ids.set(q, (id = ids.size));
      return id;
    });
  let counts: Map<number, number> | undefined;
  if (r.sample_threshold !== undefined) {
    counts = new Map();
    for (const f of files) for await (const rec of readShardFile(f, { images: false })) for (const id of new Set(idsOf(rec.queries))) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const caps = r.cap !== undefined ? new MemoryCapStore(r.cap) : undefined;
  const res = { input: 0, kept: 0, dropped: 0, no_queries: 0, queries: 0 };
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    const w = await ShardWriter.open(shardPath(dir, i, '', await shardFormatOnDisk(file)), { imageFormat: (await shardImageFormat(file)) ?? 'jpg', extras: await readShardExtras(file), metadata: { 'wit.stage': 'compare' } });
    try {
      for await (const rec of readShardFile(file)) {
        if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new WitError('compare', 'interrupted');
        res.input++;
        const q = idsOf(rec.queries);
        const keep = !q.length ? false : caps ? caps.reserveSync(q).length > 0 : sampleKeep(q, counts!, r.sample_threshold!, r.sample_seed ?? 0, rec.key);
        if (!q.length) res.no_queries++;
        else if (!keep) res.dropped++;
        if (keep) {
          res.kept++;
          await w.write(rec);
        }
      }
      await w.close({ stage: 'compare', recipe: r.name });
    } catch (err) {
      await w.abort();
      throw err;
    }
  }
  res.queries = ids.size;
  return res;
}

/**
 * A uniform random subset of exactly `k` of the pool's `n` pairs (a size-matched control): pair i (in
 * pool order) is kept when its draw, a hash of (seed, i), is among the k smallest. Written one shard
 * per pool shard, in pool order, as a balance step would.
 */
export async function randomSubset(files: readonly string[], dir: string, n: number, k: number, seed: number, signal?: AbortSignal): Promise<NonNullable<Curation['balance']>> {
  if (k > n) throw new UsageError('compare', `random_pairs ${k} is more than the pool's ${n} pairs`);
  const draw = (i: number) => new Rng(mixSeed(seed, 0x7a4d, i)).next();
  const order = Array.from({ length: n }, (_, i) => i).map((i) => [draw(i), i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const keep = new Uint8Array(n);
  for (let j = 0; j < k; j++) keep[order[j]![1]] = 1;
  const res = { input: 0, kept: 0, dropped: 0, no_queries: 0, queries: 0 };
  for (let f = 0; f < files.length; f++) {
    const file = files[f]!;
    const w = await ShardWriter.open(shardPath(dir, f, '', await shardFormatOnDisk(file)), { imageFormat: (await shardImageFormat(file)) ?? 'jpg', extras: await readShardExtras(file), metadata: { 'wit.stage': 'compare' } });
    try {
      for await (const rec of readShardFile(file)) {
        if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new WitError('compare', 'interrupted');
        if (keep[res.input++]) {
          res.kept++;
          await w.write(rec);
        } else res.dropped++;
      }
      await w.close({ stage: 'compare' });
    } catch (err) {
      await w.abort();
      throw err;
    }
  }
  if (res.kept !== k) throw new WitError('compare', `the pool changed while it was read: ${res.input} pairs, ${n} counted`);
  return res;
}

/** The `wit filter` run of a recipe, through the filter's library function. */
async function filterStep(input: string[], dir: string, r: Recipe, ctx: CurateContext): Promise<FilterSummary> {
  return filter({
    shards: input,
    out: dir,
    model: r.model,
    minSimilarity: r.min_similarity,
    keepFraction: r.keep_fraction,
    dedup: r.dedup ?? false,
    dedupSemantic: r.dedup_semantic,
    minCaptionWords: r.min_caption_words,
    minCaptionChars: r.min_caption_chars,
    minImageSide: r.min_image_side,
    maxAspect: r.max_aspect,
    backend: ctx.backend as 'auto',
    signal: ctx.signal,
    onLog: ctx.log,
    onProgress: (p) => ctx.progress(`compare ${r.name}: filter ${p.phase} ${p.rows}/${p.rowsTotal} rows, ${p.kept} kept`),
  });
}

/**
 * Curates one recipe into `recipes/NAME/` (data/ holds its shards, curation.json what it did), unless a
 * finished folder is there. Returns the curation record. Throws what the filter throws (UsageError for
 * a bad scorer model) and WitError when interrupted.
 */
export async function curate(r: Recipe, ctx: CurateContext): Promise<Curation> {
  const t0 = performance.now();
  const final = recipeDir(ctx.out, r.name);
  await mkdir(join(ctx.out, 'recipes'), { recursive: true });
  const tmp = tempPathFor(final);
  try {
    await mkdir(tmp);
    let input = [...ctx.pool];
    let balance: Curation['balance'] = null;
    let filtered: Curation['filter'] = null;
    if (r.random_pairs !== undefined) {
      ctx.progress(`compare ${r.name}: drawing ${r.random_pairs} of ${ctx.poolPairs} pairs at random`);
      balance = await randomSubset(ctx.pool, join(tmp, 'data'), ctx.poolPairs, r.random_pairs, r.random_seed ?? 0, ctx.signal);
    } else if (balances(r)) {
      ctx.progress(`compare ${r.name}: balancing ${ctx.poolPairs} pairs`);
      balance = await balancePool(ctx.pool, join(tmp, filters(r) ? 'balanced' : 'data'), r, ctx.signal);
      input = [join(tmp, filters(r) ? 'balanced' : 'data')];
    }
    if (filters(r)) {
      const s = await filterStep(input, join(tmp, 'data'), r, ctx);
      filtered = { input: s.input, kept: s.kept, dropped: Object.fromEntries(Object.entries(s.dropped).filter(([, v]) => v > 0)), threshold: s.threshold };
      await rm(join(tmp, 'balanced'), { recursive: true, force: true });
    }
    if (!balances(r) && !filters(r) && r.random_pairs === undefined) {
      // A recipe with no step: a copy of the pool, so that it trains on its own folder like any other.
      balance = null;
      await copyPool(ctx.pool, join(tmp, 'data'));
    }
    const curation: Curation = {
      recipe: r, description: describeRecipe(r), pool_pairs: ctx.poolPairs, balance, filter: filtered,
      pairs_kept: filtered?.kept ?? balance?.kept ?? ctx.poolPairs, seconds: (performance.now() - t0) / 1000,
    };
    await writeJsonAtomic(join(tmp, 'curation.json'), curation);
    try {
      await rename(tmp, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // Another machine finished the same recipe first: its folder is the same; ours goes.
      await rm(tmp, { recursive: true, force: true });
    }
    return curation;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** Copies the pool shard by shard through the shard writer (a recipe with no curation step). */
async function copyPool(files: readonly string[], dir: string): Promise<void> {
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    const w = await ShardWriter.open(shardPath(dir, i, '', await shardFormatOnDisk(file)), { imageFormat: (await shardImageFormat(file)) ?? 'jpg', extras: await readShardExtras(file), metadata: { 'wit.stage': 'compare' } });
    try {
      for await (const rec of readShardFile(file)) await w.write(rec);
      await w.close({ stage: 'compare' });
    } catch (err) {
      await w.abort();
      throw err;
    }
  }
}
