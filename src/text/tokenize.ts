/**
 * The one tokenizer shared by querygen (what is counted) and crawl (what is matched), so that
 * every counted word or bigram can match an alt text.
 *
 * A token is a run of letters, marks and digits, with inner apostrophes, hyphens and periods kept
 * ("don't", "e-mail", "U.S", "3.14"), or any single other non-space character ("(", "!", "©").
 * This generalises MetaCLIP's space padding of , . ; : ? ! ` to all punctuation: a query matches a
 * caption when its tokens occur as a contiguous run of the caption's tokens. Case is kept
 * (matching is case-sensitive, as in MetaCLIP).
 */
const TOKEN_RE = /[\p{L}\p{M}\p{N}]+(?:['’\-.][\p{L}\p{M}\p{N}]+)*|[^\s\p{L}\p{M}\p{N}]/gu;

/** Tokens of `text` in order (see module doc). */
export function wordTokens(text: string): string[] {
  return text.match(TOKEN_RE) ?? [];
}

/** Calls `fn` for each token without building an array (hot loops). */
export function forEachToken(text: string, fn: (token: string) => void): void {
  TOKEN_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  const re = new RegExp(TOKEN_RE.source, 'gu');
  while ((m = re.exec(text)) !== null) fn(m[0]);
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
