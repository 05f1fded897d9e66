/**
 * One cell of the table: a (recipe, seed) run in its own folder `cells/NAME/seed-S/` (docs/ARCHITECTURE.md,
 * "compare"): train() into model/ (checkpointed, resumed after a kill), evaluate() into eval.json, then
 * result.json, written atomically last: the mark of a finished cell, which a rerun skips.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { evaluate, type EvalSummary } from '../eval/index.js';
import { train } from '../train/train.js';
import { writeJsonAtomic } from '../util/atomic.js';
import type { TextTokenizer } from '../train/tokenizer.js';

/** What a finished cell measured (`result.json`). */
export interface CellResult {
  recipe: string;
  seed: number;
  pairs_kept: number;
  steps: number;
  batch_size: number;
  /** Samples seen in training: steps x batch (batches run across pass boundaries). */
  samples: number;
  /** Passes over the recipe's pairs: samples / pairs_kept. */
  epochs: number;
  top1: number;
  top5: number;
  image_to_text: EvalSummary['retrieval']['image_to_text'];
  text_to_image: EvalSummary['retrieval']['text_to_image'];
  classes: number;
  chance_top1: number;
  /** Per eval item, ranks (EvalSummary.per_item): what the bootstrap over eval images resamples. */
  per_item?: { zero_shot: number[]; image_to_text: number[]; text_to_image: number[] };
  /** The tokenizer's sha256 (the table's one tokenizer). */
  tokenizer_sha256?: string;
  /** Wall seconds of the train and eval calls that made it (of the last run, when resumed). */
  train_seconds: number;
  eval_seconds: number;
}

/** The settings every cell shares. */
export interface CellSettings {
  out: string;
  eval: string[];
  labels?: string;
  templates?: string[];
  retrievalSamples: number;
  steps: number;
  batchSize: number;
  arch: string;
  lr: number;
  warmupSteps?: number;
  weightDecay: number;
  checkpointEvery: number;
  backend: string;
  threads?: number;
  decodeWorkers?: number;
  /** The one tokenizer of the table, and its sha256. */
  tokenizer: TextTokenizer;
  tokenizerSha256: string;
  log: (line: string) => void;
  progress: (line: string) => void;
  signal?: AbortSignal;
}

/** The folder of a cell. */
export function cellDir(out: string, recipe: string, seed: number): string {
  return join(out, 'cells', recipe, `seed-${seed}`);
}

/** A finished cell's result, or undefined. */
export async function readCell(out: string, recipe: string, seed: number): Promise<CellResult | undefined> {
  try {
    return JSON.parse(await readFile(join(cellDir(out, recipe, seed), 'result.json'), 'utf8')) as CellResult;
  } catch {
    return undefined;
  }
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * Runs one cell to its result: trains (resuming a checkpoint when a kill left one; a finished model is
 * not retrained), evaluates on the held-out shards, writes result.json, and drops the checkpoints (the
 * model directory is what is kept). Throws what train or evaluate throw.
 */
export async function runCell(s: CellSettings, recipe: string, data: string[], pairsKept: number, seed: number): Promise<CellResult> {
  const dir = cellDir(s.out, recipe, seed);
  const model = join(dir, 'model');
  const tag = `${recipe}/${seed}`;
  let trainSeconds = 0;
  let samples = s.steps * s.batchSize;
  if (!(await exists(join(model, 'model.json')))) {
    const t = await train({
      shards: data, out: model, arch: s.arch, steps: s.steps, batchSize: s.batchSize, lr: s.lr, warmupSteps: s.warmupSteps,
      weightDecay: s.weightDecay, seed, backend: s.backend as 'auto', checkpointEvery: s.checkpointEvery, resume: true,
      threads: s.threads, decodeWorkers: s.decodeWorkers, signal: s.signal, tokenizer: s.tokenizer, crossPasses: true,
      onLog: (l) => s.log(`  [${tag}] ${l}`), onProgress: (l) => s.progress(`[${tag}] ${l}`),
    });
    trainSeconds = t.seconds;
    samples = t.samples;
  } else {
    samples = await samplesOf(model, samples);
  }
  const e = await evaluate({
    model, shards: s.eval, labels: s.labels, templates: s.templates, retrievalSamples: s.retrievalSamples, out: join(dir, 'eval.json'),
    backend: s.backend as 'auto', decodeWorkers: s.decodeWorkers, signal: s.signal, onProgress: (l) => s.progress(`[${tag}] ${l}`), perItem: true,
  });
  const result: CellResult = {
    recipe, seed, pairs_kept: pairsKept, steps: s.steps, batch_size: s.batchSize, samples, epochs: samples / pairsKept,
    top1: e.zero_shot.top1, top5: e.zero_shot.top5, image_to_text: e.retrieval.image_to_text, text_to_image: e.retrieval.text_to_image,
    classes: e.zero_shot.classes, chance_top1: e.chance_top1, per_item: e.per_item, tokenizer_sha256: s.tokenizerSha256, train_seconds: trainSeconds, eval_seconds: e.seconds,
  };
  await writeJsonAtomic(join(dir, 'result.json'), result);
  await rm(join(model, 'checkpoints'), { recursive: true, force: true });
  return result;
}

/** Samples a finished model saw, from its train_state.json (fallback: steps x batch). */
async function samplesOf(model: string, fallback: number): Promise<number> {
  try {
    const st = JSON.parse(await readFile(join(model, 'train_state.json'), 'utf8')) as { samples?: number };
    return typeof st.samples === 'number' ? st.samples : fallback;
  } catch {
    return fallback;
  }
}
