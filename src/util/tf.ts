/**
 * TensorFlow.js, loaded with require. An ESM `import * as tf from '@tensorflow/tfjs'` makes Node scan
 * the CommonJS bundles of tfjs and every package it re-exports (core, layers, converter, data,
 * backends: megabytes) for their export names before any code runs: 0.4 s of CPU on every start of
 * a command that trains or embeds, a third of refusing a bad input (the hostile-input suite spawns
 * the CLI hundreds of times). `require` skips that scan; the instance is the same one the backends
 * (tfjs-node, tfjs-backend-wasm) register with. Every src/ module takes `tf` from here.
 */
import { createRequire } from 'node:module';
import type * as TF from '@tensorflow/tfjs';

let loaded: typeof TF | undefined;
const onLoad: Array<(t: typeof TF) => void> = [];

function load(): typeof TF {
  if (!loaded) {
    loaded = createRequire(import.meta.url)('@tensorflow/tfjs') as typeof TF;
    for (const f of onLoad) f(loaded);
  }
  return loaded;
}

/** Loads tfjs now (and runs what waits for it, {@link whenTfLoads}); returns it. */
export function loadTf(): typeof TF {
  return load();
}

/**
 * Runs `f` once tfjs is loaded (at once when it is): the modules whose import used to load tfjs for
 * its effect (../train/backend/quiet.ts's PROD flag, the wasm backend's registration) run then.
 */
export function whenTfLoads(f: (t: typeof TF) => void): void {
  if (loaded) f(loaded);
  else onLoad.push(f);
}

/**
 * tfjs, required on the first use of any of its members, not when a module that names it is
 * imported: a command that refuses its input before it computes anything (a missing file, a bad
 * flag) never loads it (0.2 s of CPU and 40 MB of memory on each such start).
 */
export const tf = new Proxy({} as typeof TF, {
  get: (_t, key) => Reflect.get(load(), key),
  has: (_t, key) => Reflect.has(load(), key),
}) as typeof TF;

/** The tfjs types src/ names as `tf.X` (a type-only namespace: it merges with the value above). */
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace tf {
  export type Rank = TF.Rank;
  export type Tensor<R extends TF.Rank = TF.Rank> = TF.Tensor<R>;
  export type Scalar = TF.Scalar;
  export type Tensor1D = TF.Tensor1D;
  export type Tensor2D = TF.Tensor2D;
  export type Tensor3D = TF.Tensor3D;
  export type Tensor4D = TF.Tensor4D;
  export type Variable<R extends TF.Rank = TF.Rank> = TF.Variable<R>;
  export type TensorInfo = TF.TensorInfo;
  export type NamedTensorInfoMap = TF.NamedTensorInfoMap;
  export type NamedAttrMap = TF.NamedAttrMap;
  export type KernelFunc = TF.KernelFunc;
  export type DataType = TF.DataType;
  export namespace io {
    export type WeightsManifestEntry = TF.io.WeightsManifestEntry;
  }
}
