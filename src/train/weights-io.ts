import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../util/tf.js';
import { InputError } from '../util/errors.js';
import { readInputFile } from '../util/input.js';
import { throwIfInterrupted } from '../util/interrupt.js';
import { checkFinite } from '../model/validate.js';
import { checkGroupFiles, checkManifest, readWeightsJson } from './weights-check.js';
import './backend/quiet.js';
import { tempOwner } from '../util/output.js';

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
  const tmpBin = join(dir, `.${bin}.tmp-${tempOwner()}`);
  const tmpJson = join(dir, `.${name}.json.tmp-${tempOwner()}`);
  await writeFile(tmpBin, new Uint8Array(data));
  await writeFile(tmpJson, JSON.stringify(json));
  await rename(tmpBin, join(dir, bin));
  await rename(tmpJson, join(dir, `${name}.json`));
}

/**
 * Reads what saveWeights wrote: tensors by name plus the JSON. The manifest is checked and the files'
 * sizes compared with it before they are read; every tensor is checked for NaN and infinities
 * (src/model/validate.ts), so no command loads a model that scores everything NaN. Throws InputError
 * naming the file (and the tensor).
 */
export async function loadWeights(dir: string, name: string): Promise<{ tensors: Record<string, tf.Tensor>; json: Record<string, unknown> }> {
  const { arrays, json } = await readWeightArrays(dir, name);
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const [n, a] of Object.entries(arrays)) tensors[n] = tf.tensor(a.data, [...a.shape], 'float32');
  } catch (err) {
    tf.dispose(Object.values(tensors));
    throw err;
  }
  return { tensors, json };
}

/**
 * What loadWeights reads, as Float32Arrays (views of one buffer per weights group) without tfjs: for
 * the ONNX backend, which hands the weights to ONNX Runtime. The same checks (manifest, sizes, finite
 * values); throws InputError naming the file and tensor.
 */
export async function readWeightArrays(dir: string, name: string): Promise<{ arrays: Record<string, { data: Float32Array; shape: number[] }>; json: Record<string, unknown> }> {
  const { jsonPath, json } = await readWeightsJson(dir, name);
  const groups = checkManifest(jsonPath, json.weightsManifest);
  const arrays: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const g of groups) {
    const files = await checkGroupFiles(dir, g);
    const buf = new Uint8Array(g.bytes);
    let o = 0;
    for (const f of files) {
      try {
        const part = await readInputFile(f, { kind: 'weights', stage: 'train' });
        if (o + part.length > buf.length) throw new Error('the file grew while being read');
        buf.set(part, o);
        o += part.length;
      } catch (err) {
        if (err instanceof InputError) throw err;
        throw new InputError('train', f, `cannot read weights: ${(err as Error).message}`, { cause: err });
      }
    }
    if (o !== g.bytes) throw new InputError('train', files[0]!, `weights file has ${o} bytes, manifest needs ${g.bytes} (truncated?)`);
    let at = 0;
    for (const w of g.weights) {
      const n = w.shape.reduce((a, d) => a * d, 1);
      // A stop request is heard between tensors (a large model's weights take seconds to check).
      throwIfInterrupted();
      const data = new Float32Array(buf.buffer, at, n);
      checkFinite(data, w.name, files[0]!, 'train');
      arrays[w.name] = { data, shape: [...w.shape] };
      at += 4 * n;
    }
  }
  return { arrays, json };
}

/** Replaces directory `dst` with `src` (renames; the old one is removed after). */
export async function replaceDir(src: string, dst: string): Promise<void> {
  const old = `${dst}.old-${tempOwner()}`;
  await rm(old, { recursive: true, force: true });
  try {
    await rename(dst, old);
  } catch {
    /* no previous dir */
  }
  await rename(src, dst);
  await rm(old, { recursive: true, force: true });
}
