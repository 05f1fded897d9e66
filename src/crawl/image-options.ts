/** The image options' schema, apart from image.ts so that the CLI can list flags without loading sharp. */
import { defineOptions, type OptionsInput, type ResolvedOptions } from '../util/options.js';

/** How an image is fitted into `imageSize`, as img2dataset names the modes. */
export const RESIZE_MODES = ['center_crop', 'keep_ratio', 'border'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];
/** Stored encodings. */
export const IMAGE_ENCODINGS = ['jpg', 'webp'] as const;
export type ImageEncoding = (typeof IMAGE_ENCODINGS)[number];

/**
 * Options of image validation and resizing, declared once (docs/ARCHITECTURE.md, "Options"); the
 * crawl's schema includes them, so the CLI flags, the library types and the bounds come from here.
 */
export const imageOptionsSchema = defineOptions({
  imageSize: { type: 'int', min: 8, max: 8192, default: 256, help: 'stored image size in pixels' },
  resizeMode: {
    type: 'string', choices: RESIZE_MODES, default: 'border',
    help: 'fit into --image-size as img2dataset does (center_crop: cover and crop; keep_ratio: smaller side to size; border: larger side to size, white padding)',
  },
  encode: { type: 'string', choices: IMAGE_ENCODINGS, default: 'jpg', help: 'stored image encoding' },
  quality: { type: 'int', min: 1, max: 100, default: 95, help: 'encoder quality' },
  minSize: { type: 'int', min: 0, default: 0, flag: 'min-image-side', aliases: ['min-size'], metavar: 'PX', help: 'drop images whose shorter original side is smaller, in pixels (0: any)' },
  maxAspect: { type: 'number', min: 1, help: 'largest accepted ratio of long to short side (default: any)' },
  maxPixels: { type: 'int', min: 1, default: 8192 * 8192, cli: false, help: 'largest accepted width x height (decompression bombs)' },
});

/** Image options as callers give them (every field has a default but maxAspect). */
export type ImageOptions = OptionsInput<typeof imageOptionsSchema>;
/** Image options with defaults filled in. */
export type ResolvedImageOptions = ResolvedOptions<typeof imageOptionsSchema>;

