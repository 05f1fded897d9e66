import { defineOptions, type OptionsInput } from '../util/options.js';
import { trainOptions } from '../train/options.js';
import { evalOptions } from '../eval/index.js';
import { BACKEND_NAMES } from '../train/backend/index.js';

/**
 * Options of `wit compare`, declared once (docs/ARCHITECTURE.md, "Options" and "compare"). The training
 * settings are the same for every cell (fixed compute: same architecture, same steps x batch), so they
 * are the compare run's own; their defaults are `wit train`'s.
 */
export const COMPARE_OPTIONS = defineOptions({
  pool: { type: 'string[]', required: true, metavar: 'SHARDS…', help: 'the pool: shard files or directories (Parquet or WebDataset) every recipe curates' },
  eval: { type: 'string[]', required: true, metavar: 'HELDOUT…', help: 'held-out shard files or directories, never trained on (zero-shot and retrieval)' },
  labels: { type: 'string', metavar: 'FILE', help: "class names for zero-shot, one a line (default: each held-out pair's first query)" },
  recipes: { type: 'string', metavar: 'FILE', help: "recipes.json: the named curations to compare (README.md, 'wit compare'); 'raw' is always included" },
  seeds: { type: 'int', default: 3, min: 1, max: 100, help: 'training seeds per recipe (0 … N-1): the spread and the paired interval come from them' },
  out: { type: 'string', required: true, metavar: 'DIR', help: 'the compare folder: recipes/ (curated pools), cells/RECIPE/seed-N/ (one run each), compare.json' },
  cells: { type: 'string[]', metavar: 'PATTERN…', help: "run only these cells, RECIPE/SEED with * wildcards ('raw/*', '*/0'); the table is made of every finished cell" },
  steps: { type: 'int', min: 1, help: 'optimizer steps of every cell (default: one pass over the raw pool); samples seen = steps x batch exactly, whatever a recipe keeps (batches run across passes)' },
  tokenizer: { type: 'string', metavar: 'DIR|FILE', help: "the one tokenizer of every cell: a model directory's (wit train, wit model import), a tokenizer.json, or CLIP's merges file (bpe_simple_vocab_16e6.txt[.gz]); default: trained once on the whole pool's captions before any cell" },
  randomControl: { type: 'boolean', default: true, help: 'give every recipe that removes pairs a size-matched random twin (random-N: N pairs drawn uniformly, seed 0), trained with the same seeds; --no-random-control leaves them out' },
  primary: { type: 'string', default: 'top1', choices: ['top1', 'top5', 'image_to_text_r1', 'image_to_text_r5', 'text_to_image_r1', 'text_to_image_r5'], help: 'the metric the verdicts (Holm-corrected over the table) are about' },
  overlap: { type: 'string', default: 'remove', choices: ['remove', 'refuse', 'keep'], help: "pool pairs whose image is an eval image or a near-duplicate of one: removed with a count (DataComp's rule), refused (exit 2), or kept (counted)" },
  overlapHamming: { type: 'int', default: 4, min: 0, max: 16, help: 'near-duplicate: a 64-bit dHash (9x8 grey thumbnail) within this many bits of an eval image\'s' },
  batchSize: { type: 'int', default: trainOptions.batchSize.default, min: 2, help: 'pairs per step, the same for every cell' },
  arch: { type: 'string', default: trainOptions.arch.default, metavar: 'NAME', help: 'architecture every cell trains (a name or a JSON config file)' },
  lr: { type: 'number', default: trainOptions.lr.default, min: 0, help: 'peak learning rate' },
  warmupSteps: { type: 'int', min: 0, help: "linear warmup steps (default: train's)" },
  weightDecay: { type: 'number', default: trainOptions.weightDecay.default, min: 0, help: 'decoupled weight decay' },
  checkpointEvery: { type: 'int', default: 100, min: 1, help: 'checkpoint each cell every N steps (a kill loses at most N steps of one cell)' },
  templates: { type: 'string[]', flag: 'template', metavar: 'TEXT…', help: "zero-shot prompt templates with {} (default: eval's)" },
  retrievalSamples: { type: 'int', default: evalOptions.retrievalSamples.default, min: 1, help: 'held-out pairs in the retrieval pool' },
  backend: { type: 'string', default: 'auto', choices: BACKEND_NAMES, help: 'tfjs backend of training, scoring and evaluation' },
  decodeWorkers: { type: 'int', min: 0, max: 64, help: 'image decoding worker threads (default: cores - 1, max 4; 0 = inline)' },
  threads: { type: 'int', min: 1, max: 64, help: "wasm backend: threads of wit's matrix-multiply pool" },
});

/** What compare() takes: the options above plus callbacks. */
export type CompareOptions = OptionsInput<typeof COMPARE_OPTIONS> & {
  onProgress?: (line: string) => void;
  onLog?: (line: string) => void;
  /** Aborting checkpoints the cell in progress and throws; a rerun resumes it. */
  signal?: AbortSignal;
};
