import { InputError, UsageError } from '../util/errors.js';
import { readInputText } from '../util/input.js';
import { CLIP_EOT, CLIP_SOT, clipCleanText, clipWords } from '../text/clip-clean.js';

/**
 * Byte-level BPE in the manner of CLIP's tokenizer: text is cleaned and split into words, each word
 * becomes its UTF-8 bytes with the last byte marked end-of-word (so 512 base symbols cover any
 * Unicode input), and merges learned from the training captions build larger units. Ids: 0 [PAD],
 * 1 [SOS], 2 [EOS], then the 512 base symbols, then one id per merge in rank order.
 *
 * Cleaning and splitting depend on tokenizer.json's `version`:
 *  - 2 (what `wit train` writes): exactly open_clip 3.3's (src/text/clip-clean.ts: ftfy.fix_text,
 *    html.unescape twice, whitespace collapse, lowercase; its pattern, `<start_of_text>` and
 *    `<end_of_text>` in a caption becoming [SOS] and [EOS]). With the exported vocabulary
 *    (src/model/wit-bpe-export.ts) open_clip's own tokenizer then gives the same ids for any string.
 *  - 1 (models trained before): NFC, lowercase, whitespace collapse, the same pattern without the
 *    special tokens. Still read and run as trained; an export of one says which captions differ.
 *
 * Why BPE trained on the captions rather than CLIP's 49k English vocabulary: nothing may be
 * downloaded at run time, and a vocabulary sized to the corpus keeps the tiny models' embedding
 * tables small while never producing an unknown token.
 */

export const PAD_ID = 0;
export const SOS_ID = 1;
export const EOS_ID = 2;
const SPECIALS = 3;
const BASE = 512;

/** Version 1's split: contractions, runs of letters, single digits, runs of other non-space. */
const WORD_RE = /'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu;

/**
 * What the text encoder's callers need from a tokenizer: fixed-length id rows and where the pooled
 * token is. Implemented by wit's own BPE (BpeTokenizer) and CLIP's (ClipTokenizer, imported models);
 * config.json of a model dir says which one tokenizer.json holds.
 */
export interface TextTokenizer {
  readonly kind: 'wit-byte-bpe' | 'clip-bpe';
  readonly contextLength: number;
  readonly vocabSize: number;
  encode(text: string): { ids: Int32Array; eos: number };
  encodeBatch(texts: readonly string[]): { ids: Int32Array; eos: Int32Array };
  toJSON(): object;
}

/** Characters kept per token of context before tokenizing (far above any token's length). */
export const CHARS_PER_TOKEN = 64;

/**
 * `text` cut before tokenizing, so that a 40 MB caption costs what a normal one does (the BPE would
 * otherwise run on all of it and then keep contextLength tokens): texts longer than
 * contextLength x CHARS_PER_TOKEN characters (4,928 for 77 tokens) are cut at the last whitespace
 * before that length, so the words kept are whole and tokenize as they did; only a text whose first
 * contextLength tokens span more than that could differ (docs/ARCHITECTURE.md, "Reading inputs").
 */
export function truncateForTokenizer(text: string, contextLength: number): string {
  const max = contextLength * CHARS_PER_TOKEN;
  if (text.length <= max) return text;
  let t = text.trimStart();
  if (t.length <= max) return t;
  t = t.slice(0, max);
  const ws = t.search(/\s\S*$/);
  return ws > 0 ? t.slice(0, ws) : t;
}

/**
 * A batch through `tok.encode`: ids [n, contextLength] flattened, eos positions [n]. The one batch
 * encoder both tokenizers use; each text is cut by truncateForTokenizer first.
 */
export function encodeRows(tok: Pick<TextTokenizer, 'contextLength' | 'encode'>, texts: readonly string[]): { ids: Int32Array; eos: Int32Array } {
  const ids = new Int32Array(texts.length * tok.contextLength);
  const eos = new Int32Array(texts.length);
  texts.forEach((t, i) => {
    const r = tok.encode(truncateForTokenizer(t, tok.contextLength));
    ids.set(r.ids, i * tok.contextLength);
    eos[i] = r.eos;
  });
  return { ids, eos };
}

/** The cleaning and split a tokenizer applies (see the module comment); new tokenizers get the latest. */
export type TokenizerVersion = 1 | 2;
export const TOKENIZER_VERSION: TokenizerVersion = 2;

/** What tokenizer.json holds. */
export interface TokenizerJson {
  type: 'wit-byte-bpe';
  version: TokenizerVersion;
  /** Merges in rank order, each as the two symbol ids it joins. */
  merges: Array<[number, number]>;
  contextLength: number;
}

/** Version 1's canonical form: NFC, lowercase, single spaces (also eval's key for a class label). */
export function cleanText(text: string): string {
  return text.normalize('NFC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * Words of `text` as the tokenizer of `version` cleans and splits it; in version 2 these are
 * open_clip's pieces, CLIP_SOT / CLIP_EOT included (they become [SOS] / [EOS], never BPE).
 */
export function preTokenize(text: string, version: TokenizerVersion = TOKENIZER_VERSION): string[] {
  if (version === 1) return cleanText(text).match(WORD_RE) ?? [];
  return clipWords(clipCleanText(text));
}

const encoder = new TextEncoder();

/** Base symbol ids of one word: its UTF-8 bytes, the last one in its end-of-word form. */
function baseSymbols(word: string): number[] {
  const bytes = encoder.encode(word);
  const out = new Array<number>(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = SPECIALS + bytes[i]! + (i === bytes.length - 1 ? 256 : 0);
  return out;
}

const pairKey = (a: number, b: number): number => a * 1048576 + b;

/** A trained tokenizer: encode text to fixed-length id rows for the text encoder. */
export class BpeTokenizer implements TextTokenizer {
  readonly kind = 'wit-byte-bpe' as const;
  private readonly ranks = new Map<number, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(readonly merges: ReadonlyArray<readonly [number, number]>, readonly contextLength: number, readonly version: TokenizerVersion = TOKENIZER_VERSION) {
    if (!Number.isInteger(contextLength) || contextLength < 3) throw new UsageError('train', `tokenizer context length must be an integer >= 3, got ${contextLength}`);
    merges.forEach(([a, b], i) => this.ranks.set(pairKey(a, b), i));
  }

  /** Number of ids (embedding rows the text encoder needs). */
  get vocabSize(): number {
    return SPECIALS + BASE + this.merges.length;
  }

  /** Token ids of one word after applying merges by rank (lowest first), cached. */
  private encodeWord(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let syms = baseSymbols(word);
    while (syms.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < syms.length - 1; i++) {
        const r = this.ranks.get(pairKey(syms[i]!, syms[i + 1]!));
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) break;
      const [a, b] = this.merges[bestRank]!;
      const id = SPECIALS + BASE + bestRank;
      const next: number[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i < syms.length - 1 && syms[i] === a && syms[i + 1] === b) { next.push(id); i++; } else next.push(syms[i]!);
      }
      syms = next;
    }
    if (this.cache.size < 100_000) this.cache.set(word, syms);
    return syms;
  }

  /** Token ids of text without the row's own [SOS]/[EOS] or padding (version 2: a caption's `<end_of_text>` is an [EOS] here). */
  encodeIds(text: string): number[] {
    const out: number[] = [];
    for (const w of preTokenize(text, this.version)) {
      if (this.version >= 2 && w === CLIP_SOT) out.push(SOS_ID);
      else if (this.version >= 2 && w === CLIP_EOT) out.push(EOS_ID);
      else out.push(...this.encodeWord(w));
    }
    return out;
  }

  /**
   * Fixed-length row: [SOS] ids… [EOS] then [PAD]s, truncated so that [EOS] always fits (as CLIP
   * does). Returns the ids and the position of the first [EOS], whose activation is the text
   * feature (open_clip pools at the argmax id, its first [EOT], also when a caption holds one).
   */
  encode(text: string): { ids: Int32Array; eos: number } {
    const ids = new Int32Array(this.contextLength);
    const body = this.encodeIds(text).slice(0, this.contextLength - 2);
    ids[0] = SOS_ID;
    ids.set(body, 1);
    ids[body.length + 1] = EOS_ID;
    return { ids, eos: ids.indexOf(EOS_ID) };
  }

  /** Batch of rows: ids [n, contextLength] flattened, eos positions [n]. */
  encodeBatch(texts: readonly string[]): { ids: Int32Array; eos: Int32Array } {
    return encodeRows(this, texts);
  }

  /** Text of ids (lossless up to cleanText for ids that encode whole words). */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    const expand = (id: number): void => {
      if (id < SPECIALS) return;
      if (id < SPECIALS + BASE) {
        const b = id - SPECIALS;
        bytes.push(b & 255);
        if (b >= 256) bytes.push(0x20);
        return;
      }
      const m = this.merges[id - SPECIALS - BASE];
      if (!m) throw new Error(`tokenizer: id ${id} out of range`);
      expand(m[0]);
      expand(m[1]);
    };
    for (let i = 0; i < ids.length; i++) expand(ids[i]!);
    return new TextDecoder().decode(new Uint8Array(bytes)).trim();
  }

  toJSON(): TokenizerJson {
    return { type: 'wit-byte-bpe', version: this.version, merges: this.merges.map(([a, b]) => [a, b]), contextLength: this.contextLength };
  }

  /** Rebuilds a tokenizer from its JSON; throws InputError naming `file` when it is malformed. */
  static fromJSON(json: unknown, file = 'tokenizer.json'): BpeTokenizer {
    const j = json as Partial<TokenizerJson> | null;
    if (!j || j.type !== 'wit-byte-bpe' || !Array.isArray(j.merges) || typeof j.contextLength !== 'number') {
      throw new InputError('train', file, 'not a wit tokenizer (expected type "wit-byte-bpe", merges, contextLength)');
    }
    // A file without a version predates the field: version 1's cleaning, as it was trained.
    const version = j.version ?? 1;
    if (version !== 1 && version !== 2) throw new InputError('train', file, `tokenizer version ${JSON.stringify(version)} is not supported (1 or 2; a newer wit wrote it?)`);
    const merges = j.merges as Array<[number, number]>;
    merges.forEach((m, i) => {
      const limit = SPECIALS + BASE + i;
      if (!Array.isArray(m) || m.length !== 2 || !m.every((x) => Number.isInteger(x) && x >= SPECIALS && x < limit)) {
        throw new InputError('train', file, `merge ${i} is invalid: ${JSON.stringify(m)}`);
      }
    });
    return new BpeTokenizer(merges, j.contextLength, version);
  }

  /** Reads tokenizer.json; throws InputError when missing or malformed. */
  static async load(file: string): Promise<BpeTokenizer> {
    const text = await readInputText(file, { kind: 'vocab', stage: 'train' });
    try {
      return BpeTokenizer.fromJSON(JSON.parse(text), file);
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError('train', file, `tokenizer is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Max-heap of (count, key) with lazy deletion: stale entries are skipped when popped. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number { return this.keys.length; }
  private better(i: number, j: number): boolean {
    // Ties go to the smaller key so that training is deterministic.
    return this.counts[i]! > this.counts[j]! || (this.counts[i] === this.counts[j] && this.keys[i]! < this.keys[j]!);
  }
  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!];
    [this.keys[i], this.keys[j]] = [this.keys[j]!, this.keys[i]!];
  }
  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): { count: number; key: number } | undefined {
    if (!this.keys.length) return undefined;
    const top = { count: this.counts[0]!, key: this.keys[0]! };
    const lc = this.counts.pop()!;
    const lk = this.keys.pop()!;
    if (this.keys.length) {
      this.counts[0] = lc;
      this.keys[0] = lk;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.keys.length && this.better(l, m)) m = l;
        if (r < this.keys.length && this.better(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/** Options for training the BPE. */
export interface TrainTokenizerOptions {
  /** Total ids wanted, specials and 512 base symbols included (merges = vocabSize - 515). */
  vocabSize: number;
  contextLength: number;
  /** A pair must occur at least this often to be merged (default 2). */
  minPairCount?: number;
  /** Cleaning and split to learn and encode with (default TOKENIZER_VERSION; 1 only to reproduce old models). */
  version?: TokenizerVersion;
}

/**
 * Learns BPE merges from texts (any iterable; the caller bounds how many). Stops at vocabSize or
 * when no pair occurs minPairCount times. Deterministic: ties broken by symbol ids.
 * Throws UsageError when vocabSize leaves no room for the base symbols.
 */
export function trainTokenizer(texts: Iterable<string>, opts: TrainTokenizerOptions): BpeTokenizer {
  if (opts.vocabSize < SPECIALS + BASE) throw new UsageError('train', `vocab size must be >= ${SPECIALS + BASE} (3 specials + 512 byte symbols), got ${opts.vocabSize}`);
  const version = opts.version ?? TOKENIZER_VERSION;
  const freq = new Map<string, number>();
  for (const t of texts) {
    for (const w of preTokenize(t, version)) if (version === 1 || (w !== CLIP_SOT && w !== CLIP_EOT)) freq.set(w, (freq.get(w) ?? 0) + 1);
  }
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of [...freq].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    words.push(baseSymbols(w));
    counts.push(c);
  }
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addWord = (wi: number, sign: 1 | -1): Set<number> => {
    const s = words[wi]!;
    const touched = new Set<number>();
    for (let i = 0; i < s.length - 1; i++) {
      const k = pairKey(s[i]!, s[i + 1]!);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * counts[wi]!);
      touched.add(k);
      if (sign > 0) {
        let ws = pairWords.get(k);
        if (!ws) pairWords.set(k, (ws = new Set()));
        ws.add(wi);
      }
    }
    return touched;
  };
  for (let wi = 0; wi < words.length; wi++) addWord(wi, 1);
  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, k);
  const minCount = opts.minPairCount ?? 2;
  const merges: Array<[number, number]> = [];
  const maxMerges = opts.vocabSize - SPECIALS - BASE;
  while (merges.length < maxMerges) {
    const top = heap.pop();
    if (!top) break;
    if (pairCount.get(top.key) !== top.count) continue; // stale
    if (top.count < minCount) break;
    const a = Math.floor(top.key / 1048576);
    const b = top.key % 1048576;
    const id = SPECIALS + BASE + merges.length;
    merges.push([a, b]);
    const changed = new Set<number>();
    for (const wi of pairWords.get(top.key) ?? []) {
      const s = words[wi]!;
      let has = false;
      for (let i = 0; i < s.length - 1; i++) if (s[i] === a && s[i + 1] === b) { has = true; break; }
      if (!has) continue;
      for (const k of addWord(wi, -1)) changed.add(k);
      const next: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i < s.length - 1 && s[i] === a && s[i + 1] === b) { next.push(id); i++; } else next.push(s[i]!);
      }
      words[wi] = next;
      for (const k of addWord(wi, 1)) changed.add(k);
    }
    pairWords.delete(top.key);
    for (const k of changed) {
      const c = pairCount.get(k) ?? 0;
      if (c > 0) heap.push(c, k);
      else pairCount.delete(k);
    }
  }
  return new BpeTokenizer(merges, opts.contextLength, version);
}
