import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../util/errors.js';
import { readInputFile, readInputText } from '../util/input.js';
import { throwIfInterrupted } from '../util/interrupt.js';
import { checkFinite } from '../model/validate.js';
import './backend/quiet.js';

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

/** One group of a weights manifest: its files and the tensors packed in them, in order. */
interface ManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

/**
 * Checks a weights manifest before anything is read: file names that stay in the directory, tensors
 * with a name, a float32 dtype and a shape of non-negative integers, no name twice. Returns the bytes
 * each group needs.
 */
function checkManifest(jsonPath: string, groups: unknown): Array<ManifestGroup & { bytes: number }> {
  const bad = (msg: string): never => {
    throw new InputError('train', jsonPath, msg);
  };
  if (!Array.isArray(groups) || !groups.length) bad('no weightsManifest');
  const names = new Set<string>();
  return (groups as unknown[]).map((raw, gi) => {
    const g = raw as Partial<ManifestGroup>;
    if (!g || !Array.isArray(g.paths) || !g.paths.length || !Array.isArray(g.weights)) bad(`weightsManifest[${gi}] lacks paths or weights`);
    for (const p of g.paths!) {
      if (typeof p !== 'string' || !p || p !== basename(p) || p === '.' || p === '..') bad(`weightsManifest[${gi}] names the file ${JSON.stringify(p)}; weights files must sit next to the manifest`);
    }
    let bytes = 0;
    for (const w of g.weights!) {
      if (!w || typeof w.name !== 'string') bad(`weightsManifest[${gi}] has an entry without a name`);
      if (names.has(w.name)) bad(`tensor ${w.name} appears twice in the manifest`);
      names.add(w.name);
      if (w.dtype !== 'float32' || (w as { quantization?: unknown }).quantization !== undefined) bad(`tensor ${w.name} has dtype ${JSON.stringify(w.dtype)}; wit's weights are float32`);
      if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`tensor ${w.name} has a bad shape ${JSON.stringify(w.shape).slice(0, 80)}`);
      bytes += w.shape.reduce((a, d) => a * d, 1) * 4;
    }
    if (!Number.isSafeInteger(bytes)) bad(`the tensors of weightsManifest[${gi}] are too large`);
    return { paths: g.paths!, weights: g.weights!, bytes };
  });
}

/**
 * Reads what saveWeights wrote: tensors by name plus the JSON. The manifest is checked and the files'
 * sizes compared with it before they are read; every tensor is checked for NaN and infinities
 * (src/model/validate.ts), so no command loads a model that scores everything NaN. Throws InputError
 * naming the file (and the tensor).
 */
export async function loadWeights(dir: string, name: string): Promise<{ tensors: Record<string, tf.Tensor>; json: Record<string, unknown> }> {
  const jsonPath = join(dir, `${name}.json`);
  let json: { weightsManifest?: unknown } & Record<string, unknown>;
  try {
    json = JSON.parse(await readInputText(jsonPath, { kind: 'config', stage: 'train' }));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError('train', jsonPath, `cannot read weights manifest: ${(err as Error).message}`, { cause: err });
  }
  if (!json || typeof json !== 'object') throw new InputError('train', jsonPath, 'not a weights manifest (a JSON object)');
  const groups = checkManifest(jsonPath, json.weightsManifest);
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const g of groups) {
      const files = g.paths.map((p) => join(dir, p));
      const sizes = await Promise.all(files.map((f) => stat(f).then((st) => (st.isFile() ? st.size : -1), (err: Error) => {
        throw new InputError('train', f, `cannot read weights: ${err.message}`, { cause: err });
      })));
      const total = sizes.reduce((a, b) => a + b, 0);
      if (sizes.includes(-1) || total !== g.bytes) throw new InputError('train', files[0]!, `weights file has ${total} bytes, manifest needs ${g.bytes} (truncated?)`);
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
        checkFinite(new Float32Array(buf.buffer, at, n), w.name, files[0]!, 'train');
        at += 4 * n;
      }
      Object.assign(tensors, tf.io.decodeWeights(buf.buffer, g.weights));
    }
  } catch (err) {
    tf.dispose(Object.values(tensors));
    throw err;
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
