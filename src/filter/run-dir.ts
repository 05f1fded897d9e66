import { readFileSync } from 'node:fs';
import { modelFingerprint } from '../util/model-fingerprint.js';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { listShards, readManifest, readShardInfo, readShardStats, writeJsonAtomic } from '../shards/index.js';
import { InputError, UsageError } from '../util/errors.js';
import type { BasicFilterOptions } from './screen.js';

/** Names of a finished shard's files, whatever its format (a files shard's folder has its metadata and stats beside it). */
const SHARD_FILE = /\.(parquet|tar)$|_stats\.json$/;
import type { FilterMode, FilterOptions } from './types.js';
import type { FILTER_OPTIONS } from './options.js';
import type { ResolvedOptions } from '../util/options.js';

/** The output directory of a run: validation, the options that identify a run, resume checks. */

/** Stage name in errors, stats and the manifest. */
export const STAGE = 'filter';
/** Hidden work directory in the output (options of an unfinished run, temporary score files). */
export const WORK_DIR = '.filter-work';

/** Options after validation, with what was learnt about the input shards. */
export interface Validated {
  files: string[];
  rowCounts: number[];
  mode: FilterMode;
  basic: BasicFilterOptions;
}

/** Resolved filter options (defaults filled) with the callbacks. */
export type ResolvedFilterOptions = ResolvedOptions<typeof FILTER_OPTIONS> & Omit<FilterOptions, keyof typeof FILTER_OPTIONS>;

/**
 * Checks options and input before anything is written: resolves to the shard files, their row
 * counts and the run's mode. Throws UsageError for bad options or a missing path, InputError
 * naming the file for a shard that is not Parquet or not a wit shard.
 */
export async function validate(opts: ResolvedFilterOptions): Promise<Validated> {
  const { minSimilarity: ms, keepFraction: kf } = opts;
  if (ms !== undefined && kf !== undefined) throw new UsageError(STAGE, 'give either --min-similarity or --keep-fraction, not both');
  if (kf !== undefined && !(kf > 0 && kf <= 1)) throw new UsageError(STAGE, `--keep-fraction must be in (0, 1], got ${kf}`);
  if (ms !== undefined && !(ms >= -1 && ms <= 1)) throw new UsageError(STAGE, `--min-similarity must be in [-1, 1], got ${ms}`);
  const basic: BasicFilterOptions = {
    minCaptionWords: opts.minCaptionWords,
    minCaptionChars: opts.minCaptionChars,
    minImageSide: opts.minImageSide,
    maxAspect: opts.maxAspect,
  };
  const scoring = ms !== undefined || kf !== undefined;
  if (scoring && !opts.model && !opts.scorer) throw new UsageError(STAGE, '--min-similarity and --keep-fraction need a model (--model DIR)');
  if (opts.dedupSemantic !== undefined && !opts.model) throw new UsageError(STAGE, '--dedup-semantic needs a model (--model DIR) for the image embeddings');
  const mode: FilterMode = kf !== undefined ? 'keep-fraction' : ms !== undefined ? 'min-similarity' : opts.model || opts.scorer ? 'score-only' : 'basic';

  if (opts.model) {
    const st = await stat(opts.model).catch(() => undefined);
    if (!st) throw new UsageError(STAGE, 'model directory does not exist', { file: opts.model });
    if (!st.isDirectory()) throw new UsageError(STAGE, 'model must be a directory written by wit train', { file: opts.model });
  }
  const files = await listShards(opts.shards);
  const out = resolve(opts.out);
  const rowCounts: number[] = [];
  for (const f of files) {
    if (resolve(f, '..') === out) throw new UsageError(STAGE, 'output directory holds input shards; give another --out', { file: opts.out });
    const info = await readShardInfo(f); // InputError naming the file when it is not a readable shard
    const names = new Set(info.columns);
    for (const col of ['key', 'caption']) if (!names.has(col)) throw new InputError(STAGE, f, `not a wit shard: no '${col}' column`);
    if (mode !== 'basic' && !info.imageFormat) throw new InputError(STAGE, f, 'shard has no image column (jpg, webp or png) to score');
    rowCounts.push(info.rows);
  }
  return { files, rowCounts, mode, basic };
}

/** The options that decide the output: a rerun with the same ones resumes, with others is refused. */
export async function runOptions(opts: ResolvedFilterOptions, v: Validated): Promise<Record<string, unknown>> {
  const options: Record<string, unknown> = {
    shards: v.files.map((f) => resolve(f)),
    model: opts.model ? resolve(opts.model) : null,
    model_fingerprint: opts.model ? await modelFingerprint(opts.model) : null,
    scorer: opts.scorer && !opts.model ? 'custom' : null,
    min_similarity: opts.minSimilarity ?? null,
    keep_fraction: opts.keepFraction ?? null,
    min_caption_words: v.basic.minCaptionWords ?? null,
    min_caption_chars: v.basic.minCaptionChars ?? null,
    min_image_side: v.basic.minImageSide ?? null,
    max_aspect: v.basic.maxAspect ?? null,
    dedup: opts.dedup,
  };
  // Only when set, so that runs made before the option existed still resume.
  if (opts.dedupSemantic !== undefined) options.dedup_semantic = opts.dedupSemantic;
  return options;
}

/**
 * Claims the output directory for this run (records its options in the work directory). Throws
 * UsageError when it holds something other than this same run, finished or not.
 */
export async function claimOutput(out: string, options: Record<string, unknown>): Promise<void> {
  await mkdir(join(out, WORK_DIR), { recursive: true });
  const same = (o: unknown) => JSON.stringify(o) === JSON.stringify(options);
  const manifest = await readManifest(out);
  const optionsFile = join(out, WORK_DIR, 'options.json');
  let previous: unknown;
  try {
    previous = JSON.parse(readFileSync(optionsFile, 'utf8'));
  } catch {
    previous = undefined;
  }
  if (manifest) {
    if (manifest.stage !== STAGE || !same(manifest.options)) {
      throw new UsageError(STAGE, `output directory holds another run (${manifest.stage}, other options); give a new --out or delete it`, { file: out });
    }
  } else if (previous !== undefined && !same(previous)) {
    // An unfinished run with other options: take it over only when it has produced nothing yet.
    const produced = (await readdir(out)).some((n) => SHARD_FILE.test(n)) || (await readdir(join(out, WORK_DIR))).some((n) => n.endsWith('.scores'));
    if (produced) throw new UsageError(STAGE, 'output directory holds an unfinished filter run with other options; give a new --out or delete it', { file: out });
  } else if (previous === undefined) {
    if ((await readdir(out)).some((n) => SHARD_FILE.test(n))) throw new UsageError(STAGE, 'output directory already holds shards; give a new --out', { file: out });
  }
  await writeJsonAtomic(optionsFile, options);
}

/** True when every output shard is finished (the shard and its stats exist). */
export async function allFinished(outputs: string[]): Promise<boolean> {
  for (const o of outputs) if (!(await readShardStats(o)) || !(await exists(o))) return false;
  return true;
}

/** True when a path exists. */
export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
