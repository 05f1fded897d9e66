/**
 * Unigram and bigram counting of article text within a memory budget.
 *
 * Tokens are interned to ids (one Map lookup per token, which also finds the unigram's count slot);
 * bigrams are counted in an open-addressing hash table keyed by the id pair, held in typed arrays
 * (12 bytes a slot instead of ~100 for a Map entry with a string key, and no string is built per
 * bigram). When the estimated size reaches the budget, both are written to disk as sorted runs
 * (partitioned by key hash, see runs.ts) and cleared, so peak memory is the budget whatever the dump
 * size; the runs are summed by a k-way merge at the end.
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
import { RunWriter } from './runs.js';

/** Bytes per interned word besides its characters (string header, slots, count, hash). */
const WORD_OVERHEAD = 64;
/** Word ids must fit 24 bits for the sort keys of a spill. */
const MAX_WORDS = 12_000_000;
const ID_BITS = 2 ** 24;

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
  /** Budget in bytes for words and bigram table together. */
  budgetBytes: number;
}

/** See module doc. */
export class NgramCounter {
  /** Tokens counted (N). */
  tokens = 0;
  spills = 0;
  spilledEntries = 0;
  readonly files: SpillFiles;

  // interned words of the current window: open addressing over word hashes, looked up straight from
  // the text span (no substring is made for a word already seen: most tokens)
  private wcap = 1 << 14;
  private wslots = new Int32Array(this.wcap).fill(-1);
  private words: string[] = [];
  private wordHash = new Uint32Array(1024);
  private uniCount = new Float64Array(1024);
  private wordChars = 0;
  // bigram table: slot i holds (k1[i], k2[i]) with count cnt[i]; cnt 0 = empty
  private cap = 1 << 16;
  private k1 = new Int32Array(this.cap);
  private k2 = new Int32Array(this.cap);
  private cnt = new Uint32Array(this.cap);
  private used = 0;

  constructor(private readonly opts: CounterOptions) {
    this.files = {
      unigram: Array.from({ length: opts.partitions }, () => []),
      bigram: Array.from({ length: opts.partitions }, () => []),
    };
  }

  /** Distinct words and bigrams held now. */
  get held(): { words: number; bigrams: number } {
    return { words: this.words.length, bigrams: this.used };
  }

  /** Estimated bytes held now, plus what a spill would add (its sort keys). */
  get heldBytes(): number {
    return this.words.length * WORD_OVERHEAD + this.wordChars * 2 + this.cap * 12 + this.used * 8;
  }

  private intern(tok: string, h: number, slot: number): number {
    const id = this.words.length;
    this.wslots[slot] = id;
    this.words.push(tok);
    if (id >= this.uniCount.length) {
      const n = new Float64Array(this.uniCount.length * 2);
      n.set(this.uniCount);
      this.uniCount = n;
      const h = new Uint32Array(this.wordHash.length * 2);
      h.set(this.wordHash);
      this.wordHash = h;
    }
    this.wordHash[id] = h;
    this.wordChars += tok.length;
    if ((id + 1) * 2 > this.wcap) this.growWords();
    return id;
  }

  private growWords(): void {
    const ncap = this.wcap * 2;
    const mask = ncap - 1;
    const slots = new Int32Array(ncap).fill(-1);
    for (let id = 0; id < this.words.length; id++) {
      let s = this.wordHash[id]! & mask;
      while (slots[s] !== -1) s = (s + 1) & mask;
      slots[s] = id;
    }
    this.wslots = slots;
    this.wcap = ncap;
  }

  /**
   * Doubles the table unless that would break the budget (old and new tables coexist while
   * rehashing); then the table fills further until the text ends and addText spills.
   */
  private maybeGrow(): void {
    const words = this.words.length * WORD_OVERHEAD + this.wordChars * 2;
    if (words + this.cap * 36 <= this.opts.budgetBytes || this.used * 100 > this.cap * 95) this.grow();
    else this.full = true;
  }

  private full = false;

  private grow(): void {
    const { k1, k2, cnt, cap } = this;
    const ncap = cap * 2;
    const mask = ncap - 1;
    const n1 = new Int32Array(ncap);
    const n2 = new Int32Array(ncap);
    const nc = new Uint32Array(ncap);
    for (let i = 0; i < cap; i++) {
      const c = cnt[i]!;
      if (c === 0) continue;
      const a = k1[i]!;
      const b = k2[i]!;
      let s = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x632be5ab, 0x85ebca77)) & mask;
      while (nc[s] !== 0) s = (s + 1) & mask;
      n1[s] = a;
      n2[s] = b;
      nc[s] = c;
    }
    this.k1 = n1;
    this.k2 = n2;
    this.cnt = nc;
    this.cap = ncap;
  }

  /** Counts the tokens of plain text (lines as wikitextToText makes them). */
  addText(text: string): void {
    let prev = -1;
    let tokens = 0;
    const onToken = (s: number, e: number, isWord: boolean) => {
      tokens++;
      // FNV-1a of the span, finalised; it also picks the word's partition, so it must depend on
      // the text only (all workers agree)
      let h = 0x811c9dc5 | 0;
      for (let i = s; i < e; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
      h ^= h >>> 15;
      h >>>= 0;
      const wmask = this.wcap - 1;
      const wslots = this.wslots;
      const len = e - s;
      let slot = h & wmask;
      let id: number;
      for (;;) {
        id = wslots[slot]!;
        if (id === -1) {
          // V8 makes a slice of 13+ chars a view that keeps the whole article alive; copy it
          id = this.intern(len < 13 ? text.slice(s, e) : (' ' + text.slice(s, e)).slice(1), h, slot);
          break;
        }
        if (this.wordHash[id] === h) {
          const w = this.words[id]!;
          if (w.length === len) {
            let k = 0;
            while (k < len && w.charCodeAt(k) === text.charCodeAt(s + k)) k++;
            if (k === len) break;
          }
        }
        slot = (slot + 1) & wmask;
      }
      this.uniCount[id]!++;
      if (!isWord) {
        prev = -1;
        return;
      }
      if (prev >= 0) {
        const mask = this.cap - 1;
        const k1 = this.k1;
        const k2 = this.k2;
        const cnt = this.cnt;
        let slot = (Math.imul(prev, 0x9e3779b1) ^ Math.imul(id + 0x632be5ab, 0x85ebca77)) & mask;
        for (;;) {
          const c = cnt[slot]!;
          if (c === 0) {
            k1[slot] = prev;
            k2[slot] = id;
            cnt[slot] = 1;
            if (++this.used * 10 > this.cap * 6) this.maybeGrow();
            break;
          }
          if (k1[slot] === prev && k2[slot] === id) {
            cnt[slot] = c + 1;
            break;
          }
          slot = (slot + 1) & mask;
        }
      }
      prev = id;
    };
    forEachTextLine(text, (_t, from, to) => {
      prev = -1;
      scanTokens(text, onToken, from, to);
    });
    this.tokens += tokens;
    // counts are Uint32: spill long before one could overflow
    if (this.full || this.heldBytes > this.opts.budgetBytes || this.words.length > MAX_WORDS || this.windowTokens(tokens) > 2 ** 31) this.spill();
  }

  private window = 0;
  private windowTokens(n: number): number {
    return (this.window += n);
  }

  /**
   * Writes the words and bigrams held to sorted runs and clears them (no-op when empty).
   * Bigram keys "x y" sort like the pair (x, y) because word tokens hold no character <= ' ', so the
   * pairs are sorted by the ranks of their words with a native numeric sort, not as strings.
   */
  spill(): void {
    const nWords = this.words.length;
    if (nWords === 0) return;
    const n = this.spills++;
    const { dir, prefix, partitions } = this.opts;
    const words = this.words;
    const byRank = Array.from({ length: nWords }, (_, i) => i);
    byRank.sort((a, b) => (words[a]! < words[b]! ? -1 : words[a]! > words[b]! ? 1 : 0));
    const rank = new Int32Array(nWords);
    for (let r = 0; r < nWords; r++) rank[byRank[r]!] = r;
    const open = (kind: string) =>
      Array.from({ length: partitions }, (_, p) => new RunWriter(join(dir, `${prefix}-${kind}-s${n}-p${p}.run`)));

    const uw = open('uni');
    for (let r = 0; r < nWords; r++) {
      const id = byRank[r]!;
      uw[partitions === 1 ? 0 : this.wordHash[id]! % partitions]!.add(words[id]!, this.uniCount[id]!);
    }
    uw.forEach((w, p) => {
      w.close();
      this.files.unigram[p]!.push(w.path);
    });
    this.spilledEntries += nWords;

    if (this.used > 0) {
      const keys = new Float64Array(this.used);
      let j = 0;
      const { k1, k2, cnt, cap } = this;
      for (let i = 0; i < cap; i++) if (cnt[i] !== 0) keys[j++] = rank[k1[i]!]! * ID_BITS + rank[k2[i]!]!;
      keys.sort();
      // counts by sorted position: look each pair up again (cheaper than sorting a permutation)
      const bw = open('bi');
      const mask = cap - 1;
      for (let q = 0; q < keys.length; q++) {
        const key = keys[q]!;
        const a = byRank[Math.floor(key / ID_BITS)]!;
        const b = byRank[key % ID_BITS]!;
        let slot = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x632be5ab, 0x85ebca77)) & mask;
        while (k1[slot] !== a || k2[slot] !== b) slot = (slot + 1) & mask;
        const part = partitions === 1 ? 0 : ((Math.imul(this.wordHash[a]!, 31) + this.wordHash[b]!) >>> 0) % partitions;
        bw[part]!.add(`${words[a]} ${words[b]}`, cnt[slot]!);
      }
      bw.forEach((w, p) => {
        w.close();
        this.files.bigram[p]!.push(w.path);
      });
      this.spilledEntries += this.used;
    }
    this.reset();
  }

  private reset(): void {
    this.wcap = 1 << 14;
    this.wslots = new Int32Array(this.wcap).fill(-1);
    this.words = [];
    this.wordHash = new Uint32Array(1024);
    this.uniCount = new Float64Array(1024);
    this.wordChars = 0;
    this.cap = 1 << 16;
    this.k1 = new Int32Array(this.cap);
    this.k2 = new Int32Array(this.cap);
    this.cnt = new Uint32Array(this.cap);
    this.used = 0;
    this.window = 0;
    this.full = false;
  }
}
