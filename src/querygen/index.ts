/**
 * querygen: the query list from a Wikipedia dump, pageview files and WordNet, as the CLIP paper
 * describes it and MetaCLIP reproduced it (DESIGN.md, "querygen").
 *
 * Pipeline: the dump is streamed (never loaded whole) to worker threads that turn pages into plain
 * text (wikitext.ts), tokens (src/text/tokenize.ts, the crawl's tokenizer) and unigram/bigram counts
 * (counter.ts) within a memory budget, spilling sorted runs to disk; the runs are merged one hash
 * partition per worker; bigram PMI is computed against the unigram counts; pageview files are parsed
 * by the same workers; WordNet is read here; the four sources are joined (select.ts) and written.
 *
 * How the dump reaches the workers:
 * - multistream .bz2 with its index: each worker decodes its own byte ranges of whole bz2 streams
 *   (a subprocess per range when lbzip2/bzip2 is installed), so decoding scales with workers;
 * - any other input (plain XML, .bz2 without index, .gz): this thread decodes (lbzip2 with all
 *   threads when installed) and cuts the XML into ~4 MB chunks of whole pages for the workers.
 */
import { existsSync, mkdirSync, statSync, writeFileSync, renameSync, rmSync, mkdtempSync, createWriteStream } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { InputError, UsageError, WitError } from '../util/errors.js';
import { Throttle, eta, formatCount, formatDuration } from '../util/progress.js';
import { WorkerPool, WorkerTaskError } from './pool.js';
import { detectCompression, openDecompressed, resolveBz2Decoder, DecodeError, type Bz2Decoder, type Compression } from './input.js';
import { findMultistreamIndex, planRanges, readStreamOffsets, IndexFormatError } from './multistream.js';
import { readWordnet, defaultWordnetDir, WordnetFormatError } from './wordnet.js';
import { RunReader } from './runs.js';
import { byCountDesc, maxPairedCount, pmi, unionQueries, zeroBySource, SOURCES, type BySource, type QuerySource } from './select.js';
import type { TaskStats, WorkerReply } from './protocol.js';

export { pmi, maxPairedCount, unionQueries } from './select.js';
export type { QueryRow, QuerySource } from './select.js';
export { wikitextToText } from './wikitext.js';

/**
 * Default --min-bigram-count. PMI >= 30 on a full English Wikipedia (N ~ 4-5e9 tokens) can only be
 * reached by pairs whose words are each seen at most N/2^30 ~ 4 times (see maxPairedCount): the bigram
 * source is, by construction, rare words that always occur together (names, foreign terms). Among
 * those, pairs seen once are dominated by one-off typos and markup residue, and there are millions of
 * them; requiring two occurrences keeps the pairs a second article confirms, roughly 100k on enwiki
 * by a Zipf estimate (~2.5M word types seen twice, a few percent of them always next to the same
 * other rare word, plus the (2,3), (3,3) and (4,4) pairs), the size MetaCLIP's bigram source had.
 */
export const DEFAULT_MIN_BIGRAM_COUNT = 2;

/** Options of {@link querygen}. Every field is validated on entry (UsageError). */
export interface QuerygenOptions {
  /** MediaWiki XML export dumps: .xml, .xml.bz2, multistream .xml.bz2 (index found beside it), .xml.gz. */
  wiki: string[];
  /** Multistream index files, same order as `wiki` (default: found beside each dump by Wikimedia's naming). */
  wikiIndex?: string[];
  /** Hourly pageview files (plain, .gz, .bz2). */
  pageviews?: string[];
  /** WordNet database directory (data.noun …); default the bundled WordNet 3.1; 'none' leaves WordNet out. */
  wordnet?: string;
  /** Output TSV; the JSON summary goes beside it (`x.tsv` -> `x.summary.json`). */
  out: string;
  /** Minimum unigram count (default 100). */
  minCount?: number;
  /** Minimum bigram PMI (default 30). */
  minPmi?: number;
  /** Minimum bigram count (default DEFAULT_MIN_BIGRAM_COUNT). */
  minBigramCount?: number;
  /** Minimum summed pageviews of a title (default 70). */
  minViews?: number;
  /** Hourly counts under this are ignored (default 50). */
  minHourlyViews?: number;
  /** Pageview domain codes counted (default ['en']). */
  pageviewDomains?: string[];
  /** WordNet entries: each synset's head word (default) or all lemmas. */
  wordnetLemmas?: 'head' | 'all';
  /** Cap on the number of queries (default none). */
  maxQueries?: number;
  /** Worker threads (default: available cores). */
  workers?: number;
  /** Memory budget for counting, bytes or '2G'/'512M' (default min(3 GiB, 60% of RAM)). */
  maxMemory?: string | number;
  /** bz2 decoder (default auto: lbzip2, bzip2, pure JS). */
  bz2Decoder?: Bz2Decoder;
  /** Directory for spilled runs (default: a hidden directory beside `out`; removed at the end). */
  tmpDir?: string;
  /** Status lines (articles/s, MB/s, ETA). */
  onProgress?: (line: string) => void;
  /** Aborts the run (the output is then not written). */
  signal?: AbortSignal;
}

/** What {@link querygen} did. */
export interface QuerygenSummary {
  out: string;
  summaryFile: string;
  queries: number;
  bySource: Record<QuerySource, number>;
  /** Entries each source offered before the union. */
  candidates: Record<QuerySource, number>;
  /** Entries dropped in the union: same canonical form as an earlier one, punctuation/empty, over --max-queries. */
  dropped: { duplicates: BySource; punctuation: BySource; maxQueries: BySource };
  /** Tokens counted (N of PMI). */
  tokens: number;
  articles: number;
  pages: number;
  redirects: number;
  otherNamespaces: number;
  /** Decompressed XML bytes read. */
  xmlBytes: number;
  /** Distinct unigrams / bigrams in the dump (bigrams: null when no pair could reach --min-pmi, so they were not merged). */
  distinctUnigrams: number;
  distinctBigrams: number | null;
  /** Bigrams with min count <= c <= N/2^minPmi whose PMI was computed. */
  bigramCandidates: number;
  pageviewFiles: number;
  pageviewLines: number;
  pageviewBadLines: number;
  pageviewBadExamples: string[];
  /** Distinct titles that had at least one hourly count over the threshold. */
  titlesSeen: number;
  wordnetSynsets: number;
  workers: number;
  bz2Decoder: string;
  spills: number;
  thresholds: { minCount: number; minPmi: number; minBigramCount: number; minViews: number; minHourlyViews: number; pageviewDomains: string[]; wordnetLemmas: string; maxQueries: number | null };
  seconds: number;
}

/** '3G', '512M', '1.5g', '2000000' -> bytes. Throws UsageError. */
export function parseMemory(v: string | number): number {
  if (typeof v === 'number') {
    if (!(v > 0)) throw new UsageError('querygen', `--max-memory must be positive, got ${v}`);
    return v;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(v);
  if (!m) throw new UsageError('querygen', `--max-memory expects a size like 4G or 512M, got '${v}'`);
  const mult = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const bytes = Number(m[1]) * mult;
  if (!(bytes > 0)) throw new UsageError('querygen', `--max-memory must be positive, got '${v}'`);
  return bytes;
}

/** `x.tsv` -> `x.summary.json` (any other name gets `.summary.json` appended). */
export function summaryPathFor(out: string): string {
  return out.endsWith('.tsv') ? `${out.slice(0, -4)}.summary.json` : `${out}.summary.json`;
}

const MB = 1024 * 1024;
const CHUNK_BYTES = 4 * MB;

function checkNumber(name: string, v: number | undefined, def: number, min: number, integer: boolean): number {
  const x = v ?? def;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min || (integer && !Number.isInteger(x))) {
    throw new UsageError('querygen', `--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(v)}`);
  }
  return x;
}

function checkFile(f: string, what: string): void {
  let st;
  try {
    st = statSync(f);
  } catch {
    throw new InputError('querygen', f, `${what} not found`);
  }
  if (!st.isFile()) throw new InputError('querygen', f, `${what} is not a file`);
}

interface WikiPlan {
  file: string;
  size: number;
  compression: Compression;
  /** Byte ranges of whole bz2 streams (multistream with index); undefined = streamed by the main thread. */
  ranges?: Array<[number, number]>;
  index?: string;
}

/**
 * Builds the query list (see module doc) and writes `opts.out` (header `query\tsource\tcount`, then
 * one line per query, written under a temporary name and renamed when complete) and the JSON
 * summary beside it. Returns the summary.
 * Throws UsageError for bad options and InputError (exit 2) naming the file and position for a
 * missing file, corrupt or truncated compressed data, malformed XML, a bad index or WordNet file;
 * single bad pageview lines are counted in the summary instead.
 */
export async function querygen(opts: QuerygenOptions): Promise<QuerygenSummary> {
  const t0 = Date.now();
  const wiki = (opts.wiki ?? []).map((f) => resolve(f));
  const pageviews = (opts.pageviews ?? []).map((f) => resolve(f));
  if (!opts.out) throw new UsageError('querygen', '--out is required');
  const out = resolve(opts.out);
  if (wiki.length === 0 && pageviews.length === 0) {
    throw new UsageError('querygen', 'nothing to count: give --wiki DUMP… and/or --pageviews FILE…');
  }
  const minCount = checkNumber('min-count', opts.minCount, 100, 1, true);
  const minPmi = checkNumber('min-pmi', opts.minPmi, 30, -Infinity, false);
  const minBigramCount = checkNumber('min-bigram-count', opts.minBigramCount, DEFAULT_MIN_BIGRAM_COUNT, 1, true);
  const minViews = checkNumber('min-views', opts.minViews, 70, 0, true);
  const minHourlyViews = checkNumber('min-hourly-views', opts.minHourlyViews, 50, 0, true);
  const maxQueries = opts.maxQueries === undefined ? undefined : checkNumber('max-queries', opts.maxQueries, 0, 1, true);
  const cores = availableParallelism();
  const workers = checkNumber('workers', opts.workers, cores, 1, true);
  const maxMemory = parseMemory(opts.maxMemory ?? Math.min(3 * 2 ** 30, Math.floor(totalmem() * 0.6)));
  const domains = opts.pageviewDomains ?? ['en'];
  if (domains.length === 0) throw new UsageError('querygen', '--pageview-domains needs at least one domain code');
  const wordnetLemmas = opts.wordnetLemmas ?? 'head';
  if (wordnetLemmas !== 'head' && wordnetLemmas !== 'all') throw new UsageError('querygen', `--wordnet-lemmas must be head or all, got '${String(wordnetLemmas)}'`);
  if (opts.wikiIndex && opts.wikiIndex.length > 0 && opts.wikiIndex.length !== wiki.length) {
    throw new UsageError('querygen', `--wiki-index needs one index per --wiki dump (${wiki.length}), got ${opts.wikiIndex.length}`);
  }
  let decoder: 'lbzip2' | 'bzip2' | 'js';
  try {
    decoder = resolveBz2Decoder(opts.bz2Decoder ?? 'auto');
  } catch (err) {
    throw new UsageError('querygen', (err as Error).message);
  }
  for (const f of wiki) checkFile(f, 'wiki dump');
  for (const f of pageviews) checkFile(f, 'pageview file');
  const wordnetDir = opts.wordnet === 'none' ? undefined : opts.wordnet ? resolve(opts.wordnet) : defaultWordnetDir();
  if (wordnetDir && !existsSync(wordnetDir)) throw new InputError('querygen', wordnetDir, 'WordNet directory not found');

  // Plan the wiki inputs before starting anything.
  const plans: WikiPlan[] = [];
  const rangeTarget = (size: number) => Math.max(MB, Math.min(64 * MB, Math.floor(size / (workers * 4))));
  for (let i = 0; i < wiki.length; i++) {
    const file = wiki[i]!;
    const size = statSync(file).size;
    const compression = detectCompression(file);
    const plan: WikiPlan = { file, size, compression };
    if (compression === 'bzip2') {
      const index = opts.wikiIndex?.[i] ? resolve(opts.wikiIndex[i]!) : findMultistreamIndex(file);
      if (index) {
        checkFile(index, 'multistream index');
        try {
          const offsets = await readStreamOffsets(index, decoder);
          plan.ranges = planRanges(file, offsets, rangeTarget(size));
          plan.index = index;
        } catch (err) {
          if (err instanceof IndexFormatError) throw new InputError('querygen', index, `line ${err.line}: ${err.message}`);
          if (err instanceof DecodeError) throw new InputError('querygen', index, `${err.message} after ${err.outputBytes} decompressed bytes`);
          throw new InputError('querygen', index, (err as Error).message);
        }
      }
    }
    plans.push(plan);
  }

  mkdirSync(dirname(out), { recursive: true });
  const tmpDir = opts.tmpDir ? (mkdirSync(opts.tmpDir, { recursive: true }), mkdtempSync(join(resolve(opts.tmpDir), 'querygen-'))) : mkdtempSync(join(dirname(out), `.${basename(out)}.tmp-`));
  // Memory: what is left after the threads' own baseline goes to the counting maps, split evenly.
  // (Budgets under 512 MB are for tests and small machines: split without the baseline.)
  const budgetBytes = maxMemory < 512 * MB
    ? Math.max(64 * 1024, Math.floor(maxMemory / (2 * workers)))
    : Math.max(16 * MB, Math.floor((maxMemory - 200 * MB - workers * 60 * MB) / workers));
  const heapMb = Math.ceil((budgetBytes * 2.5) / MB) + 256;
  const pool = new WorkerPool(workers, (id) => ({ id, tmpDir, partitions: workers, budgetBytes }), heapMb);

  const totals = { pages: 0, articles: 0, redirects: 0, otherNamespaces: 0, xmlBytes: 0, inBytes: 0, tokens: 0 };
  const live = new Map<number, { inBytes: number; xmlBytes: number; articles: number }>();
  let liveKey = 0;
  const totalIn = plans.reduce((a, p) => a + p.size, 0);
  let streamedIn = 0; // compressed bytes read by this thread for the file being streamed
  let phase = 'wiki';
  let pvDone = 0;
  const progress = new Throttle(opts.onProgress, () => {
    const el = (Date.now() - t0) / 1000;
    let inB = totals.inBytes + streamedIn;
    let xml = totals.xmlBytes;
    let art = totals.articles;
    for (const l of live.values()) {
      inB += l.inBytes;
      xml += l.xmlBytes;
      art += l.articles;
    }
    if (phase !== 'wiki') return `querygen: ${phase} (${formatDuration(el)})`;
    const pv = pageviews.length > 0 ? ` | pageview files ${pvDone}/${pageviews.length}` : '';
    if (totalIn === 0) return `querygen:${pv.slice(2)} (${formatDuration(el)})`;
    const pct = ` ${((100 * inB) / totalIn).toFixed(1)}%`;
    return `querygen: wiki${pct} | ${formatCount(art)} articles (${formatCount(art / el)}/s) | ${(xml / MB).toFixed(0)} MB XML (${(xml / MB / el).toFixed(1)} MB/s)${pv} | ETA ${formatDuration(eta(inB, totalIn, el))}`;
  }, 1000);
  const addStats = (s: TaskStats) => {
    totals.pages += s.pages;
    totals.articles += s.articles;
    totals.redirects += s.redirects;
    totals.otherNamespaces += s.otherNamespaces;
    totals.xmlBytes += s.xmlBytes;
    totals.inBytes += s.inBytes;
    totals.tokens += s.tokens;
  };
  const abortIfNeeded = () => {
    if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new WitError('querygen', 'aborted');
  };

  const taskError = (file: string, err: unknown, where: string): never => {
    if (err instanceof WorkerTaskError) {
      const r = err.reply;
      if (r.kind === 'xml') throw new InputError('querygen', file, `malformed XML at byte ${r.offset ?? '?'} of ${where}: ${r.message}`);
      if (r.kind === 'decode') throw new InputError('querygen', file, `${r.message}, in ${where} after ${r.offset ?? 0} decompressed bytes`);
      if (r.code === 'ENOENT') throw new InputError('querygen', file, r.message);
      throw new WitError('querygen', `${where}: ${r.message}`, { file });
    }
    throw err;
  };

  let cleanupAbort: (() => void) | undefined;
  try {
    const jobs: Promise<unknown>[] = [];
    // The first failure stops the run: the streaming loop checks it, and every job promise is
    // observed as soon as it exists (a rejection must not go unhandled while this thread streams).
    let failure: unknown;
    const track = <T>(p: Promise<T>): Promise<T> => {
      p.catch((err: unknown) => {
        failure ??= err;
      });
      return p;
    };
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(opts.signal!.reason instanceof Error ? opts.signal!.reason : new WitError('querygen', 'aborted'));
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {
      failure ??= new WitError('querygen', 'aborted');
    });
    const guard = <T>(p: Promise<T>): Promise<T> => Promise.race([p, aborted]);
    cleanupAbort = () => {
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
    };
    // Pageview files: one task each, merged here as they come back.
    const titleViews = new Map<string, number>();
    const pv = { lines: 0, bad: 0, examples: [] as string[] };
    for (const file of pageviews) {
      jobs.push(track(
        pool.run({ type: 'pageviews', file, domains, minHourlyViews, decoder }).then(
          (r) => {
            pvDone++;
            progress.tick();
            if (r.type !== 'pageviews') return;
            pv.lines += r.lines;
            pv.bad += r.badLines;
            for (const e of r.badExamples) if (pv.examples.length < 20) pv.examples.push(`${file}: ${e}`);
            for (const [t, v] of r.titles) titleViews.set(t, (titleViews.get(t) ?? 0) + v);
          },
          (err) => taskError(file, err, 'the pageview file'),
        ),
      ));
    }
    // Wiki dumps.
    for (const plan of plans) {
      if (failure) break;
      const results: TaskStats[] = [];
      const fileJobs: Promise<void>[] = [];
      const where = (k: number) =>
        plan.ranges ? `the bz2 streams at compressed bytes ${plan.ranges[k]![0]}-${plan.ranges[k]![1]}` : 'the decompressed dump';
      if (plan.ranges) {
        plan.ranges.forEach(([start, end], k) => {
          const key = liveKey++;
          fileJobs.push(track(
            pool.run({ type: 'range', file: plan.file, start, end, decoder }, {
              onProgress: (p) => {
                live.set(key, p);
                progress.tick();
              },
            }).then(
              (r) => {
                live.delete(key);
                if (r.type === 'done') {
                  results[k] = r.stats;
                  addStats(r.stats);
                }
                progress.tick();
              },
              (err) => taskError(plan.file, err, where(k)),
            ),
          ));
        });
      } else {
        await streamWikiFile(plan, pool, decoder, workers, (n) => (streamedIn = n), (k, p) => fileJobs.push(track(p.then(
          (r) => {
            if (r.type === 'done') {
              results[k] = r.stats;
              addStats(r.stats);
            }
            progress.tick();
          },
          (err) => taskError(plan.file, err, where(k)),
        ))), () => failure);
        totals.inBytes += plan.size;
        streamedIn = 0;
      }
      jobs.push(track(
        Promise.all(fileJobs).then(() => {
          if (!results[0]?.sawHeader) throw new InputError('querygen', plan.file, 'not a MediaWiki XML export: no <mediawiki> element at the start');
          if (!results[results.length - 1]?.sawFooter) {
            throw new InputError('querygen', plan.file, `truncated: the XML ends without </mediawiki> (after ${results.reduce((a, s) => a + (s?.xmlBytes ?? 0), 0)} bytes)`);
          }
        }),
      ));
    }
    await Promise.race([Promise.all(jobs), aborted]);
    abortIfNeeded();
    progress.final();

    // Counting is done: every worker writes what it holds, then the runs are merged by partition.
    phase = 'merging unigram counts';
    progress.tick();
    const spilled = await guard(Promise.all(Array.from({ length: workers }, (_, i) => pool.run({ type: 'finish' }, { on: i }))));
    let spills = 0;
    const uniFiles: string[][] = Array.from({ length: workers }, () => []);
    const biFiles: string[][] = Array.from({ length: workers }, () => []);
    for (const r of spilled) {
      if (r.type !== 'spilled') continue;
      spills += r.spills;
      r.files.unigram.forEach((fs, p) => uniFiles[p]!.push(...fs));
      r.files.bigram.forEach((fs, p) => biFiles[p]!.push(...fs));
    }
    const N = totals.tokens;
    const pairMax = maxPairedCount(N, minPmi);
    const wantBigrams = pairMax >= minBigramCount;
    const uniMerged = await guard(Promise.all(
      uniFiles.map((paths, partition) =>
        pool.run({ type: 'mergeUni', partition, paths, minCount, rareMin: wantBigrams ? minBigramCount : 1, rareMax: wantBigrams ? pairMax : 0 }),
      ),
    ));
    abortIfNeeded();
    const unigrams: Array<[string, number]> = [];
    let distinctUnigrams = 0;
    const rareFiles: string[] = [];
    for (const r of uniMerged) {
      if (r.type !== 'merged') continue;
      distinctUnigrams += r.distinct;
      for (const e of r.frequent) unigrams.push(e);
      if (r.outEntries > 0) rareFiles.push(r.outFile);
    }
    unigrams.sort(byCountDesc);

    phase = 'merging bigram counts';
    progress.tick();
    let distinctBigrams: number | null = wantBigrams ? 0 : null;
    let bigramCandidates = 0;
    const bigramScored: Array<[string, number, number]> = [];
    // Without a possible pair (N/2^minPmi < minBigramCount, e.g. any dump under ~2e9 tokens at PMI 30)
    // the bigram runs are not even merged.
    const biMerged = wantBigrams
      ? await guard(Promise.all(biFiles.map((paths, partition) => pool.run({ type: 'mergeBi', partition, paths, min: minBigramCount, max: pairMax }))))
      : [];
    abortIfNeeded();
    const candFiles: string[] = [];
    for (const r of biMerged) {
      if (r.type !== 'merged') continue;
      distinctBigrams = (distinctBigrams ?? 0) + r.distinct;
      if (r.outEntries > 0) candFiles.push(r.outFile);
    }
    if (wantBigrams && candFiles.length > 0) {
      phase = 'scoring bigrams';
      progress.tick();
      // The only words a passing bigram can contain (count in [minBigramCount, N/2^minPmi]).
      const rare = new Map<string, number>();
      for (const f of rareFiles) {
        const rr = new RunReader(f);
        while (rr.next()) rare.set(rr.key, rr.count);
      }
      for (const f of candFiles) {
        const rr = new RunReader(f);
        while (rr.next()) {
          bigramCandidates++;
          const sp = rr.key.indexOf(' ');
          const cx = rare.get(rr.key.slice(0, sp));
          const cy = rare.get(rr.key.slice(sp + 1));
          if (cx === undefined || cy === undefined) continue;
          const score = pmi(rr.count, cx, cy, N);
          if (score >= minPmi) bigramScored.push([rr.key, rr.count, score]);
        }
      }
    }
    // best first: PMI, then count, then the pair itself (deterministic)
    bigramScored.sort((a, b) => b[2] - a[2] || b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

    phase = 'joining sources';
    progress.tick();
    let wordnetSynsets = 0;
    let wordnetEntries: Array<[string, number]> = [];
    if (wordnetDir) {
      try {
        const wn = readWordnet(wordnetDir, wordnetLemmas);
        wordnetSynsets = wn.synsets;
        wordnetEntries = [...wn.entries];
      } catch (err) {
        if (err instanceof WordnetFormatError) throw new InputError('querygen', err.file, `line ${err.line}: ${err.message}`);
        throw new InputError('querygen', wordnetDir, (err as Error).message);
      }
    }
    const titles = [...titleViews].filter(([, v]) => v >= minViews).sort(byCountDesc);
    const sources: Array<[QuerySource, Array<[string, number]>]> = [
      ['wordnet', wordnetEntries],
      ['unigram', unigrams],
      ['bigram', bigramScored.map(([k, c]) => [k, c] as [string, number])],
      ['title', titles],
    ];
    const union = unionQueries(sources, maxQueries);
    abortIfNeeded();

    await writeTsvAtomic(out, union.rows);
    const summaryFile = summaryPathFor(out);
    const candidates = zeroBySource();
    for (const [s, e] of sources) candidates[s] = e.length;
    const summary: QuerygenSummary = {
      out,
      summaryFile,
      queries: union.rows.length,
      bySource: union.bySource,
      candidates,
      dropped: { duplicates: union.duplicates, punctuation: union.punctuation, maxQueries: union.capped },
      tokens: N,
      articles: totals.articles,
      pages: totals.pages,
      redirects: totals.redirects,
      otherNamespaces: totals.otherNamespaces,
      xmlBytes: totals.xmlBytes,
      distinctUnigrams,
      distinctBigrams,
      bigramCandidates,
      pageviewFiles: pageviews.length,
      pageviewLines: pv.lines,
      pageviewBadLines: pv.bad,
      pageviewBadExamples: pv.examples,
      titlesSeen: titleViews.size,
      wordnetSynsets,
      workers,
      bz2Decoder: decoder,
      spills,
      thresholds: { minCount, minPmi, minBigramCount, minViews, minHourlyViews, pageviewDomains: domains, wordnetLemmas, maxQueries: maxQueries ?? null },
      seconds: (Date.now() - t0) / 1000,
    };
    const tmpSummary = `${summaryFile}.tmp-${process.pid}`;
    writeFileSync(tmpSummary, JSON.stringify(summary, null, 2) + '\n');
    renameSync(tmpSummary, summaryFile);
    return summary;
  } finally {
    cleanupAbort?.();
    await pool.close();
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

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

/** Writes queries.tsv under a temporary name, renamed when complete. */
async function writeTsvAtomic(out: string, rows: Array<{ query: string; source: string; count: number }>): Promise<void> {
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  const ws = createWriteStream(tmp);
  try {
    let buf = 'query\tsource\tcount\n';
    for (const r of rows) {
      buf += `${r.query}\t${r.source}\t${r.count}\n`;
      if (buf.length > 1 << 16) {
        if (!ws.write(buf)) await once(ws, 'drain');
        buf = '';
      }
    }
    ws.end(buf);
    await once(ws, 'finish');
    renameSync(tmp, out);
  } catch (err) {
    ws.destroy();
    rmSync(tmp, { force: true });
    throw err;
  }
}

export { SOURCES };
