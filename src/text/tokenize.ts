/**
 * The one tokenizer shared by querygen (what is counted) and crawl (what is matched), so that
 * every counted word or bigram can match an alt text.
 *
 * A token is a run of letters, marks and digits, with inner apostrophes, hyphens and periods kept
 * ("don't", "e-mail", "3.14", "1.000.000"), a comma kept between digit groups of three ("1,000",
 * "12,345,678"), and a final period kept after a dotted initialism ("U.S.", "e.g.", "i.e.",
 * "a.m.") or a common abbreviation ("Dr.", "Mr.", "etc.", see ABBREVIATIONS), so none of those
 * leave fragments ("000", "U.S") that become queries; or any single other non-space character
 * ("(", "!", "©"). This generalises MetaCLIP's space padding of , . ; : ? ! ` to all punctuation:
 * a query matches a caption when its tokens occur as a contiguous run of the caption's tokens.
 * Case is kept (matching is case-sensitive, as in MetaCLIP).
 *
 * TOKEN_RE is the definition; the scanner below produces exactly its matches (pinned on random
 * Unicode by test/querygen/tokenize.test.ts) several times faster, which matters when counting a
 * whole Wikipedia. The crawl matcher (src/crawl/match.ts) runs this same scanner.
 */

/**
 * Abbreviations that keep their final period. Only ones that rarely end a sentence: "No." or "Co."
 * would swallow the period of "The answer is No." (dotted initialisms like "U.S." are found by rule).
 */
export const ABBREVIATIONS: readonly string[] = [
  'Mr', 'Mrs', 'Ms', 'Dr', 'Prof', 'St', 'Jr', 'Sr', 'Mt', 'Ft', 'Gen', 'Col', 'Lt', 'Sgt', 'Capt', 'Rev',
  'Gov', 'Sen', 'Rep', 'Inc', 'Ltd', 'Corp', 'Bros', 'vs', 'etc', 'cf', 'approx', 'al', 'Ph.D',
];
const ABBREVIATION_SET = new Set(ABBREVIATIONS);

const W = '[\\p{L}\\p{M}\\p{N}]';
const TOKEN_RE = new RegExp(
  [
    `(?:\\p{L}\\.)+\\p{L}\\.(?!${W})`, // dotted initialism with its final period
    `(?:${ABBREVIATIONS.map((a) => a.replace('.', '\\.')).join('|')})\\.(?!${W})`, // listed abbreviation
    `${W}+(?:(?:['’\\-.]|(?<=[0-9]),(?=[0-9]{3}(?![0-9])))${W}+)*`, // word with inner joiners
    '[^\\s\\p{L}\\p{M}\\p{N}]', // one other character
  ].join('|'),
  'gu',
);
const INITIALISM_RE = /^(?:\p{L}\.)+\p{L}$/u;

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
 * Where nextToken found its token: start, end, 1 for a word (0 for one punctuation/symbol
 * character), and the FNV-1a hash of its code units (for the crawl matcher's token table). A scratch array read right after the call: the hot loops (counting, matching) then
 * need no callback per token.
 */
export const tokenSpan = new Int32Array(4);

/**
 * Finds the first token of `text[i, n)`: fills tokenSpan and returns true, or returns false when
 * only spaces are left. Exactly the next match of TOKEN_RE. Never throws.
 */
export function nextToken(text: string, i: number, n: number): boolean {
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
    tokenSpan[0] = i;
    let h = Math.imul(FNV_INIT ^ c, FNV_PRIME);
    if (w === 2) h = Math.imul(h ^ text.charCodeAt(i + 1), FNV_PRIME);
    if (cls === CLASS_OTHER) {
      tokenSpan[1] = i + w;
      tokenSpan[2] = 0;
      tokenSpan[3] = h;
      return true;
    }
    // the common case inline: word characters of the BMP up to a space or plain punctuation
    const start = i;
    i += w;
    while (i < n) {
      const cc = text.charCodeAt(i);
      if (cc >= 0xd800 || BMP_CLASS[cc] !== CLASS_WORD) break;
      h = Math.imul(h ^ cc, FNV_PRIME);
      i++;
    }
    const j = i < n ? text.charCodeAt(i) : 0x20;
    if (j >= 0xd800 || j === 0x2e || j === 0x2c || j === 0x27 || j === 0x2d || j === 0x2019) i = wordEnd(text, start, i, n);
    else wordHash = h;
    tokenSpan[1] = i;
    tokenSpan[2] = 1;
    tokenSpan[3] = wordHash;
    return true;
  }
  return false;
}

/**
 * Calls `fn(start, end, isWord)` for each token of `text[from, to)` in order: exactly the spans of
 * TOKEN_RE's matches. `isWord` is false for a single punctuation/symbol token. Never throws.
 */
export function scanTokens(text: string, fn: (start: number, end: number, isWord: boolean) => void, from = 0, to = text.length): void {
  let i = from;
  while (nextToken(text, i, to)) {
    i = tokenSpan[1]!;
    fn(tokenSpan[0]!, i, tokenSpan[2] === 1);
  }
}

/** The joiners kept inside a word when a word character follows: ' ’ - . */
export function isJoiner(c: number): boolean {
  return c === 0x27 || c === 0x2019 || c === 0x2d || c === 0x2e;
}

function isAsciiDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * End of the word token that starts at `start` and whose first character ends before `i` (`n`: end of the text): word
 * characters, then (joiner + word characters)*, greedy like TOKEN_RE; then the final period of an
 * initialism or abbreviation.
 */
export function wordEnd(text: string, start: number, i: number, n: number): number {
  let h = FNV_INIT;
  for (let k = start; k < i; k++) h = Math.imul(h ^ text.charCodeAt(k), FNV_PRIME);
  for (;;) {
    while (i < n) {
      const cc = text.charCodeAt(i);
      if (cc < 0xd800 || cc > 0xdfff) {
        if (BMP_CLASS[cc] !== CLASS_WORD) break;
        h = Math.imul(h ^ cc, FNV_PRIME);
        i++;
      } else {
        const ww = wordWidthAt(text, i, n);
        if (ww === 0) break;
        h = Math.imul(Math.imul(h ^ cc, FNV_PRIME) ^ text.charCodeAt(i + 1), FNV_PRIME);
        i += 2;
      }
    }
    wordHash = h;
    if (i >= n) return i;
    const j = text.charCodeAt(i);
    // the common case: a space or punctuation that joins nothing
    if (j !== 0x2e && j !== 0x2c && j !== 0x27 && j !== 0x2d && j !== 0x2019) return i;
    if (i + 1 < n) {
      if (j !== 0x2c && wordWidthAt(text, i + 1, n) > 0) {
        h = Math.imul(h ^ j, FNV_PRIME);
        i += 1;
        continue;
      }
      // a thousands separator: digit , three digits, no fourth
      if (j === 0x2c && i + 3 < n && isAsciiDigit(text.charCodeAt(i - 1)) && isAsciiDigit(text.charCodeAt(i + 1)) && isAsciiDigit(text.charCodeAt(i + 2)) && isAsciiDigit(text.charCodeAt(i + 3)) && !(i + 4 < n && isAsciiDigit(text.charCodeAt(i + 4)))) {
        h = Math.imul(h ^ j, FNV_PRIME);
        i += 1;
        continue;
      }
    }
    // a period that joins nothing ends a sentence or an abbreviation
    if (j === 0x2e) {
      const word = text.slice(start, i);
      if ((word.length <= 6 && ABBREVIATION_SET.has(word)) || INITIALISM_RE.test(word)) {
        wordHash = Math.imul(h ^ j, FNV_PRIME);
        return i + 1;
      }
    }
    return i;
  }
}

/** FNV-1a (32-bit) of the UTF-16 code units of a span, as nextToken computes it for its token. */
export const FNV_INIT = 0x811c9dc5 | 0;
export const FNV_PRIME = 0x01000193;
let wordHash = 0;

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
