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
});
