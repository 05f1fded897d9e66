import { sharp } from '../util/sharp.js';
import { createHash } from 'node:crypto';
import type { FailureReason } from './types.js';
import { resolveOptions } from '../util/options.js';
import { imageOptionsSchema, type ImageOptions } from './image-options.js';
import { checkImage, guardedSharp } from '../util/image-guard.js';

export { sniffImage, readImageHeader, type ImageHeader } from '../util/image-guard.js';

import type { ResizeMode } from './image-options.js';
export { imageOptionsSchema, RESIZE_MODES, IMAGE_ENCODINGS, type ImageOptions, type ResolvedImageOptions, type ResizeMode, type ImageEncoding } from './image-options.js';

/** A processed image or why it was refused. */
export type ImageResult =
  | { ok: true; image: Buffer; width: number; height: number; originalWidth: number; originalHeight: number; sha256: string; format: string }
  | { ok: false; reason: FailureReason; detail: string };

/**
 * Process-wide sharp settings for crawling: no operation cache (every image is new, the cache
 * only costs memory), and one libvips thread per image, because the crawl runs several images at
 * once (`imageConcurrency`) and libvips threads on top would oversubscribe the cores.
 */
export function tuneSharpForCrawl(): void {
  sharp.cache(false);
  sharp.concurrency(1);
}

/** What sharp's resize gets for one image: the box and how the image fills it; undefined: no resize. */
export interface ResizeFit {
  width: number;
  height: number;
  fit: 'cover' | 'contain' | 'fill';
}

/**
 * The resize of an `ow` x `oh` image (after EXIF rotation) under img2dataset's `--resize_mode` semantics
 * (its resizer, README.md "Coming from img2dataset"): keep_ratio and center_crop scale the shorter side
 * to `size` (center_crop then keeps the centre square), keep_ratio_largest and border the longer side
 * (border pads with white to a square), fixed stretches to a square, no keeps the size. With
 * `onlyIfBigger`, an image whose measured side is not over `size` is left as it is. Undefined when
 * nothing is resized.
 */
export function fitFor(mode: ResizeMode, size: number, ow: number, oh: number, onlyIfBigger = false): ResizeFit | undefined {
  if (mode === 'no') return undefined;
  const bySmaller = mode === 'keep_ratio' || mode === 'center_crop';
  const measured = bySmaller ? Math.min(ow, oh) : Math.max(ow, oh);
  if (onlyIfBigger && measured <= size) return undefined;
  switch (mode) {
    case 'center_crop': return { width: size, height: size, fit: 'cover' };
    case 'border': return { width: size, height: size, fit: 'contain' };
    case 'fixed': return { width: size, height: size, fit: 'fill' };
    default: {
      // keep_ratio(_largest): the measured side becomes size, the other keeps the ratio
      const scale = size / measured;
      return { width: Math.max(1, Math.round(ow * scale)), height: Math.max(1, Math.round(oh * scale)), fit: 'fill' };
    }
  }
}

/**
 * Validates and resizes one downloaded image with sharp: the bytes must be a real image (by
 * signature and by libvips, not by Content-Type), width x height within `maxPixels` (checked on
 * the header before decoding; libvips' `limitInputPixels` as a second guard), the short side at
 * least `minSize`, the aspect ratio at most `maxAspect`. EXIF orientation is applied, alpha
 * flattened on white for JPEG, then resized per `resizeMode` and re-encoded.
 * Resolves (never rejects) with the stored bytes or a reason: not_image, decode, too_large,
 * too_small, bad_aspect.
 */
export async function processImage(bytes: Buffer, opts: ImageOptions = {}): Promise<ImageResult> {
  const settings = resolveOptions('crawl', imageOptionsSchema, opts);
  const { imageSize: size, resizeMode: mode, encode, quality, maxPixels, minSize, maxAspect } = settings;
  // the shared image guard (src/util/image-guard.ts): raster formats only, size from the header
  const checked = await checkImage(bytes, maxPixels);
  if (!checked.ok) return { ok: false, reason: checked.refusal, detail: checked.detail };
  const header = checked.header;
  // EXIF orientations 5-8 swap the sides
  const swap = (header.orientation ?? 1) >= 5;
  const ow = swap ? header.height : header.width;
  const oh = swap ? header.width : header.height;
  if (!ow || !oh) return { ok: false, reason: 'decode', detail: 'image has no size' };
  if (minSize && Math.min(ow, oh) < minSize) return { ok: false, reason: 'too_small', detail: `${ow}x${oh} under ${minSize}` };
  const aspect = Math.max(ow, oh) / Math.min(ow, oh);
  if (maxAspect !== undefined && aspect > maxAspect) return { ok: false, reason: 'bad_aspect', detail: `aspect ${aspect.toFixed(2)} over ${maxAspect}` };

  try {
    let img = guardedSharp(bytes, maxPixels).rotate();
    const fit = fitFor(mode, size, ow, oh, settings.resizeOnlyIfBigger);
    if (fit) img = img.resize(fit.width, fit.height, { fit: fit.fit, position: 'centre', background: { r: 255, g: 255, b: 255, alpha: 1 }, kernel: 'lanczos3' });
    img = img.flatten({ background: { r: 255, g: 255, b: 255 } }).toColourspace('srgb');
    img = encode === 'webp' ? img.webp({ quality }) : encode === 'png' ? img.png() : img.jpeg({ quality, chromaSubsampling: quality >= 90 ? '4:4:4' : '4:2:0' });
    const { data, info } = await img.toBuffer({ resolveWithObject: true });
    return {
      ok: true,
      image: data,
      width: info.width,
      height: info.height,
      originalWidth: ow,
      originalHeight: oh,
      sha256: createHash('sha256').update(data).digest('hex'),
      format: header.format,
    };
  } catch (err) {
    const msg = (err as Error).message;
    if (/pixel limit/i.test(msg)) return { ok: false, reason: 'too_large', detail: msg };
    return { ok: false, reason: 'decode', detail: `cannot decode: ${msg}` };
  }
}
