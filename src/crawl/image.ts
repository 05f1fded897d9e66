import sharp, { type Metadata } from 'sharp';
import { createHash } from 'node:crypto';
import type { FailureReason } from './types.js';
import { resolveOptions } from '../util/options.js';
import { imageOptionsSchema, type ImageOptions } from './image-options.js';

import type { ResizeMode } from './image-options.js';
export { imageOptionsSchema, RESIZE_MODES, IMAGE_ENCODINGS, type ImageOptions, type ResolvedImageOptions, type ResizeMode, type ImageEncoding } from './image-options.js';

/** A processed image or why it was refused. */
export type ImageResult =
  | { ok: true; image: Buffer; width: number; height: number; originalWidth: number; originalHeight: number; sha256: string; format: string }
  | { ok: false; reason: FailureReason; detail: string };

/** Formats accepted as images (by their bytes, as sharp detects them). */
const ACCEPTED = new Set(['jpeg', 'png', 'webp', 'gif', 'avif', 'heif', 'tiff', 'bmp']);

/** Cheap signature check, so that HTML served as image/jpeg is refused before libvips sees it. */
export function sniffImage(bytes: Uint8Array): string | undefined {
  const b = bytes;
  if (b.length < 12) return undefined;
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  if (b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'webp';
  if (b[4] === 0x66 && b[5] === 0x74 && b[6] === 0x79 && b[7] === 0x70) return 'heif'; // ftyp: avif/heic
  if ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)) return 'tiff';
  if (b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  return undefined;
}

/** Size and orientation read from an image's header. */
export interface ImageHeader {
  format: string;
  width: number;
  height: number;
  /** EXIF orientation (1-8) when the header carries one. */
  orientation?: number;
}

function exifOrientation(b: Uint8Array, start: number, end: number): number | undefined {
  // TIFF header: byte order, 42, offset of IFD0; orientation is tag 0x0112 (SHORT)
  if (start + 8 > end) return undefined;
  const le = b[start] === 0x49 && b[start + 1] === 0x49;
  const u16 = (o: number) => (le ? b[o]! | (b[o + 1]! << 8) : (b[o]! << 8) | b[o + 1]!);
  const u32 = (o: number) => (le ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 2 ** 24 : ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) + b[o]! * 2 ** 24);
  const ifd = start + u32(start + 4);
  if (ifd + 2 > end) return undefined;
  const n = u16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > end) return undefined;
    if (u16(e) === 0x0112) {
      const v = u16(e + 8);
      return v >= 1 && v <= 8 ? v : undefined;
    }
  }
  return undefined;
}

/**
 * Reads format, size and EXIF orientation from the header of a JPEG, PNG, GIF or WebP in JS (no
 * decode, no threadpool round trip); undefined for other formats or a header it cannot read, in
 * which case sharp's metadata() decides.
 */
export function readImageHeader(b: Uint8Array): ImageHeader | undefined {
  const fmt = sniffImage(b);
  const be16 = (o: number) => (b[o]! << 8) | b[o + 1]!;
  const le16 = (o: number) => b[o]! | (b[o + 1]! << 8);
  if (fmt === 'png') {
    if (b.length < 24) return undefined;
    const w = ((b[16]! << 24) >>> 0) + (b[17]! << 16) + (b[18]! << 8) + b[19]!;
    const h = ((b[20]! << 24) >>> 0) + (b[21]! << 16) + (b[22]! << 8) + b[23]!;
    return { format: 'png', width: w, height: h };
  }
  if (fmt === 'gif') return { format: 'gif', width: le16(6), height: le16(8) };
  if (fmt === 'webp') {
    if (b.length < 30) return undefined;
    const chunk = String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!);
    if (chunk === 'VP8 ') return { format: 'webp', width: le16(26) & 0x3fff, height: le16(28) & 0x3fff };
    if (chunk === 'VP8L') return { format: 'webp', width: 1 + (((b[22]! & 0x3f) << 8) | b[21]!), height: 1 + (((b[24]! & 0xf) << 10) | (b[23]! << 2) | ((b[22]! & 0xc0) >> 6)) };
    if (chunk === 'VP8X') {
      if (b[20]! & 0x08) return undefined; // has EXIF: let libvips read the orientation
      return { format: 'webp', width: 1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16)), height: 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16)) };
    }
    return undefined;
  }
  if (fmt === 'jpeg') {
    let orientation: number | undefined;
    let i = 2;
    while (i + 4 <= b.length) {
      if (b[i] !== 0xff) return undefined;
      const m = b[i + 1]!;
      if (m === 0xff) { i++; continue; }
      if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) { i += 2; continue; }
      if (m === 0xd9 || m === 0xda) return undefined; // no frame header before the scan
      const len = be16(i + 2);
      if (len < 2) return undefined;
      if (m === 0xe1 && len >= 16 && b[i + 4] === 0x45 && b[i + 5] === 0x78 && b[i + 6] === 0x69 && b[i + 7] === 0x66 && b[i + 8] === 0 && b[i + 9] === 0) {
        orientation = exifOrientation(b, i + 10, Math.min(b.length, i + 2 + len));
      }
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        if (i + 9 > b.length) return undefined;
        return { format: 'jpeg', height: be16(i + 5), width: be16(i + 7), orientation };
      }
      i += 2 + len;
    }
    return undefined;
  }
  return undefined;
}

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
  const sniffed = sniffImage(bytes);
  if (!sniffed) return { ok: false, reason: 'not_image', detail: 'bytes are not a known image format' };
  let header = readImageHeader(bytes);
  if (!header) {
    let meta: Metadata;
    try {
      meta = await sharp(bytes, { limitInputPixels: false, failOn: 'none' }).metadata();
    } catch (err) {
      return { ok: false, reason: 'decode', detail: `cannot read image header: ${(err as Error).message}` };
    }
    if (!meta.format || !ACCEPTED.has(meta.format)) return { ok: false, reason: 'not_image', detail: `unsupported format ${meta.format ?? '?'}` };
    header = { format: meta.format, width: meta.width ?? 0, height: meta.height ?? 0, orientation: meta.orientation };
  }
  // EXIF orientations 5-8 swap the sides
  const swap = (header.orientation ?? 1) >= 5;
  const ow = swap ? header.height : header.width;
  const oh = swap ? header.width : header.height;
  if (!ow || !oh) return { ok: false, reason: 'decode', detail: 'image has no size' };
  if (ow * oh > maxPixels) return { ok: false, reason: 'too_large', detail: `${ow}x${oh} pixels is over the ${maxPixels} limit` };
  if (minSize && Math.min(ow, oh) < minSize) return { ok: false, reason: 'too_small', detail: `${ow}x${oh} under ${minSize}` };
  const aspect = Math.max(ow, oh) / Math.min(ow, oh);
  if (maxAspect !== undefined && aspect > maxAspect) return { ok: false, reason: 'bad_aspect', detail: `aspect ${aspect.toFixed(2)} over ${maxAspect}` };

  try {
    let img = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', pages: 1 }).rotate();
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
