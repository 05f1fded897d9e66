/**
 * The crawl's options, declared once (docs/ARCHITECTURE.md, "Options"): the `wit crawl` flags, its
 * --help, the library's `CrawlOptions` and the validation all come from these two schemas. A
 * default or a bound (e.g. `--cap` >= 1) lives here and nowhere else.
 */
import { availableParallelism } from 'node:os';
import { defineOptions, resolveOptions, type ForeignFlag, type OptionsInput, type ResolvedOptions } from '../util/options.js';
import { DEFAULT_USER_AGENT } from '../util/version.js';
import { UsageError } from '../util/errors.js';
import type { ProgressSink } from '../util/progress.js';
import { imageOptionsSchema, img2dataset } from './image-options.js';
import { DEFAULT_INPUT_TIMEOUT_MS, DEFAULT_MAX_INPUT_BYTES } from './http/fetch.js';
import { DEFAULT_MAX_PAGE_BYTES } from './sources/parquet.js';
import type { CapStore } from './balance.js';
import { SHARD_FORMATS } from '../shards/writer.js';
import { RESERVED_COLUMNS } from '../shards/record.js';
import { LIST_FORMATS, detectInputFormat } from './sources/index.js';
import { extraColumnSpec } from './sources/lists.js';
import type { Resolver } from './http/address-guard.js';

/** Input formats `--input-format` accepts. */
export const INPUT_FORMATS = ['warc', 'wat', 'jsonl', 'csv', 'tsv', 'txt', 'parquet', 'seed'] as const;

/** Options of a crawl in one process (and of each worker of a distributed one). */
export const crawlOptionsSchema = defineOptions({
  queries: {
    type: 'string', metavar: 'FILE',
    help: 'queries.tsv from wit querygen, or a text file with one query a line; required unless every input is a url list: without it every row of a list is admitted (a plain downloader, as img2dataset: no matching, no balancing)',
  },
  queryList: { type: 'string[]', cli: false, help: 'the queries themselves, instead of a file' },
  inputs: {
    type: 'string[]', flag: 'input', required: true, metavar: 'SOURCE…',
    help: 'WARC/WAT files, url lists (.parquet; .jsonl .csv .tsv .txt, each optionally .gz or .zst), local or http(s), or http(s) seed urls to crawl live (repeatable)',
    compat: [img2dataset('url_list')],
  },
  urlCol: { type: 'string', default: 'url', metavar: 'NAME', help: "url lists: column (or JSON field) of the image url (LAION: URL)", compat: [img2dataset('url_col')] },
  captionCol: {
    type: 'string', metavar: 'NAME', compat: [img2dataset('caption_col')],
    // no schema default: a list without a `caption` column is read without captions only when none was named
    help: 'url lists: column of the caption (DataComp: text, LAION: TEXT); default caption, and without --queries a list that has no caption column is read without captions (as img2dataset without --caption_col)',
  },
  saveAdditionalColumns: {
    type: 'string[]', default: [], metavar: 'NAME…',
    help: 'url lists: input columns carried into the shards (Parquet columns and each pair\'s .json), typed as they came, e.g. uid; SRC:DEST stores column SRC as DEST (LAION: similarity:laion_similarity) (comma-separated, repeated, or a JSON list)',
    compat: [img2dataset('save_additional_columns')],
  },
  verifyHashCol: { type: 'string', metavar: 'NAME', help: 'url lists: column with the sha256 of the image bytes; a download that differs is dropped as hash_mismatch' },
  outputFormat: {
    type: 'string', choices: SHARD_FORMATS, default: 'parquet',
    help: 'shard format: parquet, webdataset (NNNNN.tar of KEY.jpg/.txt/.json, as open_clip reads, with NNNNN.parquet metadata beside), or files (img2dataset\'s folder NNNNN/ of KEY.jpg/.txt/.json, with NNNNN.parquet metadata beside)',
    compat: [img2dataset('output_format')],
  },
  inputFormat: {
    type: 'string', choices: INPUT_FORMATS, help: 'kind of every input (default: from the name; http(s) urls without a known extension are seed sites)',
    // a compressed list is recognised by its bytes, so img2dataset's `csv.gz` is wit's `csv`
    compat: [img2dataset('input_format', { values: { 'txt.gz': 'txt', 'csv.gz': 'csv', 'tsv.gz': 'tsv', 'jsonl.gz': 'jsonl' } })],
  },
  out: { type: 'string', required: true, metavar: 'DIR', help: 'output directory for shards, stats, manifest.json, query_counts.tsv', compat: [img2dataset('output_folder')] },
  balance: { type: 'string', choices: ['cap', 'sample'], default: 'cap', help: 'cap: at most --cap pairs per query in input order; sample: MetaCLIP two-pass sampling with t = --cap' },
  cap: { type: 'int', min: 1, default: 20000, help: 'pairs per query (cap) or the threshold t (sample)' },
  seed: { type: 'string', default: '0', help: 'seed of the sampling draw' },
  caseInsensitive: { type: 'boolean', default: false, help: 'match queries ignoring case (MetaCLIP matches case-sensitively)' },
  useTitle: { type: 'boolean', default: false, help: 'also use the title attribute when alt is missing' },
  concurrency: { type: 'int', min: 1, max: 4096, default: 32, help: 'downloads in flight (img2dataset\'s --thread_count is per process)', compat: [img2dataset('thread_count')] },
  perHostConcurrency: { type: 'int', min: 1, max: 1024, default: 4, help: 'downloads in flight per host' },
  perHostDelayMs: { type: 'int', min: 0, max: 3_600_000, default: 0, help: 'least delay between two requests to one host (robots.txt Crawl-delay may raise it)' },
  timeoutMs: { type: 'int', min: 1, max: 3_600_000, default: 10_000, help: 'limit per attempt: connect, headers and the whole body', compat: [img2dataset('timeout', { scale: 1000 })] },
  retries: { type: 'int', min: 0, max: 20, default: 2, help: 'retries with exponential backoff after timeouts, 5xx and 429 (Retry-After honoured)' },
  refetch: {
    type: 'boolean', default: false,
    help: "fetch every image, even one whose response a WARC input holds (by default those bytes are used, counted as from_warc, with no request)",
  },
  maxBytes: { type: 'int', min: 1, default: 10 * 1024 * 1024, help: 'largest image download in bytes' },
  userAgent: { type: 'string', default: DEFAULT_USER_AGENT, help: 'User-Agent header; its first word is the robots.txt token' },
  respectRobots: { type: 'boolean', flag: 'robots', default: true, help: 'obey robots.txt for pages and images (--no-robots to ignore it)' },
  allowPrivateNetwork: { type: 'boolean', default: false, help: 'allow loopback/private/link-local addresses (tests, intranets)' },
  onTruncated: {
    type: 'string', choices: ['error', 'skip'], default: 'error',
    help: 'a WARC/WAT record or gzip stream cut by the end of the file: error (exit 2, names file and offset) or skip (counted as truncated_record)',
  },
  maxInputBytes: { type: 'int', min: 1, default: DEFAULT_MAX_INPUT_BYTES, help: 'largest input file read over http(s) (url list, Parquet, WARC), in bytes' },
  inputTimeoutMs: { type: 'int', min: 1, max: 2_147_483_647, default: DEFAULT_INPUT_TIMEOUT_MS, help: 'whole-transfer limit for an input file read over http(s)' },
  maxPageBytes: { type: 'int', min: 1, max: 2 ** 32, default: DEFAULT_MAX_PAGE_BYTES, help: 'largest uncompressed Parquet page of a url list (decompression bombs fail at their declared size)' },
  maxPages: { type: 'int', min: 1, default: 100, help: 'pages fetched per seed site' },
  maxDepth: { type: 'int', min: 0, max: 100, default: 2, help: 'link depth from a seed url' },
  ...imageOptionsSchema,
  shardSize: { type: 'int', min: 1, max: 10_000_000, default: 10_000, help: 'admitted candidates (downloads tried) per shard', compat: [img2dataset('number_sample_per_shard')] },
  resume: { type: 'boolean', default: false, help: 'continue an interrupted crawl in --out (finished shards are kept)' },
  imageConcurrency: {
    type: 'int', min: 1, max: 256,
    help: 'images decoded and resized at once (default: the core count, at most UV_THREADPOOL_SIZE - 1)',
    compat: [img2dataset('processes_count')],
  },
  dedupeCapacity: {
    type: 'int', flag: 'dedup-capacity', aliases: ['dedupe-capacity'], min: 1024, max: 2 ** 31, default: 2 ** 20,
    help: 'pairs the duplicate filter holds before it grows (it grows by doubling, keeping its error bound)',
  },
  dedupeErrorRate: {
    type: 'number', flag: 'dedup-error-rate', aliases: ['dedupe-error-rate'], min: 1e-9, max: 0.5, default: 0.01,
    help: 'bound on the chance that a new pair is taken for a duplicate, at any size (docs/DESIGN-NOTES.md, "Duplicates")',
  },
});

/**
 * img2dataset's flags that wit does not take, each with why and what to use instead (README.md,
 * "Coming from img2dataset"); a harmless value (its default, or one that changes nothing here) is
 * accepted with a note. The flags wit does take are the `compat` names of the schema above.
 */
export const IMG2DATASET_UNSUPPORTED: Readonly<Record<string, ForeignFlag>> = Object.fromEntries(Object.entries({
  enable_wandb: { why: 'wit logs nothing to wandb; the per-shard NNNNN_stats.json, the summary (--json) and wit report hold the numbers', harmless: ['false', '0'] },
  wandb_project: { why: 'wit logs nothing to wandb', harmless: ['*'] },
  distributor: { why: 'wit runs in one process; several machines share a crawl through --redis URL --role coordinator|worker', harmless: ['multiprocessing'] },
  subjob_size: { why: 'one process reads the list as a stream; with --redis, --chunk-rows sets the rows per job', harmless: ['*'] },
  oom_shard_count: { why: 'wit names shards with 5 digits (NNNNN.tar, NNNNN/)', harmless: ['5'] },
  incremental_mode: { why: 'wit never overwrites a run: --resume continues one (incremental); to overwrite, remove the folder first' },
  max_shard_retry: { why: 'wit retries each download (--retries) and --resume redoes unfinished shards', harmless: ['*'] },
  compute_hash: { why: 'wit stores the sha256 of every image (column sha256); it computes no other hash', harmless: ['sha256'] },
  compute_md5: { why: 'wit stores the sha256 of every image (column sha256), not md5', harmless: ['false', '0'] },
  verify_hash: { why: 'use --verify-hash-col COLUMN (a sha256 column)' },
  extract_exif: { why: 'wit stores no EXIF (the orientation is applied to the pixels)', harmless: ['false', '0'] },
  skip_reencode: { why: 'wit re-encodes every image it resizes; --resize-mode no keeps the size', harmless: ['false', '0'] },
  disable_all_reencoding: { why: 'wit decodes every image to check it is one; --resize-mode no keeps its size', harmless: ['false', '0'] },
  upscale_interpolation: { why: 'wit resizes with Lanczos-3 (sharp) both ways', harmless: ['lanczos', 'lanczos4'] },
  downscale_interpolation: { why: 'wit resizes with Lanczos-3 (sharp) both ways; area is not offered', harmless: ['area', 'lanczos', 'lanczos4'] },
  bbox_col: { why: 'wit blurs no regions of images' },
  user_agent_token: { why: 'use --user-agent "TOKEN/1.0 (+url)": the whole User-Agent, whose first word is the robots.txt token' },
  disallowed_header_directives: {
    why: 'wit always honours X-Robots-Tag noai, noimageai, noindex, noimageindex, none (as img2dataset\'s default); --no-robots ignores them with robots.txt',
    harmless: ['["noai","noimageai","noindex","noimageindex"]', '["noai", "noimageai", "noindex", "noimageindex"]'],
  },
}).map(([k, v]) => [k, { tool: 'img2dataset', ...v }]));

/** The distributed crawl's options (`--redis`), on top of the crawl's. */
export const distributedOptionsSchema = defineOptions({
  redis: { type: 'string', metavar: 'URL', help: 'distribute the crawl through BullMQ on this Redis (redis://HOST:PORT)' },
  role: { type: 'string', choices: ['coordinator', 'worker'], help: 'with --redis: coordinator splits inputs into jobs and waits; worker takes jobs' },
  chunkRows: { type: 'int', min: 1, default: 10_000, help: 'with --redis: url-list rows per job' },
  runId: { type: 'string', help: 'with --redis: name of the run (default: derived from --out, inputs, queries and balancing options)' },
  workerConcurrency: { type: 'int', min: 1, max: 64, default: 2, help: 'with --role worker: jobs this worker runs at once' },
  redisTimeout: {
    type: 'number', min: 0.1, max: 86_400, default: 60, metavar: 'SECONDS',
    help: 'with --redis: give up (exit 1) when Redis cannot be reached at start for this long; a Redis restart mid-run is waited out',
  },
});

/** Library-only hooks of a crawl (not options: they are not declared, validated or stored). */
export interface CrawlHooks {
  /** Status line sink (the CLI shows it on stderr). */
  onProgress?: ProgressSink;
  /** Stops the run cleanly (finished shards stay; --resume continues). */
  signal?: AbortSignal;
  /** Per-query counters (a distributed crawl injects a Redis one). Default in memory. */
  capStore?: CapStore;
  /** Tests: name resolution override. */
  resolver?: Resolver;
}

/**
 * Options of a crawl as a library caller gives them: every option of the schema (inputs and out are
 * needed; queries unless every input is a url list), `queries` also as the list itself, `seed` also as
 * a number.
 */
export type CrawlOptions = Omit<OptionsInput<typeof crawlOptionsSchema>, 'queries' | 'seed'> & {
  /**
   * Path of queries.tsv (or a one-query-a-line text file), or the queries themselves. Needed unless
   * every input is a url list: without it every row of a list is admitted (resolveCrawlOptions checks).
   */
  queries?: string | string[];
  seed?: string | number;
} & CrawlHooks;

/** A distributed crawl's options. */
export type DistributedCrawlOptions = CrawlOptions & OptionsInput<typeof distributedOptionsSchema>;

/** Crawl options after defaults and validation (what manifest.json stores). */
export type ResolvedCrawlOptions = ResolvedOptions<typeof crawlOptionsSchema> & { imageConcurrency: number };

/**
 * Images resized at once: one per core, but at most libuv's threadpool size minus one, because the
 * same pool also runs DNS lookups (getaddrinfo can block a thread for seconds) and file writes.
 */
export function defaultImageConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(availableParallelism(), pool - 1));
}

/** Splits the library's conveniences (queries as a list, a numeric seed) into the schema's fields. */
function schemaInput(opts: CrawlOptions): OptionsInput<typeof crawlOptionsSchema> {
  const { onProgress: _p, signal: _s, capStore: _c, resolver: _r, queries, seed, ...rest } = opts;
  const input: OptionsInput<typeof crawlOptionsSchema> = { ...rest };
  if (Array.isArray(queries)) input.queryList = queries;
  else if (queries !== undefined) input.queries = queries;
  if (seed !== undefined) input.seed = String(seed);
  return input;
}

/**
 * Fills defaults and validates every crawl option (the one place that does); throws UsageError
 * naming the flag. Hooks are dropped: the result is what manifest.json stores.
 */
export function resolveCrawlOptions(opts: CrawlOptions): ResolvedCrawlOptions {
  const resolved = resolveOptions('crawl', crawlOptionsSchema, schemaInput(opts));
  resolved.saveAdditionalColumns = [...new Set(resolved.saveAdditionalColumns.flatMap((c) => c.split(',')).map((c) => c.trim()).filter(Boolean))];
  if (resolved.queries === undefined && resolved.queryList === undefined && !resolved.inputs.every((i) => LIST_FORMATS.has(detectInputFormat(i, resolved.inputFormat)))) {
    throw new UsageError('crawl', '--queries is required unless every input is a url list; see wit crawl --help');
  }
  const stored = new Set<string>();
  for (const col of resolved.saveAdditionalColumns) {
    const { source, name } = extraColumnSpec(col);
    if (RESERVED_COLUMNS.has(name)) throw new UsageError('crawl', `--save-additional-columns ${col}: a shard column of wit has that name${col !== name ? ` (${name})` : ''}; store it under another name with ${source}:NEW_NAME (e.g. ${source}:${source}_src)`);
    if (stored.has(name)) throw new UsageError('crawl', `--save-additional-columns: two columns would be stored as ${name}`);
    stored.add(name);
  }
  if (!resolved.userAgent.trim()) throw new UsageError('crawl', '--user-agent must not be empty');
  for (const input of resolved.inputs) if (!input) throw new UsageError('crawl', 'empty --input');
  return { ...resolved, imageConcurrency: resolved.imageConcurrency ?? defaultImageConcurrency() };
}

/** Validates the distributed options (with defaults filled in). */
export function resolveDistributedOptions(opts: OptionsInput<typeof distributedOptionsSchema>): ResolvedOptions<typeof distributedOptionsSchema> {
  return resolveOptions('crawl', distributedOptionsSchema, opts);
}
