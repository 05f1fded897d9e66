import { guardImage, guardedSharp } from '../util/image-guard.js';
import type { Rng } from '../util/rng.js';

/** CLIP's normalisation constants (RGB). */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/**
 * A random resized crop, drawn in the main thread (so augmentation is a pure function of the
 * seed and the sample's position) and applied in a decode worker once the image size is known.
 * Fractions, not pixels, because the worker learns the size only when it decodes the header.
 */
export interface CropSpec {
  /** Area of the crop as a fraction of the image. */
  scale: number;
  /** Log of the crop's aspect ratio (w/h). */
  logRatio: number;
  /** Position of the crop in the free space, 0..1 horizontally and vertically. */
  u: number;
  v: number;
}

/** Augmentation ranges (open_clip's defaults: scale 0.9..1, ratio 3/4..4/3). */
export interface CropRange {
  scale: [number, number];
  ratio: [number, number];
}

export const DEFAULT_CROP_RANGE: CropRange = { scale: [0.9, 1], ratio: [3 / 4, 4 / 3] };

/** Draws one crop from rng. */
export function sampleCrop(rng: Rng, range: CropRange = DEFAULT_CROP_RANGE): CropSpec {
  return {
    scale: rng.uniform(range.scale[0], range.scale[1]),
    logRatio: rng.uniform(Math.log(range.ratio[0]), Math.log(range.ratio[1])),
    u: rng.next(),
    v: rng.next(),
  };
}

/** Pixel rectangle of a crop in a w×h image (clamped to the image, never empty). */
export function cropRect(c: CropSpec, w: number, h: number): { left: number; top: number; width: number; height: number } {
  const area = c.scale * w * h;
  const r = Math.exp(c.logRatio);
  const cw = Math.max(1, Math.min(w, Math.round(Math.sqrt(area * r))));
  const ch = Math.max(1, Math.min(h, Math.round(Math.sqrt(area / r))));
  return { left: Math.floor(c.u * (w - cw + 1)) % (w - cw + 1), top: Math.floor(c.v * (h - ch + 1)) % (h - ch + 1), width: cw, height: ch };
}

/**
 * Decodes image bytes to size×size RGB bytes, alpha flattened onto white. With a crop: the crop's
 * rectangle resized to the square (training). Without: resize the short side to `size` and take the
 * centre (evaluation, as CLIP's preprocessing). Bicubic. The shared image guard
 * (src/util/image-guard.ts) sees the bytes first: a vector format (SVG, PDF) or a header declaring
 * more than MAX_IMAGE_PIXELS rejects with ImageRefusedError before anything is decoded.
 * Throws when the bytes do not decode.
 */
export async function decodeRgb(bytes: Uint8Array, size: number, crop?: CropSpec): Promise<Uint8Array> {
  const header = await guardImage(bytes);
  let img = guardedSharp(bytes);
  if (crop) {
    // the header's size is the stored (unrotated) size, which is what extract() addresses
    img = img.extract(cropRect(crop, header.width, header.height)).resize(size, size, { fit: 'fill', kernel: 'cubic' });
  } else {
    img = img.resize(size, size, { fit: 'cover', position: 'centre', kernel: 'cubic' });
  }
  const out = await img.flatten({ background: '#ffffff' }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (out.info.channels !== 3 || out.data.length !== size * size * 3) throw new Error(`decoded to ${out.info.channels} channels, ${out.data.length} bytes`);
  return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
}

/**
 * RGB bytes of n images -> normalised float32 ((x/255 − mean)/std, CLIP's constants unless the
 * model's config gives others), written into `out` at `offset` (pixels·3).
 */
export function normalizeInto(rgb: Uint8Array, out: Float32Array, offset: number, mean: readonly number[] = CLIP_MEAN, std: readonly number[] = CLIP_STD): void {
  const m0 = mean[0]! * 255, m1 = mean[1]! * 255, m2 = mean[2]! * 255;
  const s0 = 1 / (std[0]! * 255), s1 = 1 / (std[1]! * 255), s2 = 1 / (std[2]! * 255);
  for (let i = 0; i < rgb.length; i += 3) {
    out[offset + i] = (rgb[i]! - m0) * s0;
    out[offset + i + 1] = (rgb[i + 1]! - m1) * s1;
    out[offset + i + 2] = (rgb[i + 2]! - m2) * s2;
  }
}
