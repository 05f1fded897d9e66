/**
 * `wit crawl`, the library face: sources -> match -> balance -> download -> resize -> shards.
 * See pipeline.ts for the streaming design, the shard boundaries and how resume stays exact.
 */
import { availableParallelism } from 'node:os';
import { createHash } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import PQueue from 'p-queue';
import type { Candidate, FailureReason } from './types.js';
import { loadQueries } from './queries.js';
import { QueryMatcher } from './match.js';
import { MemoryCapStore, type CapStore } from './balance.js';
import { detectInputFormat, readSource } from './sources/index.js';
import { crawlSite } from './site.js';
import { SafeFetcher, DEFAULT_USER_AGENT, DEFAULT_INPUT_TIMEOUT_MS, DEFAULT_MAX_INPUT_BYTES } from './http/fetch.js';
import { DEFAULT_MAX_PAGE_BYTES } from './sources/parquet.js';
import { RobotsCache } from './http/robots.js';
import { HostLimiter } from './http/host-limiter.js';
import { tuneSharpForCrawl, type ResizeMode, type ImageEncoding } from './image.js';
import {
  PairDeduper, countMatches, newCounters, processCandidates, sumCounts, writeQueryCounts,
  type Balance, type CrawlCounters, type CrawlResources, type PartOptions, type ReasonCounts,
} from './pipeline.js';
import { readManifest, writeManifest, type RunManifest } from '../shards/index.js';
import { UsageError, WitError } from '../util/errors.js';
import { Throttle, formatCount, type ProgressSink } from '../util/progress.js';

export { processCandidates, countMatches, PairDeduper, newCounters, writeQueryCounts } from './pipeline.js';
export type { PartOptions, PartResult, CrawlResources, Balance, CrawlCounters, ReasonCounts } from './pipeline.js';
export { crawlSite } from './site.js';
export { processImage, tuneSharpForCrawl } from './image.js';
export { SafeFetcher, RobotsCache, HostLimiter, DEFAULT_USER_AGENT } from './http/index.js';

/** Input formats `--input-format` accepts. */
export const INPUT_FORMATS = ['warc', 'wat', 'jsonl', 'csv', 'tsv', 'txt', 'parquet', 'seed'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** Options of a crawl (every field has a default except queries, inputs and out). */
export interface CrawlOptions {
  /** Path of queries.tsv (or a one-query-a-line text file), or the queries themselves. */
  queries: string | string[];
  /** WARC/WAT/url-list files (local paths or http(s) urls), or http(s) seed urls of sites to crawl. */
  inputs: string[];
  /** Output directory of shards, stats, manifest.json and query_counts.tsv. */
  out: string;
  /** Force the kind of every input instead of detecting it from the name. */
  inputFormat?: InputFormat;
  /** cap: at most `cap` pairs per query, decided in input order; sample: MetaCLIP's two-pass sampling with t = cap. Default cap. */
  balance?: 'cap' | 'sample';
  /** Pairs per query (cap), or MetaCLIP's t (sample). Default 20000. */
  cap?: number;
  /** Seed of the sampling draw. Default '0'. */
  seed?: string | number;
  /** Case-sensitive matching (MetaCLIP's). Default true. */
  caseSensitive?: boolean;
  /** Take `title` when `alt` is missing. Default false. */
  useTitle?: boolean;
  /** Downloads in flight at most. Default 32. */
  concurrency?: number;
  /** Downloads in flight per host at most. Default 4. */
  perHostConcurrency?: number;
  /** Least ms between two requests to one host (robots.txt Crawl-delay may raise it). Default 0. */
  perHostDelayMs?: number;
  /** Per-attempt limit in ms (connect, headers and whole body). Default 10000. */
  timeoutMs?: number;
  /** Retries after timeouts, 5xx and 429. Default 2. */
  retries?: number;
  /** Largest image body in bytes. Default 10 MiB. */
  maxBytes?: number;
  /** User-Agent. Default `wit/0.1 (+https://github.com/wit-corpus/wit)`. */
  userAgent?: string;
  /** Obey robots.txt for pages and images. Default true. */
  respectRobots?: boolean;
  /** Allow loopback/private/link-local targets (tests, intranets). Default false. */
  allowPrivateNetwork?: boolean;
  /** Pages per seed site. Default 100. */
  maxPages?: number;
  /** Link depth from a seed. Default 2. */
  maxDepth?: number;
  /** Stored image size. Default 256. */
  imageSize?: number;
  /** Default border (img2dataset's default). */
  resizeMode?: ResizeMode;
  /** Default jpg. */
  encode?: ImageEncoding;
  /** Encoder quality. Default 95. */
  quality?: number;
  /** Smallest short side accepted. Default 0. */
  minSize?: number;
  /** Largest long/short side ratio accepted. Default none. */
  maxAspect?: number;
  /** Admitted candidates per shard. Default 10000. */
  shardSize?: number;
  /** Continue a killed run in `out`. Default false. */
  resume?: boolean;
  /** Images decoded/resized at once. Default: the core count, at most UV_THREADPOOL_SIZE - 1 (3 by default). */
  imageConcurrency?: number;
  /** Bloom filter size for (url, caption) dedupe, log2 bits. Default 28 (32 MiB). */
  dedupeBitsLog2?: number;
  /** Status line sink (the CLI shows it on stderr). */
  onProgress?: ProgressSink;
  /** Stops the run cleanly (finished shards stay; --resume continues). */
  signal?: AbortSignal;
  /** Per-query counters (a distributed crawl injects a Redis one). Default in memory. */
  capStore?: CapStore;
  /** A WARC/WAT record or gzip stream cut by the end of the file: 'error' stops (exit 2), 'skip' counts truncated_record. Default error. */
  onTruncated?: 'error' | 'skip';
  /** Largest input file read over http(s) (url lists, Parquet, WARC, WAT), in bytes. Default 16 GiB. */
  maxInputBytes?: number;
  /** Whole-transfer limit for an input file read over http(s), in ms. Default 1 hour. */
  inputTimeoutMs?: number;
  /** Largest uncompressed Parquet page of a url list, in bytes. Default 256 MiB. */
  maxPageBytes?: number;
  /** Tests: name resolution override. */
  resolver?: import('./http/address-guard.js').Resolver;
}

/** What a crawl did. `candidates = kept + failed_total + skipped_total`. */
export interface CrawlSummary {
  out: string;
  inputs: number;
  candidates: number;
  /** Candidates whose caption matched a query (after dedupe). */
  matched: number;
  /** Matched candidates admitted by balancing (downloads tried). */
  admitted: number;
  kept: number;
  failed: Record<string, number>;
  skipped: Record<string, number>;
  failed_total: number;
  skipped_total: number;
  shards: number;
  resumed_shards: number;
  queries_with_pairs: number;
  /** kept / admitted. */
  success_rate: number;
  seconds: number;
  candidatesPerSec: number;
  imagesPerSec: number;
  /** Live crawl pages: fetched ok, and failures by reason. */
  pages?: Record<string, number>;
  /** Unusable items inside good inputs (bad lines, bad urls), by reason. */
  bad_items?: Record<string, number>;
}

/** Options after defaults, as stored in manifest.json. */
export type ResolvedCrawlOptions = Required<Omit<CrawlOptions, 'onProgress' | 'signal' | 'capStore' | 'resolver' | 'inputFormat' | 'maxAspect' | 'queries'>> & {
  inputFormat?: InputFormat;
  maxAspect?: number;
  queries: string | string[];
};

/**
 * Images resized at once: one per core, but at most libuv's threadpool size minus one, because
 * the same pool also runs DNS lookups (getaddrinfo can block a thread for seconds) and file writes.
 */
export function defaultImageConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(availableParallelism(), pool - 1));
}

function checkInt(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new UsageError('crawl', `${name} must be an integer in [${min}, ${max}], got ${v}`);
}

/** Fills defaults and validates; throws UsageError naming the bad option. */
export function resolveCrawlOptions(opts: CrawlOptions): ResolvedCrawlOptions {
  if (!opts.inputs?.length) throw new UsageError('crawl', 'no inputs: give --input FILE|URL (repeatable)');
  if (!opts.out) throw new UsageError('crawl', 'no output directory (--out)');
  const r: ResolvedCrawlOptions = {
    queries: opts.queries,
    inputs: [...opts.inputs],
    out: opts.out,
    inputFormat: opts.inputFormat,
    balance: opts.balance ?? 'cap',
    cap: opts.cap ?? 20_000,
    seed: opts.seed ?? '0',
    caseSensitive: opts.caseSensitive ?? true,
    useTitle: opts.useTitle ?? false,
    concurrency: opts.concurrency ?? 32,
    perHostConcurrency: opts.perHostConcurrency ?? 4,
    perHostDelayMs: opts.perHostDelayMs ?? 0,
    timeoutMs: opts.timeoutMs ?? 10_000,
    retries: opts.retries ?? 2,
    maxBytes: opts.maxBytes ?? 10 * 1024 * 1024,
    userAgent: opts.userAgent ?? DEFAULT_USER_AGENT,
    respectRobots: opts.respectRobots ?? true,
    allowPrivateNetwork: opts.allowPrivateNetwork ?? false,
    maxPages: opts.maxPages ?? 100,
    maxDepth: opts.maxDepth ?? 2,
    imageSize: opts.imageSize ?? 256,
    resizeMode: opts.resizeMode ?? 'border',
    encode: opts.encode ?? 'jpg',
    quality: opts.quality ?? 95,
    minSize: opts.minSize ?? 0,
    maxAspect: opts.maxAspect,
    shardSize: opts.shardSize ?? 10_000,
    resume: opts.resume ?? false,
    imageConcurrency: opts.imageConcurrency ?? defaultImageConcurrency(),
    dedupeBitsLog2: opts.dedupeBitsLog2 ?? 28,
    onTruncated: opts.onTruncated ?? 'error',
    maxInputBytes: opts.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES,
    inputTimeoutMs: opts.inputTimeoutMs ?? DEFAULT_INPUT_TIMEOUT_MS,
    maxPageBytes: opts.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES,
  };
  if (r.balance !== 'cap' && r.balance !== 'sample') throw new UsageError('crawl', `balance must be cap or sample, got '${String(r.balance)}'`);
  checkInt('cap', r.cap, 1);
  checkInt('concurrency', r.concurrency, 1, 4096);
  checkInt('per-host-concurrency', r.perHostConcurrency, 1, 1024);
  checkInt('per-host-delay-ms', r.perHostDelayMs, 0, 3_600_000);
  checkInt('timeout-ms', r.timeoutMs, 1, 3_600_000);
  checkInt('retries', r.retries, 0, 20);
  checkInt('max-bytes', r.maxBytes, 1);
  checkInt('max-pages', r.maxPages, 1);
  checkInt('max-depth', r.maxDepth, 0, 100);
  checkInt('image-size', r.imageSize, 8, 8192);
  checkInt('quality', r.quality, 1, 100);
  checkInt('min-size', r.minSize, 0);
  checkInt('shard-size', r.shardSize, 1, 10_000_000);
  checkInt('image-concurrency', r.imageConcurrency, 1, 256);
  checkInt('dedupe-bits-log2', r.dedupeBitsLog2, 10, 32);
  checkInt('max-input-bytes', r.maxInputBytes, 1);
  checkInt('input-timeout-ms', r.inputTimeoutMs, 1, 2_147_483_647);
  checkInt('max-page-bytes', r.maxPageBytes, 1, 2 ** 32);
  if (r.onTruncated !== 'error' && r.onTruncated !== 'skip') throw new UsageError('crawl', `on-truncated must be error or skip, got '${String(r.onTruncated)}'`);
  if (r.maxAspect !== undefined && !(r.maxAspect >= 1)) throw new UsageError('crawl', `max-aspect must be >= 1, got ${r.maxAspect}`);
  if (!['center_crop', 'keep_ratio', 'border'].includes(r.resizeMode)) throw new UsageError('crawl', `resize-mode must be center_crop, keep_ratio or border, got '${r.resizeMode}'`);
  if (r.encode !== 'jpg' && r.encode !== 'webp') throw new UsageError('crawl', `encode must be jpg or webp, got '${String(r.encode)}'`);
  if (!r.userAgent.trim()) throw new UsageError('crawl', 'user agent must not be empty');
  for (const i of r.inputs) if (!i) throw new UsageError('crawl', 'empty --input');
  return r;
}

/** Queries from a path or a list. */
async function queryList(q: string | string[]): Promise<string[]> {
  if (Array.isArray(q)) return q;
  return loadQueries(q);
}

/** The options that decide which pairs a run yields: a resume must use the same. */
function fingerprint(r: ResolvedCrawlOptions, queries: string[]): Record<string, unknown> {
  const qh = createHash('sha256');
  for (const q of queries) qh.update(q).update('\n');
  return {
    queries_sha256: qh.digest('hex'), inputs: r.inputs, inputFormat: r.inputFormat ?? null, balance: r.balance, cap: r.cap, seed: String(r.seed),
    caseSensitive: r.caseSensitive, useTitle: r.useTitle, shardSize: r.shardSize, imageSize: r.imageSize, resizeMode: r.resizeMode,
    encode: r.encode, quality: r.quality, minSize: r.minSize, maxAspect: r.maxAspect ?? null, maxBytes: r.maxBytes,
    respectRobots: r.respectRobots, maxPages: r.maxPages, maxDepth: r.maxDepth, dedupeBitsLog2: r.dedupeBitsLog2,
  };
}

/** Shared network/CPU resources of one process; `close()` ends pooled connections. */
export function createResources(r: Pick<ResolvedCrawlOptions, 'userAgent' | 'timeoutMs' | 'retries' | 'maxBytes' | 'allowPrivateNetwork' | 'perHostConcurrency' | 'perHostDelayMs' | 'concurrency' | 'imageConcurrency' | 'respectRobots'> & Partial<Pick<ResolvedCrawlOptions, 'maxInputBytes' | 'inputTimeoutMs'>>, resolver?: CrawlOptions['resolver']): CrawlResources & { close(): Promise<void> } {
  const fetcher = new SafeFetcher({
    userAgent: r.userAgent, timeoutMs: r.timeoutMs, retries: r.retries, maxBytes: r.maxBytes,
    allowPrivateNetwork: r.allowPrivateNetwork, connectionsPerOrigin: r.perHostConcurrency, resolver,
    maxInputBytes: r.maxInputBytes, inputTimeoutMs: r.inputTimeoutMs,
  });
  return {
    fetcher,
    robots: r.respectRobots ? new RobotsCache(fetcher) : undefined,
    hosts: new HostLimiter({ perHostConcurrency: r.perHostConcurrency, perHostDelayMs: r.perHostDelayMs }),
    downloads: new PQueue({ concurrency: r.concurrency }),
    images: new PQueue({ concurrency: r.imageConcurrency }),
    close: () => fetcher.close(),
  };
}

/** Live page and bad-item counts of the sources. */
export interface SourceCounters {
  pages: Record<string, number>;
  badItems: Record<string, number>;
}

/**
 * The candidates of one input in order: a seed url is crawled live, anything else is read by its
 * format (detected from the name unless `format` is given). Throws UsageError/InputError for an
 * input that cannot be read.
 */
export function openInput(input: string, r: Pick<ResolvedCrawlOptions, 'inputFormat' | 'useTitle' | 'maxPages' | 'maxDepth'> & Partial<Pick<ResolvedCrawlOptions, 'onTruncated' | 'maxPageBytes'>>, res: CrawlResources, signal: AbortSignal | undefined, counters: SourceCounters): AsyncIterable<Candidate> {
  const format = detectInputFormat(input, r.inputFormat);
  const onBadItem = (reason: string) => { counters.badItems[reason] = (counters.badItems[reason] ?? 0) + 1; };
  if (format === 'seed') {
    return crawlSite(input, res, {
      maxPages: r.maxPages, maxDepth: r.maxDepth, useTitle: r.useTitle, signal, onBadItem,
      onPage: (_u, outcome) => { counters.pages[outcome] = (counters.pages[outcome] ?? 0) + 1; },
    });
  }
  return readSource(input, {
    format,
    useTitle: r.useTitle,
    signal,
    openUrl: (u: string) => res.fetcher.openStream(u, signal),
    onTruncated: r.onTruncated,
    maxPageBytes: r.maxPageBytes,
    onBadItem,
  });
}

async function* allInputs(r: ResolvedCrawlOptions, res: CrawlResources, signal: AbortSignal | undefined, sc: SourceCounters): AsyncGenerator<Candidate> {
  for (const input of r.inputs) yield* openInput(input, r, res, signal, sc);
}

function topReasons(c: ReasonCounts, n: number): string {
  return Object.entries(c)
    .filter(([, v]) => (v ?? 0) > 0)
    .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
    .slice(0, n)
    .map(([k, v]) => `${k} ${formatCount(v ?? 0)}`)
    .join(', ');
}

/** The one-line status: rates, success rate, top failure reasons. */
export function progressLine(c: CrawlCounters, seconds: number, phase = 'crawl'): string {
  const s = Math.max(seconds, 1e-3);
  const rate = c.done ? ((100 * c.kept) / c.done).toFixed(1) : '-';
  const fails = topReasons(c.failed, 3);
  return `${phase}: ${formatCount(c.candidates)} candidates (${formatCount(c.candidates / s)}/s) · ${formatCount(c.matched)} matched · ${formatCount(c.admitted)} admitted · ${formatCount(c.kept)} kept (${formatCount(c.kept / s)} img/s) · ok ${rate}%${fails ? ` · failed: ${fails}` : ''} · ${c.shards} shards`;
}

async function checkOutDir(r: ResolvedCrawlOptions, fp: Record<string, unknown>): Promise<void> {
  let names: string[] = [];
  try {
    names = await readdir(r.out);
  } catch {
    return;
  }
  const hasRun = names.some((n) => n.endsWith('.parquet') || n === 'manifest.json');
  if (!r.resume) {
    if (hasRun) throw new UsageError('crawl', 'output directory already holds a crawl: use --resume to continue it, or choose a new --out', { file: r.out });
    return;
  }
  const m = await readManifest(r.out);
  const prev = m?.fingerprint as Record<string, unknown> | undefined;
  if (!prev) {
    if (hasRun) throw new UsageError('crawl', 'cannot resume: shards without a crawl manifest.json', { file: r.out });
    return;
  }
  for (const [k, v] of Object.entries(fp)) {
    if (JSON.stringify(prev[k]) !== JSON.stringify(v)) {
      throw new UsageError('crawl', `cannot resume: option '${k}' differs from the interrupted run (${JSON.stringify(prev[k])} then, ${JSON.stringify(v)} now)`, { file: r.out });
    }
  }
}

/**
 * Runs a whole crawl into `opts.out` and resolves with its summary. Throws UsageError for bad
 * options or an output directory that holds another run, InputError for unreadable inputs, and
 * WitError('crawl', 'interrupted') when `signal` stopped it (finished shards stay; `resume` continues).
 */
export async function crawl(opts: CrawlOptions): Promise<CrawlSummary> {
  const t0 = Date.now();
  const r = resolveCrawlOptions(opts);
  const queries = await queryList(r.queries);
  if (!queries.length) throw new UsageError('crawl', 'the query list is empty', { file: typeof r.queries === 'string' ? r.queries : undefined });
  for (const i of r.inputs) detectInputFormat(i, r.inputFormat); // fail fast on an unknown kind
  const fp = fingerprint(r, queries);
  await checkOutDir(r, fp);
  await mkdir(r.out, { recursive: true });
  const matcher = QueryMatcher.build(queries, { caseSensitive: r.caseSensitive });
  tuneSharpForCrawl();
  const res = createResources(r, opts.resolver);
  const counters = newCounters();
  const sc: SourceCounters = { pages: {}, badItems: {} };
  const optionsRecord: Record<string, unknown> = { ...r, queries: typeof r.queries === 'string' ? r.queries : `${queries.length} queries (inline)` };
  const manifest = (extra: Partial<RunManifest>): RunManifest => ({
    stage: 'crawl', version: '0.1.0', created: new Date(t0).toISOString(), options: optionsRecord, inputs: r.inputs,
    shards: [], totals: {}, fingerprint: fp, complete: false, ...extra,
  });
  await writeManifest(r.out, manifest({}));
  let phase = 'crawl';
  const throttle = new Throttle(opts.onProgress, () => progressLine(counters, (Date.now() - t0) / 1000, phase), 1000);
  const timer = opts.onProgress ? setInterval(() => throttle.tick(), 1000) : undefined;
  try {
    let balance: Balance;
    if (r.balance === 'sample') {
      phase = 'count matches';
      const counted = { n: 0 };
      const counts = await countMatches(allInputs(r, res, opts.signal, { pages: {}, badItems: {} }), matcher, new PairDeduper(r.dedupeBitsLog2), opts.signal, () => { counters.candidates = ++counted.n; });
      counters.candidates = 0;
      phase = 'crawl';
      balance = { mode: 'sample', t: r.cap, seed: String(r.seed), counts };
    } else {
      balance = { mode: 'cap', cap: r.cap, store: opts.capStore ?? new MemoryCapStore(r.cap) };
    }
    const part: PartOptions = {
      out: r.out, prefix: '', shardSize: r.shardSize, matcher, balance, dedupe: new PairDeduper(r.dedupeBitsLog2),
      image: { imageSize: r.imageSize, resizeMode: r.resizeMode, encode: r.encode, quality: r.quality, minSize: r.minSize, maxAspect: r.maxAspect },
      resume: r.resume, window: Math.max(16, r.concurrency * 2), counters, signal: opts.signal,
      metadata: { 'wit.stage': 'crawl', 'wit.version': '0.1.0' },
      onShard: () => throttle.tick(),
    };
    const result = await processCandidates(allInputs(r, res, opts.signal, sc), part, res);
    if (result.interrupted || opts.signal?.aborted) {
      throw new WitError('crawl', `interrupted: ${result.shards.length} shards finished in ${r.out}; rerun with --resume to continue`);
    }
    throttle.final();
    await writeQueryCounts(r.out, result.queryCounts, matcher);
    const seconds = (Date.now() - t0) / 1000;
    const summary: CrawlSummary = {
      out: r.out,
      inputs: r.inputs.length,
      candidates: result.candidates,
      matched: result.matched,
      admitted: result.admitted,
      kept: result.kept,
      failed: result.failed as Record<string, number>,
      skipped: result.skipped as Record<string, number>,
      failed_total: sumCounts(result.failed),
      skipped_total: sumCounts(result.skipped),
      shards: result.shards.length,
      resumed_shards: counters.resumedShards,
      queries_with_pairs: [...result.queryCounts.values()].filter((n) => n > 0).length,
      success_rate: result.admitted ? result.kept / result.admitted : 0,
      seconds,
      candidatesPerSec: result.candidates / Math.max(seconds, 1e-3),
      imagesPerSec: result.kept / Math.max(seconds, 1e-3),
    };
    if (Object.keys(sc.pages).length) summary.pages = sc.pages;
    if (Object.keys(sc.badItems).length) summary.bad_items = sc.badItems;
    if (summary.candidates !== summary.kept + summary.failed_total + summary.skipped_total) {
      throw new WitError('crawl', `accounting error: ${summary.candidates} candidates but ${summary.kept} kept + ${summary.failed_total} failed + ${summary.skipped_total} skipped`);
    }
    await writeManifest(r.out, manifest({
      shards: result.shards.map((f) => f.slice(r.out.length).replace(/^[\\/]+/, '')),
      totals: { ...summary },
      complete: true,
      finished: new Date().toISOString(),
    }));
    return summary;
  } finally {
    if (timer) clearInterval(timer);
    await res.close();
  }
}

export type { FailureReason };
