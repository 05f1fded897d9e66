import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../util/errors.js';
import { openInputFile, readFully, readInputText } from '../util/input.js';
import { throwIfInterrupted } from '../util/interrupt.js';

/**
 * The checks of a TensorFlow.js weights manifest and its files (src/train/weights-io.ts writes them)
 * that need no TensorFlow.js: `loadWeights` runs them before it decodes tensors, and `wit report`
 * runs {@link checkWeightsFiles} on the models it shows, so a model whose weights are cut short or
 * overwritten is reported by the report as it would be refused by every command that loads it.
 */

/** One group of a weights manifest: its files and the tensors packed in them, in order. */
export interface ManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

/**
 * Checks a weights manifest before anything is read: file names that stay in the directory, tensors
 * with a name, a float32 dtype and a shape of non-negative integers, no name twice. Returns the bytes
 * each group needs.
 */
export function checkManifest(jsonPath: string, groups: unknown, stage = 'train'): Array<ManifestGroup & { bytes: number }> {
  const bad = (msg: string): never => {
    throw new InputError(stage, jsonPath, msg);
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

/** Reads `dir/<name>.json`: the JSON object (InputError naming it when unreadable or not an object). */
export async function readWeightsJson(dir: string, name: string, stage = 'train'): Promise<{ jsonPath: string; json: { weightsManifest?: unknown } & Record<string, unknown> }> {
  const jsonPath = join(dir, `${name}.json`);
  let json: { weightsManifest?: unknown } & Record<string, unknown>;
  try {
    json = JSON.parse(await readInputText(jsonPath, { kind: 'config', stage }));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(stage, jsonPath, `cannot read weights manifest: ${(err as Error).message}`, { cause: err });
  }
  if (!json || typeof json !== 'object') throw new InputError(stage, jsonPath, 'not a weights manifest (a JSON object)');
  return { jsonPath, json };
}

/** The files of a group, their sizes compared with what the manifest needs (InputError "truncated?" otherwise). */
export async function checkGroupFiles(dir: string, g: ManifestGroup & { bytes: number }, stage = 'train'): Promise<string[]> {
  const files = g.paths.map((p) => join(dir, p));
  const sizes = await Promise.all(files.map((f) => stat(f).then((st) => (st.isFile() ? st.size : -1), (err: Error) => {
    throw new InputError(stage, f, `cannot read weights: ${err.message}`, { cause: err });
  })));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (sizes.includes(-1) || total !== g.bytes) throw new InputError(stage, files[0]!, `weights file has ${total} bytes, manifest needs ${g.bytes} (truncated?)`);
  return files;
}

/** Bytes read at a time by {@link checkWeightsFiles} (a multiple of 4). */
const CHUNK = 16 << 20;

/**
 * Checks a model's weights without loading them: the manifest, the files' sizes against it and
 * every value for NaN and infinities (as `loadWeights` and `checkFinite` do), reading the files in
 * chunks, so memory stays at one chunk whatever the model's size. Resolves to the tensors and
 * values checked; throws InputError naming the file (and the tensor) at fault.
 */
export async function checkWeightsFiles(dir: string, name: string, stage = 'train'): Promise<{ tensors: number; values: number }> {
  const { jsonPath, json } = await readWeightsJson(dir, name, stage);
  const groups = checkManifest(jsonPath, json.weightsManifest, stage);
  let tensors = 0;
  let values = 0;
  const chunk = new Uint8Array(CHUNK);
  for (const g of groups) {
    const files = await checkGroupFiles(dir, g, stage);
    // The group's files are one byte sequence; tensors follow each other in it.
    let t = 0;
    let left = g.weights[0] ? g.weights[0].shape.reduce((a, d) => a * d, 1) : 0;
    let at = 0;
    const skipEmpty = () => {
      while (t < g.weights.length && left === 0) {
        t++;
        at = 0;
        left = t < g.weights.length ? g.weights[t]!.shape.reduce((a, d) => a * d, 1) : 0;
      }
    };
    let carry = 0; // bytes of a value cut by a file's end, kept at the front of `chunk`
    for (const f of files) {
      const { fh, size } = await openInputFile(f, { kind: 'weights', stage });
      try {
        for (let pos = 0; pos < size; ) {
          throwIfInterrupted();
          const n = await readFully(fh, chunk, carry, Math.min(CHUNK - carry, size - pos), pos);
          if (!n) throw new InputError(stage, f, `weights file ended at ${pos} bytes, manifest needs ${g.bytes} (truncated?)`);
          pos += n;
          const have = carry + n;
          const whole = have - (have % 4);
          const floats = new Float32Array(chunk.buffer, 0, whole / 4);
          for (let i = 0; i < floats.length; ) {
            skipEmpty();
            if (t >= g.weights.length) throw new InputError(stage, f, `weights file holds more than the ${g.bytes} bytes the manifest needs (it grew while being read?)`);
            const take = Math.min(left, floats.length - i);
            for (let j = 0; j < take; j++) {
              const x = floats[i + j]!;
              if (x - x !== 0) {
                throw new InputError(stage, f, `tensor ${g.weights[t]!.name} holds a non-finite value (${x} at index ${at + j}); NaN or infinite weights make every score NaN, so the model is refused`);
              }
            }
            i += take;
            at += take;
            left -= take;
            values += take;
          }
          carry = have - whole;
          chunk.copyWithin(0, whole, have);
        }
      } finally {
        await fh.close();
      }
    }
    tensors += g.weights.length;
  }
  return { tensors, values };
}
