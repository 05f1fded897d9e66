/**
 * From counts to the query list: thresholds, PMI, the union of the four sources and its cap.
 */
import { canonicalText, isPunctuationToken, normalizeWhitespace } from '../text/tokenize.js';

export type QuerySource = 'wordnet' | 'unigram' | 'bigram' | 'title';
export const SOURCES: readonly QuerySource[] = ['wordnet', 'unigram', 'bigram', 'title'];

/** One line of queries.tsv. */
export interface QueryRow {
  query: string;
  source: QuerySource;
  /** wordnet: synsets it names; unigram/bigram: occurrences in the dump; title: summed views. */
  count: number;
}

/**
 * Pointwise mutual information of a bigram as NLTK's BigramAssocMeasures.pmi computes it:
 * log2(n_ii * n_xxx) - log2(n_ix * n_xi), i.e. log2(N·c(xy) / (c(x)·c(y))).
 */
export function pmi(cxy: number, cx: number, cy: number, n: number): number {
  return Math.log2(cxy * n) - Math.log2(cx * cy);
}

/**
 * Largest unigram count a word of a bigram can have and still give PMI >= minPmi:
 * since c(y) >= c(xy), PMI >= m implies c(x) <= N·c(xy)/(2^m·c(y)) <= N / 2^m (same for y), and
 * c(xy) <= c(x) bounds the bigram count the same way. Everything above it can be skipped.
 */
export function maxPairedCount(n: number, minPmi: number): number {
  return Math.floor(n / Math.pow(2, minPmi));
}

/** Counts per source, for the summary. */
export type BySource = Record<QuerySource, number>;

/** A per-source tally with every source at 0. */
export function zeroBySource(): BySource {
  return { wordnet: 0, unigram: 0, bigram: 0, title: 0 };
}

/**
 * Control characters (C0, DEL, C1: a tab or newline would split queries.tsv's columns and rows, ESC
 * starts terminal sequences) become spaces; the invisible bidirectional and line-separator
 * characters, which reorder or hide text wherever the query is shown, go. Titles and words come from
 * dumps and pageview files anyone can write.
 */
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const BIDI_CHARS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `s` without control and bidirectional characters (see CONTROL_CHARS). */
export function withoutControls(s: string): string {
  return s.replace(CONTROL_CHARS, ' ').replace(BIDI_CHARS, '');
}

export interface UnionResult {
  rows: QueryRow[];
  bySource: BySource;
  /** Candidates dropped because an earlier entry had the same canonical form. */
  duplicates: BySource;
  /** Candidates dropped as empty or a single punctuation character. */
  punctuation: BySource;
  /** Candidates dropped by the --max-queries cap. */
  capped: BySource;
  /** Candidates dropped as stopwords (--stopwords FILE). */
  stopwords: BySource;
}

/**
 * Union of the sources in the order given (wordnet -> unigram -> bigram -> title), each query once:
 * a query whose canonical token form (canonicalText, what the crawl matches) was already given by an
 * earlier entry is a duplicate. Empty and single-punctuation entries are dropped (as MetaCLIP), and
 * with `stopwords` (canonical forms) the entries that are one; by default none is (CLIP's list is
 * every word over the count threshold, stopwords included).
 * With `maxQueries`, entries are taken in that order until the cap, so what is dropped is the tail:
 * the titles with the fewest views first, then bigrams with the lowest PMI, and so on (each source
 * must come sorted best first).
 */
export function unionQueries(sources: Array<[QuerySource, Array<[string, number]>]>, maxQueries?: number, stopwords: ReadonlySet<string> = new Set()): UnionResult {
  const seen = new Set<string>();
  const res: UnionResult = { rows: [], bySource: zeroBySource(), duplicates: zeroBySource(), punctuation: zeroBySource(), capped: zeroBySource(), stopwords: zeroBySource() };
  const cap = maxQueries ?? Infinity;
  for (const [source, entries] of sources) {
    for (const [raw, count] of entries) {
      const query = normalizeWhitespace(withoutControls(raw));
      const canon = canonicalText(query);
      if (canon.length === 0 || (canon.indexOf(' ') < 0 && isPunctuationToken(canon))) {
        res.punctuation[source]++;
        continue;
      }
      if (stopwords.has(canon)) {
        res.stopwords[source]++;
        continue;
      }
      if (seen.has(canon)) {
        res.duplicates[source]++;
        continue;
      }
      if (res.rows.length >= cap) {
        res.capped[source]++;
        continue;
      }
      seen.add(canon);
      res.rows.push({ query, source, count });
      res.bySource[source]++;
    }
  }
  return res;
}

/** Sorts [key, count] pairs by count descending, then key (deterministic whatever the input order). */
export function byCountDesc(a: [string, number], b: [string, number]): number {
  return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}
