import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../util/errors.js';
import { readInputFile, readInputText } from '../util/input.js';

/**
 * The TensorFlow.js save format without tfjs-node: `<name>.json` holds a weights manifest
 * (`weightsManifest: [{ paths, weights: [{name, shape, dtype}] }]`, as tf.io writes it) and the
 * raw little-endian float32 bytes sit in `<name>.weights.bin`. tf.io.encodeWeights/decodeWeights
 * do the packing, so any tfjs loader that reads a weights manifest reads these files.
 */

/** Writes `dir/<name>.json` and its `.bin` (temp files then rename: never half a file). */
export async function saveWeights(dir: string, name: string, tensors: Record<string, tf.Tensor>, extra: Record<string, unknown> = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { data, specs } = await tf.io.encodeWeights(tensors);
  const bin = `${name}.weights.bin`;
  const json = {
    format: 'wit-clip',
    generatedBy: `TensorFlow.js tfjs-core v${tf.version_core}`,
    convertedBy: null,
    ...extra,
    weightsManifest: [{ paths: [bin], weights: specs }],
  };
  const tmpBin = join(dir, `.${bin}.tmp-${process.pid}`);
  const tmpJson = join(dir, `.${name}.json.tmp-${process.pid}`);
  await writeFile(tmpBin, new Uint8Array(data));
  await writeFile(tmpJson, JSON.stringify(json));
  await rename(tmpBin, join(dir, bin));
  await rename(tmpJson, join(dir, `${name}.json`));
}

/** Reads what saveWeights wrote: tensors by name plus the JSON. Throws InputError naming the file. */
export async function loadWeights(dir: string, name: string): Promise<{ tensors: Record<string, tf.Tensor>; json: Record<string, unknown> }> {
  const jsonPath = join(dir, `${name}.json`);
  let json: { weightsManifest?: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }> } & Record<string, unknown>;
  try {
    json = JSON.parse(await readInputText(jsonPath, { kind: 'config', stage: 'train' }));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError('train', jsonPath, `cannot read weights manifest: ${(err as Error).message}`, { cause: err });
  }
  const groups = json.weightsManifest;
  if (!Array.isArray(groups) || !groups.length) throw new InputError('train', jsonPath, 'no weightsManifest');
  const tensors: Record<string, tf.Tensor> = {};
  for (const g of groups) {
    const parts: Uint8Array[] = [];
    for (const p of g.paths) {
      try {
        parts.push(await readInputFile(join(dir, p), { kind: 'weights', stage: 'train' }));
      } catch (err) {
        if (err instanceof InputError) throw err;
        throw new InputError('train', join(dir, p), `cannot read weights: ${(err as Error).message}`, { cause: err });
      }
    }
    const total = parts.reduce((a, b) => a + b.length, 0);
    const buf = new Uint8Array(total);
    let o = 0;
    for (const p of parts) { buf.set(p, o); o += p.length; }
    const expected = g.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1) * 4, 0);
    if (total !== expected) throw new InputError('train', join(dir, g.paths[0]!), `weights file has ${total} bytes, manifest needs ${expected} (truncated?)`);
    Object.assign(tensors, tf.io.decodeWeights(buf.buffer, g.weights));
  }
  return { tensors, json };
}

/** Replaces directory `dst` with `src` (renames; the old one is removed after). */
export async function replaceDir(src: string, dst: string): Promise<void> {
  const old = `${dst}.old-${process.pid}`;
  await rm(old, { recursive: true, force: true });
  try {
    await rename(dst, old);
  } catch {
    /* no previous dir */
  }
  await rename(src, dst);
  await rm(old, { recursive: true, force: true });
}
