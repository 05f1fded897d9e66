/**
 * querygen's options, declared once (docs/ARCHITECTURE.md, "Options"): the CLI flags, --help, the
 * library's option type and the validation all come from QUERYGEN_OPTIONS. `resolveQuerygen` turns
 * what a caller gave into the settings of one run (absolute paths, the memory budget in bytes, the
 * bz2 decoder found on this machine), checking the inputs exist before anything is written.
 */
import { existsSync, statSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { InputError, UsageError } from '../util/errors.js';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { resolveBz2Decoder } from './input.js';
import { defaultWordnetDir } from './wordnet.js';
import { readInputTextSync } from '../util/input.js';
import { canonicalText, normalizeWhitespace } from '../text/tokenize.js';

export const QUERYGEN_OPTIONS = defineOptions({
  wiki: { type: 'string[]', help: 'MediaWiki XML dumps (.xml, .xml.bz2, multistream .xml.bz2, .xml.gz)', metavar: 'DUMP…' },
  wikiIndex: { type: 'string[]', help: 'multistream index per dump, same order (default: found beside the dump)', metavar: 'FILE…' },
  pageviews: { type: 'string[]', help: 'hourly pageview files pageviews-YYYYMMDD-HH0000(.gz|.bz2)', metavar: 'FILE…' },
  wordnet: { type: 'string', help: "WordNet database dir (data.noun …), or 'none' (default: bundled WordNet 3.1)", metavar: 'DIR' },
  out: { type: 'string', required: true, help: 'output TSV; the JSON summary goes beside it (x.tsv -> x.summary.json)', metavar: 'FILE' },
  minCount: { type: 'int', default: 100, min: 1, help: 'minimum count of a unigram' },
  minPmi: { type: 'number', default: 30, help: 'minimum PMI of a bigram, log2(N·c(xy)/(c(x)·c(y)))' },
  /**
   * PMI >= 30 on a full English Wikipedia (N ~ 4-5e9 tokens) can only be reached by pairs whose words
   * are each seen at most N/2^30 ~ 4 times (see maxPairedCount): the bigram source is, by construction,
   * rare words that always occur together (names, foreign terms). Among those, pairs seen once are
   * dominated by one-off typos and markup residue, and there are millions of them; requiring two
   * occurrences keeps the pairs a second article confirms, roughly 100k on enwiki by a Zipf estimate
   * (~2.5M word types seen twice, a few percent of them always next to the same other rare word,
   * plus the (2,3), (3,3) and (4,4) pairs), the size MetaCLIP's bigram source had.
   */
  minBigramCount: { type: 'int', default: 2, min: 1, help: 'minimum count of a bigram (pairs seen once are mostly typos; see README)' },
  minViews: { type: 'int', default: 70, min: 0, help: 'minimum summed pageviews of a title' },
  minHourlyViews: { type: 'int', default: 50, min: 0, help: 'hourly counts under this are ignored' },
  pageviewDomains: { type: 'string[]', default: ['en'], help: "domain codes counted ('en' desktop, 'en.m' mobile)", metavar: 'CODE…' },
  wordnetLemmas: { type: 'string', default: 'head', choices: ['head', 'all'], help: 'WordNet entries: each synset head word, or all lemmas' },
  maxQueries: { type: 'int', min: 1, help: 'cap on the number of queries (drops the tail of the union)' },
  stopwords: {
    type: 'string', default: 'none', metavar: 'FILE|none',
    help: "queries dropped as stopwords: none (CLIP's and MetaCLIP's lists keep every word over the count threshold, 'the' and 'of' included), or a file of words or phrases, one a line, compared as the crawl matches (case-sensitive)",
  },
  workers: { type: 'int', min: 1, max: 1024, help: 'worker threads (default: available cores)' },
  maxMemory: { type: 'string', help: 'memory budget for counting, e.g. 4G, 512M (default: min(3G, 60% of RAM))', metavar: 'SIZE' },
  bz2Decoder: { type: 'string', default: 'auto', choices: ['auto', 'lbzip2', 'bzip2', 'js'], help: 'bz2 decoder: auto = lbzip2, else bzip2, else pure JS' },
  tmpDir: { type: 'string', help: 'directory for spilled counts (default: hidden dir beside --out; removed at the end)', metavar: 'DIR' },
});

/** Options of querygen(): the schema's options, plus progress lines and an abort signal. */
export type QuerygenOptions = OptionsInput<typeof QUERYGEN_OPTIONS> & {
  /** Status lines (articles/s, MB/s, ETA). */
  onProgress?: (line: string) => void;
  /** Aborts the run (the output is then not written). */
  signal?: AbortSignal;
};

/** The thresholds of a run, as the summary reports them. */
export interface Thresholds {
  minCount: number;
  minPmi: number;
  minBigramCount: number;
  minViews: number;
  minHourlyViews: number;
  pageviewDomains: string[];
  wordnetLemmas: 'head' | 'all';
  maxQueries: number | undefined;
  /** Canonical forms (canonicalText) dropped from the query list; empty: none (CLIP's definition). */
  stopwords: ReadonlySet<string>;
}

/** One run's settings, after defaults and checks. */
export interface QuerygenRun extends Thresholds {
  wiki: string[];
  /** Explicit index per dump (undefined entries: found beside the dump). */
  wikiIndex: Array<string | undefined>;
  pageviews: string[];
  out: string;
  /** undefined: WordNet left out. */
  wordnetDir: string | undefined;
  workers: number;
  maxMemoryBytes: number;
  decoder: 'lbzip2' | 'bzip2' | 'js';
  tmpDir: string | undefined;
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

function checkFile(f: string, what: string): void {
  let st;
  try {
    st = statSync(f);
  } catch {
    throw new InputError('querygen', f, `${what} not found`);
  }
  if (!st.isFile()) throw new InputError('querygen', f, `${what} is not a file`);
}

/**
 * Validates `input` against the schema and the files it names. Throws UsageError (exit 2) for a bad
 * option and InputError (exit 2) for a missing file; writes nothing.
 */
export function resolveQuerygen(input: QuerygenOptions): QuerygenRun {
  const o = resolveOptions('querygen', QUERYGEN_OPTIONS, input);
  const wiki = (o.wiki ?? []).map((f) => resolve(f));
  const pageviews = (o.pageviews ?? []).map((f) => resolve(f));
  if (wiki.length === 0 && pageviews.length === 0) {
    throw new UsageError('querygen', 'nothing to count: give --wiki DUMP… and/or --pageviews FILE…');
  }
  if (o.pageviewDomains.length === 0) throw new UsageError('querygen', '--pageview-domains needs at least one domain code');
  const wikiIndex = o.wikiIndex ?? [];
  if (wikiIndex.length > 0 && wikiIndex.length !== wiki.length) {
    throw new UsageError('querygen', `--wiki-index needs one index per --wiki dump (${wiki.length}), got ${wikiIndex.length}`);
  }
  let decoder: 'lbzip2' | 'bzip2' | 'js';
  try {
    decoder = resolveBz2Decoder(o.bz2Decoder);
  } catch (err) {
    throw new UsageError('querygen', (err as Error).message);
  }
  const maxMemoryBytes = parseMemory(o.maxMemory ?? Math.min(3 * 2 ** 30, Math.floor(totalmem() * 0.6)));
  for (const f of wiki) checkFile(f, 'wiki dump');
  for (const f of pageviews) checkFile(f, 'pageview file');
  const wordnetDir = o.wordnet === 'none' ? undefined : o.wordnet ? resolve(o.wordnet) : defaultWordnetDir();
  if (wordnetDir && !existsSync(wordnetDir)) throw new InputError('querygen', wordnetDir, 'WordNet directory not found');
  return {
    wiki,
    wikiIndex: wiki.map((_, i) => (wikiIndex[i] ? resolve(wikiIndex[i]!) : undefined)),
    pageviews,
    out: resolve(o.out),
    wordnetDir,
    workers: o.workers ?? availableParallelism(),
    maxMemoryBytes,
    decoder,
    tmpDir: o.tmpDir,
    minCount: o.minCount,
    minPmi: o.minPmi,
    minBigramCount: o.minBigramCount,
    minViews: o.minViews,
    minHourlyViews: o.minHourlyViews,
    pageviewDomains: o.pageviewDomains,
    wordnetLemmas: o.wordnetLemmas,
    maxQueries: o.maxQueries,
    stopwords: o.stopwords === 'none' ? new Set<string>() : readStopwords(resolve(o.stopwords)),
  };
}

/**
 * A stopword file: one word or phrase a line (blank lines and `#` comments skipped), in the canonical
 * form the query union compares (canonicalText). Throws InputError naming the file when it cannot be
 * read or holds no word.
 */
export function readStopwords(file: string): Set<string> {
  const text = readInputTextSync(file, { kind: 'text', stage: 'querygen' });
  const words = new Set(text.split(/\r?\n/).map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean).map((w) => canonicalText(normalizeWhitespace(w))).filter(Boolean));
  if (!words.size) throw new InputError('querygen', file, "stopword file holds no word (give --stopwords none to keep every query)");
  return words;
}
