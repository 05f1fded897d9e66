import { stat } from 'node:fs/promises';
import type { ClipHandle } from '../train/index.js';
import { UsageError, WitError, messageWithoutStage } from '../util/errors.js';

import { type Device, type InferenceBackendName } from '../train/backend/inference-options.js';

/** Backends a model can run on (one place picks it: src/train/backend). */
export type Backend = InferenceBackendName;

/**
 * Loads a model directory (any wit model: trained by `wit train` or brought by `wit model import`)
 * for embedding. Throws UsageError naming the directory when it is missing or not a model.
 */
export async function openModel(dir: string, opts: { backend: Backend; device?: Device; batchSize?: number; threads?: number }, stage: string): Promise<ClipHandle> {
  const st = await stat(dir).catch(() => undefined);
  if (!st) throw new UsageError(stage, 'model directory does not exist', { file: dir });
  if (!st.isDirectory()) throw new UsageError(stage, 'a model is a directory written by wit train or wit model import', { file: dir });
  // Loaded lazily: tfjs is heavy.
  const { loadClip } = await import('../train/index.js');
  try {
    return await loadClip(dir, { backend: opts.backend, device: opts.device, batchSize: opts.batchSize, threads: opts.threads });
  } catch (err) {
    if (err instanceof WitError && err.exitCode !== 2) throw new WitError(stage, `cannot load the model: ${messageWithoutStage(err)}`, { cause: err });
    throw new UsageError(stage, `cannot load the model (${messageWithoutStage(err)})`, { file: dir, cause: err });
  }
}

/** Width of a model's embeddings. */
export function embedDim(handle: ClipHandle): number {
  return handle.config.arch.embed_dim;
}
