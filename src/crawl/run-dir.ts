/**
 * The output folder of a one-process crawl: whether a run may start in it, what a resume must agree
 * with, and its manifest (docs/ARCHITECTURE.md, "Crash safety"). Nothing is written to the folder
 * before the queries and inputs are checked, and a folder holding no finished shard is fresh, so a
 * start that fails on bad input never blocks the corrected rerun.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { isUrl } from './sources/index.js';
import { readManifest, readShardStats, writeManifest, type RunManifest, type ShardStats } from '../shards/index.js';
import { formatOfShard, metadataPathFor, statsPathFor, statusPathFor } from '../shards/writer.js';
import { UsageError } from '../util/errors.js';
import { VERSION } from '../util/version.js';
import { openInputFile } from '../util/input.js';
import { crawlOptionsSchema, type ResolvedCrawlOptions } from './options.js';
import { flagName, type OptionsSchema } from '../util/options.js';
import { join } from 'node:path';

/**
 * What the user calls a fingerprint entry: its flag (`--image-size` for `imageSize`), never the
 * library key, which no user typed.
 */
export function fingerprintName(key: string): string {
  if (key === 'queries_sha256') return 'the query list (--queries)';
  if (key === 'caseSensitive') return '--case-insensitive';
  const spec = (crawlOptionsSchema as OptionsSchema)[key];
  return spec && spec.cli !== false ? `--${flagName(key, spec)}` : `option '${key}'`;
}

/** The options that decide which pairs a run yields: a resume must use the same. */
export function runFingerprint(r: ResolvedCrawlOptions, queries: readonly string[]): Record<string, unknown> {
  const qh = createHash('sha256');
  for (const q of queries) qh.update(q).update('\n');
  return {
    queries_sha256: qh.digest('hex'), inputs: r.inputs, inputFormat: r.inputFormat ?? null, balance: r.balance, cap: r.cap, seed: r.seed,
    caseSensitive: !r.caseInsensitive, useTitle: r.useTitle, shardSize: r.shardSize, imageSize: r.imageSize, resizeMode: r.resizeMode,
    encode: r.encode, quality: r.quality, minSize: r.minSize, maxAspect: r.maxAspect ?? null, maxBytes: r.maxBytes,
    respectRobots: r.respectRobots, maxPages: r.maxPages, maxDepth: r.maxDepth,
    dedupeCapacity: r.dedupeCapacity, dedupeErrorRate: r.dedupeErrorRate,
    // only when set, so that the fingerprint of a run made before the option existed is unchanged
    ...(r.resizeOnlyIfBigger ? { resizeOnlyIfBigger: true } : {}),
  };
}

/**
 * Opens every local input once, so that a missing or unreadable file is reported (InputError, exit 2)
 * before anything is written. Remote inputs are read when the crawl reaches them.
 */
export async function checkInputs(inputs: readonly string[]): Promise<void> {
  for (const input of inputs) {
    if (isUrl(input)) continue;
    // The shared opener (src/util/input.ts): regular files only, opened without blocking (a FIFO used to
    // hang here forever), within the url-list limit; InputError naming the file otherwise.
    const { fh } = await openInputFile(input, { kind: 'url-list', stage: 'crawl' });
    await fh.close();
  }
}

/** Whether `out` holds at least one finished shard (a data file with its stats). */
export async function hasFinishedShard(out: string, names: readonly string[]): Promise<boolean> {
  return (await finishedShards(out, names)).length > 0;
}

/** The finished shards (data file with its stats) in `out`: file path and stats. */
async function finishedShards(out: string, names: readonly string[]): Promise<{ file: string; stats: ShardStats }[]> {
  const found: { file: string; stats: ShardStats }[] = [];
  for (const name of names) {
    // a data file, or a files shard's folder (its name with a completion record beside it)
    if (name.startsWith('.') || !(/\.(parquet|tar)$/.test(name) || (!name.includes('.') && names.includes(`${name}_stats.json`)))) continue;
    const stats = await readShardStats(join(out, name));
    if (stats) found.push({ file: join(out, name), stats });
  }
  return found;
}

/** What the output folder held when the run started. */
export interface OutDirState {
  /** The manifest of a finished run with the same fingerprint (a --resume of a complete run). */
  complete: boolean;
  /**
   * Files of an earlier crawl that kept no pair at all (every download refused, say): it is no crawl
   * to keep, so this run replaces it; `ManifestWriter.started` removes them before the first shard.
   */
  replaces?: string[];
}

/** A finished shard's files: data (or files folder), stats, and its status rows or WebDataset/files metadata. */
function shardFiles(file: string): string[] {
  return [file, statsPathFor(file), formatOfShard(file) === 'parquet' ? statusPathFor(file) : metadataPathFor(file)];
}

/**
 * Decides whether the run may start in `r.out`. A folder without a finished shard is fresh (whatever
 * manifest a failed start left there). Otherwise a new run is refused (use --resume) and a resume must
 * have the same fingerprint. Throws UsageError naming the folder.
 */
export async function checkOutDir(r: ResolvedCrawlOptions, fingerprint: Record<string, unknown>): Promise<OutDirState> {
  const names = await readdir(r.out).catch(() => [] as string[]);
  const finished = await finishedShards(r.out, names);
  if (!finished.length) return { complete: false };
  const manifest0 = await readManifest(r.out).catch(() => undefined);
  if (manifest0?.stage === 'crawl' && finished.every((f) => Number(f.stats.count ?? 0) === 0 && Number(f.stats.successes ?? 0) === 0)) {
    // a crawl that kept nothing is not a crawl already here: the corrected rerun replaces it
    return { complete: false, replaces: [...finished.flatMap((f) => shardFiles(f.file)), join(r.out, 'query_counts.tsv')] };
  }
  if (!r.resume) throw new UsageError('crawl', 'output directory already holds a crawl: use --resume to continue it, or choose a new --out', { file: r.out });
  const manifest = await readManifest(r.out);
  const prev = manifest?.fingerprint as Record<string, unknown> | undefined;
  if (!prev) throw new UsageError('crawl', 'cannot resume: shards without a crawl manifest.json', { file: r.out });
  for (const k of new Set([...Object.keys(fingerprint), ...Object.keys(prev)])) {
    const v = fingerprint[k];
    if (JSON.stringify(prev[k]) !== JSON.stringify(v)) {
      throw new UsageError('crawl', `cannot resume: ${fingerprintName(k)} differs from the interrupted run (${JSON.stringify(prev[k] ?? null)} then, ${JSON.stringify(v ?? null)} now)`, { file: r.out });
    }
  }
  return { complete: manifest?.complete === true };
}

/** Writes the run's manifest: `complete: false` while it runs, the totals and shards at the end. */
export class ManifestWriter {
  private readonly created = new Date().toISOString();
  constructor(private readonly out: string, private readonly options: Record<string, unknown>, private readonly inputs: string[], private readonly fingerprint: Record<string, unknown>) {}

  private base(): RunManifest {
    return {
      stage: 'crawl', version: VERSION, created: this.created, options: this.options, inputs: this.inputs,
      shards: [], totals: {}, fingerprint: this.fingerprint, complete: false,
    };
  }

  /** Marks the folder as holding this run, unfinished (kept as is when it holds this run complete). */
  async started(state: OutDirState): Promise<void> {
    await mkdir(this.out, { recursive: true });
    for (const f of state.replaces ?? []) await rm(f, { recursive: true, force: true });
    if (!state.complete) await writeManifest(this.out, this.base());
  }

  /** The run finished: its shards (names relative to the folder) and totals. */
  async finished(shards: string[], totals: Record<string, unknown>): Promise<void> {
    await writeManifest(this.out, { ...this.base(), shards, totals, complete: true, finished: new Date().toISOString() });
  }
}
