import { readFileSync } from 'node:fs';
import { modelFingerprint } from '../util/model-fingerprint.js';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { listShards, readManifest, readShardInfo, readShardStats, writeJsonAtomic } from '../shards/index.js';
import { InputError, UsageError } from '../util/errors.js';
import type { BasicFilterOptions } from './screen.js';
import type { FilterOptions, FilterSummary } from './types.js';

/** The output directory of a run: validation, the options that identify a run, resume checks. */

/** Stage name in errors, stats and the manifest. */
export const STAGE = 'filter';
/** Hidden work directory in the output (options of an unfinished run, temporary score files). */
export const WORK_DIR = '.filter-work';

/** wit's version, from package.json (sources and dist/ sit at different depths). */
export function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const p = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (p.name === 'wit' && p.version) return p.version;
    } catch {
      // try the next location: src/ and dist/src/ sit at different depths
    }
  }
  return '0.0.0';
}

/** Options after validation, with what was learnt about the input shards. */
export interface Validated {
  files: string[];
  rowCounts: number[];
  mode: FilterSummary['mode'];
  basic: BasicFilterOptions;
  dedup: boolean;
  batchSize: number;
}

/**
 * Checks options and input before anything is written: resolves to the shard files, their row
 * counts and the run's mode. Throws UsageError for bad options or a missing path, InputError
 * naming the file for a shard that is not Parquet or not a wit shard.
 */
export async function validate(opts: FilterOptions): Promise<Validated> {
  if (!opts.shards?.length) throw new UsageError(STAGE, 'no input shards given (--shards)');
  if (!opts.out) throw new UsageError(STAGE, 'no output directory given (--out)');
  const { minSimilarity: ms, keepFraction: kf } = opts;
  if (ms !== undefined && kf !== undefined) throw new UsageError(STAGE, 'give either --min-similarity or --keep-fraction, not both');
  if (kf !== undefined && !(Number.isFinite(kf) && kf > 0 && kf <= 1)) throw new UsageError(STAGE, `--keep-fraction must be in (0, 1], got ${kf}`);
  if (ms !== undefined && !(Number.isFinite(ms) && ms >= -1 && ms <= 1)) throw new UsageError(STAGE, `--min-similarity must be in [-1, 1], got ${ms}`);
  const basic: BasicFilterOptions = {
    minCaptionWords: opts.minCaptionWords,
    minCaptionChars: opts.minCaptionChars,
    minImageSide: opts.minImageSide,
    maxAspect: opts.maxAspect,
  };
  for (const [name, v] of Object.entries(basic)) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new UsageError(STAGE, `${name} must be a number >= 0, got ${v}`);
  }
  if (basic.maxAspect !== undefined && basic.maxAspect < 1) throw new UsageError(STAGE, `maxAspect must be >= 1, got ${basic.maxAspect}`);
  const batchSize = opts.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(STAGE, `batch size must be an integer >= 1, got ${batchSize}`);
  if (opts.depth !== undefined && !(Number.isInteger(opts.depth) && opts.depth >= 1)) throw new UsageError(STAGE, `depth must be an integer >= 1, got ${opts.depth}`);
  const scoring = ms !== undefined || kf !== undefined;
  if (scoring && !opts.model && !opts.scorer) throw new UsageError(STAGE, '--min-similarity and --keep-fraction need a model (--model DIR)');
  const mode: FilterSummary['mode'] = kf !== undefined ? 'keep-fraction' : ms !== undefined ? 'min-similarity' : opts.model || opts.scorer ? 'score-only' : 'basic';

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
  return { files, rowCounts, mode, basic, dedup: opts.dedup ?? true, batchSize };
}

/** The options that decide the output: a rerun with the same ones resumes, with others is refused. */
export async function runOptions(opts: FilterOptions, v: Validated): Promise<Record<string, unknown>> {
  return {
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
    dedup: v.dedup,
  };
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
    const produced = (await readdir(out)).some((n) => /\.(parquet|tar)$/.test(n)) || (await readdir(join(out, WORK_DIR))).some((n) => n.endsWith('.scores'));
    if (produced) throw new UsageError(STAGE, 'output directory holds an unfinished filter run with other options; give a new --out or delete it', { file: out });
  } else if (previous === undefined) {
    if ((await readdir(out)).some((n) => /\.(parquet|tar)$/.test(n))) throw new UsageError(STAGE, 'output directory already holds shards; give a new --out', { file: out });
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
