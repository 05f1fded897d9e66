import { tf } from '../util/tf.js';
import { initBackend, type BackendName } from './backend/index.js';
import { ImageDecoder } from './decoder.js';
import { loadModelDir, type ModelDirConfig } from './model-dir.js';
import { normalizeInto } from './preprocess.js';
import { l2Normalize } from './nn.js';
import type { ClipModel } from './model.js';
import type { TextTokenizer } from './tokenizer.js';

/** A trained CLIP ready for inference (used by eval, filter, demo, report). */
export interface ClipHandle {
  /** config.json of the model directory. */
  config: ModelDirConfig;
  /** Image side the model takes. */
  imageSize: number;
  /**
   * L2-normalised image embeddings of encoded images (JPEG/PNG/WebP/…: centre crop, CLIP
   * normalisation). Rejects with the decoder's message when an image does not decode; use
   * embedPixels with your own decoding to count failures per item.
   */
  embedImages(encoded: Uint8Array[]): Promise<Float32Array[]>;
  /** L2-normalised embeddings of images already decoded to imageSize² RGB bytes (ImageDecoder.decode output). */
  embedPixels(rgb: Uint8Array[]): Promise<Float32Array[]>;
  /** L2-normalised text embeddings. */
  embedTexts(texts: string[]): Promise<Float32Array[]>;
  /** exp(logit_scale): the temperature the model learned (≤ 100). */
  logitScale(): number;
  /** SigLIP's learned bias, when the model has one. */
  logitBias(): number | undefined;
  /** The decoder the handle uses (worker threads), for callers that decode ahead. */
  decoder: ImageDecoder;
  /** Frees the weights and ends the decode workers. */
  dispose(): Promise<void>;
}

/** Rows per forward pass when embedding (eval, filter): the one place this default is written. */
export const EMBED_BATCH_SIZE = 64;

/** Options of loadClip. */
export interface LoadClipOptions {
  /** Backend to initialise (default auto); pass 'keep' to use whatever is active. */
  backend?: BackendName | 'keep';
  /** Decode worker threads (default: cores - 1, max 4; 0 = inline). */
  decodeWorkers?: number;
  /** Rows per forward pass (default EMBED_BATCH_SIZE). */
  batchSize?: number;
}

function rows(t: tf.Tensor2D): Float32Array[] {
  const [n, d] = t.shape;
  const data = t.dataSync() as Float32Array;
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) out.push(data.slice(i * d, (i + 1) * d));
  return out;
}

/** Wraps a loaded model and tokenizer as a ClipHandle. */
export function clipHandle(model: ClipModel, tokenizer: TextTokenizer, config: ModelDirConfig, opts: LoadClipOptions = {}): ClipHandle {
  const size = model.config.vision.image_size;
  const l = model.config.text.context_length;
  const bs = opts.batchSize ?? EMBED_BATCH_SIZE;
  let decoder: ImageDecoder | undefined;
  const getDecoder = (): ImageDecoder => (decoder ??= new ImageDecoder({ workers: opts.decodeWorkers }));
  const embedPixels = async (rgb: Uint8Array[]): Promise<Float32Array[]> => {
    const out: Float32Array[] = [];
    const px = size * size * 3;
    for (let i = 0; i < rgb.length; i += bs) {
      const chunk = rgb.slice(i, i + bs);
      const buf = new Float32Array(chunk.length * px);
      chunk.forEach((c, j) => {
        if (c.length !== px) throw new Error(`embedPixels: image ${i + j} has ${c.length} bytes, expected ${px} (${size}x${size} RGB)`);
        normalizeInto(c, buf, j * px, model.config.image_mean, model.config.image_std);
      });
      const t = tf.tidy(() => l2Normalize(model.encodeImage(tf.tensor4d(buf, [chunk.length, size, size, 3]))) as tf.Tensor2D);
      out.push(...rows(t));
      t.dispose();
    }
    return out;
  };
  return {
    config,
    imageSize: size,
    get decoder() {
      return getDecoder();
    },
    async embedImages(encoded) {
      const d = getDecoder();
      return embedPixels(await Promise.all(encoded.map((b) => d.decode(b, size))));
    },
    embedPixels,
    async embedTexts(texts) {
      const out: Float32Array[] = [];
      for (let i = 0; i < texts.length; i += bs) {
        const chunk = texts.slice(i, i + bs);
        const { ids, eos } = tokenizer.encodeBatch(chunk);
        const t = tf.tidy(() => l2Normalize(model.encodeText(tf.tensor2d(ids, [chunk.length, l], 'int32'), tf.tensor1d(eos, 'int32'))) as tf.Tensor2D);
        out.push(...rows(t));
        t.dispose();
      }
      return out;
    },
    logitScale() {
      return Math.exp(model.params.get('logit_scale')!.dataSync()[0]!);
    },
    logitBias() {
      return model.params.has('logit_bias') ? model.params.get('logit_bias')!.dataSync()[0]! : undefined;
    },
    async dispose() {
      model.dispose();
      await decoder?.close();
    },
  };
}

/**
 * Loads a model directory written by `wit train` (or one of its checkpoints) for inference.
 * Resolves to a ClipHandle; throws UsageError when the directory is not a model, InputError
 * when its files are malformed.
 */
export async function loadClip(modelDir: string, opts: LoadClipOptions = {}): Promise<ClipHandle> {
  if (opts.backend !== 'keep') await initBackend(opts.backend ?? 'auto');
  const { model, tokenizer, config } = await loadModelDir(modelDir);
  return clipHandle(model, tokenizer, config, opts);
}
