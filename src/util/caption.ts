/**
 * The one caption limit (docs/ARCHITECTURE.md, "Reading inputs"). A caption is alt text: the crawl
 * drops longer ones (`long_caption`), and every reader of shards cuts a longer one (a 50 MB caption
 * planted in a shard cost `train --steps 1` 2.3 GB and made the report a 110 MB page):
 *  - for training, embedding, scoring and writing shards: cut at the last whitespace before
 *    MAX_CAPTION_CHARS (so no word is split; a text encoder sees its first 77 tokens anyway), counted
 *    as `caption_too_long` (src/shards/reader.ts);
 *  - for display (the report, the search page): cut at DISPLAY_CAPTION_CHARS with an ellipsis.
 */

/** Longest caption kept whole, in UTF-16 code units (the crawl's own limit on alt text). */
export const MAX_CAPTION_CHARS = 4096;

/** Longest caption shown whole in the report and on the search page. */
export const DISPLAY_CAPTION_CHARS = 300;

/** Does `s` start a surrogate pair's low half at `i` (a cut there would split a character)? */
function isLowSurrogate(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0xdc00 && c <= 0xdfff;
}

/** `s` cut to at most `max` code units without splitting a surrogate pair. */
function cutAt(s: string, max: number): string {
  let end = Math.min(max, s.length);
  if (end < s.length && end > 0 && isLowSurrogate(s, end)) end--;
  return s.slice(0, end);
}

/**
 * A caption within the limit: `s` itself when it fits, else its first `max` characters cut back to
 * the last whitespace (when that keeps at least half of them; a caption without spaces is cut at the
 * limit), trailing whitespace dropped. `truncated` says whether it was cut.
 */
export function limitCaption(s: string, max = MAX_CAPTION_CHARS): { text: string; truncated: boolean } {
  if (s.length <= max) return { text: s, truncated: false };
  const head = cutAt(s, max);
  // whitespace right after the cut means the head ends on a whole word
  if (/\s/.test(s[head.length] ?? '')) return { text: head.trimEnd(), truncated: true };
  const m = /\s\S*$/.exec(head);
  const text = m && m.index >= max / 2 ? head.slice(0, m.index) : head;
  return { text: text.trimEnd(), truncated: true };
}

/** A caption for display: whole when at most `max` characters, else cut at a word with an ellipsis. */
export function displayCaption(s: string, max = DISPLAY_CAPTION_CHARS): string {
  if (s.length <= max) return s;
  return `${limitCaption(s, max - 1).text}…`;
}
