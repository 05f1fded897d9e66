import { join } from 'node:path';
import { readShardFile } from '../shards/index.js';
import { InputError, WitError } from '../util/errors.js';
import { screenAndScore, type ScoredRow } from './pipeline.js';
import { STAGE, WORK_DIR } from './run-dir.js';
import { replayScreen, takeFinished, writeOutputShard, type DecidedRow, type FilterRun } from './run.js';
import { readScoreFile, writeScoreFile, type ShardScores } from './score-file.js';
import { ELIGIBLE } from './screen.js';
import { isSelected, selectTop, type Selection } from './select.js';

/**
 * The filter's strategies (docs/ARCHITECTURE.md, "filter"), one per mode:
 *   - basic filters and exact dedup only, and model score with --min-similarity (or no cut): one pass,
 *     each row decided as it is screened and scored;
 *   - --keep-fraction and --dedup-semantic: two passes, because a row's fate depends on all the others
 *     (the k-th largest score; an earlier-kept near-duplicate): scores to per-shard score files, then
 *     the between-pass steps (semantic dedup, then top-k selection), then the write pass.
 * Every strategy writes through run.ts's writeOutputShard.
 */

/** Is an eligible, scored row kept, given its shard, row and score. */
type KeepRule = (shard: number, row: number, score: number) => boolean;

/** The rule of --min-similarity, or keep every eligible row. */
function thresholdRule(minSimilarity: number | undefined): KeepRule {
  return minSimilarity === undefined ? () => true : (_s, _r, score) => score >= minSimilarity;
}

/** One pass: screen, score, keep by --min-similarity (or keep all), write. */
export async function onePass(run: FilterRun): Promise<void> {
  const keep = thresholdRule(run.opts.minSimilarity);
  const { files, rowCounts } = run.v;
  let rowsDone = 0;
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    if (await takeFinished(run, i)) {
      run.log(`filter: ${run.outputs[i]} already written, skipped`);
      if (i < files.length - 1) await replayScreen(run, file);
      rowsDone += rowCounts[i]!;
      continue;
    }
    const tLoop = performance.now();
    const rows = decided(screenAndScore(readShardFile(file), run.screen, run.scorer, run.pipeline), (row, r) => keep(i, r, row.score));
    await writeOutputShard(run, i, rows, 'score', rowsDone);
    if (run.scorer) run.scoreWallMs += performance.now() - tLoop;
    rowsDone += rowCounts[i]!;
  }
}

async function* decided(rows: AsyncIterable<ScoredRow>, keep: (row: ScoredRow, r: number) => boolean): AsyncGenerator<DecidedRow> {
  let r = 0;
  for await (const row of rows) {
    yield { ...row, keep: row.code === ELIGIBLE && keep(row, r) };
    r++;
  }
}

/** Temporary score file of input shard i. */
export function scorePath(run: FilterRun, i: number): string {
  return join(run.opts.out, WORK_DIR, `${String(i).padStart(5, '0')}.scores`);
}

/**
 * Two passes: scores to files, semantic dedup (when asked), selection of the top fraction (when
 * asked, else --min-similarity or keep all), then the write pass. Returns the selection, if any.
 */
export async function twoPass(run: FilterRun): Promise<Selection | undefined> {
  await scorePass(run);
  let nearDuplicates = new Map<string, string>();
  if (run.opts.dedupSemantic !== undefined) {
    // Loaded only when asked: it brings LanceDB.
    const { semanticDedup } = await import('./semantic-dedup.js');
    nearDuplicates = await semanticDedup(run, (i) => loadScores(run, i), scorePath);
  }
  let keep = thresholdRule(run.opts.minSimilarity);
  let selection: Selection | undefined;
  if (run.opts.keepFraction !== undefined) {
    selection = await selectTop(run.v.files.length, run.opts.keepFraction, (i) => loadScores(run, i), (i, rows) => keysOf(run, i, rows));
    run.threshold = selection.threshold;
    run.log(`filter: keeping ${selection.k} of ${selection.candidates} scored pairs (similarity >= ${run.threshold?.toFixed(6) ?? 'n/a'}, ${selection.ties} at exactly that score)`);
    const sel = selection;
    keep = (i, r, score) => isSelected(sel, i, r, score);
  }
  await writePass(run, keep, nearDuplicates);
  return selection;
}

/** Pass 1: screen and score every input shard not scored yet into its score file. */
async function scorePass(run: FilterRun): Promise<void> {
  const { files, rowCounts } = run.v;
  const haveScores: boolean[] = [];
  for (let i = 0; i < files.length; i++) haveScores.push((await readScoreFile(scorePath(run, i))) !== undefined);
  let rowsDone = 0;
  let scored = 0;
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    if (haveScores[i]) {
      rowsDone += rowCounts[i]!;
      if (haveScores.slice(i + 1).some((h) => !h)) await replayScreen(run, file);
      continue;
    }
    const codes: number[] = [];
    const scores: number[] = [];
    const tLoop = performance.now();
    for await (const row of screenAndScore(readShardFile(file), run.screen, run.scorer, run.pipeline)) {
      codes.push(row.code);
      scores.push(row.score);
      rowsDone++;
      if (!Number.isNaN(row.score)) scored++;
      run.progress('score', i, rowsDone, scored, 0);
    }
    run.scoreWallMs += performance.now() - tLoop;
    await writeScoreFile(scorePath(run, i), { codes: Uint8Array.from(codes), scores: Float32Array.from(scores) });
    run.progress('score', i + 1, rowsDone, scored, 0, true);
  }
}

/** Score file of shard i (a few kept in memory; the rest re-read, 5 bytes a row). */
export async function loadScores(run: FilterRun, i: number): Promise<ShardScores> {
  const cache = run.scoreCache;
  let s = cache.get(i);
  if (!s) {
    const path = scorePath(run, i);
    s = await readScoreFile(path);
    if (!s) throw new WitError(STAGE, 'score file vanished during the run', { file: path });
    if (s.codes.length !== run.v.rowCounts[i]) throw new InputError(STAGE, path, `score file has ${s.codes.length} rows, shard has ${run.v.rowCounts[i]}`);
    if (cache.size < 64) cache.set(i, s);
  }
  return s;
}

/** Keys of some rows of shard i (only for rows tied at the threshold). */
async function keysOf(run: FilterRun, i: number, rows: number[]): Promise<string[]> {
  const want = new Set(rows);
  const byRow = new Map<number, string>();
  let r = 0;
  for await (const rec of readShardFile(run.v.files[i]!, { images: false })) {
    if (want.has(r)) byRow.set(r, rec.key);
    r++;
  }
  return rows.map((row) => byRow.get(row) ?? '');
}

/** Pass 2: writes what the rule keeps, from the score files. */
async function writePass(run: FilterRun, keep: KeepRule, nearDuplicates: Map<string, string>): Promise<void> {
  const { files, rowCounts } = run.v;
  let rowsDone = 0;
  for (let i = 0; i < files.length; i++) {
    if (await takeFinished(run, i)) {
      rowsDone += rowCounts[i]!;
      continue;
    }
    const s = await loadScores(run, i);
    await writeOutputShard(run, i, fromScores(run, i, s, keep, nearDuplicates), 'write', rowsDone);
    rowsDone += rowCounts[i]!;
  }
}

async function* fromScores(run: FilterRun, i: number, s: ShardScores, keep: KeepRule, nearDuplicates: Map<string, string>): AsyncGenerator<DecidedRow> {
  const file = run.v.files[i]!;
  let r = 0;
  for await (const rec of readShardFile(file)) {
    run.checkAbort();
    if (r >= s.codes.length) throw new InputError(STAGE, file, `shard changed since it was scored (more than the ${s.codes.length} rows scored)`);
    const code = s.codes[r]!;
    const score = s.scores[r]!;
    yield { rec, code, score: code === ELIGIBLE ? score : NaN, keep: code === ELIGIBLE && keep(i, r, score), duplicateOf: nearDuplicates.get(rec.key) };
    r++;
  }
  if (r !== s.codes.length || r !== run.v.rowCounts[i]) throw new InputError(STAGE, file, `shard changed since it was scored (${r} rows now, ${s.codes.length} scored)`);
}
