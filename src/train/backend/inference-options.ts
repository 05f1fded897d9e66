/**
 * The inference backend's options, declared once for every command that runs a model forward (embed,
 * filter, eval, search, serve): a light module (no tfjs), so a command's help loads fast.
 */
import { defineOptions } from '../../util/options.js';

/** What `--backend` accepts where a model only runs forward: onnx and tfjs's backends. */
export type InferenceBackendName = 'auto' | 'onnx' | 'tensorflow' | 'wasm' | 'cpu';
export const INFERENCE_BACKEND_NAMES: readonly InferenceBackendName[] = ['auto', 'onnx', 'tensorflow', 'wasm', 'cpu'];

/** Where the onnx backend runs: auto takes CUDA when onnxruntime-node's CUDA provider is installed. */
export type Device = 'auto' | 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda'];

/** `--backend` and `--device`, spread into a stage's schema. */
export const INFERENCE_OPTIONS = defineOptions({
  backend: {
    type: 'string', choices: INFERENCE_BACKEND_NAMES, default: 'auto',
    help: 'backend that runs the model: onnx (ONNX Runtime, taken by auto when onnxruntime-node is installed), else TensorFlow.js (tensorflow, wasm, cpu)',
  },
  device: {
    type: 'string', choices: DEVICES, default: 'auto',
    help: 'onnx backend: cpu or cuda (auto: cuda when the CUDA provider is installed: ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node)',
  },
  threads: {
    type: 'int', min: 1, max: 256,
    help: "CPU threads that run the model: ONNX Runtime's intra-op threads, or wit's matrix-multiply pool on wasm (default: all cores; also WIT_GEMM_THREADS)",
  },
});

let announced = false;
let announcer: ((line: string) => void) | null = (line) => process.stderr.write(`${line}\n`);

/**
 * Says once per process which backend runs the model (`wit: inference on …`): on stderr, or to the
 * function setBackendAnnouncer installed. The CLI holds the line until the command prints anything else
 * or succeeds, so a command that fails still prints its one error line only.
 */
export function announceBackend(b: { detail: string }): void {
  if (announced || !announcer) return;
  announced = true;
  announcer(`wit: inference on ${b.detail}`);
}

/** Where announceBackend's line goes (null: nowhere), for the CLI, library users and tests. */
export function setBackendAnnouncer(fn: ((line: string) => void) | null): void {
  announcer = fn;
}
