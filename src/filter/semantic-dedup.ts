import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildEmbeddingIndex } from '../search/embed.js';
import { DISTANCE, EmbeddingIndex, IMAGE_COLUMN, arrowRows, similarityOfDistance, tableSchema, type EmbeddedRow } from '../search/store.js';
import { readShardFile } from '../shards/index.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { InputError, WitError } from '../util/errors.js';
import { STAGE, WORK_DIR } from './run-dir.js';
import type { FilterRun } from './run.js';
import { writeScoreFile, type ShardScores } from './score-file.js';
import { ELIGIBLE, reasonCode } from './screen.js';

/**
 * Semantic dedup (SemDeDup-style; docs/ARCHITECTURE.md, "filter"): among the rows that passed the
 * screen, a pair is dropped as `near_duplicate` when its image embedding has cosine >= T to a pair
 * kept before it in key order; so in every group of near-duplicates the pair with the smallest key
 * survives, whatever the shard order. Runs between the filter's two passes:
 *   1. every input shard is embedded into a LanceDB index in the work directory (wit embed's code,
 *      resumable per shard);
 *   2. eligible rows are taken in key order, a block at a time: each is compared with the pairs
 *      kept so far (a second LanceDB table, searched through the index) and with the block's earlier
 *      kept rows; the block's kept rows are then appended to that table (one commit per block);
 *   3. the decisions (key -> key it duplicates) are saved atomically, then marked in the score files.
 * A rerun after a kill reuses saved decisions, or redoes step 2 from the embeddings already made.
 * Cost: each image is embedded again (the scorer's embeddings are not kept); memory: the eligible
 * keys, one block of vectors.
 */

/** Rows compared with each other in memory before their kept ones join the kept table. */
const BLOCK = 1024;

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
    await buildEmbeddingIndex({ out: join(work, 'embeddings'), files: run.v.files, clip, model: run.opts.model!, dtype: 'float32', ann: 'auto', batchSize: run.opts.batchSize, appendRows: 4096, signal: run.opts.signal, onLog: run.log });
    decisions = await decide(run, candidates, join(work, 'embeddings'), join(work, 'kept'));
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

/** Greedy decisions in key order, a block at a time (see the file comment). */
async function decide(run: FilterRun, candidates: Candidate[], embeddingsDir: string, keptDir: string): Promise<Map<string, string>> {
  const t = run.opts.dedupSemantic!;
  const embeddings = await EmbeddingIndex.open(embeddingsDir, STAGE);
  await rm(keptDir, { recursive: true, force: true });
  const { connect, Index } = await import('@lancedb/lancedb');
  const db = await connect(keptDir);
  const dim = embeddings.meta.embed_dim;
  const keptTable = await db.createEmptyTable('kept', tableSchema(dim, 'float32'));
  const decisions = new Map<string, string>();
  try {
    if (candidates.length > 10_000) await embeddings.table.createIndex('key', { config: Index.btree() });
    let keptRows = 0;
    for (let start = 0; start < candidates.length; start += BLOCK) {
      run.checkAbort();
      const block: { key: string; vec: Float32Array }[] = [];
      for (const c of candidates.slice(start, start + BLOCK)) {
        const row = await embeddings.byKey(c.key);
        if (!row) throw new InputError(STAGE, run.v.files[c.shard]!, `pair ${c.key} is missing from the embeddings`);
        block.push({ key: c.key, vec: row.image_vector });
      }
      const keptNow: EmbeddedRow[] = [];
      for (const p of block) {
        let best: { key: string; sim: number } | undefined;
        if (keptRows > 0) {
          const hits = (await keptTable.vectorSearch(Array.from(p.vec)).column(IMAGE_COLUMN).distanceType(DISTANCE).limit(1).select(['key', '_distance']).toArray()) as { key: string; _distance: number }[];
          const sim = hits[0] ? similarityOfDistance(hits[0]._distance) : -Infinity;
          if (hits[0] && sim >= t) best = { key: hits[0].key, sim };
        }
        for (const q of keptNow) {
          const sim = dot(p.vec, q.image_vector);
          if (sim >= t && (!best || sim > best.sim)) best = { key: q.key, sim };
        }
        if (best) decisions.set(p.key, best.key);
        else keptNow.push({ key: p.key, url: '', caption: '', queries: [], shard: '', row: 0, image_vector: p.vec, text_vector: p.vec });
      }
      if (keptNow.length) {
        await keptTable.add(arrowRows(keptNow, dim, 'float32'));
        keptRows += keptNow.length;
      }
      run.progress('dedup', 0, Math.min(candidates.length, start + BLOCK), 0, keptRows, true);
    }
  } finally {
    keptTable.close();
    db.close();
    embeddings.close();
  }
  return decisions;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
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
