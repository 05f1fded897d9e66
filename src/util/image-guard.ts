/**
 * The one image guard (docs/ARCHITECTURE.md, "Reading inputs"): every place that decodes image
 * bytes (the crawl's resize, the decoders of train, filter, eval, embed and search, the report's
 * thumbnails) and every place that serves them (wit serve) asks it first. An image is accepted only
 * when its magic bytes name a raster format of ACCEPTED_IMAGE_FORMATS (never SVG, PDF or anything
 * libvips would render at a size the file only declares), and when width x height, read from the
 * header without decoding, is at most the pixel limit. The sharp instance that then decodes it
 * carries the same limit (`limitInputPixels`) as a second guard, and reads one page only.
 */
import type { Sharp } from 'sharp';
import { sharp } from './sharp.js';

/**
 * Raster formats wit decodes, by their magic bytes: what the web serves as photos (JPEG, PNG, WebP,
 * GIF, AVIF/HEIF) and TIFF. Vector and document formats (SVG, PDF, EPS) are refused: they are
 * rendered at the size they declare, so 130 bytes can cost gigabytes. BMP and the rest: libvips
 * as sharp ships it has no loader, so they could never decode anyway.
 */
export const ACCEPTED_IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'heif', 'tiff'] as const;
export type AcceptedImageFormat = (typeof ACCEPTED_IMAGE_FORMATS)[number];

/** Largest width x height decoded (8192²: 192 MiB of RGB at most, a few times a 24-megapixel photo). */
export const MAX_IMAGE_PIXELS = 8192 * 8192;

/** Why an image was refused by the guard. */
export type ImageRefusal = 'not_image' | 'too_large' | 'decode';

/**
 * An image the guard refused; `reason` is the counted reason (docs/ARCHITECTURE.md, "Errors and
 * dropped items"): every decoder counts it as `image_refused` and goes on with the next pair.
 */
export class ImageRefusedError extends Error {
  readonly reason = 'image_refused';
  constructor(readonly refusal: ImageRefusal, readonly detail: string) {
    super(`image refused: ${detail}`);
    this.name = 'ImageRefusedError';
  }
}

/** Cheap signature check, so that HTML served as image/jpeg is refused before libvips sees it. */
export function sniffImage(bytes: Uint8Array): AcceptedImageFormat | undefined {
  const b = bytes;
  if (b.length < 12) return undefined;
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  if (b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'webp';
  if (b[4] === 0x66 && b[5] === 0x74 && b[6] === 0x79 && b[7] === 0x70) return 'heif'; // ftyp: avif/heic
  if ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)) return 'tiff';
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

/** A name for bytes the guard does not accept, for the message: the vector formats by name. */
export function describeUnaccepted(b: Uint8Array): string {
  const head = Buffer.from(b.subarray(0, 512)).toString('latin1').replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart();
  if (/^%PDF-/.test(head)) return 'PDF (a document, not a raster image)';
  if (/^%!PS/.test(head)) return 'PostScript (a vector format, not a raster image)';
  if (/<svg[\s>]/i.test(head) || (/^<\?xml/i.test(head) && /<svg/i.test(Buffer.from(b.subarray(0, 4096)).toString('latin1')))) return 'SVG (a vector format, rendered at whatever size it declares)';
  if (b[0] === 0x42 && b[1] === 0x4d) return 'BMP (no decoder)';
  if (/^</.test(head)) return 'markup (HTML or XML), not an image';
  return 'not a known raster image format';
}

/** The guard's verdict: the header (format, size, orientation) or why the image is refused. */
export type ImageCheck = { ok: true; header: ImageHeader } | { ok: false; refusal: ImageRefusal; detail: string };

/**
 * Checks image bytes without decoding them: format by magic bytes (one of ACCEPTED_IMAGE_FORMATS),
 * then width x height from the header (in JS for JPEG, PNG, GIF and WebP; sharp's metadata(),
 * which reads only the header, for the rest) against `maxPixels`. Never throws.
 */
export async function checkImage(bytes: Uint8Array, maxPixels = MAX_IMAGE_PIXELS): Promise<ImageCheck> {
  const sniffed = sniffImage(bytes);
  if (!sniffed) return { ok: false, refusal: 'not_image', detail: describeUnaccepted(bytes) };
  let header = readImageHeader(bytes);
  if (!header) {
    try {
      const meta = await sharp(bytes, { limitInputPixels: false, failOn: 'none' }).metadata();
      if (!meta.format || !(ACCEPTED_IMAGE_FORMATS as readonly string[]).includes(String(meta.format) === 'avif' ? 'heif' : meta.format)) {
        return { ok: false, refusal: 'not_image', detail: `unsupported format ${meta.format ?? '?'}` };
      }
      header = { format: meta.format, width: meta.width ?? 0, height: meta.height ?? 0, orientation: meta.orientation };
    } catch (err) {
      return { ok: false, refusal: 'decode', detail: `cannot read the image header: ${(err as Error).message}` };
    }
  }
  if (!header.width || !header.height) return { ok: false, refusal: 'decode', detail: 'the image has no size' };
  if (header.width * header.height > maxPixels) return { ok: false, refusal: 'too_large', detail: `${header.width}x${header.height} pixels is over the ${maxPixels} limit` };
  return { ok: true, header };
}

/** checkImage that throws ImageRefusedError instead of returning a refusal. */
export async function guardImage(bytes: Uint8Array, maxPixels = MAX_IMAGE_PIXELS): Promise<ImageHeader> {
  const c = await checkImage(bytes, maxPixels);
  if (!c.ok) throw new ImageRefusedError(c.refusal, c.detail);
  return c.header;
}

/**
 * A sharp pipeline over bytes guardImage accepted: libvips refuses more than `maxPixels` on its
 * own too (limitInputPixels), decodes the first page only, and fails on a corrupt image.
 */
export function guardedSharp(bytes: Uint8Array, maxPixels = MAX_IMAGE_PIXELS): Sharp {
  return sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', pages: 1 });
}

/** The counted reason of a decode failure: `image_refused` from the guard, `undecodable` otherwise. */
export function decodeFailureReason(err: unknown): 'image_refused' | 'undecodable' {
  // a decode worker's reply carries only the message
  const msg = typeof err === 'string' ? err : err instanceof Error ? err.message : '';
  return err instanceof ImageRefusedError || msg.startsWith('image refused: ') ? 'image_refused' : 'undecodable';
}
