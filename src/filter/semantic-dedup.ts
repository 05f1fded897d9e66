import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildEmbeddingIndex } from '../search/embed.js';
import { EmbeddingIndex, shardId } from '../search/store.js';
import { readShardFile } from '../shards/index.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { WitError } from '../util/errors.js';
import { findNearDuplicates, type VectorBatch } from './near-duplicates.js';
import { STAGE, WORK_DIR } from './run-dir.js';
import type { FilterRun } from './run.js';
import { writeScoreFile, type ShardScores } from './score-file.js';
import { ELIGIBLE, reasonCode } from './screen.js';

/**
 * Semantic dedup (SemDeDup-style; docs/ARCHITECTURE.md, "filter"): among the rows that passed the
 * screen, a pair is dropped as `near_duplicate` when its image embedding has cosine >= T to a pair
 * kept before it in key order; so in every group of near-duplicates the pair with the smallest key
 * survives, whatever the shard order. Runs between the filter's two passes:
 *   1. every input shard is embedded into a LanceDB table in the work directory (wit embed's code,
 *      resumable per shard);
 *   2. the eligible rows are numbered in key order and their image vectors streamed from that table
 *      into findNearDuplicates (near-duplicates.ts): all pairs for small corpora, k-means clusters
 *      with spill files above, so the work grows linearly with the corpus;
 *   3. the decisions (key -> key it duplicates) are saved atomically, then marked in the score files.
 * A rerun after a kill reuses saved decisions, or redoes step 2 from the embeddings already made.
 * Cost: each image is embedded again (the scorer's embeddings are not kept); memory: the eligible
 * keys and one cluster of vectors.
 */

interface Candidate {
  key: string;
  shard: number;
  row: number;
}

/** Decides near-duplicates and marks them in the score files; resolves to key -> key it duplicates. */
export async function semanticDedup(run: FilterRun, loadScores: (i: number) => Promise<ShardScores>, scorePath: (run: FilterRun, i: number) => string): Promise<Map<string, string>> {
  const work = join(run.opts.out, WORK_DIR);
  const decisionsFile = join(work, 'near-duplicates.json');
  const candidates = await eligibleInKeyOrder(run, loadScores);
  let decisions = await readDecisions(decisionsFile);
  if (!decisions) {
    const clip = run.clip;
    if (!clip) throw new WitError(STAGE, '--dedup-semantic needs the model loaded');
    // No ANN index: the decisions read every vector once or twice, in clusters (near-duplicates.ts).
    await buildEmbeddingIndex({ out: join(work, 'embeddings'), files: run.v.files, clip, model: run.opts.model!, dtype: 'float32', ann: 'none', batchSize: run.opts.batchSize, appendRows: 4096, signal: run.opts.signal, onLog: run.log });
    decisions = await decide(run, candidates, join(work, 'embeddings'));
    await writeJsonAtomic(decisionsFile, Object.fromEntries(decisions));
  }
  await markScoreFiles(run, candidates, decisions, loadScores, scorePath);
  run.log(`filter: ${decisions.size} near-duplicates (image cosine >= ${run.opts.dedupSemantic}) among ${candidates.length} pairs`);
  return decisions;
}

async function readDecisions(file: string): Promise<Map<string, string> | undefined> {
  try {
    return new Map(Object.entries(JSON.parse(await readFile(file, 'utf8')) as Record<string, string>));
  } catch {
    return undefined;
  }
}

/** Rows that passed the screen (or were marked near-duplicate by an earlier, interrupted run), sorted by key. */
async function eligibleInKeyOrder(run: FilterRun, loadScores: (i: number) => Promise<ShardScores>): Promise<Candidate[]> {
  const near = reasonCode('near_duplicate');
  const out: Candidate[] = [];
  for (let i = 0; i < run.v.files.length; i++) {
    const s = await loadScores(i);
    let r = 0;
    for await (const rec of readShardFile(run.v.files[i]!, { images: false })) {
      const code = s.codes[r];
      if (code === ELIGIBLE || code === near) out.push({ key: rec.key, shard: i, row: r });
      r++;
    }
  }
  // Code-unit order, as JS compares strings (and as --keep-fraction breaks ties).
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.shard - b.shard || a.row - b.row));
}

/**
 * Decisions in key order (see the file comment): the image vectors are streamed from the
 * embeddings table, each eligible row numbered by its place in key order.
 */
async function decide(run: FilterRun, candidates: Candidate[], embeddingsDir: string): Promise<Map<string, string>> {
  const embeddings = await EmbeddingIndex.open(embeddingsDir, STAGE);
  try {
    // (shard path, row) -> place in key order, -1 for rows that are not candidates.
    const shardOf = new Map(run.v.files.map((f, i) => [shardId(f), i]));
    const rankOf = new Map<number, Int32Array>();
    candidates.forEach((c, rank) => {
      let ranks = rankOf.get(c.shard);
      if (!ranks || ranks.length <= c.row) {
        const grown = new Int32Array(Math.max(c.row + 1, (ranks?.length ?? 0) * 2)).fill(-1);
        if (ranks) grown.set(ranks);
        rankOf.set(c.shard, (ranks = grown));
      }
      ranks[c.row] = rank;
    });
    const dim = embeddings.meta.embed_dim;
    async function* scan(): AsyncIterable<VectorBatch> {
      for await (const b of embeddings.scanImageVectors()) {
        const items: number[] = [];
        const keep: number[] = [];
        for (let i = 0; i < b.rows.length; i++) {
          const shard = shardOf.get(b.shards[i]!);
          const rank = shard === undefined ? -1 : (rankOf.get(shard)?.[b.rows[i]!] ?? -1);
          if (rank >= 0) items.push(rank), keep.push(i);
        }
        const vectors = new Float32Array(keep.length * dim);
        keep.forEach((i, j) => vectors.set(b.vectors.subarray(i * dim, (i + 1) * dim), j * dim));
        yield { items: Int32Array.from(items), vectors };
      }
    }
    const found = await findNearDuplicates({
      n: candidates.length,
      dim,
      threshold: run.opts.dedupSemantic!,
      scan,
      workDir: join(run.opts.out, WORK_DIR, 'clusters'),
      checkAbort: run.checkAbort,
      onLog: run.log,
    });
    if (found.vectors < candidates.length) run.log(`filter: semantic dedup: ${candidates.length - found.vectors} pairs have no image embedding (undecodable) and are kept as they are`);
    run.log(`filter: semantic dedup compared ${found.comparisons} pairs in ${found.clusters} cluster${found.clusters === 1 ? '' : 's'}`);
    const decisions = new Map<string, string>();
    for (const [item, of] of found.duplicateOf) decisions.set(candidates[item]!.key, candidates[of]!.key);
    return decisions;
  } finally {
    embeddings.close();
  }
}

/** Marks the decided near-duplicates in the score files (idempotent: a rerun marks the same rows). */
async function markScoreFiles(run: FilterRun, candidates: Candidate[], decisions: Map<string, string>, loadScores: (i: number) => Promise<ShardScores>, scorePath: (run: FilterRun, i: number) => string): Promise<void> {
  const near = reasonCode('near_duplicate');
  const byShard = new Map<number, Candidate[]>();
  for (const c of candidates) if (decisions.has(c.key)) byShard.set(c.shard, [...(byShard.get(c.shard) ?? []), c]);
  for (const [i, rows] of byShard) {
    const s = await loadScores(i);
    if (rows.every((c) => s.codes[c.row] === near)) continue;
    const codes = Uint8Array.from(s.codes);
    for (const c of rows) codes[c.row] = near;
    await writeScoreFile(scorePath(run, i), { codes, scores: s.scores });
  }
  run.scoreCache.clear();
}
