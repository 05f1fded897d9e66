import { createHash } from 'node:crypto';
import type { PairRecord } from '../shards/index.js';
import { isPunctuationToken, wordTokens } from '../text/tokenize.js';
import { DigestSet } from './digest-set.js';

/**
 * Why a row was dropped. The numeric code is what the temporary score file stores per row;
 * the name is what stats and summaries show.
 */
export const DROP_REASONS = [
  'caption_chars',
  'caption_words',
  'image_side',
  'aspect',
  'duplicate_image',
  'duplicate_url_caption',
  'undecodable',
  'low_similarity',
  // Appended last: codes are stored in score files, earlier ones keep their numbers.
  'near_duplicate',
  // The image guard refused the image (a vector format, a header over the pixel limit): not decoded at all.
  'image_refused',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Per-row outcome code: 0 = passed the screen (eligible for scoring), else 1 + index in DROP_REASONS. */
export type RowCode = number;
export const ELIGIBLE: RowCode = 0;

/** Code stored for a reason. */
export function reasonCode(reason: DropReason): RowCode {
  return DROP_REASONS.indexOf(reason) + 1;
}

/** Reason of a non-zero code. */
export function reasonOf(code: RowCode): DropReason {
  const r = DROP_REASONS[code - 1];
  if (!r) throw new Error(`filter: unknown row code ${code}`);
  return r;
}

/**
 * The filter's steps in the order they see a pair (docs/ARCHITECTURE.md, "Filter"): a pair dropped by
 * one step never reaches the next, so --keep-fraction is a fraction of what the earlier steps left.
 */
export const FILTER_STEPS: ReadonlyArray<{ step: string; reasons: readonly DropReason[] }> = [
  { step: 'basic filters', reasons: ['caption_chars', 'caption_words', 'image_side', 'aspect'] },
  { step: 'exact dedup', reasons: ['duplicate_image', 'duplicate_url_caption'] },
  { step: 'decode', reasons: ['image_refused', 'undecodable'] },
  { step: 'semantic dedup', reasons: ['near_duplicate'] },
  { step: 'similarity', reasons: ['low_similarity'] },
];

/** One step of the waterfall: pairs that reached it, that it dropped, that it passed on. */
export interface FilterStepCount {
  step: string;
  pairs_in: number;
  dropped: number;
  pairs_out: number;
}

/** The waterfall of a run from its drop counts (each pair has at most one reason: the first step that dropped it). */
export function filterSteps(input: number, dropped: Record<DropReason, number>): FilterStepCount[] {
  let left = input;
  return FILTER_STEPS.map(({ step, reasons }) => {
    const d = reasons.reduce((a, r) => a + (dropped[r] ?? 0), 0);
    const row = { step, pairs_in: left, dropped: d, pairs_out: left - d };
    left -= d;
    return row;
  });
}

/** A zeroed count per reason (every reason present, so summaries have a stable shape). */
export function emptyReasonCounts(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
}

/** DataComp's "basic" filters; each is off when undefined. */
export interface BasicFilterOptions {
  /** Keep captions with at least this many words (tokens with a letter or digit; DataComp: > 2 words, i.e. 3). */
  minCaptionWords?: number;
  /** Keep captions with at least this many characters (Unicode code points, trimmed; DataComp: > 5, i.e. 6). */
  minCaptionChars?: number;
  /** Keep images whose shorter side, as downloaded, is at least this many pixels (DataComp: 200). */
  minImageSide?: number;
  /** Keep images whose longer/shorter side ratio, as downloaded, is at most this (DataComp: 3). */
  maxAspect?: number;
}

/** Words of a caption as the basic filter counts them: tokens that carry a letter or digit. */
export function captionWordCount(caption: string): number {
  let n = 0;
  for (const t of wordTokens(caption)) if (!isPunctuationToken(t)) n++;
  return n;
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Size used by the image filters: the original (downloaded) size, as DataComp filters on it;
 * the stored size when the original is unknown (0).
 */
function imageSize(r: PairRecord): [number, number] {
  return r.original_width > 0 && r.original_height > 0 ? [r.original_width, r.original_height] : [r.width, r.height];
}

/** The first basic filter a record fails, or undefined when it passes them all. */
export function basicFilterReason(r: PairRecord, o: BasicFilterOptions): DropReason | undefined {
  if (o.minCaptionChars !== undefined && codePoints(r.caption.trim()) < o.minCaptionChars) return 'caption_chars';
  if (o.minCaptionWords !== undefined && captionWordCount(r.caption) < o.minCaptionWords) return 'caption_words';
  if (o.minImageSide !== undefined || o.maxAspect !== undefined) {
    const [w, h] = imageSize(r);
    const lo = Math.min(w, h);
    const hi = Math.max(w, h);
    if (o.minImageSide !== undefined && lo < o.minImageSide) return 'image_side';
    if (o.maxAspect !== undefined && (lo <= 0 || hi / lo > o.maxAspect)) return 'aspect';
  }
  return undefined;
}

/**
 * Basic filters then exact dedup, row by row in shard order: the first occurrence of an image
 * (sha256 of the stored bytes) or of a (url, caption) pair wins, among rows that passed the basic
 * filters (so a duplicate is not lost because its first copy had a too-short caption, say).
 * Memory: about 32 bytes per distinct image and per distinct (url, caption) (DigestSet).
 */
export class Screen {
  private readonly images = new DigestSet();
  private readonly urlCaptions = new DigestSet();

  constructor(private readonly basic: BasicFilterOptions, private readonly dedup: boolean) {}

  /** True when the screen drops nothing (no basic filter, no dedup). */
  get passesAll(): boolean {
    const b = this.basic;
    return !this.dedup && b.minCaptionWords === undefined && b.minCaptionChars === undefined && b.minImageSide === undefined && b.maxAspect === undefined;
  }

  /** Outcome of the next row: ELIGIBLE or the code of the reason it is dropped; records it for dedup. */
  check(r: PairRecord): RowCode {
    const basic = basicFilterReason(r, this.basic);
    if (basic) return reasonCode(basic);
    if (!this.dedup) return ELIGIBLE;
    // The sha256 column is hex; a row written without it falls back to hashing the bytes.
    const img = /^[0-9a-f]{64}$/i.test(r.sha256) ? Buffer.from(r.sha256.slice(0, 32), 'hex') : createHash('sha256').update(r.image).digest();
    if (this.images.has(img)) return reasonCode('duplicate_image');
    const uc = createHash('sha256').update(r.url).update('\u0000').update(r.caption).digest();
    if (!this.urlCaptions.add(uc)) return reasonCode('duplicate_url_caption');
    this.images.add(img);
    return ELIGIBLE;
  }
}
