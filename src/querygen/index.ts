/**
 * querygen: the query list from a Wikipedia dump, pageview files and WordNet, as the CLIP paper
 * describes it and MetaCLIP reproduced it (README.md, "querygen";
 * docs/ARCHITECTURE.md, "querygen").
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
import { mkdirSync, rmSync, mkdtempSync, createWriteStream } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import { InputError } from '../util/errors.js';
import { renameIntoPlace, tempPathFor, writeJsonAtomic } from '../util/atomic.js';
import { claimOutput, tempOwner, type OutputClaim } from '../util/output.js';
import { WorkerPool } from './pool.js';
import { readWordnet, WordnetFormatError } from './wordnet.js';
import { byCountDesc, unionQueries, zeroBySource, SOURCES, type BySource, type QuerySource, type UnionResult } from './select.js';
import { resolveQuerygen, summaryPathFor, QUERYGEN_OPTIONS, type QuerygenOptions, type QuerygenRun } from './options.js';
import { QuerygenProgress, RunGuard, type ReadTotals } from './run-state.js';
import { formatCount, formatDuration } from '../util/progress.js';
import { planWiki, readSources, type PageviewTotals } from './read.js';
import { mergeCounts, type MergedCounts } from './merge.js';

export { pmi, maxPairedCount, unionQueries } from './select.js';
export type { QueryRow, QuerySource } from './select.js';
export { wikitextToText } from './wikitext.js';
export { lastPageClose } from './read.js';
export { QUERYGEN_OPTIONS, parseMemory, summaryPathFor, type QuerygenOptions } from './options.js';

/** Default --min-bigram-count (the reason is next to the option in options.ts). */
export const DEFAULT_MIN_BIGRAM_COUNT: number = QUERYGEN_OPTIONS.minBigramCount.default;

/** What {@link querygen} did: the summary JSON written beside the output (README.md, "querygen"). */
export interface QuerygenSummary {
  out: string;
  summary_file: string;
  queries: number;
  by_source: Record<QuerySource, number>;
  /** Entries each source offered before the union. */
  candidates: Record<QuerySource, number>;
  /** Entries dropped in the union: same canonical form as an earlier one, punctuation/empty, over --max-queries. */
  dropped: { duplicates: BySource; punctuation: BySource; max_queries: BySource; stopwords: BySource };
  /** Tokens counted (N of PMI). */
  tokens: number;
  articles: number;
  pages: number;
  redirects: number;
  other_namespaces: number;
  /** Decompressed XML bytes read. */
  xml_bytes: number;
  /** Distinct unigrams / bigrams in the dump (bigrams: null when no pair could reach --min-pmi, so they were not merged). */
  distinct_unigrams: number;
  distinct_bigrams: number | null;
  /** Bigrams with min count <= c <= N/2^minPmi whose PMI was computed. */
  bigram_candidates: number;
  pageview_files: number;
  pageview_lines: number;
  pageview_bad_lines: number;
  /** Pageview lines over the threshold that name no article (the front page, `-`, Special: and other namespaces): not titles. */
  pageview_non_articles: number;
  pageview_bad_examples: string[];
  /** Distinct titles that had at least one hourly count over the threshold. */
  titles_seen: number;
  wordnet_synsets: number;
  workers: number;
  bz2_decoder: string;
  spills: number;
  thresholds: {
    min_count: number;
    min_pmi: number;
    min_bigram_count: number;
    min_views: number;
    min_hourly_views: number;
    pageview_domains: string[];
    wordnet_lemmas: string;
    max_queries: number | null;
  };
  seconds: number;
  /** articles / seconds of the whole run: the one rate of a run, which its last progress line shows. */
  articles_per_sec: number;
}

const MB = 1024 * 1024;

/**
 * Builds the query list (see module doc) and writes `opts.out` (header `query\tsource\tcount`, then
 * one line per query, written under a temporary name and renamed when complete) and the JSON
 * summary beside it. Returns the summary.
 * Throws UsageError for bad options and InputError (exit 2) naming the file and position for a
 * missing file, corrupt or truncated compressed data, malformed XML, a bad index or WordNet file;
 * single bad pageview lines are counted in the summary instead.
 */
/**
 * The last progress line of a run: the summary's counts, and its one rate (articles per second of the
 * whole run, as `articles_per_sec` in the summary).
 */
export function querygenLine(s: QuerygenSummary): string {
  const by = Object.entries(s.by_source).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${formatCount(n)}`).join(', ');
  return `querygen: done · ${formatCount(s.articles)} articles (${formatCount(s.articles_per_sec)}/s) · ${formatCount(s.pageview_lines)} pageview lines · ${formatCount(s.queries)} queries${by ? ` (${by})` : ''} · ${formatDuration(s.seconds)}`;
}

export async function querygen(opts: QuerygenOptions): Promise<QuerygenSummary> {
  const t0 = Date.now();
  const run = resolveQuerygen(opts);
  const inputs = [...run.wiki, ...run.pageviews, ...run.wikiIndex];
  const claim = await claimOutput(run.out, { command: 'querygen', kind: 'file', inputs });
  try {
    // The summary beside the list is an output too: replaced only when it is querygen's own.
    const summaryClaim = await claimOutput(summaryPathFor(run.out), { command: 'querygen', signature: 'querygen summary', kind: 'file', inputs });
    try {
      return await buildQueries(opts, run, claim, t0);
    } finally {
      await summaryClaim.release();
    }
  } finally {
    await claim.release();
  }
}

async function buildQueries(opts: QuerygenOptions, run: ReturnType<typeof resolveQuerygen>, claim: OutputClaim, t0: number): Promise<QuerygenSummary> {
  const plans = await planWiki(run);
  await claim.create();
  const tmpDir = run.tmpDir
    ? (mkdirSync(run.tmpDir, { recursive: true }), mkdtempSync(join(resolve(run.tmpDir), 'querygen-')))
    : mkdtempSync(join(dirname(run.out), `.${basename(run.out)}.tmp-${tempOwner()}-`));
  const pool = startPool(run, tmpDir);
  const guard = new RunGuard(opts.signal);
  const progress = new QuerygenProgress(opts.onProgress, plans.reduce((a, p) => a + p.size, 0), run.pageviews.length);
  try {
    const pageviews = await readSources(run, plans, pool, progress, guard);
    const merged = await mergeCounts(run, run.workers, progress.totals.tokens, pool, progress, guard);
    progress.enter('joining sources');
    const joined = joinSources(run, merged, pageviews);
    guard.check();
    await writeTsvAtomic(run.out, joined.union.rows);
    const summary = buildSummary(run, progress.totals, merged, pageviews, joined, (Date.now() - t0) / 1000);
    await writeJsonAtomic(summary.summary_file, summary);
    progress.final(querygenLine(summary));
    return summary;
  } finally {
    guard.dispose();
    await pool.close();
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

/**
 * The worker pool, with the memory budget split between the workers: what is left after the
 * threads' own baseline goes to the counting maps, split evenly. (Budgets under 512 MB are for tests
 * and small machines: split without the baseline.)
 */
function startPool(run: QuerygenRun, tmpDir: string): WorkerPool {
  const { maxMemoryBytes: max, workers } = run;
  const budgetBytes = max < 512 * MB ? Math.max(64 * 1024, Math.floor(max / (2 * workers))) : Math.max(16 * MB, Math.floor((max - 200 * MB - workers * 60 * MB) / workers));
  const heapMb = Math.ceil((budgetBytes * 2.5) / MB) + 256;
  return new WorkerPool(workers, (id) => ({ id, tmpDir, partitions: workers, budgetBytes }), heapMb);
}

interface Joined {
  sources: Array<[QuerySource, Array<[string, number]>]>;
  union: UnionResult;
  wordnetSynsets: number;
}

/** WordNet, unigrams, bigrams and titles, in that order, each query once (select.ts). */
function joinSources(run: QuerygenRun, merged: MergedCounts, pv: PageviewTotals): Joined {
  let wordnetSynsets = 0;
  let wordnetEntries: Array<[string, number]> = [];
  if (run.wordnetDir) {
    try {
      const wn = readWordnet(run.wordnetDir, run.wordnetLemmas);
      wordnetSynsets = wn.synsets;
      wordnetEntries = [...wn.entries];
    } catch (err) {
      if (err instanceof WordnetFormatError) throw new InputError('querygen', err.file, `line ${err.line}: ${err.message}`);
      throw new InputError('querygen', run.wordnetDir, (err as Error).message);
    }
  }
  const titles = [...pv.titleViews].filter(([, v]) => v >= run.minViews).sort(byCountDesc);
  const sources: Array<[QuerySource, Array<[string, number]>]> = [
    ['wordnet', wordnetEntries],
    ['unigram', merged.unigrams],
    ['bigram', merged.bigrams.map(([k, c]) => [k, c] as [string, number])],
    ['title', titles],
  ];
  return { sources, union: unionQueries(sources, run.maxQueries, run.stopwords), wordnetSynsets };
}

function buildSummary(run: QuerygenRun, totals: ReadTotals, merged: MergedCounts, pv: PageviewTotals, joined: Joined, seconds: number): QuerygenSummary {
  const { union } = joined;
  const candidates = zeroBySource();
  for (const [s, e] of joined.sources) candidates[s] = e.length;
  return {
    out: run.out,
    summary_file: summaryPathFor(run.out),
    queries: union.rows.length,
    by_source: union.bySource,
    candidates,
    dropped: { duplicates: union.duplicates, punctuation: union.punctuation, max_queries: union.capped, stopwords: union.stopwords },
    tokens: totals.tokens,
    articles: totals.articles,
    pages: totals.pages,
    redirects: totals.redirects,
    other_namespaces: totals.otherNamespaces,
    xml_bytes: totals.xmlBytes,
    distinct_unigrams: merged.distinctUnigrams,
    distinct_bigrams: merged.distinctBigrams,
    bigram_candidates: merged.bigramCandidates,
    pageview_files: run.pageviews.length,
    pageview_lines: pv.lines,
    pageview_bad_lines: pv.bad,
    pageview_non_articles: pv.nonArticles,
    pageview_bad_examples: pv.examples,
    titles_seen: pv.titleViews.size,
    wordnet_synsets: joined.wordnetSynsets,
    workers: run.workers,
    bz2_decoder: run.decoder,
    spills: merged.spills,
    thresholds: {
      min_count: run.minCount,
      min_pmi: run.minPmi,
      min_bigram_count: run.minBigramCount,
      min_views: run.minViews,
      min_hourly_views: run.minHourlyViews,
      pageview_domains: run.pageviewDomains,
      wordnet_lemmas: run.wordnetLemmas,
      max_queries: run.maxQueries ?? null,
    },
    seconds,
    articles_per_sec: totals.articles / Math.max(seconds, 1e-3),
  };
}

/** Writes queries.tsv under a temporary name (util/atomic.ts), renamed when complete; streamed, as it can be large. */
async function writeTsvAtomic(out: string, rows: Array<{ query: string; source: string; count: number }>): Promise<void> {
  const tmp = tempPathFor(out);
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
    await renameIntoPlace(tmp, out);
  } catch (err) {
    ws.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}

export { SOURCES };
