import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/util/rng.js';
import { ClipTokenizer } from '../../src/train/clip-tokenizer.js';
import { BpeTokenizer } from '../../src/train/tokenizer.js';
import { witBpeAsClip } from '../../src/model/wit-bpe-export.js';
import { generateCaptions } from './helpers.js';

/**
 * What issue 28 asks of a wit-trained tokenizer: on the vocabulary `wit model export` writes,
 * open_clip's tokenizer gives the ids wit gave, for any string. Shared by the Node-only test (CLIP's
 * algorithm as src/train/clip-tokenizer.ts runs it, pinned to open_clip 3.3 by hard-strings.json)
 * and the tests against the real open_clip.
 */

const FIXTURE = fileURLToPath(new URL('../fixtures/openclip/hard-strings.json', import.meta.url));

/** Hard captions: every string of hard-strings.json (entities, C1, mojibake, special tokens, ftfy's fixes, whitespace) and real alt texts' quirks. */
export function hardCaptions(): string[] {
  const cases = (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { cases: Array<{ text: string }> }).cases.map((c) => c.text);
  return [...cases, 'Japanese “open for business” button', 'Ben &amp; Jerry&#8217;s ﬁnest', 'Ｔｏｋｙｏ　Ｔｏｗｅｒ at night', 'CafÃ© de Flore, Paris', 'a photo <END_OF_TEXT> of two cats', 'ꟌꟋ Ა ͅx ₟ ll\u209e'];
}

// Code point ranges random strings draw from: what web captions hold and what trips tokenizers.
const RANGES: Array<[number, number]> = [
  [0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], [0x00, 0x1f], [0x7f, 0xff], [0x100, 0x24f], [0x250, 0x2ff], [0x300, 0x36f], [0x370, 0x3ff],
  [0x400, 0x4ff], [0x590, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x1e00, 0x1eff], [0x2000, 0x206f], [0x2070, 0x218f], [0x2190, 0x2bff],
  [0x3000, 0x30ff], [0x4e00, 0x4fff], [0xac00, 0xad00], [0xfb00, 0xfb4f], [0xfe00, 0xfe6f], [0xff00, 0xffef], [0xfff0, 0xffff],
  [0x1f300, 0x1f6ff], [0x1f900, 0x1f9ff], [0x10000, 0x1007f], [0xe0000, 0xe007f], [0xd800, 0xdfff],
  // assigned since Unicode 14 (Python 3.11's str.lower) or in regex's tables and not ICU's, and U+0345 (IGNORECASE puts it in no class)
  [0x2090, 0x20cf], [0x1c80, 0x1c8f], [0xa7c0, 0xa7ff], [0x10d40, 0x10d8f], [0x16ea0, 0x16edf], [0x1e000, 0x1e0ff], [0x340, 0x34f],
];
const PIECES = ['&amp;', '&amp;amp;', '&#8217;', '&#x41;', '&EACUTE;', '&lt;', '<', '>', '<end_of_text>', '<START_OF_TEXT>', '<ſtart_of_text>', "'s", "'LL", 'Ã©', 'â€™', '\r\n', '\u2028', '\x1b[31m', ' ', '  ', '\t'];

/** `n` random strings (seeded): code points from RANGES (lone surrogates included) and PIECES. */
export function randomStrings(n: number, seed = 28): string[] {
  const rng = new Rng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    const len = 1 + rng.below(24);
    for (let j = 0; j < len; j++) {
      if (rng.chance(0.15)) { s += PIECES[rng.below(PIECES.length)]!; continue; }
      const [lo, hi] = RANGES[rng.below(RANGES.length)]!;
      s += String.fromCodePoint(lo + rng.below(hi - lo + 1));
    }
    out.push(s);
  }
  return out;
}

/** Captions to train a wit tokenizer whose merges touch the hard cases (accents, CJK, punctuation runs, emoji). */
export function trainingCaptions(): string[] {
  return [...generateCaptions(400, 5), ...hardCaptions(), ...hardCaptions()];
}

/** The exported vocabulary of `tok` and, per wit id, the id open_clip has for it (wit's [PAD] 0 -> 0, open_clip's padding). */
export function exported(tok: BpeTokenizer): { merges: string; clipIdOf: Int32Array } {
  const { merges, rowOf } = witBpeAsClip(tok, 'test');
  const clipIdOf = new Int32Array(tok.vocabSize).fill(-1);
  rowOf.forEach((wit, clip) => { clipIdOf[wit] = clip; });
  clipIdOf[0] = 0;
  return { merges, clipIdOf };
}

/** wit's row of `text` in open_clip's ids. */
export function witRowAsClip(tok: BpeTokenizer, clipIdOf: Int32Array, text: string): number[] {
  return [...tok.encode(text).ids].map((id) => clipIdOf[id]!);
}

/** The texts whose rows differ between wit (mapped to open_clip's ids) and `clipRows` (open_clip's, same order). */
export function mismatches(tok: BpeTokenizer, clipIdOf: Int32Array, texts: readonly string[], clipRows: readonly number[][]): string[] {
  const bad: string[] = [];
  texts.forEach((t, i) => {
    const mine = witRowAsClip(tok, clipIdOf, t);
    if (mine.join() !== clipRows[i]!.join()) bad.push(`${JSON.stringify(t)}: wit [${mine.join(' ')}] / open_clip [${clipRows[i]!.join(' ')}]`);
  });
  return bad;
}

/** CLIP's algorithm (src/train/clip-tokenizer.ts) on an exported merges file. */
export function clipOn(merges: string, contextLength: number): ClipTokenizer {
  const lines = merges.split('\n').slice(1);
  return new ClipTokenizer(lines, contextLength);
}
