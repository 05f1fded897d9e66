/**
 * Unigram and bigram counting of article text within a memory budget.
 *
 * Counts live in two Maps until their estimated size reaches the budget, then both are written to
 * disk as sorted runs (partitioned by key hash, see runs.ts) and cleared. Peak memory is therefore the
 * budget whatever the dump size; the runs are summed by a k-way merge at the end.
 *
 * What is counted (and why):
 * - every token of every line (tokenize.ts), punctuation included: N, the token total of PMI, is the
 *   length of the token stream as NLTK's finder sees it;
 * - a bigram is two adjacent word tokens on the same line: a pair with a punctuation token can never
 *   be a useful query, and a pair across a paragraph or article break is not a collocation (and would
 *   make the counts depend on how the dump is split between workers);
 * - case is kept: "Apple" and "apple" are different keys, because the crawl matches case-sensitively.
 */
import { join } from 'node:path';
import { scanTokens } from '../text/tokenize.js';
import { forEachTextLine } from './wikitext.js';
import { spillMap } from './runs.js';

/** Rough bytes per Map entry (hash table slot, entry, key string header + chars, heap number). */
const ENTRY_OVERHEAD = 80;
/** V8 Maps cannot hold more than 2^24 entries; spill well before. */
const MAX_ENTRIES = 12_000_000;

/** Files a counter wrote: runs per partition. */
export interface SpillFiles {
  unigram: string[][];
  bigram: string[][];
}

export interface CounterOptions {
  /** Directory for run files. */
  dir: string;
  /** Prefix of this counter's run files (unique per worker). */
  prefix: string;
  /** Partitions of every spill (= merge parallelism). */
  partitions: number;
  /** Budget in bytes for both maps together. */
  budgetBytes: number;
  /** Count bigrams at all (off when only unigrams are wanted). */
  bigrams?: boolean;
}

/** See module doc. */
export class NgramCounter {
  readonly uni = new Map<string, number>();
  readonly bi = new Map<string, number>();
  /** Tokens counted (N). */
  tokens = 0;
  /** Estimated bytes held by the maps. */
  private estBytes = 0;
  spills = 0;
  spilledEntries = 0;
  readonly files: SpillFiles;
  private readonly countBigrams: boolean;

  constructor(private readonly opts: CounterOptions) {
    this.files = {
      unigram: Array.from({ length: opts.partitions }, () => []),
      bigram: Array.from({ length: opts.partitions }, () => []),
    };
    this.countBigrams = opts.bigrams !== false;
  }

  /** Counts the tokens of plain text (lines as wikitextToText makes them). */
  addText(text: string): void {
    const uni = this.uni;
    const bi = this.bi;
    const countBigrams = this.countBigrams;
    let prev: string | null = null;
    let added = 0;
    let tokens = 0;
    const onToken = (s: number, e: number, isWord: boolean) => {
      const tok = text.slice(s, e);
      tokens++;
      const u = uni.get(tok);
      if (u === undefined) {
        uni.set(tok, 1);
        added += tok.length * 2 + ENTRY_OVERHEAD;
      } else uni.set(tok, u + 1);
      if (!isWord) {
        prev = null;
        return;
      }
      if (prev !== null && countBigrams) {
        const key = prev + ' ' + tok;
        const b = bi.get(key);
        if (b === undefined) {
          bi.set(key, 1);
          added += key.length * 2 + ENTRY_OVERHEAD;
        } else bi.set(key, b + 1);
      }
      prev = tok;
    };
    forEachTextLine(text, (_t, from, to) => {
      prev = null;
      scanTokens(text, onToken, from, to);
    });
    this.tokens += tokens;
    this.estBytes += added;
    if (this.estBytes > this.opts.budgetBytes || uni.size > MAX_ENTRIES || bi.size > MAX_ENTRIES) this.spill();
  }

  /** Estimated bytes held now. */
  get heldBytes(): number {
    return this.estBytes;
  }

  /** Writes both maps to sorted runs and clears them (no-op when empty). */
  spill(): void {
    const n = this.spills++;
    const { dir, prefix, partitions } = this.opts;
    const paths = (kind: string) => Array.from({ length: partitions }, (_, p) => join(dir, `${prefix}-${kind}-s${n}-p${p}.run`));
    if (this.uni.size > 0) {
      const ps = paths('uni');
      spillMap(this.uni, ps);
      ps.forEach((p, i) => this.files.unigram[i]!.push(p));
      this.spilledEntries += this.uni.size;
      this.uni.clear();
    }
    if (this.bi.size > 0) {
      const ps = paths('bi');
      spillMap(this.bi, ps);
      ps.forEach((p, i) => this.files.bigram[i]!.push(p));
      this.spilledEntries += this.bi.size;
      this.bi.clear();
    }
    this.estBytes = 0;
  }
}
