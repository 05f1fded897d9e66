/**
 * `wit crawl`, the library face: sources -> match -> balance -> dedupe -> download -> resize -> shards
 * (docs/ARCHITECTURE.md, "Crawl"). See pipeline.ts for the streaming design, the shard boundaries and
 * how resume stays exact; options.ts for every option; run-dir.ts for the output folder.
 */
import PQueue from 'p-queue';
import type { Candidate, FailureReason } from './types.js';
import { loadQueries } from './queries.js';
import { QueryMatcher } from './match.js';
import { MemoryCapStore } from './balance.js';
import { extraColumnSpec } from './sources/lists.js';
import { LIST_FORMATS, detectInputFormat, inspectList, isUrl, listRowCount, readSource } from './sources/index.js';
import type { ExtraColumn } from '../shards/index.js';
import { crawlSite } from './site.js';
import { SafeFetcher } from './http/fetch.js';
import { RobotsCache } from './http/robots.js';
import { HostLimiter } from './http/host-limiter.js';
import { tuneSharpForCrawl } from './image.js';
import { countMatches, newCounters, processCandidates, writeQueryCounts, type Balance, type CrawlCounters, type CrawlResources, type PartResult } from './pipeline.js';
import { PairDeduper, falseDuplicateRate, type DedupeStats } from './dedupe.js';
import { imageOptionsOf } from './image-options.js';
import { WarcImageStore } from './warc-images.js';
import { resolveCrawlOptions, type CrawlOptions, type ResolvedCrawlOptions } from './options.js';
import { checkInputs, checkOutDir, ManifestWriter, runFingerprint } from './run-dir.js';
import { UsageError, WitError } from '../util/errors.js';
import { claimOutput } from '../util/output.js';
import { VERSION } from '../util/version.js';
import { checkOutcomes, outcomeTotals, type ReasonCounts } from '../util/outcomes.js';
import { Throttle, eta, formatCount, formatDuration } from '../util/progress.js';
import { openClipCommandFor, openClipForFiles } from '../shards/openclip-command.js';

export { processCandidates, countMatches, PairDeduper, newCounters, writeQueryCounts } from './pipeline.js';
export type { PartOptions, PartResult, CrawlResources, Balance, CrawlCounters, ReasonCounts } from './pipeline.js';
export { crawlSite } from './site.js';
export { processImage, tuneSharpForCrawl } from './image.js';
export { SafeFetcher, RobotsCache, HostLimiter, DEFAULT_USER_AGENT } from './http/index.js';
export { ScalableBloom, type DedupeStats } from './dedupe.js';
export {
  crawlOptionsSchema, distributedOptionsSchema, resolveCrawlOptions, defaultImageConcurrency, INPUT_FORMATS,
  type CrawlOptions, type ResolvedCrawlOptions, type DistributedCrawlOptions,
} from './options.js';
export type InputFormat = (typeof import('./options.js').INPUT_FORMATS)[number];

/** What a crawl did. `candidates = kept + failed_total + skipped_total`. */
export interface CrawlSummary {
  out: string;
  inputs: number;
  candidates: number;
  /** Candidates whose caption matched a query. */
  matched: number;
  /** Matched candidates admitted by balancing and dedupe (downloads tried). */
  admitted: number;
  kept: number;
  /** Distinct images (by sha256) among the pairs kept. */
  distinct_images: number;
  /** Admitted candidates whose image a WARC input held (no download); 0 with --refetch. */
  from_warc: number;
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
  candidates_per_sec: number;
  images_per_sec: number;
  /** The duplicate filter over admitted pairs: its size and estimated false duplicates (docs/DESIGN-NOTES.md, "Duplicates"). */
  dedupe: DedupeStats;
  /** Live crawl pages: fetched ok, and failures by reason. */
  pages?: Record<string, number>;
  /** Unusable items inside good inputs (bad lines, bad urls), by reason. */
  bad_items?: Record<string, number>;
  /** With --output-format webdataset: the open_clip command sized for these tars (src/shards/openclip-command.ts). */
  open_clip_command?: string;
  /** With --output-format webdataset, the open_clip command for the tars; with files, for the open_clip_train.csv written beside the folders. */
  open_clip_note?: string;
}

/**
 * Why a finished run kept nothing although it had candidates (README, "Exit codes": the CLI exits 1
 * then), with the flag that would help when one does; undefined when it kept a pair or read none.
 * A run that kept nothing is no crawl to resume: a rerun in the same --out replaces it (run-dir.ts).
 */
export function nothingKept(s: Pick<CrawlSummary, 'candidates' | 'kept' | 'admitted' | 'failed' | 'skipped'>): string | undefined {
  if (s.kept > 0 || s.candidates === 0) return undefined;
  const blocked = (s.failed.blocked_address ?? 0) + (s.skipped.blocked_address ?? 0);
  const why = blocked === s.admitted && blocked > 0
    ? `every download was refused: ${blocked} url(s) resolve to private, loopback or link-local addresses (--allow-private-network allows them, for tests and intranets)`
    : s.admitted === 0 ? `no candidate was admitted (skipped: ${Object.entries(s.skipped).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`
      : `all ${s.admitted} downloads failed (${Object.entries(s.failed).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')})${blocked ? `; ${blocked} were private addresses (--allow-private-network allows them)` : ''}`;
  return `nothing kept from ${s.candidates} candidates: ${why}`;
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
export function openInput(input: string, r: Pick<ResolvedCrawlOptions, 'useTitle' | 'maxPages' | 'maxDepth'> & Partial<Pick<ResolvedCrawlOptions, 'onTruncated' | 'maxPageBytes' | 'urlCol' | 'captionCol' | 'saveAdditionalColumns' | 'verifyHashCol' | 'queries' | 'queryList'>> & { inputFormat?: string }, res: CrawlResources, signal: AbortSignal | undefined, counters: SourceCounters): AsyncIterable<Candidate> {
  const format = detectInputFormat(input, r.inputFormat as Parameters<typeof detectInputFormat>[1]);
  const onBadItem = (reason: string) => { counters.badItems[reason] = (counters.badItems[reason] ?? 0) + 1; };
  if (format === 'seed') {
    return crawlSite(input, res, {
      maxPages: r.maxPages, maxDepth: r.maxDepth, useTitle: r.useTitle, signal, onBadItem,
      onPage: (_u, outcome) => { counters.pages[outcome] = (counters.pages[outcome] ?? 0) + 1; },
    });
  }
  return countRefused(readSource(input, {
    format,
    useTitle: r.useTitle,
    signal,
    openUrl: (u: string) => res.fetcher.openStream(u, signal),
    onTruncated: r.onTruncated,
    maxPageBytes: r.maxPageBytes,
    ...listColumns(r),
    keepRefused: true,
    onBadItem,
  }), onBadItem);
}

/** Passes every item on, counting the url-list rows refused before they became candidates as bad items. */
async function* countRefused(items: AsyncIterable<Candidate>, onBadItem: (reason: string) => void): AsyncGenerator<Candidate> {
  for await (const c of items) {
    if (c.refused) onBadItem(c.refused.reason);
    yield c;
  }
}

/** How url lists are read: the columns by name, and whether rows without a caption are kept (no queries). */
function listColumns(r: Partial<Pick<ResolvedCrawlOptions, 'urlCol' | 'captionCol' | 'saveAdditionalColumns' | 'verifyHashCol' | 'queries' | 'queryList'>>) {
  return {
    urlColumn: r.urlCol, captionColumn: r.captionCol, extraColumns: r.saveAdditionalColumns, hashColumn: r.verifyHashCol,
    allowEmptyCaption: r.queries === undefined && r.queryList === undefined,
  };
}

/**
 * Reads the header of every url-list input and checks the columns the options name, before any
 * download; resolves to the pass-through columns with their types (as the first input that has
 * them types them). Throws InputError naming the file and the columns it has, UsageError when two
 * inputs type a pass-through column differently.
 */
export async function listExtras(r: ResolvedCrawlOptions, res: CrawlResources, signal?: AbortSignal): Promise<ExtraColumn[]> {
  const kinds = new Map<string, { kind: ExtraColumn['kind']; input: string }>();
  for (const input of r.inputs) {
    const format = detectInputFormat(input, r.inputFormat);
    if (!LIST_FORMATS.has(format)) continue;
    const header = await inspectList(input, { format, ...listColumns(r), openUrl: (u: string) => res.fetcher.openStream(u, signal), signal });
    for (const e of header.extras) {
      const seen = kinds.get(e.name);
      if (seen && seen.kind !== e.kind) throw new UsageError('crawl', `column ${e.name} is ${seen.kind} in ${seen.input} but ${e.kind} in ${input}; pass-through columns keep their type`);
      if (!seen) kinds.set(e.name, { kind: e.kind, input });
    }
  }
  if (r.saveAdditionalColumns.length && !r.inputs.some((i) => LIST_FORMATS.has(detectInputFormat(i, r.inputFormat)))) {
    throw new UsageError('crawl', '--save-additional-columns needs url-list inputs (.parquet, .csv, .tsv, .jsonl)');
  }
  return r.saveAdditionalColumns.map((entry) => extraColumnSpec(entry).name).map((name) => ({ name, kind: kinds.get(name)?.kind ?? 'string' }));
}

/** True when the run has no queries (url lists only): every row is admitted, no matching or balancing. */
export function admitsAll(r: Pick<ResolvedCrawlOptions, 'queries' | 'queryList'>): boolean {
  return r.queries === undefined && r.queryList === undefined;
}

async function* allInputs(r: ResolvedCrawlOptions, res: CrawlResources, signal: AbortSignal | undefined, counters: SourceCounters): AsyncGenerator<Candidate> {
  for (const input of r.inputs) yield* openInput(input, r, res, signal, counters);
}

function topReasons(c: ReasonCounts<FailureReason>, n: number): string {
  return Object.entries(c)
    .filter(([, v]) => (v ?? 0) > 0)
    .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
    .slice(0, n)
    .map(([k, v]) => `${k} ${formatCount(v ?? 0)}`)
    .join(', ');
}

/**
 * The one-line status: rates, success rate, top failure reasons; with `total` (the rows of the url
 * lists, when known) the share done and an ETA, as img2dataset's bar shows. The rates are the run's one
 * definition, count / seconds since the start, which the summary's `candidates_per_sec` and
 * `images_per_sec` also are: the last line, given the summary's seconds, shows the summary's numbers.
 */
export function progressLine(c: CrawlCounters, seconds: number, phase = 'crawl', total?: number): string {
  const s = Math.max(seconds, 1e-3);
  const rate = c.done ? ((100 * c.kept) / c.done).toFixed(1) : '-';
  const fails = topReasons(c.failed, 3);
  const of = total ? ` of ${formatCount(total)} (${Math.min(100, (100 * c.candidates) / total).toFixed(1)}%, ETA ${formatDuration(eta(Math.min(c.candidates, total), total, s))})` : '';
  return `${phase}: ${formatCount(c.candidates)}${of} candidates (${formatCount(c.candidates / s)}/s) · ${formatCount(c.matched)} matched · ${formatCount(c.admitted)} admitted · ${formatCount(c.kept)} kept (${formatCount(c.kept / s)} img/s) · ok ${rate}%${fails ? ` · failed: ${fails}` : ''} · ${c.shards} shards`;
}

/**
 * The rows of the run's url lists when every input is a local list (the total of the progress line);
 * counted in the background, so the crawl starts at once and the total appears when known. Undefined
 * when an input is not a local list or cannot be counted (the crawl itself reports that).
 */
async function listTotal(r: ResolvedCrawlOptions, signal?: AbortSignal): Promise<number | undefined> {
  let total = 0;
  for (const input of r.inputs) {
    const n = await listRowCount(input, detectInputFormat(input, r.inputFormat), { signal }).catch(() => undefined);
    if (n === undefined) return undefined;
    total += n;
  }
  return total;
}


/** The query list of a run: the given list, or the file read and checked. */
async function loadRunQueries(r: ResolvedCrawlOptions): Promise<string[]> {
  if (admitsAll(r)) return [];
  const queries = r.queryList ?? (await loadQueries(r.queries!));
  if (!queries.length) throw new UsageError('crawl', 'the query list is empty', { file: r.queries });
  return queries;
}

/** What manifest.json records of the options (the queries by path, or a count when given inline). */
function optionsRecord(r: ResolvedCrawlOptions, queries: readonly string[]): Record<string, unknown> {
  const { queryList: _list, ...rest } = r;
  return { ...rest, queries: r.queries ?? `${queries.length} queries (inline)` };
}

/** The window of admitted-but-unwritten candidates: enough to keep every download slot busy while rows wait for their turn. */
export function pipelineWindow(concurrency: number): number {
  return Math.max(64, concurrency * 4);
}

/** How a local run balances: a cap store, or (sample) the counts of a first pass over the inputs. */
async function localBalance(r: ResolvedCrawlOptions, opts: CrawlOptions, res: CrawlResources, matcher: QueryMatcher, counters: CrawlCounters, progress: { phase: string }): Promise<Balance> {
  if (r.balance === 'cap' || admitsAll(r)) return { mode: 'cap', cap: r.cap, store: opts.capStore ?? new MemoryCapStore(r.cap) };
  progress.phase = 'count matches';
  const counts = await countMatches(allInputs(r, res, opts.signal, { pages: {}, badItems: {} }), matcher, new PairDeduper(r.dedupeCapacity, r.dedupeErrorRate), opts.signal, () => { counters.candidates++; });
  counters.candidates = 0;
  progress.phase = 'crawl';
  return { mode: 'sample', t: r.cap, seed: r.seed, counts };
}

/** The run's summary from its part's result; throws WitError when the outcomes do not add up (a bug). */
function summarize(r: ResolvedCrawlOptions, result: PartResult, counters: CrawlCounters, sources: SourceCounters, dedupe: DedupeStats, seconds: number): CrawlSummary {
  checkOutcomes('crawl', result);
  const perSec = (n: number) => n / Math.max(seconds, 1e-3);
  const summary: CrawlSummary = {
    out: r.out,
    inputs: r.inputs.length,
    candidates: result.candidates,
    matched: result.matched,
    admitted: result.admitted,
    kept: result.kept,
    distinct_images: counters.images.size,
    from_warc: counters.fromWarc,
    failed: result.failed as Record<string, number>,
    skipped: result.skipped as Record<string, number>,
    ...outcomeTotals(result),
    shards: result.shards.length,
    resumed_shards: counters.resumedShards,
    queries_with_pairs: [...result.queryCounts.values()].filter((n) => n > 0).length,
    success_rate: result.admitted ? result.kept / result.admitted : 0,
    seconds,
    candidates_per_sec: perSec(result.candidates),
    images_per_sec: perSec(result.kept),
    dedupe: { ...dedupe, estimated_false_duplicate_rate: falseDuplicateRate(dedupe.keys, dedupe.estimated_false_duplicates) },
  };
  if (Object.keys(sources.pages).length) summary.pages = sources.pages;
  if (Object.keys(sources.badItems).length) summary.bad_items = sources.badItems;
  return summary;
}

/**
 * Runs a whole crawl into `opts.out` and resolves with its summary. Nothing is written before the
 * options, queries, inputs and output folder are checked. Throws UsageError for bad options or an
 * output directory that holds another run, InputError for unreadable inputs, and
 * WitError('crawl', 'interrupted') when `signal` stopped it (finished shards stay; `resume` continues).
 */
export async function crawl(opts: CrawlOptions): Promise<CrawlSummary> {
  const started = Date.now();
  const r = resolveCrawlOptions(opts);
  const queries = await loadRunQueries(r);
  for (const input of r.inputs) detectInputFormat(input, r.inputFormat); // fail fast on an unknown kind
  await checkInputs(r.inputs);
  const claim = await claimOutput(r.out, { command: 'crawl', inputs: [r.queries, ...r.inputs.filter((i) => !isUrl(i))] });
  try {
    const fingerprint = runFingerprint(r, queries);
    const outState = await checkOutDir(r, fingerprint);
    const manifest = new ManifestWriter(r.out, optionsRecord(r, queries), r.inputs, fingerprint);
    const matcher = QueryMatcher.build(queries, { caseSensitive: !r.caseInsensitive });
    tuneSharpForCrawl();
    const res = createResources(r, opts.resolver);
    const extras = await listExtras(r, res, opts.signal).catch(async (err: unknown) => { await res.close(); throw err; });
    // local WARCs only: indexing a remote one would download it twice (its images are fetched instead)
    const warcs = r.refetch ? [] : r.inputs.filter((i) => !isUrl(i) && detectInputFormat(i, r.inputFormat) === 'warc');
    const counters = newCounters();
    const sources: SourceCounters = { pages: {}, badItems: {} };
    const progress: { phase: string; total?: number } = { phase: 'crawl' };
    if (opts.onProgress) void listTotal(r, opts.signal).then((t) => { progress.total = t; });
    const throttle = new Throttle(opts.onProgress, () => progressLine(counters, (Date.now() - started) / 1000, progress.phase, progress.total), 1000);
    const timer = opts.onProgress ? setInterval(() => throttle.tick(), 1000) : undefined;
    try {
      await claim.create();
      await manifest.started(outState);
      if (warcs.length) {
        // shown by the next tick of the timer (a run that fails at once prints only its error line)
        progress.phase = 'index WARC images';
        res.warcImages = await WarcImageStore.build(warcs, {
          maxBytes: r.maxBytes, respectRobots: r.respectRobots, userAgent: r.userAgent, onTruncated: r.onTruncated,
          openUrl: (u: string) => res.fetcher.openStream(u, opts.signal), signal: opts.signal,
        });
        progress.phase = 'crawl';
      }
      const balance = await localBalance(r, opts, res, matcher, counters, progress);
      const dedupe = new PairDeduper(r.dedupeCapacity, r.dedupeErrorRate);
      const result = await processCandidates(allInputs(r, res, opts.signal, sources), {
        out: r.out, prefix: '', shardSize: r.shardSize, matcher, balance, dedupe,
        image: imageOptionsOf(r),
        resume: r.resume, window: pipelineWindow(r.concurrency), counters, signal: opts.signal,
        metadata: { 'wit.stage': 'crawl', 'wit.version': VERSION },
        format: r.outputFormat, extras, admitAll: admitsAll(r),
        onShard: () => throttle.tick(),
      }, res);
      if (result.interrupted || opts.signal?.aborted) {
        throw new WitError('crawl', `interrupted: ${result.shards.length} shards finished in ${r.out}; rerun with --resume to continue`);
      }
      // one time for the last line and the summary: the same rates in both
      const seconds = (Date.now() - started) / 1000;
      await writeQueryCounts(r.out, result.queryCounts, matcher);
      const summary = summarize(r, result, counters, sources, dedupe.stats(), seconds);
      throttle.final(progressLine(counters, seconds, progress.phase, progress.total));
      if (r.outputFormat === 'webdataset') {
        const oc = await openClipCommandFor(r.out, [...result.shards].sort());
        if (oc) summary.open_clip_command = oc.command;
      } else if (r.outputFormat === 'files') {
        const oc = await openClipForFiles(r.out, [...result.shards].sort());
        if (oc.command) summary.open_clip_command = oc.command.command;
        summary.open_clip_note = oc.note;
      }
      await manifest.finished(result.shards.map((f) => f.slice(r.out.length).replace(/^[\\/]+/, '')), { ...summary });
      return summary;
    } finally {
      if (timer) clearInterval(timer);
      await res.warcImages?.close();
      await res.close();
    }
  } finally {
    await claim.release();
  }
}

export type { FailureReason };
