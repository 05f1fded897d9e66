import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../util/tf.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import type { StreamPosition } from './data.js';
import type { LossKind, ClipModel } from './model.js';
import { checkpointDir, saveModelDir } from './model-dir.js';
import type { AdamW } from './optim.js';
import type { TextTokenizer } from './tokenizer.js';
import { loadWeights, replaceDir, saveWeights } from './weights-io.js';
import { tempOwner } from '../util/output.js';

/** Hyperparameters and data settings that must not change across a resume. */
export interface Hyper {
  arch: string;
  loss: LossKind;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmupSteps: number;
  seed: number;
  shuffleBuffer: number;
  gradClip: number;
  imageSize: number;
  contextLength: number;
  /** The tokenizer's upper bound the run started with (absent in checkpoints of wit before it was kept). */
  vocabSize?: number;
  /** The shard files the run reads, in order (absent in older checkpoints). */
  shards?: string[];
  /** Batches run across pass boundaries (absent: they do not; docs/ARCHITECTURE.md, "compare"). */
  crossPasses?: boolean;
}

/** What train_state.json holds: everything besides the tensors that an exact resume needs. */
export interface TrainState {
  step: number;
  totalSteps: number;
  samples: number;
  position: StreamPosition;
  optimizer: { t: number; beta1: number; beta2: number; eps: number };
  hyper: Hyper;
  badImages: number;
  rows: number;
  /** Training seconds before this checkpoint (all runs), for metrics' time axis. */
  elapsed?: number;
}

/** One metrics.jsonl line. */
export interface MetricsLine {
  step: number;
  loss: number;
  lr: number;
  logit_scale: number;
  grad_norm: number;
  samples_per_s: number;
  time: number;
  batch: number;
  /** Time the step waited for its batch (decoding ahead keeps this near 0). */
  data_wait_ms: number;
}

/** Reads a checkpoint's train_state.json; InputError naming the file when unreadable. */
export async function readTrainState(dir: string): Promise<TrainState> {
  const file = join(dir, 'train_state.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as TrainState;
  } catch (err) {
    throw new InputError('train', file, `unreadable training state: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Writes checkpoints of one run (`<out>/checkpoints/step-NNNNNN/`: model, tokenizer, optimizer
 * moments, train_state.json) and the run's metrics.jsonl. A checkpoint is written into a temporary
 * folder and renamed into place with train_state.json last, so a killed save never looks complete.
 */
export class Checkpointer {
  /** Checkpoint folders written by this run, oldest first. */
  readonly written: string[] = [];
  private lastStep = -1;

  constructor(
    private readonly out: string,
    private readonly model: ClipModel,
    private readonly tokenizer: TextTokenizer,
    private readonly optimizer: AdamW,
  ) {}

  get metricsFile(): string {
    return join(this.out, 'metrics.jsonl');
  }

  /** Saves the state after `state.step` steps (once per step) and returns its folder. */
  async save(state: Omit<TrainState, 'optimizer'>): Promise<string> {
    const dir = checkpointDir(this.out, state.step);
    if (state.step === this.lastStep) return dir;
    const tmp = `${dir}.tmp-${tempOwner()}`;
    await rm(tmp, { recursive: true, force: true });
    await saveModelDir(tmp, this.model, this.tokenizer);
    await saveWeights(tmp, 'optimizer', this.optimizer.stateTensors(), { optimizer: 'adamw' });
    const opt = this.optimizer;
    const full: TrainState = { ...state, optimizer: { t: opt.t, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps } };
    // train_state.json last: a checkpoint without it is incomplete and never resumed from.
    await writeJsonAtomic(join(tmp, 'train_state.json'), full);
    await replaceDir(tmp, dir);
    await writeJsonAtomic(join(this.out, 'train_state.json'), { ...full, checkpoint: dir });
    this.written.push(dir);
    this.lastStep = state.step;
    return dir;
  }

  /** Loads the optimizer moments of a checkpoint; InputError naming the file when they do not fit. */
  async restoreOptimizer(dir: string, state: TrainState): Promise<void> {
    const { tensors } = await loadWeights(dir, 'optimizer');
    try {
      this.optimizer.loadState(tensors, state.optimizer.t);
    } catch (err) {
      throw new InputError('train', join(dir, 'optimizer.json'), (err as Error).message, { cause: err });
    } finally {
      tf.dispose(tensors);
    }
    this.lastStep = state.step;
  }

  /** Drops metrics past `step` (the interrupted tail after the checkpoint), so the file reads as one run. */
  async trimMetrics(step: number): Promise<void> {
    const kept = (await readFile(this.metricsFile, 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l.trim() && (JSON.parse(l) as MetricsLine).step <= step);
    await writeFile(this.metricsFile, kept.map((l) => l + '\n').join(''));
  }

  /** Starts an empty metrics file (a fresh run). */
  async resetMetrics(): Promise<void> {
    await rm(this.metricsFile, { force: true });
  }
}
