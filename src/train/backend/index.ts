/**
 * The one place that picks the TensorFlow.js backend for training, evaluation and filtering.
 * auto: @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node (optional peer dependencies: libtensorflow),
 * then WebAssembly (SIMD, and threads through ./wasm-threads.ts), then plain JS.
 */
import os from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { loadTf, tf, whenTfLoads } from '../../util/tf.js';
import { UsageError, WitError, errorMessage } from '../../util/errors.js';
import { wasmDistDir, withNodeWasmThreads } from './wasm-threads.js';
import { registerWasmKernels } from './wasm-kernels.js';
import './quiet.js';
import { DEVICES, INFERENCE_BACKEND_NAMES, announceBackend, setBackendAnnouncer, type Device, type InferenceBackendName } from './inference-options.js';

export { DEVICES, INFERENCE_BACKEND_NAMES, announceBackend, setBackendAnnouncer, type Device, type InferenceBackendName };

/**
 * The WebAssembly backend (registers itself with tfjs); required, not imported, as ../../util/tf.ts
 * says why, and only once tfjs itself is loaded (on its first use), right after it.
 */
let tfwasm!: typeof import('@tensorflow/tfjs-backend-wasm');
whenTfLoads(() => {
  tfwasm = createRequire(import.meta.url)('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
});

export type BackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/** The backend names `--backend` accepts. */
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendOptions {
  /** Threads of wit's GEMM on wasm (capped at 16); default: the machine's available parallelism. */
  threads?: number;
}

export interface BackendInfo {
  /** tfjs backend name now active: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** What was taken and why, for the progress line and the run's metrics. */
  detail: string;
}

/** Most threads wit's GEMM pool runs. */
const MAX_WASM_THREADS = 16;
const XNNPACK_THREADS = 1;

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

let current: BackendInfo | null = null;
let wasmInit: Promise<BackendInfo> | null = null;

/**
 * Picks and initialises the tfjs backend and makes it the active one.
 * auto tries @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node, then wasm (threads + SIMD), then cpu.
 * Resolves to the backend taken with a one-line description.
 * Throws UsageError when an explicitly requested backend is not installed (with the install command),
 * WitError when it is installed but fails to start. The wasm backend can be initialised once per
 * process, so a later call with other `threads` keeps the first thread count (its detail says so).
 */
export async function initBackend(name: BackendName, opts: BackendOptions = {}): Promise<BackendInfo> {
  // tfjs and the wasm backend registered before a native package loads, as when they loaded with this module.
  loadTf();
  switch (name) {
    case 'auto': {
      const skipped: string[] = [];
      for (const pkg of NATIVE_PACKAGES) {
        const r = await tryNative(pkg);
        if (r.ok) return r.info;
        if (r.reason !== 'not installed') skipped.push(`${pkg}: ${r.reason}`);
      }
      try {
        const info = await initWasm(opts.threads);
        return note(info, skipped);
      } catch (err) {
        skipped.push(`wasm: ${errorMessage(err)}`);
      }
      return note(await initCpu(), skipped);
    }
    case 'tensorflow': {
      const reasons: string[] = [];
      for (const pkg of NATIVE_PACKAGES) {
        const r = await tryNative(pkg);
        if (r.ok) return r.info;
        reasons.push(`${pkg}: ${r.reason}`);
      }
      if (reasons.every((r) => r.endsWith('not installed'))) {
        throw new UsageError(
          'train',
          'backend tensorflow needs @tensorflow/tfjs-node (or -gpu for CUDA), which is not installed: ' +
            'npm install @tensorflow/tfjs-node',
        );
      }
      throw new WitError('train', `backend tensorflow failed to start: ${reasons.join('; ')}`);
    }
    case 'wasm':
      try {
        return await initWasm(opts.threads);
      } catch (err) {
        if (err instanceof WitError) throw err;
        throw new WitError('train', `wasm backend failed to start: ${errorMessage(err)}`, { cause: err });
      }
    case 'cpu':
      return initCpu();
    default:
      throw new UsageError('train', `unknown backend ${JSON.stringify(name)} (expected ${BACKEND_NAMES.join(', ')})`);
  }
}

/** What pickInferenceBackend decided: ONNX Runtime on a device, or a tfjs backend (initBackend's name); `skipped` says why onnx was not taken under auto. */
export type InferencePick = { kind: 'onnx'; device: Device } | { kind: 'tfjs'; tfjs?: BackendName; skipped?: string };

/**
 * The one place that picks the inference backend (docs/ARCHITECTURE.md, "ONNX"). auto: onnx when
 * onnxruntime-node loads, else tfjs's auto (tfjs-node, wasm, cpu), which always works. onnx (or
 * `device` cuda) when onnxruntime-node is missing: UsageError with the install command; installed but
 * failing to load: WitError. A tfjs backend with device cuda: UsageError (CUDA is ONNX Runtime's).
 */
export async function pickInferenceBackend(name: InferenceBackendName, opts: { device?: Device } = {}): Promise<InferencePick> {
  const device = opts.device ?? 'auto';
  if (!DEVICES.includes(device)) throw new UsageError('train', `unknown device ${JSON.stringify(device)} (expected ${DEVICES.join(', ')})`);
  if (!INFERENCE_BACKEND_NAMES.includes(name)) throw new UsageError('train', `unknown backend ${JSON.stringify(name)} (expected ${INFERENCE_BACKEND_NAMES.join(', ')})`);
  if (name !== 'auto' && name !== 'onnx') {
    if (device === 'cuda') throw new UsageError('train', `--device cuda runs on the onnx backend, not ${name}`);
    return { kind: 'tfjs', tfjs: name };
  }
  const { loadOrt, ORT_PACKAGE } = await import('../onnx/runtime.js');
  const r = await loadOrt();
  if (r.ok) return { kind: 'onnx', device };
  if (name === 'auto' && device !== 'cuda') return { kind: 'tfjs', tfjs: 'auto', skipped: r.reason.startsWith('not installed') ? undefined : r.reason };
  if (r.reason.startsWith('not installed')) throw new UsageError('train', `backend onnx needs ${ORT_PACKAGE}, which is not installed: npm install ${ORT_PACKAGE}`);
  throw new WitError('train', `backend onnx failed to start: ${r.reason}`);
}

/** The backend chosen by the last initBackend call in this process, or null. */
export function currentBackend(): BackendInfo | null {
  return current;
}

function note(info: BackendInfo, skipped: string[]): BackendInfo {
  return skipped.length ? { ...info, detail: `${info.detail} (skipped ${skipped.join('; ')})` } : info;
}

type NativeResult = { ok: true; info: BackendInfo } | { ok: false; reason: string };

async function tryNative(pkg: (typeof NATIVE_PACKAGES)[number]): Promise<NativeResult> {
  let resolved: string;
  try {
    resolved = createRequire(import.meta.url).resolve(pkg);
  } catch {
    return { ok: false, reason: 'not installed' };
  }
  try {
    // Imported by its resolved file: tsc must not need (or look for) the optional packages' types.
    await import(pathToFileURL(resolved).href);
  } catch (err) {
    return { ok: false, reason: `installed but failed to load: ${errorMessage(err)}` };
  }
  try {
    if (!(await tf.setBackend('tensorflow'))) return { ok: false, reason: 'backend "tensorflow" did not initialise' };
    await tf.ready();
  } catch (err) {
    return { ok: false, reason: errorMessage(err) };
  }
  const detail =
    pkg === '@tensorflow/tfjs-node-gpu'
      ? 'libtensorflow through @tensorflow/tfjs-node-gpu (CUDA GPU when one is visible, else its CPU kernels)'
      : 'libtensorflow through @tensorflow/tfjs-node (native CPU kernels)';
  current = { name: 'tensorflow', detail };
  return { ok: true, info: current };
}

async function initWasm(threadsWanted: number | undefined): Promise<BackendInfo> {
  if (threadsWanted !== undefined && (!Number.isInteger(threadsWanted) || threadsWanted < 1)) {
    throw new UsageError('train', `--threads must be a positive integer, got ${threadsWanted}`);
  }
  if (!wasmInit) {
    const fromEnv = Number(process.env.WIT_GEMM_THREADS);
    const threads = Math.min(MAX_WASM_THREADS, threadsWanted ?? (Number.isInteger(fromEnv) && fromEnv >= 1 ? fromEnv : os.availableParallelism()));
    wasmInit = startWasm(threads);
    wasmInit.catch(() => {
      wasmInit = null;
    });
  }
  const info = await wasmInit;
  if (!(await tf.setBackend('wasm'))) throw new WitError('train', 'wasm backend did not initialise');
  current = info;
  return info;
}

async function startWasm(threads: number): Promise<BackendInfo> {
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  const sharedMemory = typeof SharedArrayBuffer === 'function';
  // The threaded build even for one thread: its memory is shared, which wit's GEMM workers need.
  let useThreads = simd && sharedMemory;
  const dir = wasmDistDir();
  tfwasm.setWasmPaths(dir);
  let threadedFailure = '';
  if (useThreads) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    // XNNPACK's own pool stays at one thread: tfjs runs few ops on it, and its idle threads spin (measured:
    // +35% CPU per training step with 2), while the matmuls run on wit's GEMM threads.
    tfwasm.setThreadsCount(XNNPACK_THREADS);
    try {
      useThreads = await withNodeWasmThreads(XNNPACK_THREADS, dir, () => tf.setBackend('wasm'));
    } catch (err) {
      useThreads = false;
      threadedFailure = errorMessage(err);
    }
  }
  if (!useThreads) {
    // Plain build: works anywhere wasm does, one thread, tfjs's own matmul.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    await tf.setBackend('wasm');
  }
  if (tf.getBackend() !== 'wasm') throw new WitError('train', 'wasm backend did not initialise');
  await tf.ready();
  const gemm = await registerWasmKernels(threads);
  const actual = tfwasm.getThreadsCount();
  const plural = (n: number): string => `${n} thread${n === 1 ? '' : 's'}`;
  const features = [
    simd ? 'SIMD' : 'no SIMD',
    `XNNPACK on ${plural(actual)}`,
    gemm.threads ? `wit GEMM${gemm.fma ? ' with FMA' : ''} on ${plural(gemm.threads)}` : 'tfjs matmul (no shared memory for wit GEMM)',
  ];
  if (!useThreads) features.push(threadedFailure ? `threaded build failed: ${threadedFailure}` : sharedMemory ? 'threads need SIMD' : 'no SharedArrayBuffer');
  return { name: 'wasm', detail: `WebAssembly (${features.join(', ')}, wit's training kernels)` };
}

async function initCpu(): Promise<BackendInfo> {
  if (!(await tf.setBackend('cpu'))) throw new WitError('train', 'cpu backend did not initialise');
  await tf.ready();
  current = { name: 'cpu', detail: 'plain JavaScript (slow: install @tensorflow/tfjs-node or use wasm)' };
  return current;
}
