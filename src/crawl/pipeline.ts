/**
 * The crawl's streaming pipeline: candidates (in input order) -> dedupe -> match -> balance ->
 * download -> validate/resize -> shards. Memory is bounded by the in-flight window, whatever the
 * input size; every candidate ends in exactly one outcome, counted in its shard's stats.
 *
 * Shards and determinism. A shard is the output of one *block*: `shardSize` consecutive admitted
 * candidates (those that passed dedupe, matching and balancing), in input order; skipped candidates
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
import { readdir, rm, writeFile, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type PQueue from 'p-queue';
import type { Candidate, FailureReason } from './types.js';
import type { QueryMatcher } from './match.js';
import { MemoryCapStore, pairKey, sampleKeep, sampledQueries, type CapStore } from './balance.js';
import { processImage, type ImageOptions } from './image.js';
import type { SafeFetcher } from './http/fetch.js';
import type { RobotsCache } from './http/robots.js';
import type { HostLimiter } from './http/host-limiter.js';
import { ShardWriter, readShardFile, readShardStats, shardPath, statsPathFor, type PairRecord, type ShardStats } from '../shards/index.js';
import { WitError } from '../util/errors.js';

/** Reasons counted as "skipped" (decided before any download); the others are "failed". */
export const SKIP_REASONS: ReadonlySet<FailureReason> = new Set<FailureReason>(['duplicate', 'no_match', 'cap_reached', 'not_sampled', 'bad_url']);

/** Counts by reason. */
export type ReasonCounts = Partial<Record<FailureReason, number>>;

/** Live totals of a run (shared by all parts, read by the progress line). */
export interface CrawlCounters {
  candidates: number;
  matched: number;
  admitted: number;
  kept: number;
  failed: ReasonCounts;
  skipped: ReasonCounts;
  /** Admitted candidates whose outcome is known (kept or failed). */
  done: number;
  bytes: number;
  shards: number;
  resumedShards: number;
}

/** Fresh zeroed counters. */
export function newCounters(): CrawlCounters {
  return { candidates: 0, matched: 0, admitted: 0, kept: 0, failed: {}, skipped: {}, done: 0, bytes: 0, shards: 0, resumedShards: 0 };
}

function inc(c: ReasonCounts, r: FailureReason, n = 1): void {
  c[r] = (c[r] ?? 0) + n;
}

/** Sum of a ReasonCounts. */
export function sumCounts(c: ReasonCounts): number {
  let s = 0;
  for (const v of Object.values(c)) s += v ?? 0;
  return s;
}

/**
 * Exact-or-approximate "seen before" over (url, caption) pairs in bounded memory: a Bloom filter
 * of `bits` bits (default 2^28 = 32 MiB) with 7 hash functions from one MD5 (double hashing).
 * Chosen over an exact set because a WIT-scale crawl sees billions of candidates: at 20 M distinct
 * pairs the false-positive rate is ~0.2 % (such a pair is counted as `duplicate`), memory never
 * grows, and the answer depends only on the input so reruns and resumes decide the same.
 */
export class PairDeduper {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private readonly k: number;

  constructor(bitsLog2 = 28, k = 7) {
    if (bitsLog2 < 10 || bitsLog2 > 32) throw new WitError('crawl', `dedupe filter size 2^${bitsLog2} out of range`);
    this.bits = new Uint32Array(2 ** (bitsLog2 - 5));
    this.mask = 2 ** bitsLog2 - 1;
    this.k = k;
  }

  /** Records the pair; true when it was (probably) seen before. */
  seen(url: string, caption: string): boolean {
    const d = createHash('md5').update(url).update('\n').update(caption).digest();
    const h1 = d.readUInt32LE(0);
    const h2 = d.readUInt32LE(4) | 1;
    let present = true;
    for (let i = 0; i < this.k; i++) {
      const bit = (h1 + Math.imul(i, h2)) >>> 0 & this.mask;
      const w = bit >>> 5;
      const m = 1 << (bit & 31);
      if (!(this.bits[w]! & m)) {
        present = false;
        this.bits[w]! |= m;
      }
    }
    return present;
  }
}

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
  /** Dedupe filter (shared across the parts of a run). */
  dedupe: PairDeduper;
  image: ImageOptions & { encode: 'jpg' | 'webp' };
  /** Skip finished shards of this prefix (their outcomes are replayed, not downloaded). */
  resume: boolean;
  /** Admitted candidates in flight at most (bounds memory). */
  window: number;
  counters: CrawlCounters;
  signal?: AbortSignal;
  /** Called after each shard is finished (written or found finished on resume). */
  onShard?: (stats: ShardStats, file: string) => void | Promise<void>;
  /** Parquet footer metadata. */
  metadata?: Record<string, string>;
}

/** What one part produced. */
export interface PartResult {
  /** Finished shard files of this part, in order. */
  shards: string[];
  /** Pairs kept per query id (query id -> pairs listing it). */
  queryCounts: Map<number, number>;
  candidates: number;
  matched: number;
  admitted: number;
  kept: number;
  failed: ReasonCounts;
  skipped: ReasonCounts;
  /** True when the signal stopped the part before the input ended (unfinished shards discarded). */
  interrupted: boolean;
}

interface Block {
  index: number;
  file: string;
  candidates: number;
  matched: number;
  admitted: number;
  kept: number;
  failed: ReasonCounts;
  skipped: ReasonCounts;
  /** Query ids of admitted candidates that failed (cap mode), released two blocks later. */
  toRelease: number[][];
  keptQueries: Map<number, number>;
  pending: number;
  admissionClosed: boolean;
  writer?: ShardWriter;
  writeChain: Promise<void>;
  done: Promise<void>;
  resolveDone: () => void;
  rejectDone: (err: unknown) => void;
  /** Set for a shard finished by an earlier run: the admitted indices that were kept, and its stats. */
  resumed?: { kept: Set<number>; stats: ShardStats };
  poisoned: boolean;
  started: number;
}

/** Digits of the within-shard index in a key. */
function indexDigits(shardSize: number): number {
  return Math.max(4, String(shardSize - 1).length);
}

/** Key of a pair: prefix + shard number + index within the shard's admitted candidates. */
export function pairRecordKey(prefix: string, shard: number, idx: number, shardSize: number): string {
  return `${prefix}${String(shard).padStart(5, '0')}${String(idx).padStart(indexDigits(shardSize), '0')}`;
}

/** A counting semaphore: bounds admitted-but-unfinished candidates (the pipeline's backpressure). */
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

/** Result of admitting one candidate. */
type Admission = { skip: FailureReason; matched: boolean } | { ids: number[] };

async function admit(c: Candidate, o: PartOptions): Promise<Admission> {
  let u: URL;
  try {
    u = new URL(c.url);
  } catch {
    return { skip: 'bad_url', matched: false };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { skip: 'bad_url', matched: false };
  if (o.dedupe.seen(c.url, c.caption)) return { skip: 'duplicate', matched: false };
  const ids = o.matcher.match(c.caption);
  if (!ids.length) return { skip: 'no_match', matched: false };
  const b = o.balance;
  if (b.mode === 'cap') {
    const got = await b.store.reserve(ids);
    return got.length ? { ids: got } : { skip: 'cap_reached', matched: true };
  }
  const key = pairKey(c.url, c.caption);
  if (!sampleKeep(ids, b.counts, b.t, b.seed, key)) return { skip: 'not_sampled', matched: true };
  return { ids: sampledQueries(ids, b.counts, b.t, b.seed, key) };
}

/**
 * Reads the finished shards of `prefix` in `out`: index -> kept admitted indices and stats.
 * Also deletes temporary files a killed writer of this prefix left behind.
 */
async function finishedShards(out: string, prefix: string, shardSize: number): Promise<Map<number, { kept: Set<number>; stats: ShardStats }>> {
  const found = new Map<number, { kept: Set<number>; stats: ShardStats }>();
  let names: string[];
  try {
    names = await readdir(out);
  } catch {
    return found;
  }
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d{5})\\.parquet$`);
  const tmpRe = new RegExp(`^\\.${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\d{5}\\.parquet\\.tmp-`);
  for (const n of names) {
    if (tmpRe.test(n)) {
      await rm(join(out, n), { force: true });
      continue;
    }
    const m = re.exec(n);
    if (!m) continue;
    const file = join(out, n);
    const stats = await readShardStats(file);
    if (!stats) continue; // renamed but stats not written: not finished, it will be redone
    const idx = Number(m[1]);
    const kept = new Set<number>();
    const digits = indexDigits(shardSize);
    for await (const rec of readShardFile(file, { images: false })) {
      kept.add(Number(rec.key.slice(prefix.length + 5, prefix.length + 5 + digits)));
    }
    found.set(idx, { kept, stats });
  }
  return found;
}

/**
 * Processes a stream of candidates into shards `${prefix}NNNNN.parquet` (+ `_stats.json`) in
 * `opts.out`. Reusable per job by a distributed crawl: give each job its prefix, its CapStore
 * (shared counters) and resources. Resolves with the part's counts; shards of blocks left
 * unfinished by an abort are discarded (never half-written). Throws WitError when the options
 * disagree with finished shards (a shard size change) or a shard cannot be written.
 */
export async function processCandidates(candidates: AsyncIterable<Candidate>, opts: PartOptions, res: CrawlResources): Promise<PartResult> {
  const o = opts;
  const counters = o.counters;
  // every request in flight listens on the run's signal (and removes its listener when done)
  if (o.signal) setMaxListeners(0, o.signal);
  const finished = o.resume ? await finishedShards(o.out, o.prefix, o.shardSize) : new Map<number, { kept: Set<number>; stats: ShardStats }>();
  for (const [i, f] of finished) {
    if (typeof f.stats.admitted === 'number' && f.stats.admitted > o.shardSize) {
      throw new WitError('crawl', `shard ${basename(shardPath(o.out, i, o.prefix))} holds ${f.stats.admitted} admitted candidates, more than --shard-size ${o.shardSize}: resume with the original --shard-size`, { file: o.out, exitCode: 2 });
    }
  }
  const window = new Window(o.window);
  const blocks: Block[] = [];
  const result: PartResult = { shards: [], queryCounts: new Map(), candidates: 0, matched: 0, admitted: 0, kept: 0, failed: {}, skipped: {}, interrupted: false };
  let fatal: unknown;

  const openBlock = (index: number): Block => {
    let resolveDone!: () => void;
    let rejectDone!: (e: unknown) => void;
    const done = new Promise<void>((r, j) => { resolveDone = r; rejectDone = j; });
    done.catch(() => undefined);
    const b: Block = {
      index, file: shardPath(o.out, index, o.prefix), candidates: 0, matched: 0, admitted: 0, kept: 0, failed: {}, skipped: {},
      toRelease: [], keptQueries: new Map(), pending: 0, admissionClosed: false, writeChain: Promise.resolve(),
      done, resolveDone, rejectDone, resumed: finished.get(index), poisoned: false, started: Date.now(),
    };
    blocks.push(b);
    return b;
  };

  const addKept = (b: Block, ids: number[]) => {
    for (const id of ids) b.keptQueries.set(id, (b.keptQueries.get(id) ?? 0) + 1);
  };

  const finalize = async (b: Block): Promise<void> => {
    if (b.resumed) {
      for (const [r, n] of Object.entries((b.resumed.stats.failed ?? {}) as ReasonCounts)) {
        inc(b.failed, r as FailureReason, n ?? 0);
        inc(counters.failed, r as FailureReason, n ?? 0);
      }
      b.kept = b.resumed.kept.size;
      counters.kept += b.kept;
      counters.done += b.admitted;
      counters.resumedShards++;
      counters.shards++;
      result.shards.push(b.file);
      await o.onShard?.(b.resumed.stats, b.file);
      return;
    }
    await b.writeChain;
    if (b.poisoned || o.signal?.aborted) {
      b.poisoned = true;
      await b.writer?.abort();
      return;
    }
    const writer = b.writer ?? (b.writer = await ShardWriter.open(b.file, { imageFormat: o.image.encode, metadata: o.metadata }));
    const stats = await writer.close({
      prefix: o.prefix,
      block: b.index,
      candidates: b.candidates,
      matched: b.matched,
      admitted: b.admitted,
      successes: b.kept,
      failed: b.failed,
      skipped: b.skipped,
      failed_total: sumCounts(b.failed),
      skipped_total: sumCounts(b.skipped),
      queries_listed: [...b.keptQueries.values()].reduce((s, v) => s + v, 0),
    });
    b.writer = undefined; // closed: let its buffers go
    counters.shards++;
    result.shards.push(b.file);
    await o.onShard?.(stats, b.file);
  };

  const maybeFinalize = (b: Block) => {
    if (!b.admissionClosed || b.pending > 0) return;
    finalize(b).then(b.resolveDone, b.rejectDone);
  };

  const runTask = async (b: Block, idx: number, c: Candidate, ids: number[]): Promise<void> => {
    let outcome: { ok: true; rec: PairRecord } | { ok: false; reason: FailureReason };
    try {
      outcome = await downloadOne(c, o, res, pairRecordKey(o.prefix, b.index, idx, o.shardSize), ids, counters);
    } catch (err) {
      // a bug or resource error in one item must not kill the run: count it
      outcome = { ok: false, reason: 'error' };
      if (!(err instanceof Error)) throw err;
    }
    if (o.signal?.aborted) b.poisoned = true;
    if (outcome.ok) {
      const rec = outcome.rec;
      b.writeChain = b.writeChain.then(async () => {
        if (b.poisoned) return;
        b.writer ??= await ShardWriter.open(b.file, { imageFormat: o.image.encode, metadata: o.metadata });
        await b.writer.write(rec);
      });
      await b.writeChain;
      b.kept++;
      counters.kept++;
      addKept(b, ids);
    } else {
      inc(b.failed, outcome.reason);
      inc(counters.failed, outcome.reason);
      if (o.balance.mode === 'cap') b.toRelease.push(ids);
    }
    counters.done++;
  };

  const closeAdmission = (b: Block) => {
    b.admissionClosed = true;
    maybeFinalize(b);
  };

  const releaseBlock = async (b: Block) => {
    if (o.balance.mode !== 'cap' || !b.toRelease.length) return;
    const flat = b.toRelease.flat();
    b.toRelease = [];
    await o.balance.store.release(flat);
  };

  let cur = openBlock(0);
  try {
    for await (const c of candidates) {
      if (o.signal?.aborted) {
        result.interrupted = true;
        break;
      }
      if (fatal) throw fatal;
      cur.candidates++;
      counters.candidates++;
      const a = await admit(c, o);
      if ('skip' in a) {
        inc(cur.skipped, a.skip);
        inc(counters.skipped, a.skip);
        if (a.matched) { cur.matched++; counters.matched++; }
        continue;
      }
      cur.matched++;
      counters.matched++;
      const idx = cur.admitted++;
      counters.admitted++;
      if (cur.resumed) {
        if (cur.resumed.kept.has(idx)) addKept(cur, a.ids);
        else if (o.balance.mode === 'cap') cur.toRelease.push(a.ids);
      } else {
        await window.acquire();
        const b = cur;
        b.pending++;
        runTask(b, idx, c, a.ids)
          .catch((err) => { fatal ??= err; })
          .finally(() => {
            b.pending--;
            window.release();
            maybeFinalize(b);
          });
      }
      if (cur.admitted >= o.shardSize) {
        closeAdmission(cur);
        const prev = blocks[cur.index - 1];
        if (prev) {
          await prev.done;
          await releaseBlock(prev);
        }
        cur = openBlock(cur.index + 1);
      }
    }
    if (o.signal?.aborted) result.interrupted = true;
    if (result.interrupted) {
      for (const b of blocks) if (!b.resumed) b.poisoned = true;
      closeAdmission(cur);
    } else if (cur.candidates === 0 && cur.index > 0) {
      // the input ended exactly at a shard boundary: no trailing empty shard
      blocks.pop();
    } else {
      closeAdmission(cur);
    }
    await Promise.all(blocks.map((b) => b.done.catch((e) => { fatal ??= e; })));
    if (fatal) throw fatal;
    // a stop that came after the input ended still loses the blocks it cut short
    if (blocks.some((b) => b.poisoned && !b.resumed)) result.interrupted = true;
  } catch (err) {
    // stop cleanly: let in-flight tasks end, discard every unfinished shard, then report the error
    for (const b of blocks) if (!b.resumed) b.poisoned = true;
    if (!cur.admissionClosed) closeAdmission(cur);
    await Promise.allSettled(blocks.map((b) => b.done));
    throw err;
  }
  for (const b of blocks) {
    if (b.poisoned && !b.resumed) continue;
    result.candidates += b.candidates;
    result.matched += b.matched;
    result.admitted += b.admitted;
    result.kept += b.kept;
    for (const [r, n] of Object.entries(b.failed)) inc(result.failed, r as FailureReason, n ?? 0);
    for (const [r, n] of Object.entries(b.skipped)) inc(result.skipped, r as FailureReason, n ?? 0);
    for (const [q, n] of b.keptQueries) result.queryCounts.set(q, (result.queryCounts.get(q) ?? 0) + n);
  }
  return result;
}

/** Downloads, validates and resizes one admitted candidate into a record, or gives the reason it failed. */
async function downloadOne(c: Candidate, o: PartOptions, res: CrawlResources, key: string, ids: number[], counters: CrawlCounters): Promise<{ ok: true; rec: PairRecord } | { ok: false; reason: FailureReason }> {
  const url = new URL(c.url);
  let crawlDelayMs = 0;
  if (res.robots) {
    const v = await res.robots.check(url, o.signal);
    if (v.refused) return { ok: false, reason: v.refused };
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
  if (!fetched.ok) return { ok: false, reason: fetched.reason };
  counters.bytes += fetched.body.length;
  const img = await res.images.add(() => processImage(fetched.body, o.image)) as Awaited<ReturnType<typeof processImage>>;
  if (!img.ok) return { ok: false, reason: img.reason };
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
      sha256: img.sha256,
    },
  };
}

/**
 * First pass of `--balance sample`: matches per query over the deduplicated candidates (the
 * MetaCLIP counts). A distributed crawl runs it per job and sums the maps. Resolves with
 * query id -> number of distinct (url, caption) pairs matching it.
 */
export async function countMatches(candidates: AsyncIterable<Candidate>, matcher: QueryMatcher, dedupe: PairDeduper, signal?: AbortSignal, onCandidate?: () => void): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for await (const c of candidates) {
    if (signal?.aborted) throw new WitError('crawl', 'interrupted while counting matches');
    onCandidate?.();
    let u: URL;
    try {
      u = new URL(c.url);
    } catch {
      continue;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') continue;
    if (dedupe.seen(c.url, c.caption)) continue;
    for (const id of matcher.match(c.caption)) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Writes `query_counts.tsv` (query, pairs kept listing it; most first) atomically. */
export async function writeQueryCounts(out: string, counts: Map<number, number>, matcher: QueryMatcher): Promise<void> {
  const rows = [...counts.entries()].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const lines = ['query\tcount', ...rows.map(([id, n]) => `${matcher.query(id).replace(/[\t\n\r]/g, ' ')}\t${n}`)];
  const path = join(out, 'query_counts.tsv');
  const tmp = join(out, `.query_counts.tsv.tmp-${process.pid}`);
  await writeFile(tmp, lines.join('\n') + '\n');
  await rename(tmp, path);
}

/** Default cap store of a local run. */
export function memoryCapStore(cap: number): CapStore {
  return new MemoryCapStore(cap);
}

export { statsPathFor };
