import { defineOptions, type OptionsInput } from '../util/options.js';
import { BACKEND_NAMES } from './backend/index.js';
import { ARCHS } from './config.js';
import type { TextTokenizer } from './tokenizer.js';

/**
 * Options of `wit train`, declared once (docs/ARCHITECTURE.md, "Options"): the CLI flags, `--help`,
 * the library's option type, defaults and bounds all come from this table.
 *
 * With --resume the run keeps its own architecture, loss and hyperparameters (they are in its
 * checkpoint); an option given with a value other than its default that differs from the run's is an
 * error naming both (a value equal to the default counts as not given: the CLI fills defaults in).
 */
export const trainOptions = defineOptions({
  shards: { type: 'string[]', required: true, metavar: 'DIR…', help: 'shard files or directories of shards' },
  out: { type: 'string', required: true, metavar: 'DIR', help: 'model directory to write (weights, tokenizer, config, metrics.jsonl, checkpoints/)' },
  arch: { type: 'string', default: 'vit-tiny', metavar: 'NAME', help: `architecture: ${Object.keys(ARCHS).join(', ')}, or a JSON config file (with --resume, the run's own)` },
  steps: { type: 'int', min: 1, help: 'optimizer steps (default: --epochs passes over the shards)' },
  epochs: { type: 'number', default: 1, min: 0.0001, help: 'passes over the shards when --steps is not given' },
  batchSize: { type: 'int', default: 64, min: 2, help: "pairs per step, >= 2 (a contrastive loss needs negatives; with --resume, the run's own)" },
  lr: { type: 'number', default: 5e-4, min: 0, help: "peak learning rate, AdamW with warmup then cosine decay (with --resume, the run's own)" },
  weightDecay: { type: 'number', default: 0.2, min: 0, help: "decoupled weight decay on 2-D weights and the token embedding, as open_clip (with --resume, the run's own)" },
  warmupSteps: { type: 'int', min: 0, help: 'linear warmup steps (default: min(500, 10% of the steps))' },
  loss: { type: 'string', default: 'clip', choices: ['clip', 'siglip'], help: "clip = symmetric InfoNCE; siglip = sigmoid loss, t'=log 10, b=-10 (with --resume, the run's own)" },
  seed: { type: 'int', default: 0, help: "seeds init, shuffling and augmentation (with --resume, the run's own)" },
  backend: { type: 'string', default: 'auto', choices: BACKEND_NAMES, help: 'tfjs backend; auto = tfjs-node-gpu, tfjs-node, wasm, cpu (first that works)' },
  checkpointEvery: { type: 'int', default: 1000, min: 1, help: 'save a checkpoint every N steps (and always at the end, and when interrupted)' },
  resume: { type: 'boolean', default: false, help: 'continue from the last checkpoint in --out (same result as an uninterrupted run)' },
  overwrite: { type: 'boolean', default: false, help: "replace the model or run already in --out (wit's files there are deleted first)" },
  initFrom: { type: 'string', metavar: 'DIR', help: 'start from the weights and tokenizer of this model dir (fine-tune; new optimizer and schedule)' },
  imageSize: { type: 'int', min: 8, help: "override the architecture's image size" },
  contextLength: { type: 'int', min: 3, help: "override the architecture's text context length" },
  vocabSize: { type: 'int', min: 515, help: 'override the maximum BPE vocabulary (>= 515)' },
  shuffleBuffer: { type: 'int', default: 2000, min: 1, help: "records in the shuffle buffer (with --resume, the run's own)" },
  gradClip: { type: 'number', default: 1, min: 0, help: "clip gradients to this global L2 norm, 0 = off (with --resume, the run's own)" },
  threads: { type: 'int', min: 1, max: 64, help: "wasm backend: threads of wit's matrix-multiply pool (default: all cores; also WIT_GEMM_THREADS)" },
  decodeWorkers: { type: 'int', min: 0, max: 64, help: 'image decoding worker threads (default: cores - 1, max 4; 0 = inline)' },
  crossPasses: { type: 'boolean', default: false, help: "batches run across pass boundaries, so every step has a full batch and samples seen = steps x batch exactly (a pair is never twice in a batch); default: the last batch of a pass may be short (with --resume, the run's own)" },
  tokenizerCaptions: { type: 'int', default: 200_000, min: 1, cli: false, help: 'captions read to train the tokenizer' },
});

/** What train() takes: the options above plus callbacks. */
export type TrainOptions = OptionsInput<typeof trainOptions> & {
  /** Status line sink (steps; progress inside a long step). */
  onProgress?: (line: string) => void;
  /** Log line sink (start, estimate, checkpoints). */
  onLog?: (line: string) => void;
  /** Aborting saves a checkpoint of the last finished step and throws. */
  signal?: AbortSignal;
  /**
   * A fresh run uses this tokenizer instead of training one on the shards' captions (wit compare: one
   * tokenizer for every cell of a table). Its context length must be the architecture's.
   */
  tokenizer?: TextTokenizer;
};
