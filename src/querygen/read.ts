/**
 * querygen's first phase: every input is read by the worker pool. Pageview files are one task each;
 * wiki dumps are planned first (a multistream .bz2 with its index becomes byte ranges that workers
 * decode themselves; any other dump is decoded on this thread and cut into ~4 MB chunks of whole
 * pages), then counted by the workers into their NgramCounters.
 */
import { statSync } from 'node:fs';
import { InputError, WitError } from '../util/errors.js';
import { WorkerPool, WorkerTaskError } from './pool.js';
import { detectCompression, openDecompressed, DecodeError, type Compression } from './input.js';
import { findMultistreamIndex, planRanges, readStreamOffsets, IndexFormatError } from './multistream.js';
import { addStats, type QuerygenProgress, type RunGuard } from './run-state.js';
import type { QuerygenRun } from './options.js';
import type { TaskStats, WorkerReply } from './protocol.js';

const MB = 1024 * 1024;
const CHUNK_BYTES = 4 * MB;

/** How one dump is read. */
export interface WikiPlan {
  file: string;
  size: number;
  compression: Compression;
  /** Byte ranges of whole bz2 streams (multistream with index); undefined = streamed by the main thread. */
  ranges?: Array<[number, number]>;
  index?: string;
}

/** What the pageview files gave. */
export interface PageviewTotals {
  /** Summed views per title. */
  titleViews: Map<string, number>;
  lines: number;
  bad: number;
  /** Lines that name no article (front page, `-`, other namespaces), left out. */
  nonArticles: number;
  /** Up to 20 examples, "file: line N: reason". */
  examples: string[];
}

/** Plans each dump (reads multistream indexes); InputError for a bad index. */
export async function planWiki(run: QuerygenRun): Promise<WikiPlan[]> {
  const plans: WikiPlan[] = [];
  const rangeTarget = (size: number) => Math.max(MB, Math.min(64 * MB, Math.floor(size / (run.workers * 4))));
  for (let i = 0; i < run.wiki.length; i++) {
    const file = run.wiki[i]!;
    const size = statSync(file).size;
    const compression = detectCompression(file);
    const plan: WikiPlan = { file, size, compression };
    const index = compression === 'bzip2' ? (run.wikiIndex[i] ?? findMultistreamIndex(file)) : undefined;
    if (index) {
      assertFile(index);
      try {
        const offsets = await readStreamOffsets(index, run.decoder);
        plan.ranges = planRanges(file, offsets, rangeTarget(size));
        plan.index = index;
      } catch (err) {
        if (err instanceof IndexFormatError) throw new InputError('querygen', index, `line ${err.line}: ${err.message}`);
        if (err instanceof DecodeError) throw new InputError('querygen', index, `${err.message} after ${err.outputBytes} decompressed bytes`);
        throw new InputError('querygen', index, (err as Error).message);
      }
    }
    plans.push(plan);
  }
  return plans;
}

function assertFile(f: string): void {
  let ok = false;
  try {
    ok = statSync(f).isFile();
  } catch {
    throw new InputError('querygen', f, 'multistream index not found');
  }
  if (!ok) throw new InputError('querygen', f, 'multistream index is not a file');
}

/** A worker's error reply as the InputError/WitError the user sees, naming the file and where. */
function taskError(file: string, err: unknown, where: string): never {
  if (err instanceof WorkerTaskError) {
    const r = err.reply;
    if (r.kind === 'xml') throw new InputError('querygen', file, `malformed XML at byte ${r.offset ?? '?'} of ${where}: ${r.message}`);
    if (r.kind === 'input') throw new InputError('querygen', file, r.message);
    if (r.kind === 'decode') throw new InputError('querygen', file, `${r.message}, in ${where} after ${r.offset ?? 0} decompressed bytes`);
    if (r.code === 'ENOENT') throw new InputError('querygen', file, r.message);
    throw new WitError('querygen', `${where}: ${r.message}`, { file });
  }
  throw err;
}

/**
 * Reads every pageview file and dump through the pool; returns when all are counted (the counts stay
 * in the workers). The first failure stops the run.
 */
export async function readSources(run: QuerygenRun, plans: WikiPlan[], pool: WorkerPool, progress: QuerygenProgress, guard: RunGuard): Promise<PageviewTotals> {
  const jobs: Promise<unknown>[] = [];
  const pv: PageviewTotals = { titleViews: new Map(), lines: 0, bad: 0, nonArticles: 0, examples: [] };
  for (const file of run.pageviews) jobs.push(guard.track(readPageviewFile(run, file, pool, progress, pv)));
  for (const plan of plans) {
    if (guard.failure) break;
    jobs.push(guard.track((await readDump(run, plan, pool, progress, guard)).counted));
  }
  await guard.guard(Promise.all(jobs));
  guard.check();
  progress.final();
  return pv;
}

async function readPageviewFile(run: QuerygenRun, file: string, pool: WorkerPool, progress: QuerygenProgress, pv: PageviewTotals): Promise<void> {
  let r: WorkerReply;
  try {
    r = await pool.run({ type: 'pageviews', file, domains: run.pageviewDomains, minHourlyViews: run.minHourlyViews, decoder: run.decoder });
  } catch (err) {
    taskError(file, err, 'the pageview file');
  }
  progress.pageviewFilesDone++;
  progress.tick();
  if (r.type !== 'pageviews') return;
  pv.lines += r.lines;
  pv.bad += r.badLines;
  pv.nonArticles += r.nonArticles;
  for (const e of r.badExamples) if (pv.examples.length < 20) pv.examples.push(`${file}: ${e}`);
  for (const [t, v] of r.titles) pv.titleViews.set(t, (pv.titleViews.get(t) ?? 0) + v);
}

/**
 * Starts (ranges) or streams (other dumps) one dump's tasks and returns once they are all handed
 * out; `counted` settles when they are all counted, and checks that the dump opened with <mediawiki>
 * and closed with </mediawiki>.
 */
async function readDump(run: QuerygenRun, plan: WikiPlan, pool: WorkerPool, progress: QuerygenProgress, guard: RunGuard): Promise<{ counted: Promise<void> }> {
  const results: TaskStats[] = [];
  const fileJobs: Promise<void>[] = [];
  const where = (k: number) => (plan.ranges ? `the bz2 streams at compressed bytes ${plan.ranges[k]![0]}-${plan.ranges[k]![1]}` : 'the decompressed dump');
  const settle = (k: number, p: Promise<WorkerReply>, key?: number) =>
    fileJobs.push(guard.track(p.then(
      (r) => {
        if (key !== undefined) progress.live.delete(key);
        if (r.type === 'done') {
          results[k] = r.stats;
          addStats(progress.totals, r.stats);
        }
        progress.tick();
      },
      (err) => taskError(plan.file, err, where(k)),
    )));
  if (plan.ranges) {
    plan.ranges.forEach(([start, end], k) => {
      const key = nextLiveKey++;
      settle(k, pool.run({ type: 'range', file: plan.file, start, end, decoder: run.decoder }, {
        onProgress: (p) => {
          progress.live.set(key, p);
          progress.tick();
        },
      }), key);
    });
  } else {
    await streamWikiFile(plan, pool, run.decoder, run.workers, (n) => (progress.streamedIn = n), settle, () => guard.failure);
    progress.totals.inBytes += plan.size;
    progress.streamedIn = 0;
  }
  const counted = Promise.all(fileJobs).then(() => {
    if (!results[0]?.sawHeader) throw new InputError('querygen', plan.file, 'not a MediaWiki XML export: no <mediawiki> element at the start');
    if (!results[results.length - 1]?.sawFooter) {
      throw new InputError('querygen', plan.file, `truncated: the XML ends without </mediawiki> (after ${results.reduce((a, s) => a + (s?.xmlBytes ?? 0), 0)} bytes)`);
    }
  });
  return { counted };
}
let nextLiveKey = 0;

/**
 * Decodes a dump on this thread and hands ~4 MB chunks of whole pages to the pool (at most one
 * waiting chunk per worker, so memory stays flat). Each chunk's promise goes to `onTask`.
 */
async function streamWikiFile(
  plan: WikiPlan,
  pool: WorkerPool,
  decoder: 'lbzip2' | 'bzip2' | 'js',
  workers: number,
  onInput: (n: number) => void,
  onTask: (k: number, p: Promise<WorkerReply>) => void,
  failed: () => unknown,
): Promise<void> {
  // Pieces decoded since the last chunk sent; `cutAt` is the end of the last '</page>' among them
  // (found by searching each piece once, with the tail of the one before), so a huge page costs one
  // join, not one per piece.
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let cutAt = -1;
  let offset = 0;
  let k = 0;
  const send = async (data: Buffer) => {
    await pool.room(workers);
    // a copy with its own ArrayBuffer, transferred (a view would clone its whole parent buffer)
    const own = new Uint8Array(data);
    onTask(k++, pool.run({ type: 'chunk', file: plan.file, data: own, offset, inBytes: 0 }, { transfer: [own.buffer as ArrayBuffer] }));
    offset += data.length;
  };
  try {
    for await (const chunk of openDecompressed(plan.file, { compression: plan.compression, bz2Decoder: decoder, threads: workers, onInput })) {
      if (failed()) return; // the error is reported by the failed task (or the abort)
      const close = lastPageClose(pending.length > 0 ? pending[pending.length - 1]! : undefined, chunk);
      if (close >= 0) cutAt = pendingLen + close;
      pending.push(chunk);
      pendingLen += chunk.length;
      if (pendingLen < CHUNK_BYTES) continue;
      if (cutAt < 0) {
        if (pendingLen > 256 * MB) throw new InputError('querygen', plan.file, `malformed XML at byte ${offset}: no </page> in 256 MB`);
        continue;
      }
      const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
      await send(buf.subarray(0, cutAt));
      const rest = buf.subarray(cutAt);
      pending = rest.length > 0 ? [rest] : [];
      pendingLen = rest.length;
      cutAt = -1;
    }
  } catch (err) {
    if (err instanceof DecodeError) throw new InputError('querygen', plan.file, `${err.message} after ${err.outputBytes} decompressed bytes`);
    if (err instanceof WitError) throw err;
    throw new InputError('querygen', plan.file, (err as Error).message);
  }
  // the tail holds the last pages and </mediawiki>; always sent so the footer is checked
  await send(pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen));
}

const PAGE_CLOSE = Buffer.from('</page>');

/**
 * End (relative to `chunk`) of the last '</page>' that ends inside `chunk`, including one that
 * starts in the last bytes of `prev`; -1 when none.
 */
export function lastPageClose(prev: Buffer | undefined, chunk: Buffer): number {
  const inside = chunk.lastIndexOf(PAGE_CLOSE);
  if (inside >= 0) return inside + PAGE_CLOSE.length;
  if (!prev) return -1;
  const tail = prev.subarray(Math.max(0, prev.length - (PAGE_CLOSE.length - 1)));
  const probe = Buffer.concat([tail, chunk.subarray(0, PAGE_CLOSE.length - 1)]);
  const across = probe.indexOf(PAGE_CLOSE);
  return across >= 0 ? across + PAGE_CLOSE.length - tail.length : -1;
}
