import { stat } from 'node:fs/promises';
import { UsageError, WitError } from '../util/errors.js';

/**
 * Scores a batch of pairs: the cosine similarity of each image's and caption's embeddings,
 * one float per pair, in input order. Rejects when the batch cannot be scored (the caller then
 * scores the pairs one by one to find the undecodable image).
 */
export type Scorer = (images: Uint8Array[], captions: string[]) => Promise<Float32Array>;

/** The part of the train stage's ClipHandle the filter needs (src/train/index.ts, loadClip). */
export interface ClipEncoders {
  embedImages(encoded: Uint8Array[]): Promise<Float32Array[]>;
  embedTexts(texts: string[]): Promise<Float32Array[]>;
  dispose(): void;
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
 * A Scorer from a CLIP's two encoders. The image encoder (which decodes) is started first so that
 * its decoding, which runs off the main thread, overlaps the text encoder's work.
 */
export function clipScorer(clip: ClipEncoders): Scorer {
  return async (images, captions) => {
    if (images.length !== captions.length) throw new WitError('filter', `batch has ${images.length} images but ${captions.length} captions`);
    if (!images.length) return new Float32Array(0);
    const imgP = clip.embedImages(images);
    // Keep a rejection of the image side from going unhandled while the texts are embedded.
    imgP.catch(() => undefined);
    const txt = await clip.embedTexts(captions);
    const img = await imgP;
    const out = new Float32Array(images.length);
    for (let i = 0; i < images.length; i++) out[i] = cosine(img[i]!, txt[i]!);
    return out;
  };
}

/** Backends the train stage can run on. */
export type Backend = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/**
 * Loads a model directory written by `wit train` and returns its encoders.
 * Throws UsageError when the directory does not exist or is not a model.
 */
export async function loadEncoders(modelDir: string, backend: Backend = 'auto'): Promise<ClipEncoders> {
  let st;
  try {
    st = await stat(modelDir);
  } catch {
    throw new UsageError('filter', 'model directory does not exist', { file: modelDir });
  }
  if (!st.isDirectory()) throw new UsageError('filter', 'model must be a directory written by wit train', { file: modelDir });
  // Loaded lazily: tfjs is heavy and a run with only basic filters never needs it.
  const train = await import('../train/index.js');
  try {
    return await train.loadClip(modelDir, { backend });
  } catch (err) {
    if (err instanceof WitError) throw err;
    throw new UsageError('filter', `cannot load the model: ${(err as Error).message}`, { file: modelDir, cause: err });
  }
}
