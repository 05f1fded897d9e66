/** An image–caption candidate found in a source, before matching and download. */
export interface Candidate {
  /** Absolute image url (http/https). */
  url: string;
  /** Alt text (or title), whitespace normalised, non-empty. */
  caption: string;
  /** Page the image was found on, when known. */
  page_url?: string;
  /** The input (file path or url) it came from. */
  source: string;
  /**
   * Set for a row of a url list: its outcome is listed in its shard's metadata (status rows),
   * with these pass-through column values (`--save-additional-columns`).
   */
  row?: { extra?: Record<string, unknown> };
  /** Expected hex sha256 of the downloaded bytes (`--verify-hash-col`); a mismatch is hash_mismatch. */
  hash?: string;
  /**
   * Set for a url-list row refused before it became a candidate (bad_url, empty_caption, ...): it is
   * no candidate (its reason is counted under bad_items), it only gets its row in the shard's status
   * table, so that every row's outcome is listed (docs/ARCHITECTURE.md, "Crawl inputs").
   */
  refused?: { reason: string; detail: string };
}

/**
 * Why a candidate did not become a pair. Every candidate ends in exactly one outcome:
 * 'kept' or one of these.
 */
export type FailureReason =
  | 'dns' | 'connect' | 'timeout' | 'http_4xx' | 'http_5xx' | 'too_large' | 'not_image' | 'decode'
  | 'too_small' | 'bad_aspect' | 'robots' | 'noai' | 'blocked_address' | 'bad_url' | 'redirects' | 'truncated'
  | 'cap_reached' | 'not_sampled' | 'no_match' | 'duplicate' | 'hash_mismatch' | 'error';
