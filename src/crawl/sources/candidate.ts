/** Turning raw (url, caption) fields of a source into a Candidate, counting what is wrong. */
import { normalizeWhitespace } from '../../text/tokenize.js';
import type { Candidate } from '../types.js';

/** Longest caption kept from a url list (alt texts are far shorter; longer is junk or an attack). */
export const MAX_CAPTION_CHARS = 4096;
/** Longest url kept. */
export const MAX_URL_CHARS = 4096;

/** Callback for a bad item inside good input: a reason (bad_url, empty_caption, ...) and where. */
export type OnBadItem = (reason: string, detail: string) => void;

/**
 * A Candidate from raw fields, or null (and `onBadItem` called) when the url is not an absolute
 * http(s) url or the caption is empty or too long. The url is normalised by WHATWG URL parsing,
 * fragment removed; the caption has its whitespace normalised. Throws nothing.
 */
export function toCandidate(
  rawUrl: unknown,
  rawCaption: unknown,
  source: string,
  where: string,
  onBadItem: OnBadItem | undefined,
  pageUrl?: string,
  allowEmptyCaption = false,
): Candidate | null {
  if (typeof rawUrl !== 'string' || !rawUrl.trim()) {
    onBadItem?.('bad_url', `${where}: missing url`);
    return null;
  }
  if (rawUrl.length > MAX_URL_CHARS) {
    onBadItem?.('bad_url', `${where}: url longer than ${MAX_URL_CHARS} characters`);
    return null;
  }
  let url: string;
  try {
    const u = pageUrl ? new URL(rawUrl.trim(), pageUrl) : new URL(rawUrl.trim());
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    u.hash = '';
    url = u.href;
  } catch {
    onBadItem?.('bad_url', `${where}: ${rawUrl.slice(0, 200)}`);
    return null;
  }
  const caption = typeof rawCaption === 'string' ? normalizeWhitespace(rawCaption)
    : typeof rawCaption === 'number' ? String(rawCaption) : '';
  if (!caption && !allowEmptyCaption) {
    onBadItem?.('empty_caption', where);
    return null;
  }
  if (caption.length > MAX_CAPTION_CHARS) {
    onBadItem?.('long_caption', where);
    return null;
  }
  return pageUrl ? { url, caption, page_url: pageUrl, source } : { url, caption, source };
}
