import type { CommandDef, CommandResult } from '../command.js';
import { flagSpecs, foreignFlagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';
import { UsageError, WitError } from '../../util/errors.js';
import { IMG2DATASET_UNSUPPORTED, crawlOptionsSchema, distributedOptionsSchema, type CrawlOptions, type DistributedCrawlOptions } from '../../crawl/options.js';
import type { CrawlSummary } from '../../crawl/index.js';

function reasons(r: Record<string, number> | undefined): string {
  const e = Object.entries(r ?? {}).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  return e.length ? e.map(([k, v]) => `${k} ${v}`).join(', ') : '-';
}

/** The one-screen text of a crawl's summary. */
function summaryText(s: CrawlSummary): string {
  return [
    `crawl: ${s.out}`,
    `  candidates  ${s.candidates}  (matched ${s.matched}, admitted ${s.admitted})`,
    `  kept        ${s.kept}  (${(100 * s.success_rate).toFixed(1)}% of admitted) in ${s.shards} shards${s.resumed_shards ? ` (${s.resumed_shards} from before the resume)` : ''}, ${s.distinct_images} distinct images`,
    ...(s.from_warc ? [`  from WARC   ${s.from_warc} images taken from the WARC inputs' responses (no download; --refetch fetches them)`] : []),
    `  failed      ${s.failed_total}: ${reasons(s.failed)}`,
    `  skipped     ${s.skipped_total}: ${reasons(s.skipped)}`,
    ...(s.pages ? [`  pages       ${reasons(s.pages)}`] : []),
    ...(s.bad_items ? [`  bad items   ${reasons(s.bad_items)}`] : []),
    `  queries     ${s.queries_with_pairs} with pairs (query_counts.tsv)`,
    `  dedupe      ${s.dedupe.keys} pairs in ${(s.dedupe.bytes / 2 ** 20).toFixed(1)} MiB, estimated false duplicates ${(100 * s.dedupe.estimated_false_duplicate_rate).toFixed(3)}%`,
    `  time        ${s.seconds.toFixed(1)} s, ${s.candidates_per_sec.toFixed(1)} candidates/s, ${s.images_per_sec.toFixed(1)} images/s`,
    ...(s.open_clip_command ? [`  open_clip   ${s.open_clip_command}`] : []),
    ...(s.open_clip_note ? [`  open_clip   ${s.open_clip_note}`] : []),
    '',
  ].join('\n');
}

type DistributedModule = { runDistributed?: (o: DistributedCrawlOptions, role: string, hooks?: { log?: (line: string) => void }) => Promise<Record<string, unknown>> };

/** Loads the distributed crawl (BullMQ, ioredis) only when --redis is given. */
async function loadDistributed(): Promise<NonNullable<DistributedModule['runDistributed']>> {
  let mod: DistributedModule;
  try {
    mod = (await import(['..', '..', 'crawl', 'distributed', 'index.js'].join('/'))) as DistributedModule;
  } catch (err) {
    throw new WitError('crawl', `distributed crawling (--redis) is not available in this build: ${(err as Error).message}`, { exitCode: 2 });
  }
  if (typeof mod.runDistributed !== 'function') throw new WitError('crawl', 'distributed crawling (--redis) is not available in this build', { exitCode: 2 });
  return mod.runDistributed;
}

export const command: CommandDef = {
  name: 'crawl',
  summary: "find <img> alt texts that contain a query, download, resize and write Parquet shards\n\nimg2dataset's flag names and value syntax are taken too (--url_list, --output_folder, --resize_mode keep_ratio_largest, --save_additional_columns '[\"uid\"]', …; each is named in brackets below), and its flags wit has no use for say why in one line (README.md, \"Coming from img2dataset\").",
  usage: 'wit crawl --queries queries.tsv --input SOURCE… --out DIR [--balance cap|sample] [--cap N] [--redis URL --role coordinator|worker]',
  flags: groupFlags({ ...flagSpecs({ ...crawlOptionsSchema, ...distributedOptionsSchema }), ...foreignFlagSpecs(IMG2DATASET_UNSUPPORTED) }, {
    input: ['queries', 'input', 'input-format', 'url-col', 'caption-col', 'save-additional-columns', 'verify-hash-col', 'on-truncated', 'max-input-bytes', 'input-timeout-ms', 'max-page-bytes'],
    matching: ['balance', 'cap', 'seed', 'case-insensitive', 'use-title', 'dedup-capacity', 'dedup-error-rate'],
    download: ['refetch', 'concurrency', 'per-host-concurrency', 'per-host-delay-ms', 'timeout-ms', 'retries', 'max-bytes', 'user-agent', 'robots', 'allow-private-network', 'max-pages', 'max-depth'],
    images: ['image-size', 'resize-mode', 'resize-only-if-bigger', 'encode', 'quality', 'min-image-side', 'max-aspect', 'max-pixels', 'image-concurrency'],
    output: ['out', 'output-format', 'shard-size', 'resume'],
    distributed: ['redis', 'role', 'chunk-rows', 'run-id', 'worker-concurrency', 'redis-timeout'],
  }),
  examples: [
    { what: 'the WIT way: alt texts in Common Crawl WAT files that contain a query', cmd: 'wit crawl --queries queries.tsv --input CC-MAIN-20240101-00000.warc.wat.gz --out shards/' },
    { what: "a DataComp url list (no queries: every row) as WebDataset tars, img2dataset's command line as it is", cmd: 'wit crawl --url_list datacomp_shard.parquet --url_col url --caption_col text --save_additional_columns \'["uid"]\' --output_format webdataset --output_folder shards/' },
    { what: 'one crawl on several machines: this machine works for the coordinator started with --role coordinator', cmd: 'wit crawl --queries queries.tsv --input CC-MAIN-20240101-00000.warc.wat.gz --out shards/ --redis redis://10.0.0.5:6379 --role worker' },
  ],
  async run(flags, ctx): Promise<CommandResult> {
    const opts = { ...optionsFromFlags(crawlOptionsSchema, flags), onProgress: ctx.progress, signal: ctx.signal } as CrawlOptions;
    const distributed = optionsFromFlags(distributedOptionsSchema, flags);
    if (distributed.role !== undefined && distributed.redis === undefined) throw new UsageError('crawl', '--role needs --redis URL');
    if (distributed.redis !== undefined) {
      if (distributed.role === undefined) throw new UsageError('crawl', '--redis needs --role coordinator or --role worker');
      const runDistributed = await loadDistributed();
      const summary = await runDistributed({ ...opts, ...distributed, redis: distributed.redis }, distributed.role, { log: ctx.log });
      const { nothingKept } = await import('../../crawl/index.js');
      const empty = distributed.role === 'coordinator' ? nothingKept(summary as unknown as CrawlSummary) : undefined;
      if (empty) ctx.log(`wit crawl: ${empty}`);
      return { summary, exitCode: empty ? 1 : 0 };
    }
    const { crawl, nothingKept } = await import('../../crawl/index.js');
    const summary = await crawl(opts);
    // a run with candidates that kept nothing is a failure (exit 1), its summary printed all the same
    const empty = nothingKept(summary);
    if (empty) ctx.log(`wit crawl: ${empty}`);
    return { summary: summary as unknown as Record<string, unknown>, text: summaryText(summary), exitCode: empty ? 1 : 0 };
  },
};
