import { decodeHTML } from 'entities';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { CLIP_EOT, CLIP_SOT, clipCleanText, clipWords } from '../text/clip-clean.js';
import { InputError, UsageError } from '../util/errors.js';
import { encodeRows, type TextTokenizer } from './tokenizer.js';
import { readInputFile } from '../util/input.js';

/**
 * CLIP's byte-level BPE (OpenAI's SimpleTokenizer, which open_clip uses), for models imported from
 * open_clip (docs/ARCHITECTURE.md, "Models in open_clip's format"). Vocabulary: the 256 byte
 * symbols (bytes mapped to printable characters), the same with `</w>` (end of word), one symbol
 * per merge, then `<start_of_text>` and `<end_of_text>`. Rows are [SOT] ids… [EOT] then 0s;
 * too long a row is cut to the context length with [EOT] kept last, as open_clip's tokenizer.
 *
 * Text cleaning is open_clip's: ftfy.fix_text with its defaults (src/text/ftfy.ts, mojibake repair
 * included), HTML unescape twice, whitespace collapse, lowercase.
 */

export { CLIP_EOT, CLIP_SOT, clipCleanText } from '../text/clip-clean.js';

/**
 * A merges file as open_clip's SimpleTokenizer reads it: it splits the text at '\n' and keeps every
 * piece after the version line, an empty last one included (one more vocabulary entry, which would
 * put [SOT]/[EOT] past vocab_size), so the file must not end with a newline.
 */
export function mergesFileText(merges: readonly string[]): string {
  return merges.length ? `#version: 0.2\n${merges.join('\n')}` : '#version: 0.2';
}

/** Byte -> character of CLIP's `bytes_to_unicode` (printable bytes map to themselves). */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i]!)));
  return out;
}

/** The byte symbols in vocabulary order (bytes_to_unicode's insertion order). */
function byteSymbolsInOrder(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) bs.push(b);
  const table = bytesToUnicode();
  return bs.map((b) => table[b]!);
}

export { htmlUnescape } from '../text/ftfy.js';

/** What tokenizer.json holds for a CLIP tokenizer. */
export interface ClipTokenizerJson {
  type: 'clip-bpe';
  version: 1;
  /** Merges in rank order, as the two symbols separated by a space (the merges file's lines). */
  merges: string[];
  contextLength: number;
}

const encoder = new TextEncoder();

/** CLIP's tokenizer over a list of merges. */
export class ClipTokenizer implements TextTokenizer {
  readonly kind = 'clip-bpe' as const;
  readonly sotId: number;
  readonly eotId: number;
  private readonly vocab = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();
  private readonly byteChar = bytesToUnicode();

  constructor(readonly merges: readonly string[], readonly contextLength: number) {
    if (!Number.isInteger(contextLength) || contextLength < 2) throw new UsageError('model', `tokenizer context length must be an integer >= 2, got ${contextLength}`);
    const symbols = byteSymbolsInOrder();
    const list = [...symbols, ...symbols.map((s) => `${s}</w>`)];
    merges.forEach((m, i) => {
      const parts = m.split(' ');
      list.push(parts.join(''));
      this.ranks.set(m, i);
    });
    list.push(CLIP_SOT, CLIP_EOT);
    list.forEach((s, i) => this.vocab.set(s, i));
    this.sotId = list.length - 2;
    this.eotId = list.length - 1;
  }

  /** Number of ids: 512 byte symbols, the merges, two specials. */
  get vocabSize(): number {
    return 512 + this.merges.length + 2;
  }

  /** BPE of one pre-token already mapped to byte symbols: ids, cached. */
  private bpe(token: string): number[] {
    const hit = this.cache.get(token);
    if (hit) return hit;
    const chars = [...token];
    let word = chars.map((c, i) => (i === chars.length - 1 ? `${c}</w>` : c));
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) break;
      const first = word[best]!;
      const second = word[best + 1]!;
      const next: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) { next.push(first + second); i++; } else next.push(word[i]!);
      }
      word = next;
    }
    const ids = word.map((s) => {
      const id = this.vocab.get(s);
      if (id === undefined) throw new Error(`clip tokenizer: symbol ${JSON.stringify(s)} not in the vocabulary`);
      return id;
    });
    if (this.cache.size < 100_000) this.cache.set(token, ids);
    return ids;
  }

  /** Token ids of text without [SOT]/[EOT] (CLIP's SimpleTokenizer.encode). */
  encodeIds(text: string): number[] {
    const out: number[] = [];
    for (const token of clipWords(clipCleanText(text))) {
      if (token === CLIP_SOT) { out.push(this.sotId); continue; }
      if (token === CLIP_EOT) { out.push(this.eotId); continue; }
      let mapped = '';
      for (const b of encoder.encode(token)) mapped += this.byteChar[b]!;
      out.push(...this.bpe(mapped));
    }
    return out;
  }

  /** A row as open_clip's tokenize: [SOT] ids [EOT], cut with [EOT] kept last, 0-padded; eos is where the first [EOT] is (CLIP pools at argmax id). */
  encode(text: string): { ids: Int32Array; eos: number } {
    const tokens = [this.sotId, ...this.encodeIds(text), this.eotId];
    if (tokens.length > this.contextLength) {
      tokens.length = this.contextLength;
      tokens[this.contextLength - 1] = this.eotId;
    }
    const ids = new Int32Array(this.contextLength);
    ids.set(tokens);
    return { ids, eos: tokens.indexOf(this.eotId) };
  }

  encodeBatch(texts: readonly string[]): { ids: Int32Array; eos: Int32Array } {
    return encodeRows(this, texts);
  }

  toJSON(): ClipTokenizerJson {
    return { type: 'clip-bpe', version: 1, merges: [...this.merges], contextLength: this.contextLength };
  }

  /** The merges file (bpe_simple_vocab_16e6.txt format: a version line, then one merge a line, no newline after the last: see mergesFileText). */
  mergesFile(): string {
    return mergesFileText(this.merges);
  }

  static fromJSON(json: unknown, file: string): ClipTokenizer {
    const j = json as Partial<ClipTokenizerJson> | null;
    if (!j || j.type !== 'clip-bpe' || !Array.isArray(j.merges) || typeof j.contextLength !== 'number') {
      throw new InputError('train', file, 'not a CLIP tokenizer (expected type "clip-bpe", merges, contextLength)');
    }
    return new ClipTokenizer(checkMerges(j.merges, file), j.contextLength);
  }

  /**
   * Reads a merges file (bpe_simple_vocab_16e6.txt, gzipped or not). CLIP skips the first line
   * (the version) and uses the first vocabSize − 514 merges of the rest (48,894 of OpenAI's
   * 262,144 for its 49,408 ids); a file with fewer merges than the model's vocabulary needs is an error.
   */
  static async fromMergesFile(file: string, vocabSize: number, contextLength: number): Promise<ClipTokenizer> {
    // a regular file within the vocab limit, decompressed up to that limit too (src/util/input.ts)
    let text: string;
    try {
      text = (await readInputFile(file, { kind: 'vocab', stage: 'model', decompress: true })).toString('utf8');
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError('model', file, `cannot decompress the vocabulary: ${(err as Error).message}`, { cause: err });
    }
    const lines = text.split('\n');
    const need = vocabSize - 514;
    const merges = lines.slice(1, 1 + need);
    while (merges.length && merges[merges.length - 1] === '') merges.pop();
    if (need < 0 || merges.length < need) {
      throw new InputError('model', file, `vocabulary has ${512 + merges.length + 2} ids (${merges.length} merges) but the model config's vocab_size is ${vocabSize}`);
    }
    return new ClipTokenizer(checkMerges(merges, file), contextLength);
  }
}

/** Every merge is two symbols already in the vocabulary; throws InputError naming the line. */
function checkMerges(merges: unknown[], file: string): string[] {
  const known = new Set<string>();
  for (const s of byteSymbolsInOrder()) { known.add(s); known.add(`${s}</w>`); }
  merges.forEach((m, i) => {
    const parts = typeof m === 'string' ? m.split(' ') : [];
    if (parts.length !== 2 || !known.has(parts[0]!) || !known.has(parts[1]!)) {
      throw new InputError('model', file, `merge ${i + 1} (${JSON.stringify(m)}) is not two known symbols separated by a space`);
    }
    known.add(parts[0]! + parts[1]!);
  });
  return merges as string[];
}
