import type { CommandDef, CommandResult } from '../command.js';
import type { FlagSpecs } from '../args.js';
import { UsageError, WitError } from '../../util/errors.js';

const flags: FlagSpecs = {
  queries: { type: 'string', required: true, metavar: 'FILE', description: 'queries.tsv from wit querygen, or a text file with one query a line' },
  input: { type: 'string[]', required: true, metavar: 'SOURCE…', description: 'WARC/WAT files, url lists (.jsonl .csv .tsv .parquet), local or http(s), or http(s) seed urls to crawl live (repeatable)' },
  'input-format': { type: 'string', choices: ['warc', 'wat', 'jsonl', 'csv', 'tsv', 'parquet', 'seed'], description: 'kind of every input (default: from the name; http(s) urls without a known extension are seed sites)' },
  out: { type: 'string', required: true, metavar: 'DIR', description: 'output directory for shards, stats, manifest.json, query_counts.tsv' },
  balance: { type: 'string', choices: ['cap', 'sample'], default: 'cap', description: 'cap: at most --cap pairs per query in input order; sample: MetaCLIP two-pass sampling with t = --cap' },
  cap: { type: 'int', min: 1, default: 20000, description: 'pairs per query (cap) or the threshold t (sample)' },
  seed: { type: 'string', default: '0', description: 'seed of the sampling draw' },
  'case-insensitive': { type: 'boolean', default: false, description: 'match queries ignoring case (MetaCLIP matches case-sensitively)' },
  'use-title': { type: 'boolean', default: false, description: 'also use the title attribute when alt is missing' },
  concurrency: { type: 'int', min: 1, max: 4096, default: 32, description: 'downloads in flight' },
  'per-host-concurrency': { type: 'int', min: 1, max: 1024, default: 4, description: 'downloads in flight per host' },
  'per-host-delay-ms': { type: 'int', min: 0, default: 0, description: 'least delay between two requests to one host (robots.txt Crawl-delay may raise it)' },
  'timeout-ms': { type: 'int', min: 1, default: 10000, description: 'limit per attempt: connect, headers and the whole body' },
  retries: { type: 'int', min: 0, max: 20, default: 2, description: 'retries with exponential backoff after timeouts, 5xx and 429 (Retry-After honoured)' },
  'max-bytes': { type: 'int', min: 1, default: 10 * 1024 * 1024, description: 'largest image download in bytes' },
  'user-agent': { type: 'string', default: 'wit/0.1 (+https://github.com/wit-corpus/wit)', description: 'User-Agent header; its first word is the robots.txt token' },
  robots: { type: 'boolean', default: true, description: 'obey robots.txt for pages and images (--no-robots to ignore it)' },
  'allow-private-network': { type: 'boolean', default: false, description: 'allow loopback/private/link-local addresses (tests, intranets)' },
  'on-truncated': { type: 'string', choices: ['error', 'skip'], default: 'error', description: 'a WARC/WAT record or gzip stream cut by the end of the file: error (exit 2, names file and offset) or skip (counted as truncated_record)' },
  'max-input-bytes': { type: 'int', min: 1, default: 16 * 1024 ** 3, description: 'largest input file read over http(s) (url list, Parquet, WARC), in bytes' },
  'input-timeout-ms': { type: 'int', min: 1, max: 2_147_483_647, default: 3_600_000, description: 'whole-transfer limit for an input file read over http(s)' },
  'max-page-bytes': { type: 'int', min: 1, max: 2 ** 32, default: 256 * 1024 * 1024, description: 'largest uncompressed Parquet page of a url list (decompression bombs fail at their declared size)' },
  'max-pages': { type: 'int', min: 1, default: 100, description: 'pages fetched per seed site' },
  'max-depth': { type: 'int', min: 0, max: 100, default: 2, description: 'link depth from a seed url' },
  'image-size': { type: 'int', min: 8, max: 8192, default: 256, description: 'stored image size in pixels' },
  'resize-mode': { type: 'string', choices: ['center_crop', 'keep_ratio', 'border'], default: 'border', description: 'fit into --image-size as img2dataset does' },
  encode: { type: 'string', choices: ['jpg', 'webp'], default: 'jpg', description: 'stored image encoding' },
  quality: { type: 'int', min: 1, max: 100, default: 95, description: 'encoder quality' },
  'min-size': { type: 'int', min: 0, default: 0, description: 'smallest accepted side of the original image' },
  'max-aspect': { type: 'number', min: 1, description: 'largest accepted ratio of long to short side (default: any)' },
  'shard-size': { type: 'int', min: 1, max: 10_000_000, default: 10000, description: 'admitted candidates (downloads tried) per shard' },
  resume: { type: 'boolean', default: false, description: 'continue an interrupted crawl in --out (finished shards are kept)' },
  redis: { type: 'string', metavar: 'URL', description: 'distribute the crawl through BullMQ on this Redis (redis://HOST:PORT)' },
  role: { type: 'string', choices: ['coordinator', 'worker'], description: 'with --redis: coordinator splits inputs into jobs and waits; worker takes jobs' },
  'chunk-rows': { type: 'int', min: 1, default: 10000, description: 'with --redis: url-list rows per job' },
  'run-id': { type: 'string', description: 'with --redis: name of the run (default: derived from --out, inputs, queries and balancing options)' },
  'worker-concurrency': { type: 'int', min: 1, max: 64, default: 2, description: 'with --role worker: jobs this worker runs at once' },
};

/** Options as the library takes them, from parsed flags. */
function toOptions(f: Record<string, unknown>) {
  return {
    queries: f.queries as string,
    inputs: f.input as string[],
    out: f.out as string,
    inputFormat: f.inputFormat as 'warc' | undefined,
    balance: f.balance as 'cap' | 'sample',
    cap: f.cap as number,
    seed: f.seed as string,
    caseSensitive: !(f.caseInsensitive as boolean),
    useTitle: f.useTitle as boolean,
    concurrency: f.concurrency as number,
    perHostConcurrency: f.perHostConcurrency as number,
    perHostDelayMs: f.perHostDelayMs as number,
    timeoutMs: f.timeoutMs as number,
    retries: f.retries as number,
    maxBytes: f.maxBytes as number,
    userAgent: f.userAgent as string,
    respectRobots: f.robots as boolean,
    allowPrivateNetwork: f.allowPrivateNetwork as boolean,
    maxPages: f.maxPages as number,
    maxDepth: f.maxDepth as number,
    imageSize: f.imageSize as number,
    resizeMode: f.resizeMode as 'border',
    encode: f.encode as 'jpg',
    quality: f.quality as number,
    minSize: f.minSize as number,
    maxAspect: f.maxAspect as number | undefined,
    shardSize: f.shardSize as number,
    resume: f.resume as boolean,
    onTruncated: f.onTruncated as 'error' | 'skip',
    maxInputBytes: f.maxInputBytes as number,
    inputTimeoutMs: f.inputTimeoutMs as number,
    maxPageBytes: f.maxPageBytes as number,
  };
}

function reasons(r: Record<string, number> | undefined): string {
  const e = Object.entries(r ?? {}).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  return e.length ? e.map(([k, v]) => `${k} ${v}`).join(', ') : '-';
}

export const command: CommandDef = {
  name: 'crawl',
  summary: 'find <img> alt texts that contain a query, download, resize and write Parquet shards',
  usage: 'wit crawl --queries queries.tsv --input SOURCE… --out DIR [--balance cap|sample] [--cap N] [--redis URL --role coordinator|worker]',
  flags,
  async run(f, ctx): Promise<CommandResult> {
    const opts = { ...toOptions(f), onProgress: ctx.progress, signal: ctx.signal };
    if (f.role !== undefined && f.redis === undefined) throw new UsageError('crawl', '--role needs --redis URL');
    if (f.redis !== undefined) {
      if (f.role === undefined) throw new UsageError('crawl', '--redis needs --role coordinator or --role worker');
      let mod: { runDistributed?: (o: unknown, role: string, hooks?: { log?: (line: string) => void }) => Promise<Record<string, unknown>> };
      try {
        mod = (await import(['..', '..', 'crawl', 'distributed', 'index.js'].join('/'))) as typeof mod;
      } catch (err) {
        throw new WitError('crawl', `distributed crawling (--redis) is not available in this build: ${(err as Error).message}`, { exitCode: 2 });
      }
      if (typeof mod.runDistributed !== 'function') throw new WitError('crawl', 'distributed crawling (--redis) is not available in this build', { exitCode: 2 });
      const summary = await mod.runDistributed({ ...opts, redis: f.redis as string, chunkRows: f.chunkRows as number, runId: f.runId as string | undefined, workerConcurrency: f.workerConcurrency as number }, f.role as string, { log: ctx.log });
      return { summary };
    }
    const { crawl } = await import('../../crawl/index.js');
    const s = await crawl(opts);
    const text = [
      `crawl: ${s.out}`,
      `  candidates  ${s.candidates}  (matched ${s.matched}, admitted ${s.admitted})`,
      `  kept        ${s.kept}  (${(100 * s.success_rate).toFixed(1)}% of admitted) in ${s.shards} shards${s.resumed_shards ? ` (${s.resumed_shards} from before the resume)` : ''}`,
      `  failed      ${s.failed_total}: ${reasons(s.failed)}`,
      `  skipped     ${s.skipped_total}: ${reasons(s.skipped)}`,
      ...(s.pages ? [`  pages       ${reasons(s.pages)}`] : []),
      ...(s.bad_items ? [`  bad items   ${reasons(s.bad_items)}`] : []),
      `  queries     ${s.queries_with_pairs} with pairs (query_counts.tsv)`,
      `  time        ${s.seconds.toFixed(1)} s, ${s.candidatesPerSec.toFixed(1)} candidates/s, ${s.imagesPerSec.toFixed(1)} images/s`,
      '',
    ].join('\n');
    return { summary: s as unknown as Record<string, unknown>, text };
  },
};
