/**
 * The one tokenizer shared by querygen (what is counted) and crawl (what is matched), so that
 * every counted word or bigram can match an alt text.
 *
 * A token is a run of letters, marks and digits, with inner apostrophes, hyphens and periods kept
 * ("don't", "e-mail", "U.S", "3.14"), or any single other non-space character ("(", "!", "©").
 * This generalises MetaCLIP's space padding of , . ; : ? ! ` to all punctuation: a query matches a
 * caption when its tokens occur as a contiguous run of the caption's tokens. Case is kept
 * (matching is case-sensitive, as in MetaCLIP).
 *
 * TOKEN_RE is the definition; the scanner below produces exactly its matches (pinned on random
 * Unicode by test/querygen/tokenize.test.ts) about 3x faster, which matters when counting a whole
 * Wikipedia.
 */
const TOKEN_RE = /[\p{L}\p{M}\p{N}]+(?:['’\-.][\p{L}\p{M}\p{N}]+)*|[^\s\p{L}\p{M}\p{N}]/gu;

/** Character classes of the scanner, shared with the crawl matcher's own scan loop. */
export const CLASS_OTHER = 0;
export const CLASS_WORD = 1;
export const CLASS_SPACE = 2;

const WORD_CHAR_RE = /^[\p{L}\p{M}\p{N}]$/u;
const SPACE_CHAR_RE = /^\s$/u;

/** Class of every BMP code unit; surrogates are classified per code point at scan time. */
export const BMP_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(0x10000);
  for (let c = 0; c < 0x10000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c);
    if (WORD_CHAR_RE.test(ch)) table[c] = CLASS_WORD;
    else if (SPACE_CHAR_RE.test(ch)) table[c] = CLASS_SPACE;
  }
  return table;
})();

const astralClass = new Map<number, number>();
export function classOfAstral(cp: number): number {
  let cls = astralClass.get(cp);
  if (cls === undefined) {
    const ch = String.fromCodePoint(cp);
    cls = WORD_CHAR_RE.test(ch) ? CLASS_WORD : SPACE_CHAR_RE.test(ch) ? CLASS_SPACE : CLASS_OTHER;
    if (astralClass.size < 100_000) astralClass.set(cp, cls);
  }
  return cls;
}

/** Width in code units of the word character at `i`, 0 if there is none (shared with the crawl matcher). */
export function wordWidthAt(text: string, i: number, n: number): number {
  const c = text.charCodeAt(i);
  if (c < 0xd800 || c > 0xdfff) return BMP_CLASS[c] === CLASS_WORD ? 1 : 0;
  if (c <= 0xdbff && i + 1 < n) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) {
      return classOfAstral(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000) === CLASS_WORD ? 2 : 0;
    }
  }
  return 0;
}

/**
 * Calls `fn(start, end, isWord)` for each token of `text[from, to)` in order: exactly the spans of
 * TOKEN_RE's matches. `isWord` is false for a single punctuation/symbol token. Never throws.
 */
export function scanTokens(text: string, fn: (start: number, end: number, isWord: boolean) => void, from = 0, to = text.length): void {
  const n = to;
  let i = from;
  while (i < n) {
    const c = text.charCodeAt(i);
    let cls: number;
    let w = 1;
    if (c < 0xd800 || c > 0xdfff) cls = BMP_CLASS[c]!;
    else if (c <= 0xdbff && i + 1 < n && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      w = 2;
      cls = classOfAstral(((c - 0xd800) << 10) + (text.charCodeAt(i + 1) - 0xdc00) + 0x10000);
    } else cls = CLASS_OTHER; // a lone surrogate is one code point of its own for the regex
    if (cls === CLASS_SPACE) {
      i += w;
      continue;
    }
    const start = i;
    i += w;
    if (cls === CLASS_OTHER) {
      fn(start, i, false);
      continue;
    }
    // word chars, then (joiner + at least one word char)*, greedy like the regex
    for (;;) {
      while (i < n) {
        const cc = text.charCodeAt(i);
        if (cc < 0xd800 || cc > 0xdfff) {
          if (BMP_CLASS[cc] !== CLASS_WORD) break;
          i++;
        } else {
          const ww = wordWidthAt(text, i, n);
          if (ww === 0) break;
          i += ww;
        }
      }
      if (i + 1 < n) {
        const j = text.charCodeAt(i);
        if ((j === 0x27 || j === 0x2019 || j === 0x2d || j === 0x2e) && wordWidthAt(text, i + 1, n) > 0) {
          i += 1;
          continue;
        }
      }
      break;
    }
    fn(start, i, true);
  }
}

/** Tokens of `text` in order (see module doc). */
export function wordTokens(text: string): string[] {
  const out: string[] = [];
  scanTokens(text, (s, e) => out.push(text.slice(s, e)));
  return out;
}

/** Tokens of `text` by the defining regex (the reference the scanner is tested against). */
export function regexTokens(text: string): string[] {
  return text.match(TOKEN_RE) ?? [];
}

/** Calls `fn` for each token without building an array (hot loops); `isWord` as in scanTokens. */
export function forEachToken(text: string, fn: (token: string, isWord: boolean) => void): void {
  scanTokens(text, (s, e, w) => fn(text.slice(s, e), w));
}

/** True when a token is a single punctuation/symbol character (never a query on its own). */
export function isPunctuationToken(token: string): boolean {
  return token.length <= 2 && !/[\p{L}\p{M}\p{N}]/u.test(token);
}

/** Collapses whitespace (tabs, newlines, NBSP…) to single spaces and trims: captions as stored. */
export function normalizeWhitespace(text: string): string {
  return text.replace(/[\s\u00a0\u200b\ufeff]+/g, ' ').trim();
}

/** Canonical form of a query or caption for matching: its tokens joined by single spaces. */
export function canonicalText(text: string): string {
  return wordTokens(text).join(' ');
}
