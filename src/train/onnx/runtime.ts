/**
 * onnxruntime-node, an optional dependency, loaded by its resolved file (tsc needs no types of an
 * optional package, as backend/index.ts does for tfjs-node). The few parts of its API wit uses are typed here.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorMessage } from '../../util/errors.js';

export interface OrtTensor {
  readonly data: Float32Array | Int32Array;
  readonly dims: readonly number[];
  dispose?(): void;
}

export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface OrtSessionOptions {
  executionProviders?: string[];
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  executionMode?: 'sequential' | 'parallel';
  enableCpuMemArena?: boolean;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

export interface Ort {
  InferenceSession: { create(pathOrBytes: string | Uint8Array, options?: OrtSessionOptions): Promise<OrtSession> };
  Tensor: new (type: 'float32' | 'int32', data: Float32Array | Int32Array, dims: readonly number[]) => OrtTensor;
  listSupportedBackends?(): Array<{ name: string }>;
  env: { versions?: { node?: string } };
}

/** The npm package of ONNX Runtime for Node. */
export const ORT_PACKAGE = 'onnxruntime-node';

/** How to fetch the CUDA provider that onnxruntime-node's install skips here (.npmrc). */
export const CUDA_INSTALL_COMMAND = 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node';

type Loaded = { ok: true; ort: Ort; version: string; dir: string } | { ok: false; reason: string };
let loaded: Promise<Loaded> | null = null;

/**
 * Loads onnxruntime-node once per process. Resolves to it, or to why not: 'not installed', or the load
 * error of an installed package (a missing shared library, an unsupported platform). WIT_NO_ONNX=1
 * makes it 'not installed' (to run wit as on a machine without it).
 */
export function loadOrt(): Promise<Loaded> {
  loaded ??= (async (): Promise<Loaded> => {
    if (process.env.WIT_NO_ONNX === '1') return { ok: false, reason: 'not installed (WIT_NO_ONNX=1)' };
    let resolved: string;
    try {
      resolved = createRequire(import.meta.url).resolve(ORT_PACKAGE);
    } catch {
      return { ok: false, reason: 'not installed' };
    }
    try {
      const mod = (await import(pathToFileURL(resolved).href)) as Ort & { default?: Ort };
      const ort = mod.InferenceSession ? mod : mod.default!;
      return { ok: true, ort, version: ort.env.versions?.node ?? 'unknown version', dir: dirname(dirname(resolved)) };
    } catch (err) {
      return { ok: false, reason: `installed but failed to load: ${errorMessage(err)}` };
    }
  })();
  return loaded;
}

/** Whether onnxruntime-node's CUDA provider library was installed (it is fetched at install, not shipped). */
export function hasCudaProvider(packageDir: string): boolean {
  const lib = join(packageDir, 'bin', 'napi-v6', `${process.platform}`, `${process.arch}`, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so');
  return existsSync(lib);
}
