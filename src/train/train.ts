import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { listShards, readShards, writeJsonAtomic } from '../shards/index.js';
import { InputError, UsageError, WitError } from '../util/errors.js';
import { formatDuration } from '../util/progress.js';
import { initBackend, type BackendName } from './backend/index.js';
import { resolveArch, withOverrides } from './config.js';
import { BatchLoader, countRows, type Batch, type StreamPosition } from './data.js';
import { ImageDecoder } from './decoder.js';
import { clipLoss, siglipLoss } from './loss.js';
import { ClipModel, decays, type ClipOutput, type LossKind } from './model.js';
import { checkpointDir, listCheckpoints, loadModelDir, saveModelDir } from './model-dir.js';
import { AdamW, clipByGlobalNorm, learningRate } from './optim.js';
import { DEFAULT_CROP_RANGE } from './preprocess.js';
import { trainTokenizer, type TextTokenizer } from './tokenizer.js';
import { loadWeights, replaceDir, saveWeights } from './weights-io.js';

/** Options of `wit train` (every field has a default except shards and out). */
export interface TrainOptions {
  /** Shard files or directories of shards. */
  shards: string[];
  /** Model directory to write (created). */
  out: string;
  /** Shipped architecture name (vit-micro, vit-tiny, vit-small, ViT-B/32, rn-tiny, RN50) or a JSON config file. Default vit-tiny. */
  arch?: string;
  /** Optimizer steps; default: `epochs` passes over the shards. */
  steps?: number;
  /** Passes over the shards when `steps` is not given (default 1). */
  epochs?: number;
  /** Pairs per step (default 64). */
  batchSize?: number;
  /** Peak learning rate (default 5e-4). */
  lr?: number;
  /** AdamW decoupled weight decay (default 0.2, CLIP's). */
  weightDecay?: number;
  /** Linear warmup steps (default min(500, 10% of the steps)). */
  warmupSteps?: number;
  /** clip (symmetric InfoNCE) or siglip (sigmoid). Default clip. */
  loss?: LossKind;
  /** Seeds init, shuffling and augmentation (default 0). */
  seed?: number;
  /** Backend (default auto). */
  backend?: BackendName;
  /** Save a checkpoint every N steps (default 1000; one is always saved at the end). */
  checkpointEvery?: number;
  /** Continue from the last checkpoint in `out` (starts fresh when there is none). */
  resume?: boolean;
  /**
   * Start from the weights and tokenizer of this model directory (a finished run or a checkpoint)
   * instead of a fresh init, with a new optimizer and schedule: fine-tuning, or another round on
   * filtered shards. Its architecture and loss win over `arch`/`loss`.
   */
  initFrom?: string;
  /** Override the architecture's image size. */
  imageSize?: number;
  /** Override the architecture's context length. */
  contextLength?: number;
  /** Override the architecture's maximum vocabulary size. */
  vocabSize?: number;
  /** Records in the shuffle buffer (default 2000). */
  shuffleBuffer?: number;
  /** Global gradient-norm clip (default 1; 0 disables). */
  gradClip?: number;
  /** Decode worker threads (default: cores - 1, max 4; 0 = decode inline). */
  decodeWorkers?: number;
  /** Captions read to train the tokenizer (default 200000). */
  tokenizerCaptions?: number;
  /** Status line sink. */
  onProgress?: (line: string) => void;
  /** Log line sink (start, checkpoints). */
  onLog?: (line: string) => void;
  /** Aborting saves a checkpoint at the current step and throws. */
  signal?: AbortSignal;
}

/** What train() returns. */
export interface TrainSummary {
  out: string;
  /** Steps done in total (including those before a resume). */
  steps: number;
  /** Mean loss of the last (up to) 10 steps. */
  finalLoss: number;
  /** Mean samples/s over the steps of this run. */
  samplesPerSec: number;
  backend: string;
  backendDetail: string;
  /** Wall time of this run, seconds. */
  seconds: number;
  arch: string;
  parameters: number;
  loss: LossKind;
  batchSize: number;
  /** Samples consumed in total. */
  samples: number;
  /** Passes over the data (fractional). */
  epochs: number;
  /** Images that failed to decode (dropped from their batch). */
  badImages: number;
  /** Records without image bytes (skipped). */
  skippedRecords: number;
  vocabSize: number;
  /** Tensors alive at the end beyond those after the first step: 0 unless something leaks. */
  leakedTensors: number;
  resumedFrom?: number;
  checkpoints: string[];
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

/** Hyperparameters that must not change across a resume. */
interface Hyper {
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

function checkPositive(name: string, v: number | undefined, integer: boolean): void {
  if (v === undefined) return;
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new UsageError('train', `${name} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`);
  }
}

/** Loss of a forward pass, by kind. */
export function lossOf(kind: LossKind, o: ClipOutput): tf.Scalar {
  return kind === 'siglip' ? siglipLoss(o.imageFeatures, o.textFeatures, o.logitScale, o.logitBias!) : clipLoss(o.imageFeatures, o.textFeatures, o.logitScale);
}

/**
 * One optimisation step: loss and gradients through tf.variableGrads, global-norm clipping,
 * AdamW, logit-scale clamp. Every intermediate tensor is freed. Returns loss and gradient norm.
 */
export async function trainStep(model: ClipModel, opt: AdamW, batch: Batch, lr: number, gradClip: number): Promise<{ loss: number; gradNorm: number }> {
  const s = model.config.vision.image_size;
  const l = model.config.text.context_length;
  const names = [...model.params.keys()];
  const vars = model.variables();
  const out = tf.tidy(() => {
    const images = tf.tensor4d(batch.images, [batch.n, s, s, 3]);
    const ids = tf.tensor2d(batch.ids, [batch.n, l], 'int32');
    const eos = tf.tensor1d(batch.eos, 'int32');
    const { value, grads } = tf.variableGrads(() => lossOf(model.loss, model.forward(images, ids, eos, true)), vars);
    const byName = new Map<string, tf.Tensor>();
    vars.forEach((v, i) => {
      const g = grads[v.name];
      if (g) byName.set(names[i]!, g);
    });
    const { grads: clipped, norm } = clipByGlobalNorm(byName, gradClip);
    opt.apply(clipped, lr);
    return tf.stack([value, norm]);
  });
  model.clampLogitScale();
  const [loss, gradNorm] = await out.data();
  out.dispose();
  return { loss: loss!, gradNorm: gradNorm! };
}

async function collectCaptions(files: string[], max: number): Promise<string[]> {
  const out: string[] = [];
  for await (const r of readShards(files, { images: false })) {
    out.push(r.caption);
    if (out.length >= max) break;
  }
  return out;
}

/**
 * Trains a CLIP on shards and writes the model directory (config.json, tokenizer.json,
 * model.json + weights, metrics.jsonl, train_state.json, checkpoints/step-N/). Resolves to a
 * summary. Throws UsageError for bad options, missing shards or an `out` that already holds a
 * run (without `resume`); InputError for unreadable shards or no decodable pairs; WitError when
 * interrupted (after saving a checkpoint).
 */
export async function train(opts: TrainOptions): Promise<TrainSummary> {
  const t0 = performance.now();
  if (!opts.shards?.length) throw new UsageError('train', 'no shards given (--shards DIR…)');
  if (!opts.out) throw new UsageError('train', 'no output directory given (--out DIR)');
  checkPositive('--steps', opts.steps, true);
  checkPositive('--epochs', opts.epochs, false);
  checkPositive('--batch-size', opts.batchSize, true);
  checkPositive('--lr', opts.lr, false);
  checkPositive('--checkpoint-every', opts.checkpointEvery, true);
  checkPositive('--shuffle-buffer', opts.shuffleBuffer, true);
  if (opts.batchSize !== undefined && opts.batchSize < 2) throw new UsageError('train', '--batch-size must be >= 2 (a contrastive loss needs negatives)');
  if (opts.weightDecay !== undefined && !(opts.weightDecay >= 0)) throw new UsageError('train', `--weight-decay must be >= 0, got ${opts.weightDecay}`);
  if (opts.warmupSteps !== undefined && !(Number.isInteger(opts.warmupSteps) && opts.warmupSteps >= 0)) throw new UsageError('train', `--warmup-steps must be an integer >= 0, got ${opts.warmupSteps}`);
  const log = opts.onLog ?? (() => {});
  const files = await listShards(opts.shards);
  const rows = await countRows(files);
  if (!rows) throw new InputError('train', files[0]!, 'the shards hold no pairs');

  const previous = await listCheckpoints(opts.out);
  const last = previous[previous.length - 1];
  if (last && !opts.resume) {
    throw new UsageError('train', `${opts.out} already holds a training run (checkpoint step ${last.step}); pass --resume to continue it or choose another --out`);
  }

  const backend = await initBackend(opts.backend ?? 'auto');
  log(`train: backend ${backend.name} (${backend.detail})`);

  let model: ClipModel;
  let tokenizer: TextTokenizer;
  let state: TrainState | undefined;
  let hyper: Hyper;
  let totalSteps: number;
  if (last) {
    const loaded = await loadModelDir(last.dir);
    model = loaded.model;
    tokenizer = loaded.tokenizer;
    try {
      state = JSON.parse(await readFile(join(last.dir, 'train_state.json'), 'utf8')) as TrainState;
    } catch (err) {
      loaded.model.dispose();
      throw new InputError('train', join(last.dir, 'train_state.json'), `unreadable training state: ${(err as Error).message}`, { cause: err });
    }
    hyper = state.hyper;
    const asked: Partial<Hyper> = {
      loss: opts.loss, batchSize: opts.batchSize, lr: opts.lr, weightDecay: opts.weightDecay, warmupSteps: opts.warmupSteps, seed: opts.seed,
      shuffleBuffer: opts.shuffleBuffer, gradClip: opts.gradClip, imageSize: opts.imageSize, contextLength: opts.contextLength,
    };
    const clash = Object.entries(asked).filter(([k, v]) => v !== undefined && v !== hyper[k as keyof Hyper]);
    if (opts.arch !== undefined && opts.arch !== hyper.arch && resolveArch(opts.arch).name !== model.config.name) clash.push(['arch', opts.arch]);
    if (clash.length) {
      throw new UsageError('train', `--resume continues the run in ${opts.out} with its own settings; these differ: ${clash.map(([k, v]) => `${k}=${v} (run has ${hyper[k as keyof Hyper]})`).join(', ')}`);
    }
    totalSteps = opts.steps ?? (opts.epochs !== undefined ? Math.ceil((opts.epochs * rows) / hyper.batchSize) : state.totalSteps);
    log(`train: resuming from ${last.dir} at step ${state.step}`);
  } else {
    const init = opts.initFrom ? await loadModelDir(opts.initFrom) : undefined;
    const cfg = init ? init.model.config : withOverrides(resolveArch(opts.arch ?? 'vit-tiny'), { imageSize: opts.imageSize, contextLength: opts.contextLength, vocabSize: opts.vocabSize });
    const batchSize = opts.batchSize ?? 64;
    totalSteps = opts.steps ?? Math.max(1, Math.ceil(((opts.epochs ?? 1) * rows) / batchSize));
    hyper = {
      arch: init ? cfg.name : opts.arch ?? 'vit-tiny',
      loss: init ? init.model.loss : opts.loss ?? 'clip',
      batchSize,
      lr: opts.lr ?? 5e-4,
      weightDecay: opts.weightDecay ?? 0.2,
      warmupSteps: opts.warmupSteps ?? Math.min(500, Math.floor(totalSteps / 10)),
      seed: opts.seed ?? 0,
      shuffleBuffer: opts.shuffleBuffer ?? 2000,
      gradClip: opts.gradClip ?? 1,
      imageSize: cfg.vision.image_size,
      contextLength: cfg.text.context_length,
    };
    if (init) {
      model = init.model;
      tokenizer = init.tokenizer;
      log(`train: starting from ${opts.initFrom} (${cfg.name}, ${model.parameterCount().toLocaleString('en')} parameters), ${rows} pairs, ${totalSteps} steps of ${batchSize}`);
    } else {
      const captions = await collectCaptions(files, opts.tokenizerCaptions ?? 200_000);
      tokenizer = trainTokenizer(captions, { vocabSize: cfg.text.vocab_size, contextLength: cfg.text.context_length });
      cfg.text.vocab_size = tokenizer.vocabSize;
      model = ClipModel.create(cfg, hyper.loss, hyper.seed);
      log(`train: ${cfg.name}, ${model.parameterCount().toLocaleString('en')} parameters, tokenizer ${tokenizer.vocabSize} ids from ${captions.length} captions, ${rows} pairs, ${totalSteps} steps of ${batchSize}`);
    }
    await mkdir(opts.out, { recursive: true });
    await rm(join(opts.out, 'metrics.jsonl'), { force: true });
  }

  const opt = new AdamW(model.params, decays, { weightDecay: hyper.weightDecay });
  let step = 0;
  let samples = 0;
  let badImages = 0;
  let position: StreamPosition = { epoch: 0, index: 0 };
  let elapsedBefore = 0;
  if (state) {
    const { tensors } = await loadWeights(last!.dir, 'optimizer');
    try {
      opt.loadState(tensors, state.optimizer.t);
    } catch (err) {
      throw new InputError('train', join(last!.dir, 'optimizer.json'), (err as Error).message, { cause: err });
    } finally {
      tf.dispose(tensors);
    }
    step = state.step;
    elapsedBefore = state.elapsed ?? 0;
    samples = state.samples;
    badImages = state.badImages;
    position = state.position;
    // Metrics past the checkpoint belong to the interrupted tail: drop them so the file reads as one run.
    const metricsPath = join(opts.out, 'metrics.jsonl');
    const kept = (await readFile(metricsPath, 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l.trim() && (JSON.parse(l) as MetricsLine).step <= step);
    await writeFile(metricsPath, kept.map((l) => l + '\n').join(''));
  } else {
    // Config and tokenizer now (they describe the run); weights only at the end, so that a killed
    // run never leaves an untrained model.json that looks finished. Checkpoints hold the progress.
    await saveModelDir(opts.out, model, tokenizer, false);
  }

  const decoder = new ImageDecoder({ workers: opts.decodeWorkers });
  const loader = new BatchLoader({
    files, batchSize: hyper.batchSize, imageSize: hyper.imageSize, tokenizer, decoder, seed: hyper.seed,
    mean: model.config.image_mean, std: model.config.image_std,
    shuffleBuffer: hyper.shuffleBuffer, start: position, augment: DEFAULT_CROP_RANGE,
  });
  const checkpoints: string[] = [];
  const recent: number[] = [];
  const startStep = step;
  let runSamples = 0;
  let stepTime = 0;
  const runStart = performance.now();
  // Tensors alive after this run's first step (variables, moments, cached masks): must not grow.
  let numTensors0 = -1;

  const saveCheckpoint = async (): Promise<string> => {
    const dir = checkpointDir(opts.out, step);
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await saveModelDir(tmp, model, tokenizer);
    await saveWeights(tmp, 'optimizer', opt.stateTensors(), { optimizer: 'adamw' });
    const st: TrainState = {
      step, totalSteps, samples, position, badImages, rows, hyper, elapsed: elapsedBefore + (performance.now() - t0) / 1000,
      optimizer: { t: opt.t, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps },
    };
    // train_state.json last: a checkpoint without it is incomplete and never resumed from.
    await writeJsonAtomic(join(tmp, 'train_state.json'), st);
    await replaceDir(tmp, dir);
    await writeJsonAtomic(join(opts.out, 'train_state.json'), { ...st, checkpoint: dir });
    checkpoints.push(dir);
    return dir;
  };

  try {
    const every = opts.checkpointEvery ?? 1000;
    let wasted = 0;
    while (step < totalSteps) {
      const tWait = performance.now();
      const batch = await loader.next();
      const waitMs = performance.now() - tWait;
      if (!batch) throw new InputError('train', files[0]!, 'no decodable pairs in the shards');
      badImages += batch.bad;
      samples += batch.n + batch.bad;
      position = batch.end;
      if (batch.n < 2) {
        // Nothing to contrast; the samples are consumed all the same. A whole pass without a
        // decodable pair means the data is unusable, not unlucky.
        wasted += batch.n + batch.bad;
        if (wasted > rows) throw new InputError('train', files[0]!, `no image in the shards decodes (last error: ${batch.errors[0] ?? 'none'})`);
        continue;
      }
      wasted = 0;
      const lr = learningRate(step, totalSteps, hyper.lr, hyper.warmupSteps);
      const r = await trainStep(model, opt, batch, lr, hyper.gradClip);
      if (!Number.isFinite(r.loss)) throw new WitError('train', `loss became ${r.loss} at step ${step + 1}; lower --lr`);
      step++;
      if (numTensors0 < 0) numTensors0 = tf.memory().numTensors;
      runSamples += batch.n;
      const dt = (performance.now() - tWait) / 1000;
      stepTime += dt;
      recent.push(r.loss);
      if (recent.length > 10) recent.shift();
      const scale = Math.exp((await model.params.get('logit_scale')!.data())[0]!);
      const line: MetricsLine = {
        step, loss: r.loss, lr, logit_scale: scale, grad_norm: r.gradNorm, samples_per_s: batch.n / dt,
        time: elapsedBefore + (performance.now() - t0) / 1000, batch: batch.n, data_wait_ms: Math.round(waitMs * 10) / 10,
      };
      await appendFile(join(opts.out, 'metrics.jsonl'), JSON.stringify(line) + '\n');
      const rate = runSamples / stepTime;
      const eta = ((totalSteps - step) * hyper.batchSize) / rate;
      opts.onProgress?.(`train step ${step}/${totalSteps} loss ${r.loss.toFixed(4)} lr ${lr.toExponential(2)} scale ${scale.toFixed(2)} ${rate.toFixed(1)} samples/s ETA ${formatDuration(eta)}`);
      if (step % every === 0 || step === totalSteps) {
        const dir = await saveCheckpoint();
        log(`train: checkpoint ${dir}`);
      }
      if (opts.signal?.aborted) {
        const dir = checkpoints[checkpoints.length - 1]?.endsWith(String(step).padStart(6, '0')) ? checkpoints[checkpoints.length - 1]! : await saveCheckpoint();
        throw new WitError('train', `interrupted at step ${step}/${totalSteps}; checkpoint saved in ${dir}, continue with --resume`);
      }
    }
    await saveModelDir(opts.out, model, tokenizer);
    const leaked = numTensors0 < 0 ? 0 : tf.memory().numTensors - numTensors0;
    if (leaked > 0) log(`train: warning: ${leaked} tensors not freed`);
    return {
      out: opts.out,
      steps: step,
      finalLoss: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN,
      samplesPerSec: stepTime > 0 ? runSamples / stepTime : 0,
      backend: backend.name,
      backendDetail: backend.detail,
      seconds: (performance.now() - runStart) / 1000,
      arch: model.config.name,
      parameters: model.parameterCount(),
      loss: model.loss,
      batchSize: hyper.batchSize,
      samples,
      epochs: samples / rows,
      badImages,
      skippedRecords: loader.streamStats.skipped,
      vocabSize: tokenizer.vocabSize,
      leakedTensors: leaked,
      ...(startStep > 0 ? { resumedFrom: startStep } : {}),
      checkpoints,
    };
  } finally {
    await loader.close().catch(() => undefined);
    await decoder.close();
    opt.dispose();
    model.dispose();
  }
}
