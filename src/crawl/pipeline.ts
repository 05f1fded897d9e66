/**
 * The crawl's streaming pipeline: candidates (in input order) -> match -> balance -> dedupe ->
 * download -> validate/resize -> shards (docs/ARCHITECTURE.md, "Crawl"). Memory is bounded by the in-flight window, whatever the
 * input size; every candidate ends in exactly one outcome, counted in its shard's stats.
 *
 * Shards and determinism. A shard is the output of one *block*: `shardSize` consecutive admitted
 * candidates (those that passed matching, balancing and dedupe), in input order, each shard's rows in
 * that order too (block.ts); skipped candidates
 * are counted in the block that is admitting when they are read. Under `--balance cap` a download
 * failure gives its reservation back, but only at a fixed point: when admission of block k+1 starts,
 * the failures of block k-1 (which must be complete by then) are released. So admission decisions
 * depend only on the input and on the outcomes of earlier blocks, never on timing, while two blocks
 * download at once. `--resume` replays the input through the same decisions (no downloads) for
 * finished shards, taking their outcomes from the shard itself (the key holds the index within the
 * block), and downloads only the unfinished blocks: the final set of pairs equals an uninterrupted run's.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type PQueue from 'p-queue';
import type { Candidate, FailureReason } from './types.js';
import type { QueryMatcher } from './match.js';
import { pairDigest, sampledQueries, type CapStore } from './balance.js';
import type { WarcImageStore } from './warc-images.js';
import { processImage, imageOptionsSchema, type ImageOptions, type ResolvedImageOptions } from './image.js';
import type { SafeFetcher } from './http/fetch.js';
import type { RobotsCache } from './http/robots.js';
import type { HostLimiter } from './http/host-limiter.js';
import { readShardFile, readShardStats, shardExtension, type ExtraColumn, type ShardFormat, type ShardStats } from '../shards/index.js';
import { Block, newCounters, type CrawlCounters, type DownloadOutcome, type FinishedShard } from './block.js';
import { crawlShardFile } from './shard-output.js';
import { dedupeKey, type PairDedupe, type DedupeStats } from './dedupe.js';
import { writeFileAtomic } from '../util/atomic.js';
import { WitError } from '../util/errors.js';
import { resolveOptions } from '../util/options.js';
import { addOutcomes, newOutcomes, sumCounts, type Outcomes, type ReasonCounts } from '../util/outcomes.js';

export { newCounters, sumCounts, type CrawlCounters, type ReasonCounts };
export { PairDeduper, type PairDedupe } from './dedupe.js';

/** Reasons counted as "skipped" (decided before any download); the others are "failed". */
export const SKIP_REASONS: ReadonlySet<FailureReason> = new Set<FailureReason>(['duplicate', 'no_match', 'cap_reached', 'not_sampled', 'bad_url']);

/** The network and CPU resources one process shares between all its parts (and jobs). */
export interface CrawlResources {
  fetcher: SafeFetcher;
  /** Absent when robots.txt is not obeyed (--no-robots). */
  robots?: RobotsCache;
  hosts: HostLimiter;
  /** Global download concurrency. */
  downloads: PQueue;
  /** Images decoded/resized at once (libuv threadpool work). */
  images: PQueue;
  /** Image responses the WARC inputs hold (src/crawl/warc-images.ts); absent with --refetch or no WARC. */
  warcImages?: WarcImageStore;
}

/** How candidates are balanced before download. */
export type Balance =
  | { mode: 'cap'; cap: number; store: CapStore }
  | { mode: 'sample'; t: number; seed: string; counts: Map<number, number> };

/** Options of one part: a stream of candidates written to shards named `${prefix}NNNNN.parquet`. */
export interface PartOptions {
  /** Output directory. */
  out: string;
  /** Shard name prefix ('' for a local run; a job id in a distributed run). */
  prefix: string;
  /** Admitted candidates per shard. */
  shardSize: number;
  matcher: QueryMatcher;
  balance: Balance;
  /** Duplicate filter over admitted pairs (shared across the parts of a run). */
  dedupe: PairDedupe;
  image: ImageOptions;
  /** Skip finished shards of this prefix (their outcomes are replayed, not downloaded). */
  resume: boolean;
  /** Admitted candidates not yet written at most (bounds memory). */
  window: number;
  counters: CrawlCounters;
  signal?: AbortSignal;
  /** Called after each shard is finished (written or found finished on resume). */
  onShard?: (stats: ShardStats, file: string) => void | Promise<void>;
  /** Parquet footer metadata. */
  metadata?: Record<string, string>;
  /** Shard format (default parquet). */
  format?: ShardFormat;
  /** Url-list columns carried into the shards. */
  extras?: readonly ExtraColumn[];
  /** No queries (url lists only): every candidate is admitted, unmatched and unbalanced; dedupe still applies. */
  admitAll?: boolean;
}

/** What one part produced. */
export interface PartResult extends Outcomes<FailureReason> {
  /** Finished shard files of this part, in order. */
  shards: string[];
  /** Pairs kept per query id (query id -> pairs listing it). */
  queryCounts: Map<number, number>;
  /** True when the signal stopped the part before the input ended (unfinished shards discarded). */
  interrupted: boolean;
  /** Estimated false duplicates among this part's candidates (see dedupe.ts). */
  estimatedFalseDuplicates: number;
}

/** Digits of the within-shard index in a key. */
function indexDigits(shardSize: number): number {
  return Math.max(4, String(shardSize - 1).length);
}

/** Key of a pair: prefix + shard number + index within the shard's admitted candidates. */
export function pairRecordKey(prefix: string, shard: number, idx: number, shardSize: number): string {
  return `${prefix}${String(shard).padStart(5, '0')}${String(idx).padStart(indexDigits(shardSize), '0')}`;
}

/** A counting semaphore: bounds admitted-but-unwritten candidates (the pipeline's backpressure). */
class Window {
  private active = 0;
  private waiters: Array<() => void> = [];
  constructor(private readonly size: number) {}
  async acquire(): Promise<void> {
    if (this.active < this.size) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }
  release(): void {
    const w = this.waiters.shift();
    if (w) w();
    else this.active--;
  }
}

/** True for an http(s) url the pipeline can try. */
function isHttpUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Result of admitting one candidate. */
type Admission = { skip: FailureReason; matched: boolean } | { ids: number[] };

/**
 * Decides one candidate: url, match, balance, then dedupe. Dedupe comes after balancing so that the
 * filter holds admitted pairs only (its size follows what the run keeps); a duplicate still never
 * takes a slot, because its reservation is given back at once (docs/DESIGN-NOTES.md, "Duplicates").
 */
async function admit(c: Candidate, o: PartOptions): Promise<Admission> {
  if (!isHttpUrl(c.url)) return { skip: 'bad_url', matched: false };
  if (o.admitAll) return (await o.dedupe.seen(dedupeKey(c.url, c.caption))) ? { skip: 'duplicate', matched: true } : { ids: [] };
  const ids = o.matcher.match(c.caption);
  if (!ids.length) return { skip: 'no_match', matched: false };
  const b = o.balance;
  const digest = pairDigest(c.url, c.caption);
  const key = digest.slice(0, 32); // the dedupe key (dedupe.ts)
  if (b.mode === 'cap') {
    const got = await b.store.reserve(ids);
    if (!got.length) return { skip: 'cap_reached', matched: true };
    if (await o.dedupe.seen(key)) {
      await b.store.release(got);
      return { skip: 'duplicate', matched: true };
    }
    return { ids: got };
  }
  const sampled = sampledQueries(ids, b.counts, b.t, b.seed, digest.slice(0, 24)); // the pairKey
  if (!sampled.length) return { skip: 'not_sampled', matched: true };
  if (await o.dedupe.seen(key)) return { skip: 'duplicate', matched: true };
  return { ids: sampled };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Reads the finished shards of `prefix` in `out`: index -> kept admitted indices and stats.
 * Also deletes temporary files a killed writer of this prefix left behind.
 */
export async function finishedShards(out: string, prefix: string, shardSize: number, format: ShardFormat = 'parquet'): Promise<Map<number, FinishedShard>> {
  const found = new Map<number, FinishedShard>();
  const names = await readdir(out).catch(() => [] as string[]);
  const ext = shardExtension(format);
  const shardName = new RegExp(`^${escapeRe(prefix)}(\\d{5})${ext ? `\\.${ext}` : ''}$`);
  // temporary files of the data file (a folder for files shards) and the metadata file beside it
  const tempName = new RegExp(`^\\.${escapeRe(prefix)}\\d{5}(\\.(parquet|tar))?\\.tmp-`);
  const digits = indexDigits(shardSize);
  for (const name of names) {
    if (tempName.test(name)) {
      await rm(join(out, name), { recursive: true, force: true });
      continue;
    }
    const m = shardName.exec(name);
    if (!m) continue;
    const file = join(out, name);
    const stats = await readShardStats(file);
    if (!stats) continue; // renamed but stats not written: not finished, it will be redone
    const kept = new Set<number>();
    const sha256: string[] = [];
    for await (const rec of readShardFile(file, { images: false })) {
      sha256.push(rec.sha256);
      kept.add(Number(rec.key.slice(prefix.length + 5, prefix.length + 5 + digits)));
    }
    found.set(Number(m[1]), { kept, sha256, stats });
  }
  return found;
}

/** Finished shards of a resumed part, checked against the shard size. */
async function resumable(o: PartOptions): Promise<Map<number, FinishedShard>> {
  const finished = o.resume ? await finishedShards(o.out, o.prefix, o.shardSize, o.format) : new Map<number, FinishedShard>();
  for (const [i, f] of finished) {
    if (typeof f.stats.admitted === 'number' && f.stats.admitted > o.shardSize) {
      throw new WitError('crawl', `shard ${basename(crawlShardFile(o.out, i, o.prefix, o.format))} holds ${f.stats.admitted} admitted candidates, more than --shard-size ${o.shardSize}: resume with the original --shard-size`, { file: o.out, exitCode: 2 });
    }
  }
  return finished;
}

/**
 * One part in progress: the blocks, the window, and the first fatal error. The loop in
 * `processCandidates` feeds it candidates in order.
 */
class PartRun {
  readonly blocks: Block[] = [];
  readonly window: Window;
  fatal: unknown;
  current: Block;
  private readonly falseAtOpen: number[] = [];
  private readonly image: ResolvedImageOptions;

  constructor(private readonly o: PartOptions, private readonly res: CrawlResources, private readonly finished: Map<number, FinishedShard>) {
    this.window = new Window(o.window);
    this.image = resolveOptions('crawl', imageOptionsSchema, o.image);
    this.current = this.openBlock(0);
  }

  private openBlock(index: number): Block {
    const o = this.o;
    const block = new Block(index, crawlShardFile(o.out, index, o.prefix, o.format), {
      output: { encode: this.image.encode, metadata: o.metadata, format: o.format, extras: o.extras },
      prefix: o.prefix,
      counters: o.counters,
      releaseFailures: o.balance.mode === 'cap',
      onDrained: () => this.window.release(),
      onFinished: o.onShard,
      signal: o.signal,
    }, this.finished.get(index));
    block.done.catch((err) => { this.fatal ??= err; });
    this.falseAtOpen[index] = o.dedupe.stats().estimated_false_duplicates;
    this.blocks.push(block);
    return block;
  }

  /** Admits, skips or replays one candidate; starts its download when admitted. */
  async take(c: Candidate): Promise<void> {
    const block = this.current;
    if (c.refused) {
      block.refusedRow(c); // no candidate: its status row only
      return;
    }
    block.countCandidate();
    const a = await admit(c, this.o);
    if ('skip' in a) {
      block.skip(a.skip, a.matched, c);
      return;
    }
    const idx = block.admit();
    if (block.resumed) block.replay(idx, a.ids);
    else {
      block.noteRow(idx, c, pairRecordKey(this.o.prefix, block.index, idx, this.o.shardSize));
      await this.window.acquire();
      void this.download(block, idx, c, a.ids);
    }
    if (block.outcomes.admitted >= this.o.shardSize) await this.nextBlock();
  }

  private async download(block: Block, idx: number, c: Candidate, ids: number[]): Promise<void> {
    let outcome: DownloadOutcome;
    try {
      outcome = await downloadOne(c, { ...this.o, image: this.image }, this.res, pairRecordKey(this.o.prefix, block.index, idx, this.o.shardSize), ids);
    } catch (err) {
      // a bug or resource error in one item must not kill the run: count it
      outcome = { ok: false, reason: 'error' };
      if (!(err instanceof Error)) this.fatal ??= err;
    }
    if (this.o.signal?.aborted) block.poisoned = true;
    block.settle(idx, outcome, ids);
  }

  /** Closes the current block's admission and opens the next; releases failures two blocks back. */
  private async nextBlock(): Promise<void> {
    const block = this.current;
    this.closeAdmission(block);
    const prev = this.blocks[block.index - 1];
    if (prev) {
      await prev.done;
      await this.releaseFailures(prev);
    }
    this.current = this.openBlock(block.index + 1);
  }

  closeAdmission(block: Block): void {
    if (block.admissionClosed) return;
    block.falseDuplicates = this.o.dedupe.stats().estimated_false_duplicates - (this.falseAtOpen[block.index] ?? 0);
    block.closeAdmission();
  }

  private async releaseFailures(block: Block): Promise<void> {
    if (this.o.balance.mode !== 'cap' || !block.toRelease.length) return;
    const flat = block.toRelease.flat();
    block.toRelease = [];
    await this.o.balance.store.release(flat);
  }

  /** The input ended (or stopped): closes the last block and waits for every block. */
  async finish(interrupted: boolean): Promise<void> {
    if (interrupted) this.poisonUnfinished();
    if (!interrupted && this.current.outcomes.candidates === 0 && this.current.index > 0 && !this.current.hasRows) {
      this.blocks.pop(); // the input ended exactly at a shard boundary: no trailing empty shard
    } else {
      this.closeAdmission(this.current);
    }
    await Promise.all(this.blocks.map((b) => b.done.catch((e) => { this.fatal ??= e; })));
    if (this.fatal) throw this.fatal;
  }

  /** Stops cleanly after an error: in-flight downloads end, every unfinished shard is discarded. */
  async abandon(): Promise<void> {
    this.poisonUnfinished();
    this.closeAdmission(this.current);
    await Promise.allSettled(this.blocks.map((b) => b.done));
  }

  private poisonUnfinished(): void {
    for (const b of this.blocks) if (!b.resumed) b.poisoned = true;
  }

  /** Sums the finished blocks. */
  result(interrupted: boolean): PartResult {
    const result: PartResult = { ...newOutcomes<FailureReason>(), shards: [], queryCounts: new Map(), interrupted, estimatedFalseDuplicates: 0 };
    for (const b of this.blocks) {
      if (b.poisoned && !b.resumed) continue;
      addOutcomes(result, b.outcomes);
      result.shards.push(b.file);
      result.estimatedFalseDuplicates += b.falseDuplicates;
      for (const [q, n] of b.keptQueries) result.queryCounts.set(q, (result.queryCounts.get(q) ?? 0) + n);
    }
    return result;
  }
}

/**
 * Processes a stream of candidates into shards `${prefix}NNNNN.parquet` (+ `_stats.json`) in
 * `opts.out`. Reusable per job by a distributed crawl: give each job its prefix, its CapStore
 * (shared counters) and resources. Resolves with the part's counts; shards of blocks left
 * unfinished by an abort are discarded (never half-written). Throws WitError when the options
 * disagree with finished shards (a shard size change) or a shard cannot be written.
 */
export async function processCandidates(candidates: AsyncIterable<Candidate>, opts: PartOptions, res: CrawlResources): Promise<PartResult> {
  // every request in flight listens on the run's signal (and removes its listener when done)
  if (opts.signal) setMaxListeners(0, opts.signal);
  const run = new PartRun(opts, res, await resumable(opts));
  let interrupted = false;
  try {
    for await (const c of candidates) {
      if (opts.signal?.aborted) break;
      if (run.fatal) throw run.fatal;
      await run.take(c);
    }
    interrupted = Boolean(opts.signal?.aborted);
    await run.finish(interrupted);
  } catch (err) {
    await run.abandon();
    throw err;
  }
  // a stop that came after the input ended still loses the blocks it cut short
  if (run.blocks.some((b) => b.poisoned && !b.resumed)) interrupted = true;
  return run.result(interrupted);
}

/**
 * Why the robots.txt check refused a url: the file disallows it, or the host's robots.txt could not
 * be fetched for a network reason (that reason is the outcome, never "refused by robots.txt").
 */
function robotsRefusal(reason: FailureReason, host: string): string {
  if (reason === 'robots') return `refused by robots.txt of ${host}`;
  if (reason === 'blocked_address') return `${host} is a private, loopback or link-local address (--allow-private-network allows it)`;
  return `${host} unreachable (${reason}) when fetching its robots.txt`;
}

/** Downloads, validates and resizes one admitted candidate into a record, or gives the reason it failed. */
async function downloadOne(c: Candidate, o: PartOptions, res: CrawlResources, key: string, ids: number[]): Promise<DownloadOutcome> {
  const held = await res.warcImages?.get(c.url);
  if (held) {
    o.counters.fromWarc++;
    return recordOf(c, o, res, key, ids, held);
  }
  const url = new URL(c.url);
  let crawlDelayMs = 0;
  if (res.robots) {
    const v = await res.robots.check(url, o.signal);
    if (v.refused) return { ok: false, reason: v.refused, detail: robotsRefusal(v.refused, url.host) };
    crawlDelayMs = v.crawlDelayMs;
  }
  const robots = res.robots;
  const fetched = await res.hosts.run(url.host, crawlDelayMs, () =>
    res.downloads.add(() =>
      res.fetcher.fetch(c.url, {
        accept: 'image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8,*/*;q=0.5',
        signal: o.signal,
        // the first hop was checked above; redirect targets are checked against their own robots.txt
        checkHop: robots ? async (u) => (u.href === url.href ? undefined : (await robots.check(u, o.signal)).refused) : undefined,
      }),
    ) as Promise<Awaited<ReturnType<SafeFetcher['fetch']>>>,
  o.signal);
  if (!fetched.ok) return { ok: false, reason: fetched.reason, detail: fetched.detail };
  o.counters.bytes += fetched.body.length;
  return recordOf(c, o, res, key, ids, fetched.body);
}

/** Checks and resizes an image's bytes (downloaded or a WARC's) into the candidate's record, or the reason it failed. */
async function recordOf(c: Candidate, o: PartOptions, res: CrawlResources, key: string, ids: number[], body: Buffer): Promise<DownloadOutcome> {
  const fetched = { body };
  // the digest of the bytes as downloaded (img2dataset's compute_hash, DataComp's sha256)
  const sha256 = createHash('sha256').update(fetched.body).digest('hex');
  if (c.hash !== undefined && c.hash !== sha256) return { ok: false, reason: 'hash_mismatch', detail: `sha256 ${sha256}, the list says ${c.hash}` };
  const img = await res.images.add(() => processImage(fetched.body, o.image)) as Awaited<ReturnType<typeof processImage>>;
  if (!img.ok) return { ok: false, reason: img.reason, detail: img.detail };
  return {
    ok: true,
    rec: {
      key,
      url: c.url,
      page_url: c.page_url ?? null,
      caption: c.caption,
      queries: ids.map((id) => o.matcher.query(id)),
      image: img.image,
      width: img.width,
      height: img.height,
      original_width: img.originalWidth,
      original_height: img.originalHeight,
      sha256,
      ...(c.row?.extra ? { extra: c.row.extra } : {}),
    },
  };
}

/** A batch "seen before?" for the count pass (a distributed run asks Redis once per batch). */
export type DedupeBatch = (keys: string[]) => Promise<boolean[]> | boolean[];

/**
 * First pass of `--balance sample`: matches per query over the distinct matched pairs (the MetaCLIP
 * counts); `dedupe` answers, per batch of matched pairs, which were seen before. A distributed crawl
 * runs it per job and sums the maps. Resolves with query id -> number of distinct (url, caption)
 * pairs matching it.
 */
export async function countMatches(candidates: AsyncIterable<Candidate>, matcher: QueryMatcher, dedupe: PairDedupe | DedupeBatch, signal?: AbortSignal, onCandidate?: () => void): Promise<Map<number, number>> {
  const seenBatch: DedupeBatch = typeof dedupe === 'function' ? dedupe : (keys) => keys.map((k) => dedupe.seen(k) as boolean);
  const counts = new Map<number, number>();
  let batch: { key: string; ids: number[] }[] = [];
  const flush = async () => {
    const seen = await seenBatch(batch.map((b) => b.key));
    batch.forEach((b, i) => {
      if (!seen[i]) for (const id of b.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    });
    batch = [];
  };
  for await (const c of candidates) {
    if (signal?.aborted) throw new WitError('crawl', 'interrupted while counting matches');
    if (c.refused) continue; // a refused list row: no candidate
    onCandidate?.();
    if (!isHttpUrl(c.url)) continue;
    const ids = matcher.match(c.caption);
    if (!ids.length) continue;
    batch.push({ key: dedupeKey(c.url, c.caption), ids });
    if (batch.length >= 256) await flush();
  }
  if (batch.length) await flush();
  return counts;
}

/** Writes `query_counts.tsv` (query, pairs kept listing it; most first) atomically. */
export async function writeQueryCounts(out: string, counts: Map<number, number>, matcher: QueryMatcher): Promise<void> {
  const rows = [...counts.entries()].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const lines = ['query\tcount', ...rows.map(([id, n]) => `${matcher.query(id).replace(/[\t\n\r]/g, ' ')}\t${n}`)];
  await writeFileAtomic(join(out, 'query_counts.tsv'), lines.join('\n') + '\n');
}

export type { DedupeStats };
