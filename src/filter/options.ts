import { defineOptions } from '../util/options.js';
import { SHARD_FORMATS } from '../shards/writer.js';
import { EMBED_BATCH_SIZE } from '../train/clip.js';
import { INFERENCE_BACKEND_NAMES, INFERENCE_OPTIONS } from '../train/backend/inference-options.js';

/** Backends a model can run on (src/train/backend/inference-options.ts). */
export const FILTER_BACKENDS = INFERENCE_BACKEND_NAMES;

/**
 * Options of `wit filter`, declared once (docs/ARCHITECTURE.md, "Options"). The open bound of
 * --keep-fraction (0, 1] and the pairing rules between options are checked in run-dir.ts's validate.
 */
export const FILTER_OPTIONS = defineOptions({
  shards: { type: 'string[]', required: true, metavar: 'DIR…', help: 'input shard files or directories, read in the order given (directories in name order)' },
  out: { type: 'string', required: true, metavar: 'DIR', help: 'output directory (one shard per input shard; rerun to resume)' },
  model: { type: 'string', metavar: 'DIR', help: 'model directory written by wit train or wit model import (needed to score and for --dedup-semantic)' },
  minSimilarity: { type: 'number', metavar: 'X', help: 'keep pairs whose cosine similarity is >= X, in [-1, 1] (LAION: 0.28 with ViT-B/32)' },
  keepFraction: { type: 'number', metavar: 'F', help: 'keep exactly the top F of the scored pairs, 0 < F <= 1, ties by key (DataComp: 0.3)' },
  minCaptionWords: { type: 'int', min: 0, metavar: 'N', help: 'drop captions with fewer words (DataComp basic: 3)' },
  minCaptionChars: { type: 'int', min: 0, metavar: 'N', help: 'drop captions with fewer characters (DataComp basic: 6)' },
  minImageSide: { type: 'int', min: 0, metavar: 'PX', help: 'drop images whose shorter original side is smaller (DataComp basic: 200)' },
  maxAspect: { type: 'number', min: 1, metavar: 'R', help: 'drop images whose side ratio is larger (DataComp basic: 3)' },
  dedup: { type: 'boolean', default: true, help: 'drop exact duplicates by image sha256 and by (url, caption), first wins (--no-dedup to keep them)' },
  dedupSemantic: { type: 'number', min: -1, max: 1, metavar: 'T', help: 'drop pairs whose image embedding has cosine >= T to an earlier-kept pair by key (SemDeDup-style; needs --model)' },
  batchSize: { type: 'int', min: 1, default: EMBED_BATCH_SIZE, help: 'pairs per encoder call' },
  depth: { type: 'int', min: 1, default: 2, cli: false, help: 'batches in flight (2: the next is read and decoded while one is encoded)' },
  ...INFERENCE_OPTIONS,
  outputFormat: { type: 'string', choices: SHARD_FORMATS, help: 'format of the output shards (default: the format of the input; README.md, "The shard format")' },
});
