import { stat } from 'node:fs/promises';
import { UsageError, WitError, messageWithoutStage } from '../util/errors.js';
import type { ClipHandle } from '../train/index.js';
import type { Device, InferenceBackendName } from '../train/backend/inference-options.js';

/**
 * Scores a batch of pairs: the cosine similarity of each image's and caption's embeddings,
 * one float per pair, in input order; NaN for a pair it could not score, whose error it passes to
 * `onFailure` (the filter counts it by reason: `image_refused` from the image guard, else
 * `undecodable`). Rejects when the batch cannot be scored (the caller then scores the pairs one by
 * one to find the undecodable image).
 */
export type Scorer = (images: Uint8Array[], captions: string[], onFailure?: (index: number, err: unknown) => void) => Promise<Float32Array>;

/**
 * The part of the train stage's ClipHandle (src/train/clip.ts) the filter needs. With `decoder`
 * and `embedPixels` present, images are decoded one by one in the handle's worker threads, so an
 * undecodable image costs only its own pair.
 */
export interface ClipEncoders {
  embedImages(encoded: Uint8Array[]): Promise<Float32Array[]>;
  embedTexts(texts: string[]): Promise<Float32Array[]>;
  imageSize?: number;
  decoder?: { decode(bytes: Uint8Array, size: number): Promise<Uint8Array> };
  embedPixels?(rgb: Uint8Array[]): Promise<Float32Array[]>;
  dispose(): void | Promise<void>;
}

/** Cosine similarity of two vectors (0 when either is all zeros). */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new WitError('filter', `embedding sizes differ: ${a.length} vs ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  const d = Math.sqrt(na * nb);
  return d > 0 ? dot / d : 0;
}

/**
 * A Scorer from a CLIP's two encoders: cosine similarity of each pair's embeddings (NaN for a
 * pair whose image does not decode). Decoding is posted to the handle's worker threads first, so
 * it runs while the text encoder computes on this thread; a pipeline with two batches in flight
 * also overlaps one batch's decoding with the previous batch's encoders.
 */
export function clipScorer(clip: ClipEncoders): Scorer {
  return async (images, captions, onFailure) => {
    if (images.length !== captions.length) throw new WitError('filter', `batch has ${images.length} images but ${captions.length} captions`);
    const out = new Float32Array(images.length).fill(NaN);
    if (!images.length) return out;
    const { decoder, embedPixels, imageSize } = clip;
    if (decoder && embedPixels && imageSize) {
      const decoding = Promise.all(images.map((b, i) => decoder.decode(b, imageSize).then((rgb) => rgb, (err: unknown) => { onFailure?.(i, err); return undefined; })));
      const txt = await clip.embedTexts(captions);
      const rgb = await decoding;
      const ok = rgb.flatMap((p, i) => (p ? [i] : []));
      const img = ok.length ? await embedPixels(ok.map((i) => rgb[i]!)) : [];
      ok.forEach((i, j) => (out[i] = cosine(img[j]!, txt[i]!)));
      return out;
    }
    const imgP = clip.embedImages(images);
    // Keep a rejection of the image side from going unhandled while the texts are embedded.
    imgP.catch(() => undefined);
    const txt = await clip.embedTexts(captions);
    const img = await imgP;
    for (let i = 0; i < images.length; i++) out[i] = cosine(img[i]!, txt[i]!);
    return out;
  };
}

/** Backends a model can run on (src/train/backend/inference-options.ts). */
export type Backend = InferenceBackendName;

/**
 * Loads a model directory written by `wit train` (train's loadClip) and returns its encoders,
 * forwarding `batchSize` pairs at a time. Throws UsageError when the directory does not exist or
 * is not a model, InputError when its files are malformed.
 */
export async function loadEncoders(modelDir: string, opts: { backend?: Backend; device?: Device; batchSize?: number; threads?: number } = {}): Promise<ClipHandle> {
  let st;
  try {
    st = await stat(modelDir);
  } catch {
    throw new UsageError('filter', 'model directory does not exist', { file: modelDir });
  }
  if (!st.isDirectory()) throw new UsageError('filter', 'model must be a directory written by wit train', { file: modelDir });
  // Loaded lazily: tfjs is heavy and a run with only basic filters never needs it.
  const { loadClip } = await import('../train/index.js');
  try {
    return await loadClip(modelDir, { backend: opts.backend ?? 'auto', device: opts.device, batchSize: opts.batchSize, threads: opts.threads });
  } catch (err) {
    // Re-raised under the filter's name: a user who ran `wit filter` should not read "wit train: …".
    if (err instanceof WitError && err.exitCode !== 2) throw new WitError('filter', `cannot load the model: ${messageWithoutStage(err)}`, { cause: err });
    throw new UsageError('filter', `cannot load the model (${messageWithoutStage(err)})`, { cause: err });
  }
}
