import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { shardFormatOnDisk, readShardStats, shardPath, writeManifest } from '../shards/index.js';
import type { ClipHandle } from '../train/index.js';
import { WitError } from '../util/errors.js';
import { resolveOptions } from '../util/options.js';
import { VERSION } from '../util/version.js';
import { FILTER_OPTIONS } from './options.js';
import { claimOutput as claimOutputPath } from '../util/output.js';
import { allFinished, claimOutput, runOptions, validate, STAGE, WORK_DIR, type ResolvedFilterOptions, type Validated } from './run-dir.js';
import { countFinishedImages, newRun, type FilterRun } from './run.js';
import { filterSteps, Screen } from './screen.js';
import { clipScorer, loadEncoders, type Scorer } from './scorer.js';
import type { Selection } from './select.js';
import { onePass, twoPass } from './strategies.js';
import type { FilterOptions, FilterSummary } from './types.js';

export { DROP_REASONS, Screen, basicFilterReason, captionWordCount, type DropReason, type BasicFilterOptions } from './screen.js';
export { clipScorer, cosine, loadEncoders, type Scorer, type ClipEncoders, type Backend } from './scorer.js';
export { selectTop, keepCount, type Selection } from './select.js';
export { Histogram, type ScoreHistogram } from './histogram.js';
export { screenAndScore, type ScoredRow } from './pipeline.js';
export { FILTER_OPTIONS } from './options.js';
export type { FilterOptions, FilterProgress, FilterSummary, FilterMode } from './types.js';

/**
 * Filters shards: DataComp's basic filters, exact dedup, semantic dedup (--dedup-semantic) and
 * (with a model) CLIP similarity, by threshold (one pass) or by top fraction (two passes: score to
 * temporary per-shard score files, select the exact top k, write); see strategies.ts. Writes one
 * output shard per input shard (same number, same keys, a `similarity` column when scoring) with
 * per-shard stats (counts, drops by reason, near-duplicates and the key each duplicates, a histogram
 * of scores), and manifest.json. A rerun with the same options skips finished output shards (and,
 * for two-pass runs, input shards already scored).
 * Resolves to the run's FilterSummary. Throws UsageError/InputError (exit 2) for bad options or input
 * (missing shards or model, a file that is not Parquet, an output directory holding another run),
 * WitError for a failed run, and the signal's reason when aborted.
 */
export async function filter(input: FilterOptions): Promise<FilterSummary> {
  const t0 = performance.now();
  const opts = resolveOptions(STAGE, FILTER_OPTIONS, input);
  const v = await validate(opts);
  const claim = await claimOutputPath(opts.out, { command: 'filter', inputs: [...opts.shards, opts.model] });
  try {
    const options = await runOptions(opts, v);
    const outputFormat = opts.outputFormat ?? (await shardFormatOnDisk(v.files[0]!));
    const outputs = v.files.map((_, i) => shardPath(opts.out, i, '', outputFormat));
    const finished = await allFinished(outputs);
    // The model loads before the output is claimed, so a bad model leaves nothing behind; a finished
    // run, rerun, needs no model at all.
    const model = finished ? {} : await loadModel(opts);
    let selection: Selection | undefined;
    let run: FilterRun;
    try {
      await claim.create();
      await claimOutput(opts.out, options);
      run = newRun(opts, v, outputs, new Screen(v.basic, opts.dedup), model, t0);
      if (finished) await totalsFromStats(run);
      else if (v.mode === 'keep-fraction' || opts.dedupSemantic !== undefined) selection = await twoPass(run);
      else await onePass(run);
    } finally {
      await model.clip?.dispose();
    }
    const summary = summarise(run, t0);
    await writeManifest(opts.out, {
      stage: STAGE,
      version: VERSION,
      created: new Date().toISOString(),
      options,
      inputs: v.files.map((f) => resolve(f)),
      shards: outputs.map((p) => p.slice(p.lastIndexOf('/') + 1)),
      totals: { ...summary, out: undefined, duration: undefined, pairs_per_second: undefined, shards: undefined, selection: selection ? { k: selection.k, candidates: selection.candidates, ties: selection.ties } : undefined },
    });
    await rm(join(opts.out, WORK_DIR), { recursive: true, force: true });
    return summary;
  } finally {
    await claim.release();
  }
}

/** The scorer: the one given, or the model's (loaded here, with its handle for semantic dedup). */
async function loadModel(opts: ResolvedFilterOptions): Promise<{ scorer?: Scorer; clip?: ClipHandle }> {
  if (!opts.model) return { scorer: opts.scorer };
  const clip = await loadEncoders(opts.model, { backend: opts.backend, device: opts.device, batchSize: opts.batchSize, threads: opts.threads });
  return { scorer: opts.scorer ?? clipScorer(clip), clip };
}

/** A finished run, rerun: nothing to score or replay, totals from the stats. */
async function totalsFromStats(run: FilterRun): Promise<void> {
  for (const [i, o] of run.outputs.entries()) {
    const st = (await readShardStats(o))!;
    run.total.addStats(st);
    await countFinishedImages(run, i);
    run.threshold = (st.threshold as number | null | undefined) ?? run.threshold;
    run.resumed++;
  }
}

/** The run's summary; checks that every input row is accounted for. */
function summarise(run: FilterRun, t0: number): FilterSummary {
  const { total, v, opts } = run;
  const summary: FilterSummary = {
    out: opts.out,
    mode: v.mode,
    input: total.input,
    distinct_images_in: run.images.input.size,
    kept: total.kept,
    distinct_images: run.images.kept.size,
    scored: total.scored,
    dropped: total.dropped,
    steps: filterSteps(total.input, total.dropped),
    threshold: run.threshold,
    keep_fraction: opts.keepFraction ?? null,
    dedup_semantic: opts.dedupSemantic ?? null,
    histogram: total.hist.toJSON(),
    shards: { input: v.files.length, written: v.files.length - run.resumed, resumed: run.resumed },
    pairs_per_second: run.scoreWallMs > 0 ? run.scoredThisRun / (run.scoreWallMs / 1000) : 0,
    duration: (performance.now() - t0) / 1000,
  };
  const accounted = summary.kept + Object.values(summary.dropped).reduce((a, b) => a + b, 0);
  if (accounted !== summary.input) throw new WitError(STAGE, `internal: ${summary.input} rows read but ${accounted} accounted for`);
  return summary;
}

export type { Validated };
