/** The image options' schema, apart from image.ts so that the CLI can list flags without loading sharp. */
import { defineOptions, type CompatName, type OptionsInput, type ResolvedOptions } from '../util/options.js';

/** img2dataset's name of a flag (README.md, "Coming from img2dataset"). */
export function img2dataset(name: string, more: Omit<CompatName, 'name' | 'tool'> = {}): CompatName {
  return { name, tool: 'img2dataset', ...more };
}

/**
 * How an image is fitted into `imageSize`, as img2dataset names and defines the modes (its resizer):
 * no (original size), keep_ratio (shorter side to size), keep_ratio_largest (longer side to size),
 * center_crop (shorter side to size, then the centre square), border (longer side to size, then white
 * padding to a square), fixed (stretched to a square).
 */
export const RESIZE_MODES = ['border', 'center_crop', 'keep_ratio', 'keep_ratio_largest', 'fixed', 'no'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];
/** Stored encodings. */
export const IMAGE_ENCODINGS = ['jpg', 'webp', 'png'] as const;
export type ImageEncoding = (typeof IMAGE_ENCODINGS)[number];

/**
 * Options of image validation and resizing, declared once (docs/ARCHITECTURE.md, "Options"); the
 * crawl's schema includes them, so the CLI flags, the library types and the bounds come from here.
 */
export const imageOptionsSchema = defineOptions({
  imageSize: { type: 'int', min: 8, max: 8192, default: 256, help: 'stored image size in pixels', compat: [img2dataset('image_size')] },
  resizeMode: {
    type: 'string', choices: RESIZE_MODES, default: 'border', compat: [img2dataset('resize_mode')],
    help: 'fit into --image-size as img2dataset does (border: longer side to size, white padding to a square; center_crop: shorter side to size, centre square; keep_ratio: shorter side to size; keep_ratio_largest: longer side to size; fixed: stretched to a square; no: original size)',
  },
  resizeOnlyIfBigger: {
    type: 'boolean', default: false, compat: [img2dataset('resize_only_if_bigger')],
    help: 'resize only images larger than --image-size (by the side the mode measures); smaller ones keep their size',
  },
  encode: { type: 'string', choices: IMAGE_ENCODINGS, default: 'jpg', help: 'stored image encoding', compat: [img2dataset('encode_format')] },
  quality: { type: 'int', min: 1, max: 100, default: 95, help: 'encoder quality (jpg, webp; png is lossless)', compat: [img2dataset('encode_quality')] },
  minSize: { type: 'int', min: 0, default: 0, flag: 'min-image-side', aliases: ['min-size'], metavar: 'PX', help: 'drop images whose shorter original side is smaller, in pixels (0: any)', compat: [img2dataset('min_image_size')] },
  maxAspect: { type: 'number', min: 1, help: 'largest accepted ratio of long to short side (default: any)', compat: [img2dataset('max_aspect_ratio')] },
  maxPixels: { type: 'int', min: 1, default: 8192 * 8192, metavar: 'PX', help: 'largest accepted width x height of an original (decompression bombs)', compat: [img2dataset('max_image_area')] },
});

/** Image options as callers give them (every field has a default but maxAspect). */
export type ImageOptions = OptionsInput<typeof imageOptionsSchema>;
/** Image options with defaults filled in. */
export type ResolvedImageOptions = ResolvedOptions<typeof imageOptionsSchema>;


/**
 * The image options of a resolved crawl (every key of the image schema, so that a new image option
 * reaches the resizer of local and distributed runs alike, never listed twice).
 */
export function imageOptionsOf(r: Partial<ResolvedImageOptions>): ImageOptions {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(imageOptionsSchema)) if ((r as Record<string, unknown>)[k] !== undefined) out[k] = (r as Record<string, unknown>)[k];
  return out as ImageOptions;
}
