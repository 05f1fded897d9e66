import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { formatOfShard, readShardExtras, readShardFile, readShardStats, shardImageFormat, shardPath, writeManifest, ShardWriter, type PairRecord, type ShardStats } from '../shards/index.js';
import { InputError, WitError } from '../util/errors.js';
import { Histogram, type ScoreHistogram } from './histogram.js';
import { screenAndScore } from './pipeline.js';
import { allFinished, claimOutput, exists, packageVersion, runOptions, validate, STAGE, WORK_DIR } from './run-dir.js';
import { readScoreFile, writeScoreFile, type ShardScores } from './score-file.js';
import { DROP_REASONS, ELIGIBLE, Screen, emptyReasonCounts, reasonOf, type DropReason } from './screen.js';
import { clipScorer, loadEncoders, type ClipEncoders, type Scorer } from './scorer.js';
import { isSelected, selectTop, type Selection } from './select.js';
import type { FilterOptions, FilterProgress, FilterSummary } from './types.js';

export { DROP_REASONS, Screen, basicFilterReason, captionWordCount, type DropReason, type BasicFilterOptions } from './screen.js';
export { clipScorer, cosine, loadEncoders, type Scorer, type ClipEncoders, type Backend } from './scorer.js';
export { selectTop, keepCount, type Selection } from './select.js';
export { Histogram, type ScoreHistogram } from './histogram.js';
export { screenAndScore, type ScoredRow } from './pipeline.js';
export type { FilterOptions, FilterProgress, FilterSummary } from './types.js';

/** Per-shard and run-wide counters. */
class Tally {
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

/**
 * Filters shards: DataComp's basic filters, exact dedup, and (with a model) CLIP similarity, by
 * threshold (one pass) or by top fraction (two passes: score to temporary per-shard score files,
 * select the exact top k, write). Writes one output shard per input shard (same number, same keys,
 * a `similarity` column when scoring) with per-shard stats (counts, drops by reason, a histogram of
 * scores), and manifest.json. A rerun with the same options skips finished output shards (and, for
 * --keep-fraction, input shards already scored).
 * Resolves to the run's FilterSummary. Throws UsageError/InputError (exit 2) for bad options or input
 * (missing shards or model, a file that is not Parquet, an output directory holding another run),
 * WitError for a failed run, and the signal's reason when aborted.
 */
export async function filter(opts: FilterOptions): Promise<FilterSummary> {
  const t0 = performance.now();
  const v = await validate(opts);
  const out = opts.out;
  const options = await runOptions(opts, v);
  const outputFormat = opts.outputFormat ?? formatOfShard(v.files[0]!);
  const outputs = v.files.map((_, i) => shardPath(out, i, '', outputFormat));
  const finished = await allFinished(outputs);
  // The model loads before the output is claimed, so a bad model leaves nothing behind; a finished
  // run, rerun, needs no model at all.
  let encoders: ClipEncoders | undefined;
  let scorer: Scorer | undefined = opts.scorer;
  if (!scorer && opts.model && !finished) {
    encoders = await loadEncoders(opts.model, { backend: opts.backend ?? 'auto', batchSize: v.batchSize });
    scorer = clipScorer(encoders);
  }
  try {
    await claimOutput(out, options);
  } catch (err) {
    await encoders?.dispose();
    throw err;
  }
  const withSimilarity = v.mode !== 'basic';
  const screen = new Screen(v.basic, v.dedup);
  const rowsTotal = v.rowCounts.reduce((a, b) => a + b, 0);
  const total = new Tally();
  // Wall time of the screen-and-score loops (batches overlap, so per-batch times would not add up).
  let scoreWallMs = 0;
  let scoredThisRun = 0;
  let resumed = 0;
  const log = opts.onLog ?? (() => undefined);
  const pipelineOpts = {
    batchSize: v.batchSize,
    depth: opts.depth,
    signal: opts.signal,
    onBatch: (n: number) => {
      scoredThisRun += n;
    },
    onBadItem: (rec: PairRecord, msg: string) => log(`filter: cannot score ${rec.key}: ${msg}`),
  };
  let lastProgress = 0;
  const progress = (phase: FilterProgress['phase'], shardsDone: number, rows: number, scored: number, kept: number, force = false) => {
    if (!opts.onProgress) return;
    const now = performance.now();
    if (!force && now - lastProgress < 1000) return;
    lastProgress = now;
    const elapsed = (now - t0) / 1000;
    opts.onProgress({ phase, shardsDone, shards: v.files.length, rows, rowsTotal, scored, kept, pairsPerSecond: elapsed > 0 ? scoredThisRun / elapsed : 0, elapsed });
  };

  /** Replays the screen over a shard whose outcome is already on disk, so dedup state matches an uninterrupted run. */
  const replayScreen = async (file: string) => {
    if (screen.passesAll) return;
    for await (const rec of readShardFile(file, { images: true })) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new WitError(STAGE, 'aborted');
      screen.check(rec);
    }
  };

  const shardStatsExtra = (file: string, t: Tally, threshold: number | null) => ({
    stage: STAGE,
    input_shard: resolve(file),
    input_count: t.input,
    scored: t.scored,
    dropped: t.dropped,
    threshold,
    similarity_histogram: t.hist.toJSON(),
  });

  let threshold: number | null = opts.minSimilarity ?? null;
  let selection: Selection | undefined;
  try {
    if (finished) {
      // A finished run, rerun: nothing to score or replay, totals from the stats.
      for (const o of outputs) {
        const st = (await readShardStats(o))!;
        total.addStats(st);
        threshold = (st.threshold as number | null | undefined) ?? threshold;
        resumed++;
      }
    } else if (v.mode !== 'keep-fraction') {
      // One pass: screen, score, keep, write.
      let rowsDone = 0;
      for (let i = 0; i < v.files.length; i++) {
        const file = v.files[i]!;
        const done = await readShardStats(outputs[i]!);
        if (done && (await exists(outputs[i]!))) {
          total.addStats(done);
          resumed++;
          log(`filter: ${outputs[i]} already written, skipped`);
          if (i < v.files.length - 1) await replayScreen(file);
          rowsDone += v.rowCounts[i]!;
          continue;
        }
        const fmt = (await shardImageFormat(file)) ?? 'jpg';
        const w = await ShardWriter.open(outputs[i]!, { imageFormat: fmt, extras: await readShardExtras(file), withSimilarity, metadata: { 'wit.stage': STAGE } });
        const t = new Tally();
        const tLoop = performance.now();
        try {
          for await (const row of screenAndScore(readShardFile(file), screen, scorer, pipelineOpts)) {
            t.input++;
            rowsDone++;
            if (row.code !== ELIGIBLE) {
              t.drop(reasonOf(row.code));
            } else {
              if (scorer) {
                t.scored++;
                t.hist.add(row.score);
              }
              if (opts.minSimilarity !== undefined && !(row.score >= opts.minSimilarity)) t.drop('low_similarity');
              else {
                t.kept++;
                await w.write({ ...row.rec, similarity: scorer ? row.score : null });
              }
            }
            progress('score', i, rowsDone, total.scored + t.scored, total.kept + t.kept);
          }
          if (scorer) scoreWallMs += performance.now() - tLoop;
          await w.close(shardStatsExtra(file, t, threshold));
        } catch (err) {
          await w.abort();
          throw err;
        }
        total.add(t);
        progress('score', i + 1, rowsDone, total.scored, total.kept, true);
      }
    } else {
      // Pass 1: screen and score every input shard into a temporary score file.
      const scorePaths = v.files.map((_, i) => join(out, WORK_DIR, `${String(i).padStart(5, '0')}.scores`));
      const haveScores: boolean[] = [];
      for (let i = 0; i < v.files.length; i++) haveScores.push((await readScoreFile(scorePaths[i]!)) !== undefined);
      let rowsDone = 0;
      let scoredP1 = 0;
      for (let i = 0; i < v.files.length; i++) {
        const file = v.files[i]!;
        if (haveScores[i]) {
          rowsDone += v.rowCounts[i]!;
          if (haveScores.slice(i + 1).some((h) => !h)) await replayScreen(file);
          continue;
        }
        const codes: number[] = [];
        const scores: number[] = [];
        const tLoop = performance.now();
        for await (const row of screenAndScore(readShardFile(file), screen, scorer, pipelineOpts)) {
          codes.push(row.code);
          scores.push(row.score);
          rowsDone++;
          if (!Number.isNaN(row.score)) scoredP1++;
          progress('score', i, rowsDone, scoredP1, 0);
        }
        scoreWallMs += performance.now() - tLoop;
        await writeScoreFile(scorePaths[i]!, { codes: Uint8Array.from(codes), scores: Float32Array.from(scores) });
        progress('score', i + 1, rowsDone, scoredP1, 0, true);
      }
      // Selection: exact k-th largest, ties by key.
      const cache = new Map<number, ShardScores>();
      const load = async (i: number): Promise<ShardScores> => {
        let s = cache.get(i);
        if (!s) {
          s = await readScoreFile(scorePaths[i]!);
          if (!s) throw new WitError(STAGE, 'score file vanished during the run', { file: scorePaths[i] });
          if (s.codes.length !== v.rowCounts[i]) throw new InputError(STAGE, scorePaths[i]!, `score file has ${s.codes.length} rows, shard has ${v.rowCounts[i]}`);
          // Keep a few in memory; the rest are re-read (5 bytes a row).
          if (cache.size < 64) cache.set(i, s);
        }
        return s;
      };
      const keysOf = async (i: number, rows: number[]): Promise<string[]> => {
        const want = new Set(rows);
        const byRow = new Map<number, string>();
        let r = 0;
        for await (const rec of readShardFile(v.files[i]!, { images: false })) {
          if (want.has(r)) byRow.set(r, rec.key);
          r++;
        }
        return rows.map((row) => byRow.get(row) ?? '');
      };
      selection = await selectTop(v.files.length, opts.keepFraction!, load, keysOf);
      threshold = selection.threshold;
      log(`filter: keeping ${selection.k} of ${selection.candidates} scored pairs (similarity >= ${threshold?.toFixed(6) ?? 'n/a'}, ${selection.ties} at exactly that score)`);
      // Pass 2: write what the selection keeps.
      rowsDone = 0;
      for (let i = 0; i < v.files.length; i++) {
        const file = v.files[i]!;
        const done = await readShardStats(outputs[i]!);
        if (done && (await exists(outputs[i]!))) {
          total.addStats(done);
          resumed++;
          rowsDone += v.rowCounts[i]!;
          continue;
        }
        const s = await load(i);
        const fmt = (await shardImageFormat(file)) ?? 'jpg';
        const w = await ShardWriter.open(outputs[i]!, { imageFormat: fmt, extras: await readShardExtras(file), withSimilarity: true, metadata: { 'wit.stage': STAGE } });
        const t = new Tally();
        try {
          let r = 0;
          for await (const rec of readShardFile(file)) {
            if (opts.signal?.aborted) throw opts.signal.reason ?? new WitError(STAGE, 'aborted');
            const code = s.codes[r]!;
            const score = s.scores[r]!;
            t.input++;
            rowsDone++;
            if (code !== ELIGIBLE) t.drop(reasonOf(code));
            else {
              t.scored++;
              t.hist.add(score);
              if (isSelected(selection, i, r, score)) {
                t.kept++;
                await w.write({ ...rec, similarity: score });
              } else t.drop('low_similarity');
            }
            r++;
            progress('write', i, rowsDone, total.scored + t.scored, total.kept + t.kept);
          }
          if (r !== s.codes.length) throw new InputError(STAGE, file, `shard changed since it was scored (${r} rows now, ${s.codes.length} scored)`);
          await w.close(shardStatsExtra(file, t, threshold));
        } catch (err) {
          await w.abort();
          throw err;
        }
        total.add(t);
        progress('write', i + 1, rowsDone, total.scored, total.kept, true);
      }
    }
  } finally {
    await encoders?.dispose();
  }

  const summary: FilterSummary = {
    out,
    mode: v.mode,
    input: total.input,
    kept: total.kept,
    scored: total.scored,
    dropped: total.dropped,
    threshold,
    keepFraction: opts.keepFraction ?? null,
    histogram: total.hist.toJSON(),
    shards: { input: v.files.length, written: v.files.length - resumed, resumed },
    pairsPerSecond: scoreWallMs > 0 ? scoredThisRun / (scoreWallMs / 1000) : 0,
    duration: (performance.now() - t0) / 1000,
  };
  const accounted = summary.kept + Object.values(summary.dropped).reduce((a, b) => a + b, 0);
  if (accounted !== summary.input) throw new WitError(STAGE, `internal: ${summary.input} rows read but ${accounted} accounted for`);
  await writeManifest(out, {
    stage: STAGE,
    version: packageVersion(),
    created: new Date().toISOString(),
    options,
    inputs: v.files.map((f) => resolve(f)),
    shards: outputs.map((p) => p.slice(p.lastIndexOf('/') + 1)),
    totals: { ...summary, out: undefined, duration: undefined, pairsPerSecond: undefined, shards: undefined, selection: selection ? { k: selection.k, candidates: selection.candidates, ties: selection.ties } : undefined },
  });
  await rm(join(out, WORK_DIR), { recursive: true, force: true });
  return summary;
}
