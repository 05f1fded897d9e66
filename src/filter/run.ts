import { resolve } from 'node:path';
import { readShardExtras, readShardFile, readShardStats, shardImageFormat, ShardWriter, type PairRecord, type ShardStats } from '../shards/index.js';
import { DistinctCounter } from '../util/distinct.js';
import { WitError } from '../util/errors.js';
import { Histogram, type ScoreHistogram } from './histogram.js';
import type { PipelineOptions } from './pipeline.js';
import { exists, STAGE, type ResolvedFilterOptions, type Validated } from './run-dir.js';
import { DROP_REASONS, ELIGIBLE, emptyReasonCounts, reasonOf, type DropReason, type RowCode, type Screen } from './screen.js';
import type { Scorer } from './scorer.js';
import type { ShardScores } from './score-file.js';
import type { ClipHandle } from '../train/index.js';
import type { FilterProgress } from './types.js';

/**
 * What every filter strategy shares (docs/ARCHITECTURE.md, "filter"): the run's context, the
 * counters, and the one shard writer all strategies write their output through.
 */

/** Per-shard and run-wide counters. */
export class Tally {
  input = 0;
  kept = 0;
  scored = 0;
  dropped = emptyReasonCounts();
  hist = new Histogram();

  drop(reason: DropReason): void {
    this.dropped[reason]++;
  }

  /** Adds a finished shard's stats (resume). */
  addStats(s: ShardStats): void {
    this.input += Number(s.input_count ?? 0);
    this.kept += Number(s.count ?? 0);
    this.scored += Number(s.scored ?? 0);
    const d = (s.dropped ?? {}) as Record<string, number>;
    for (const r of DROP_REASONS) this.dropped[r] += Number(d[r] ?? 0);
    if (s.similarity_histogram) this.hist.merge(s.similarity_histogram as ScoreHistogram);
  }

  add(t: Tally): void {
    this.input += t.input;
    this.kept += t.kept;
    this.scored += t.scored;
    for (const r of DROP_REASONS) this.dropped[r] += t.dropped[r];
    this.hist.merge(t.hist.toJSON());
  }
}

/** One input row with its fate: dropped by the screen (`code`), or eligible and kept or not. */
export interface DecidedRow {
  rec: PairRecord;
  code: RowCode;
  /** Similarity as stored (float32), NaN when not scored. */
  score: number;
  /** For an eligible row: whether it is written. */
  keep: boolean;
  /** For a near-duplicate: the key of the kept pair it duplicates. */
  duplicateOf?: string;
}

/** A run in progress: options, input, output and the state every step reads or adds to. */
export interface FilterRun {
  opts: ResolvedFilterOptions;
  v: Validated;
  outputs: string[];
  screen: Screen;
  scorer?: Scorer;
  /** The loaded model, when there is one (semantic dedup embeds with it). */
  clip?: ClipHandle;
  /** Score files kept in memory (two-pass strategies). */
  scoreCache: Map<number, ShardScores>;
  /** Similarity cut recorded in the stats: --min-similarity, or the selection's threshold. */
  threshold: number | null;
  total: Tally;
  /** Distinct images (by sha256) among the input pairs and among the kept pairs, run-wide (resumed shards included). */
  images: { input: DistinctCounter; kept: DistinctCounter };
  resumed: number;
  /** Pairs scored and wall time of the scoring loops in this run (batches overlap, so per-batch times would not add up). */
  scoredThisRun: number;
  scoreWallMs: number;
  pipeline: PipelineOptions;
  progress: (phase: FilterProgress['phase'], shardsDone: number, rows: number, scored: number, kept: number, force?: boolean) => void;
  log: (line: string) => void;
  checkAbort: () => void;
}

/** Builds the run context (progress throttled to about once a second). */
export function newRun(opts: ResolvedFilterOptions, v: Validated, outputs: string[], screen: Screen, model: { scorer?: Scorer; clip?: ClipHandle }, t0: number): FilterRun {
  const log = opts.onLog ?? (() => undefined);
  const rowsTotal = v.rowCounts.reduce((a, b) => a + b, 0);
  let lastProgress = 0;
  const run: FilterRun = {
    opts, v, outputs, screen, scorer: model.scorer, clip: model.clip,
    scoreCache: new Map(),
    threshold: opts.minSimilarity ?? null,
    total: new Tally(),
    images: { input: new DistinctCounter(), kept: new DistinctCounter() },
    resumed: 0,
    scoredThisRun: 0,
    scoreWallMs: 0,
    log,
    pipeline: {
      batchSize: opts.batchSize,
      depth: opts.depth,
      signal: opts.signal,
      onBatch: (n: number) => {
        run.scoredThisRun += n;
      },
      onBadItem: (rec: PairRecord, msg: string) => log(`filter: cannot score ${rec.key}: ${msg}`),
    },
    progress: (phase, shardsDone, rows, scored, kept, force = false) => {
      if (!opts.onProgress) return;
      const now = performance.now();
      if (!force && now - lastProgress < 1000) return;
      lastProgress = now;
      const elapsed = (now - t0) / 1000;
      opts.onProgress({ phase, shardsDone, shards: v.files.length, rows, rowsTotal, scored, kept, pairsPerSecond: elapsed > 0 ? run.scoredThisRun / elapsed : 0, elapsed });
    },
    checkAbort: () => {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new WitError(STAGE, 'aborted');
    },
  };
  return run;
}

/** When output shard `i` is already written (stats and data), adds its stats to the totals and returns true. */
export async function takeFinished(run: FilterRun, i: number): Promise<boolean> {
  const done = await readShardStats(run.outputs[i]!);
  if (!done || !(await exists(run.outputs[i]!))) return false;
  run.total.addStats(done);
  await countFinishedImages(run, i);
  run.resumed++;
  return true;
}

/**
 * Adds the images of input shard `i` and of its finished output shard to the run's distinct counts
 * (a resumed or already finished shard: its pairs are not read again otherwise). Reads the sha256
 * column only, not the images.
 */
export async function countFinishedImages(run: FilterRun, i: number): Promise<void> {
  for await (const rec of readShardFile(run.v.files[i]!, { images: false })) run.images.input.add(rec.sha256);
  for await (const rec of readShardFile(run.outputs[i]!, { images: false })) run.images.kept.add(rec.sha256);
}

/** Replays the screen over an input shard whose outcome is already on disk, so dedup state matches an uninterrupted run. */
export async function replayScreen(run: FilterRun, file: string): Promise<void> {
  if (run.screen.passesAll) return;
  for await (const rec of readShardFile(file, { images: true })) {
    run.checkAbort();
    run.screen.check(rec);
  }
}

/**
 * The one shard writer of every strategy: writes the kept rows of input shard `i` to its output
 * shard (under a temporary name, renamed when complete; discarded on error or abort), counts every
 * row, and closes the shard with its stats (counts, drops by reason, near-duplicates with the key
 * each duplicates, the histogram). Adds the shard's counts to the run's totals.
 */
export async function writeOutputShard(run: FilterRun, i: number, rows: AsyncIterable<DecidedRow>, phase: FilterProgress['phase'], rowsBefore: number): Promise<void> {
  const file = run.v.files[i]!;
  const fmt = (await shardImageFormat(file)) ?? 'jpg';
  const withSimilarity = run.v.mode !== 'basic';
  const w = await ShardWriter.open(run.outputs[i]!, { imageFormat: fmt, extras: await readShardExtras(file), withSimilarity, metadata: { 'wit.stage': STAGE } });
  const t = new Tally();
  // This shard's distinct images, in and kept (its stats); the run's counters get them too.
  const shardImages = { input: new DistinctCounter(), kept: new DistinctCounter() };
  const nearDuplicates: Record<string, string> = {};
  // Every dropped pair with its reason and score (null when not scored): the report shows why (docs/ARCHITECTURE.md, "Filter").
  const droppedPairs: Record<string, [DropReason, number | null]> = {};
  let rowsDone = rowsBefore;
  try {
    for await (const row of rows) {
      t.input++;
      rowsDone++;
      shardImages.input.add(row.rec.sha256);
      run.images.input.add(row.rec.sha256);
      if (row.code !== ELIGIBLE) {
        const reason = reasonOf(row.code);
        t.drop(reason);
        droppedPairs[row.rec.key] = [reason, Number.isFinite(row.score) ? row.score : null];
        if (reason === 'near_duplicate' && row.duplicateOf !== undefined) nearDuplicates[row.rec.key] = row.duplicateOf;
      } else {
        if (!Number.isNaN(row.score)) {
          t.scored++;
          t.hist.add(row.score);
        }
        if (row.keep) {
          t.kept++;
          shardImages.kept.add(row.rec.sha256);
          run.images.kept.add(row.rec.sha256);
          await w.write({ ...row.rec, similarity: withSimilarity && !Number.isNaN(row.score) ? row.score : null });
        } else {
          t.drop('low_similarity');
          droppedPairs[row.rec.key] = ['low_similarity', Number.isFinite(row.score) ? row.score : null];
        }
      }
      run.progress(phase, i, rowsDone, run.total.scored + t.scored, run.total.kept + t.kept);
    }
    await w.close({
      stage: STAGE,
      input_shard: resolve(file),
      input_count: t.input,
      distinct_images_in: shardImages.input.size,
      distinct_images: shardImages.kept.size,
      scored: t.scored,
      dropped: t.dropped,
      threshold: run.threshold,
      ...(run.opts.dedupSemantic !== undefined ? { near_duplicates: nearDuplicates } : {}),
      similarity_histogram: t.hist.toJSON(),
      dropped_pairs: droppedPairs,
    });
  } catch (err) {
    await w.abort();
    throw err;
  }
  run.total.add(t);
  run.progress(phase, i + 1, rowsDone, run.total.scored, run.total.kept, true);
}
