import { join } from 'node:path';
import { countRows, train, trainOptions, type TrainOptions, type TrainSummary } from '../train/index.js';
import { defaultOf } from '../util/options.js';
import { listShards } from '../shards/index.js';
import { UsageError } from '../util/errors.js';
import { claimOutput } from '../util/output.js';
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
  /** Model directory of this round: `<out>/round-<k>/model`, and `<out>` itself for the last round. */
  model: string;
  /** Shards this round trained on: the input for round 0, `<out>/round-<k>/shards` after. */
  shards: string[];
  /** Model that scored the pairs for this round's shards (the previous round's). */
  scoredWith?: string;
  filter?: FilterSummary;
  train: TrainSummary;
}

/** What trainWithFilterRounds returns. */
export interface FilterRoundsSummary {
  out: string;
  rounds: FilterRoundSummary[];
  /** The final model: `out`. */
  model: string;
}

/** Steps a round trains: --steps each round, or --epochs passes over that round's pairs. */
async function roundSteps(opts: FilterRoundsOptions, shards: string[]): Promise<number> {
  if (opts.steps !== undefined) return opts.steps;
  const rows = await countRows(await listShards(shards));
  return Math.max(1, Math.ceil(((opts.epochs ?? defaultOf(trainOptions, 'epochs')) * rows) / (opts.batchSize ?? defaultOf(trainOptions, 'batchSize'))));
}

/** Model directory of round `round` of `k`. */
export function roundModelDir(out: string, round: number, k: number): string {
  return round === k ? out : join(out, `round-${round}`, 'model');
}

/**
 * Trains, then K times: scores the ORIGINAL training shards with the latest model, keeps the top
 * `keepFraction` (exact count) into `<out>/round-<k>/shards`, and continues training on them.
 *
 * Layout: `<out>/round-0/model`, then per round `<out>/round-<k>/shards` (with the filter's
 * manifest and per-shard stats) and `<out>/round-<k>/model`; the last round trains into `<out>`
 * itself, so `<out>` is the final model as with a plain `wit train`. Every round stays on disk.
 *
 * Choices, and why:
 * - Continue, not restart: round k starts from round k-1's weights and tokenizer (train's
 *   `initFrom`) with a fresh AdamW state and its own warmup and cosine schedule over the new
 *   shards, for as many steps as round 0 (`steps`, or `epochs` passes over the round's pairs).
 *   What the model learned is kept; the kept data steers what it learns next. Each round being a
 *   complete run of its own (metrics, checkpoints) makes it resumable and inspectable.
 * - The original shards are scored each round, not the previous round's kept ones: a pair wrongly
 *   dropped by a weaker early model can come back, and the data does not shrink as F^k.
 * - A rerun with `resume` continues where it stopped: finished rounds' training returns at once
 *   (train's resume), finished filter shards are skipped (the filter recognises the same model by
 *   the contents of its weights).
 * Resolves to per-round summaries. Throws UsageError for bad options, and whatever train and filter
 * throw (UsageError/InputError for bad input, WitError when interrupted or failed).
 */
export async function trainWithFilterRounds(opts: FilterRoundsOptions): Promise<FilterRoundsSummary> {
  const { filterRounds: k, keepFraction: f } = opts;
  if (!Number.isInteger(k) || k < 1) throw new UsageError('train', `--filter-rounds must be an integer >= 1, got ${k}`);
  if (!(Number.isFinite(f) && f > 0 && f <= 1)) throw new UsageError('train', `--keep-fraction must be in (0, 1], got ${f}`);
  if (!opts.out) throw new UsageError('train', 'no output directory given (--out DIR)');
  if (opts.initFrom && opts.resume) throw new UsageError('train', '--init-from and --resume do not go together');
  // `out` is the final model and holds every round: claimed as train's once the shards are found.
  const claim = await claimOutput(opts.out, { command: 'train' });
  try {
    await listShards(opts.shards);
    await claim.create();
    const { filterRounds: _k, keepFraction: _f, filter: filterOpts, epochs: _e, ...base } = opts;
    const log = opts.onLog ?? (() => undefined);
    const rounds: FilterRoundSummary[] = [];

    let shards = opts.shards;
    let previous: string | undefined;
    for (let round = 0; round <= k; round++) {
      let filterSummary: FilterSummary | undefined;
      if (previous) {
        const roundShards = join(opts.out, `round-${round}`, 'shards');
        log(`train: round ${round}/${k}: scoring ${opts.shards.join(' ')} with ${previous}, keeping ${(100 * f).toFixed(1)}%`);
        filterSummary = await filter({
          dedup: false,
          ...filterOpts,
          shards: opts.shards,
          out: roundShards,
          model: previous,
          keepFraction: f,
          backend: opts.backend,
          signal: opts.signal,
          onLog: opts.onLog,
          onProgress: opts.onProgress && ((p) => opts.onProgress!(`round ${round}/${k} filter ${p.phase}: ${p.rows}/${p.rowsTotal} rows, ${p.scored} scored, ${p.pairsPerSecond.toFixed(1)} pairs/s`)),
        });
        if (filterSummary.kept < 2) throw new UsageError('train', `round ${round} kept ${filterSummary.kept} pairs: too few to train on; raise --keep-fraction`);
        log(`train: round ${round}/${k}: kept ${filterSummary.kept} of ${filterSummary.scored} (similarity >= ${filterSummary.threshold?.toFixed(4)})`);
        shards = [roundShards];
      }
      const model = roundModelDir(opts.out, round, k);
      const summary = await train({
        ...base,
        shards,
        out: model,
        steps: await roundSteps(opts, shards),
        initFrom: previous ?? opts.initFrom,
        // The first round resumes only when asked; the round dirs are ours, so later rounds always may
        // (train starts fresh from initFrom when a round has no checkpoint yet).
        resume: round > 0 || opts.resume,
        onProgress: opts.onProgress && ((line) => opts.onProgress!(`round ${round}/${k} ${line}`)),
      });
      rounds.push({ round, model, shards, scoredWith: previous, filter: filterSummary, train: summary });
      previous = model;
    }
    return { out: opts.out, rounds, model: opts.out };
  } finally {
    await claim.release();
  }
}
