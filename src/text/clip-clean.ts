/**
 * open_clip 3.3's text pipeline before BPE (tokenizer.py: `_clean_lower`, then `SimpleTokenizer.pat`),
 * shared by CLIP's tokenizer (src/train/clip-tokenizer.ts) and wit's own BPE from tokenizer version 2
 * (src/train/tokenizer.ts), so that a wit-trained text tower, once exported, sees in open_clip exactly
 * the pieces it saw in wit (docs/ARCHITECTURE.md, "CLIP's text cleaning").
 */
import { fixText, htmlUnescape } from './ftfy.js';
import { CLIP_L, CLIP_N, CLIP_OTHER } from './clip-regex-data.js';
import { pyLower } from './py-unicode.js';

/** The special tokens as open_clip 3.x spells them (OpenAI's CLIP wrote `<|startoftext|>`, which open_clip now splits as text). */
export const CLIP_SOT = '<start_of_text>';
export const CLIP_EOT = '<end_of_text>';

// Python's str.split() whitespace (what whitespace_clean collapses).
const PY_SPACE = /[\t\n\v\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/g;

/** open_clip's text cleaning (`_clean_lower`): ftfy.fix_text (src/text/ftfy.ts), html.unescape twice, whitespace collapse, strip, lowercase. */
export function clipCleanText(text: string): string {
  const basic = htmlUnescape(htmlUnescape(fixText(text)));
  return pyLower(basic.replace(PY_SPACE, ' ').replace(/^ | $/g, ''));
}

/**
 * open_clip's pre-tokenization pattern (`<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
 * under re.IGNORECASE) with its character classes as Python's `regex` module has them
 * (src/text/clip-regex-data.ts), not as Node's ICU does: they differ on characters assigned in newer
 * Unicode versions, and IGNORECASE puts U+0345 (it folds to a letter) in no class at all. After
 * lowercasing, the only case variant the pattern's letters still meet is U+017F (long s, folds to s).
 */
export const CLIP_WORD_RE = new RegExp(`<[s\u017f]tart_of_text>|<end_of_text>|'[s\u017f]|'t|'re|'ve|'m|'ll|'d|[${CLIP_L}]+|[${CLIP_N}]|[${CLIP_OTHER}]+`, 'gu');

/**
 * The pieces open_clip's SimpleTokenizer.encode runs BPE on, in order, for already cleaned text. A
 * piece that is exactly CLIP_SOT or CLIP_EOT is that special token (open_clip's cache maps only the
 * exact spelling; a case-folded match such as `<ſtart_of_text>` goes through BPE like any text).
 */
export function clipWords(clean: string): string[] {
  return clean.match(CLIP_WORD_RE) ?? [];
}
