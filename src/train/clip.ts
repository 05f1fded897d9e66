import { tf } from '../util/tf.js';
import { announceBackend, currentBackend, initBackend, pickInferenceBackend, type Device, type InferenceBackendName } from './backend/index.js';
import { ImageDecoder } from './decoder.js';
import { loadModelDir, type ModelDirConfig } from './model-dir.js';
import { normalizeInto } from './preprocess.js';
import type { ClipConfig } from './config.js';
import type { ClipModel } from './model.js';
import type { TextTokenizer } from './tokenizer.js';

/** A trained CLIP ready for inference (used by eval, filter, demo, report). */
export interface ClipHandle {
  /** config.json of the model directory. */
  config: ModelDirConfig;
  /** Image side the model takes. */
  imageSize: number;
  /** The backend it runs on (printed once by loadClip). */
  backend: HandleBackend;
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
  /** Backend (default auto: onnx when onnxruntime-node is installed, else tfjs's auto); 'keep': the active tfjs backend. */
  backend?: InferenceBackendName | 'keep';
  /** onnx backend: where it runs (default auto: CUDA when its provider is installed, else CPU). */
  device?: Device;
  /** CPU threads: onnx's intra-op threads, or the wasm backend's GEMM pool (default: WIT_GEMM_THREADS, else the machine's available parallelism). */
  threads?: number;
  /** Decode worker threads (default: cores - 1, max 4; 0 = inline). */
  decodeWorkers?: number;
  /** Rows per forward pass (default EMBED_BATCH_SIZE). */
  batchSize?: number;
}

/**
 * The forward passes of one backend over whole batches: what differs between tfjs (wasm, tfjs-node,
 * cpu) and ONNX Runtime. handleOver adds batching, preprocessing, tokenizing and the L2 normalisation.
 */
export interface TowerRunner {
  /** Image features [n, E] of n CLIP-normalised images [n, S, S, 3]. */
  images(pixels: Float32Array, n: number): Promise<Float32Array>;
  /** Text features [n, E] of n token rows [n, L] and their [EOS] positions. */
  texts(ids: Int32Array, eos: Int32Array, n: number): Promise<Float32Array>;
  logitScale(): number;
  logitBias(): number | undefined;
  dispose(): Promise<void>;
}

/** Which backend a handle runs on: `tfjs-wasm`, `tfjs-tensorflow`, `tfjs-cpu` or `onnx`, and the line printed for it. */
export interface HandleBackend {
  name: string;
  detail: string;
}

/** Rows of [n, d] features, each scaled to unit length (nn.ts's l2Normalize: x / sqrt(max(|x|², 1e-12))). */
function normalizedRows(f: Float32Array, n: number): Float32Array[] {
  const d = f.length / n;
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const row = f.slice(i * d, (i + 1) * d);
    let ss = 0;
    for (let j = 0; j < d; j++) ss += row[j]! * row[j]!;
    const k = 1 / Math.sqrt(Math.max(ss, 1e-12));
    for (let j = 0; j < d; j++) row[j] = row[j]! * k;
    out.push(row);
  }
  return out;
}

/** A ClipHandle over a backend's forward passes: batches of `batchSize`, preprocessing and tokenizing shared by every backend. */
export function handleOver(runner: TowerRunner, backend: HandleBackend, arch: ClipConfig, tokenizer: TextTokenizer, config: ModelDirConfig, opts: LoadClipOptions = {}): ClipHandle {
  const size = arch.vision.image_size;
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
        normalizeInto(c, buf, j * px, arch.image_mean, arch.image_std);
      });
      out.push(...normalizedRows(await runner.images(buf, chunk.length), chunk.length));
    }
    return out;
  };
  return {
    config,
    imageSize: size,
    backend,
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
        out.push(...normalizedRows(await runner.texts(ids, eos, chunk.length), chunk.length));
      }
      return out;
    },
    logitScale: () => runner.logitScale(),
    logitBias: () => runner.logitBias(),
    async dispose() {
      await runner.dispose();
      await decoder?.close();
    },
  };
}

/** The tfjs forward passes of a loaded model (on the active tfjs backend). */
export function tfjsRunner(model: ClipModel): TowerRunner {
  const s = model.config.vision.image_size;
  const l = model.config.text.context_length;
  const read = (f: () => tf.Tensor): Float32Array => {
    const t = tf.tidy(f);
    try {
      return t.dataSync() as Float32Array;
    } finally {
      t.dispose();
    }
  };
  return {
    images: async (pixels, n) => read(() => model.encodeImage(tf.tensor4d(pixels, [n, s, s, 3]))),
    texts: async (ids, eos, n) => read(() => model.encodeText(tf.tensor2d(ids, [n, l], 'int32'), tf.tensor1d(eos, 'int32'))),
    logitScale: () => Math.exp(model.params.get('logit_scale')!.dataSync()[0]!),
    logitBias: () => (model.params.has('logit_bias') ? model.params.get('logit_bias')!.dataSync()[0]! : undefined),
    dispose: async () => model.dispose(),
  };
}

/** Wraps a loaded model and tokenizer as a ClipHandle on the active tfjs backend. */
export function clipHandle(model: ClipModel, tokenizer: TextTokenizer, config: ModelDirConfig, opts: LoadClipOptions = {}): ClipHandle {
  const b = currentBackend();
  const backend = { name: `tfjs-${b?.name ?? tf.getBackend()}`, detail: b?.detail ?? tf.getBackend() };
  return handleOver(tfjsRunner(model), backend, model.config, tokenizer, config, opts);
}

/**
 * Loads a model directory written by `wit train` (or one of its checkpoints) for inference, on the
 * backend `pickInferenceBackend` takes (ONNX Runtime when installed, else tfjs). Resolves to a
 * ClipHandle; throws UsageError when the directory is not a model or the backend is not installed,
 * InputError when its files are malformed.
 */
export async function loadClip(modelDir: string, opts: LoadClipOptions = {}): Promise<ClipHandle> {
  const pick = opts.backend === 'keep' ? { kind: 'tfjs' as const } : await pickInferenceBackend(opts.backend ?? 'auto', { device: opts.device });
  if (pick.kind === 'onnx') {
    const { loadOnnxClip } = await import('./onnx/handle.js');
    const handle = await loadOnnxClip(modelDir, { ...opts, device: pick.device });
    // the matrix products around inference (eval's metrics, the filter's semantic dedup) stay on tfjs:
    // its backend must be ready before they run
    if (!currentBackend()) await initBackend('auto', { threads: opts.threads });
    announceBackend(handle.backend);
    return handle;
  }
  if (opts.backend !== 'keep') await initBackend(pick.tfjs ?? 'auto', { threads: opts.threads });
  const { model, tokenizer, config } = await loadModelDir(modelDir);
  const handle = clipHandle(model, tokenizer, config, opts);
  if (pick.skipped) handle.backend.detail += ` (skipped onnx: ${pick.skipped})`;
  if (opts.backend !== 'keep') announceBackend(handle.backend);
  return handle;
}
