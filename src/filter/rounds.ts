import { join } from 'node:path';
import { countRows, train, checkpointDir, type TrainOptions, type TrainSummary } from '../train/index.js';
import { listShards } from '../shards/index.js';
import { UsageError } from '../util/errors.js';
import { filter, type FilterOptions, type FilterSummary } from './index.js';

/** Options of `wit train --filter-rounds K --keep-fraction F`. */
export interface FilterRoundsOptions extends TrainOptions {
  /** Rounds of score-filter-continue after the first training (K >= 1). */
  filterRounds: number;
  /** Fraction of the scored pairs each round keeps, in (0, 1]. */
  keepFraction: number;
  /**
   * Options for the filter of each round (batch size, basic filters, dedup). Default: no basic
   * filters and no dedup, since the rounds are a CLIP filter: run `wit filter` first for those.
   */
  filter?: Pick<FilterOptions, 'batchSize' | 'dedup' | 'minCaptionWords' | 'minCaptionChars' | 'minImageSide' | 'maxAspect' | 'depth'>;
}

/** One round: what it trained on, the training summary, and (rounds >= 1) the filter that made its shards. */
export interface FilterRoundSummary {
  round: number;
  /** Shards this round trained on: the input for round 0, `<out>/round-<k>/shards` after. */
  shards: string[];
  /** Model that scored the pairs for this round (the checkpoint at the end of the previous round). */
  scoredWith?: string;
  filter?: FilterSummary;
  /** Steps this round added, and the step count at its end. */
  steps: number;
  endStep: number;
  train: TrainSummary;
}

/** What trainWithFilterRounds returns. */
export interface FilterRoundsSummary {
  out: string;
  rounds: FilterRoundSummary[];
  /** The final model: `out` (the same weights as the last round's checkpoint). */
  model: string;
}

/** Steps a round trains: --steps each round, or --epochs passes over that round's pairs. */
async function roundSteps(opts: FilterRoundsOptions, shards: string[]): Promise<number> {
  if (opts.steps !== undefined) return opts.steps;
  const rows = await countRows(await listShards(shards));
  return Math.max(1, Math.ceil(((opts.epochs ?? 1) * rows) / (opts.batchSize ?? 64)));
}

/**
 * Trains, then K times: scores the ORIGINAL training shards with the model as it stands, keeps the
 * top `keepFraction` (exact count) into `<out>/round-<k>/shards`, and continues training on them.
 *
 * Choices, and why:
 * - Continue, not restart: round k resumes from the last checkpoint in `out` (weights, AdamW state,
 *   step count; the learning-rate schedule is stretched to the new total, a warm restart), on the
 *   new shards, for the same number of steps as round 0 (`steps`, or `epochs` passes over the
 *   round's pairs). What the model learned is kept; the kept data steers what it learns next.
 * - The original shards are scored each round, not the previous round's kept ones: a pair wrongly
 *   dropped by a weaker early model can come back, and the data does not shrink as F^k.
 * - Each round scores with the checkpoint saved at the end of the previous round
 *   (`<out>/checkpoints/step-N`), which never changes afterwards, so a rerun resumes every stage:
 *   finished training is not redone (train's resume), finished filter shards are skipped.
 * Every round's shards stay on disk, with the filter's manifest and per-shard stats.
 * Resolves to per-round summaries. Throws UsageError for bad options, and whatever train and filter
 * throw (UsageError/InputError for bad input, WitError when interrupted or failed).
 */
export async function trainWithFilterRounds(opts: FilterRoundsOptions): Promise<FilterRoundsSummary> {
  const { filterRounds: k, keepFraction: f } = opts;
  if (!Number.isInteger(k) || k < 1) throw new UsageError('train', `--filter-rounds must be an integer >= 1, got ${k}`);
  if (!(Number.isFinite(f) && f > 0 && f <= 1)) throw new UsageError('train', `--keep-fraction must be in (0, 1], got ${f}`);
  if (!opts.out) throw new UsageError('train', 'no output directory given (--out DIR)');
  const { filterRounds: _k, keepFraction: _f, filter: filterOpts, epochs: _e, ...base } = opts;
  const log = opts.onLog ?? (() => undefined);
  const rounds: FilterRoundSummary[] = [];

  let shards = opts.shards;
  let endStep = 0;
  let scoredWith: string | undefined;
  let filterSummary: FilterSummary | undefined;
  for (let round = 0; round <= k; round++) {
    if (round > 0) {
      scoredWith = checkpointDir(opts.out, endStep);
      const roundOut = join(opts.out, `round-${round}`, 'shards');
      log(`train: round ${round}/${k}: scoring ${opts.shards.join(' ')} with ${scoredWith}, keeping ${(100 * f).toFixed(1)}%`);
      filterSummary = await filter({
        dedup: false,
        ...filterOpts,
        shards: opts.shards,
        out: roundOut,
        model: scoredWith,
        keepFraction: f,
        backend: opts.backend,
        signal: opts.signal,
        onLog: opts.onLog,
        onProgress: opts.onProgress && ((p) => opts.onProgress!(`round ${round}/${k} filter ${p.phase}: ${p.rows}/${p.rowsTotal} rows, ${p.scored} scored, ${p.pairsPerSecond.toFixed(1)} pairs/s`)),
      });
      if (filterSummary.kept < 2) throw new UsageError('train', `round ${round} kept ${filterSummary.kept} pairs: too few to train on; raise --keep-fraction`);
      log(`train: round ${round}/${k}: kept ${filterSummary.kept} of ${filterSummary.scored} (threshold ${filterSummary.threshold?.toFixed(4)})`);
      shards = [roundOut];
    }
    const steps = await roundSteps(opts, shards);
    const target = endStep + steps;
    const summary = await train({
      ...base,
      shards,
      out: opts.out,
      steps: target,
      // Round 0 resumes only when asked; later rounds always continue the run.
      resume: round > 0 || opts.resume,
      onProgress: opts.onProgress && ((line) => opts.onProgress!(`round ${round}/${k} ${line}`)),
    });
    // A rerun finds training already past this round (train returns at once): the round still ends at `target`.
    endStep = target;
    rounds.push({ round, shards, scoredWith, filter: round > 0 ? filterSummary : undefined, steps, endStep, train: summary });
  }
  return { out: opts.out, rounds, model: opts.out };
}
