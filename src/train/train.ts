import { appendFile } from 'node:fs/promises';
import { FINAL_LOSS_STEPS, finalLoss } from './final-loss.js';
import { tf } from '../util/tf.js';
import { InputError, WitError } from '../util/errors.js';
import { Interrupted, requestedSignal } from '../util/interrupt.js';
import { formatDuration } from '../util/progress.js';
import { flopsCounted, watchCompute } from './backend/meter.js';
import { Checkpointer, type MetricsLine, type TrainState } from './checkpointer.js';
import { measureGflops, stepFlops } from './cost.js';
import { BatchLoader, type Batch, type StreamPosition } from './data.js';
import { ImageDecoder } from './decoder.js';
import { clipLoss, siglipLoss } from './loss.js';
import { ClipModel, decays, type ClipOutput, type LossKind } from './model.js';
import { saveModelDir } from './model-dir.js';
import { AdamW, clipByGlobalNorm, learningRate } from './optim.js';
import type { TrainOptions } from './options.js';
import { DEFAULT_CROP_RANGE } from './preprocess.js';
import { resolveRun, type ResolvedTrain, type RunPlan } from './run.js';

export { trainOptions, type TrainOptions } from './options.js';
export type { TrainState, MetricsLine } from './checkpointer.js';

/** What train() returns and `wit train --json` prints (snake_case, as every command's summary). */
export interface TrainSummary {
  out: string;
  /** Steps done in total (including those before a resume). */
  steps: number;
  /** Mean loss of the last (up to) 10 steps. */
  final_loss: number;
  /** Mean samples/s over the steps of this run. */
  samples_per_sec: number;
  backend: string;
  backend_detail: string;
  /** Wall time of this run, seconds. */
  seconds: number;
  arch: string;
  parameters: number;
  loss: LossKind;
  batch_size: number;
  /** Samples consumed in total. */
  samples: number;
  /** Passes over the data (fractional). */
  epochs: number;
  /** Images that failed to decode (dropped from their batch). */
  bad_images: number;
  /** Records without image bytes (skipped). */
  skipped_records: number;
  /**
   * This run's bad items by reason: `image_refused` (the image guard: a vector format, a header
   * over the pixel limit), `undecodable`, `caption_too_long` (cut at the caption limit). A pair seen
   * in several passes counts in each.
   */
  bad_items: Record<string, number>;
  vocab_size: number;
  /** Tensors alive at the end beyond those after the first step: 0 unless something leaks. */
  leaked_tensors: number;
  resumed_from?: number;
  checkpoints: string[];
}

/** Loss of a forward pass, by kind. */
export function lossOf(kind: LossKind, o: ClipOutput): tf.Scalar {
  return kind === 'siglip' ? siglipLoss(o.imageFeatures, o.textFeatures, o.logitScale, o.logitBias!) : clipLoss(o.imageFeatures, o.textFeatures, o.logitScale);
}

/**
 * One optimisation step: loss and gradients through tf.variableGrads, global-norm clipping,
 * AdamW, logit-scale clamp. Every intermediate tensor is freed. Returns loss and gradient norm.
 * A stop request ends it inside the forward or backward pass (Interrupted from the GEMM pool),
 * before any parameter changes.
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

/** Where the run is: what a checkpoint records besides the tensors. */
interface RunState {
  step: number;
  samples: number;
  badImages: number;
  position: StreamPosition;
  /** Training seconds of earlier runs (resumed), for the metrics' time axis. */
  elapsedBefore: number;
}

/** What the loop reads: the plan, the objects it drives, its sinks. */
interface Loop {
  options: ResolvedTrain;
  plan: RunPlan;
  optimizer: AdamW;
  loader: BatchLoader;
  checkpointer: Checkpointer;
  t0: number;
}

/** What the loop measured. */
interface LoopResult {
  recent: number[];
  runSamples: number;
  stepTime: number;
  leaked: number;
}

const mb = (bytes: number): string => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(1)} MB`);

/**
 * Before the first step: the model's size and what a step will cost here (its FLOPs at the rate this
 * backend multiplies matrices), so a step of minutes is expected rather than mistaken for a hang.
 */
async function announceCost(plan: RunPlan, log: (line: string) => void): Promise<void> {
  const params = plan.model.parameterCount();
  const flops = stepFlops(plan.model.config, plan.hyper.batchSize);
  const rate = await measureGflops();
  const seconds = flops / 1e9 / rate;
  log(
    `train: ${params.toLocaleString('en')} parameters (${mb(4 * params)} of weights, ${mb(16 * params)} with gradients and AdamW moments); ` +
      `a step of ${plan.hyper.batchSize} is ~${(flops / 1e9).toFixed(1)} GFLOP: at least ${seconds < 10 ? `${seconds.toFixed(2)} s` : formatDuration(seconds)} a step at the ${rate.toFixed(1)} GFLOP/s this backend multiplies matrices at`,
  );
}

/** Restores a resumed run's optimizer and position, or starts a fresh run's files. */
async function startRun(loop: Omit<Loop, 'loader'>): Promise<RunState> {
  const { plan, checkpointer, options } = loop;
  if (plan.resume) {
    const st = plan.resume.state;
    await checkpointer.restoreOptimizer(plan.resume.dir, st);
    await checkpointer.trimMetrics(st.step);
    return { step: st.step, samples: st.samples, badImages: st.badImages, position: st.position, elapsedBefore: st.elapsed ?? 0 };
  }
  await checkpointer.resetMetrics();
  // Config and tokenizer now (they describe the run); weights only at the end, so that a killed run
  // never leaves an untrained model.json that looks finished. Checkpoints hold the progress.
  await saveModelDir(options.out, plan.model, plan.tokenizer, false);
  return { step: 0, samples: 0, badImages: 0, position: { epoch: 0, index: 0 }, elapsedBefore: 0 };
}

function checkpointState(loop: Loop, run: RunState): Omit<TrainState, 'optimizer'> {
  const { plan } = loop;
  return {
    step: run.step, totalSteps: plan.totalSteps, samples: run.samples, position: run.position, badImages: run.badImages, rows: plan.rows,
    hyper: plan.hyper, elapsed: run.elapsedBefore + (performance.now() - loop.t0) / 1000,
  };
}

/**
 * A stop before the first step (while the model is built, its optimizer state allocated or the backend
 * measured; docs/ARCHITECTURE.md, "Interrupting"): no step was taken, so there is nothing to keep. A
 * fresh run has written at most its config and tokenizer (no weights, no checkpoint), which the next
 * run replaces; a resumed run's checkpoints are untouched. Other errors pass through.
 */
function beforeFirstStep(err: unknown, resuming: boolean): never {
  if (!(err instanceof Interrupted)) throw err;
  const next = resuming ? "the run's checkpoints are unchanged; continue with --resume" : 'nothing to keep (no step taken, no checkpoint written); rerun the same command to start';
  throw new Interrupted('train', `interrupted before the first step; ${next}`, err.exitCode - 128);
}

/** Saves a checkpoint of the last finished step and throws: the run stops, a rerun with --resume continues. */
async function stopHere(loop: Loop, run: RunState): Promise<never> {
  const dir = await loop.checkpointer.save(checkpointState(loop, run));
  const signal = requestedSignal();
  const message = `interrupted at step ${run.step}/${loop.plan.totalSteps}; checkpoint saved in ${dir}, continue with --resume`;
  throw signal ? new Interrupted('train', message, signal) : new WitError('train', message);
}

/** One step on a batch, with progress inside the step when it runs long (from the GEMM pool's FLOP count). */
async function timedStep(loop: Loop, run: RunState, batch: Batch, lr: number): Promise<{ loss: number; gradNorm: number }> {
  const { plan, options } = loop;
  const estimate = stepFlops(plan.model.config, batch.n);
  const f0 = flopsCounted();
  const s0 = performance.now();
  const unwatch = watchCompute(() => {
    const done = Math.min(0.99, (flopsCounted() - f0) / estimate);
    options.onProgress?.(`train step ${run.step + 1}/${plan.totalSteps}: ~${Math.round(100 * done)}% of its ~${(estimate / 1e9).toFixed(0)} GFLOP after ${formatDuration((performance.now() - s0) / 1000)}`);
  }, 5000, 2000);
  try {
    return await trainStep(plan.model, loop.optimizer, batch, lr, plan.hyper.gradClip);
  } finally {
    unwatch();
  }
}

/**
 * The training loop: batches in, steps, metrics.jsonl lines, progress, checkpoints every N steps and
 * at the end. A stop (abort signal between steps, or Interrupted from inside a step) saves a checkpoint
 * of the last finished step and throws.
 */
async function runLoop(loop: Loop, run: RunState): Promise<LoopResult> {
  const { plan, options, loader, checkpointer } = loop;
  const { hyper, totalSteps, files, rows, model } = plan;
  const res: LoopResult = { recent: [], runSamples: 0, stepTime: 0, leaked: 0 };
  // Tensors alive after this run's first step (variables, moments, cached masks): must not grow.
  let numTensors0 = -1;
  let wasted = 0;
  while (run.step < totalSteps) {
    if (options.signal?.aborted) await stopHere(loop, run);
    const tWait = performance.now();
    const batch = await loader.next();
    const waitMs = performance.now() - tWait;
    if (!batch) throw new InputError('train', files[0]!, 'no decodable pairs in the shards');
    if (batch.n < 2) {
      // Nothing to contrast; the samples are consumed all the same. A whole pass without a decodable
      // pair means the data is unusable, not unlucky.
      Object.assign(run, { badImages: run.badImages + batch.bad, samples: run.samples + batch.n + batch.bad, position: batch.end });
      wasted += batch.n + batch.bad;
      if (wasted > rows) throw new InputError('train', files[0]!, `no image in the shards decodes (last error: ${batch.errors[0] ?? 'none'})`);
      continue;
    }
    wasted = 0;
    if (options.signal?.aborted) await stopHere(loop, run);
    const lr = learningRate(run.step, totalSteps, hyper.lr, hyper.warmupSteps);
    let r: { loss: number; gradNorm: number };
    try {
      r = await timedStep(loop, run, batch, lr);
    } catch (err) {
      if (err instanceof Interrupted) await stopHere(loop, run);
      throw err;
    }
    if (!Number.isFinite(r.loss)) throw new WitError('train', `loss became ${r.loss} at step ${run.step + 1}; lower --lr`);
    Object.assign(run, { step: run.step + 1, badImages: run.badImages + batch.bad, samples: run.samples + batch.n + batch.bad, position: batch.end });
    if (numTensors0 < 0) numTensors0 = tf.memory().numTensors;
    const dt = (performance.now() - tWait) / 1000;
    res.runSamples += batch.n;
    res.stepTime += dt;
    res.recent.push(r.loss);
    if (res.recent.length > FINAL_LOSS_STEPS) res.recent.shift();
    const scale = Math.exp((await model.params.get('logit_scale')!.data())[0]!);
    const line: MetricsLine = {
      step: run.step, loss: r.loss, lr, logit_scale: scale, grad_norm: r.gradNorm, samples_per_s: batch.n / dt,
      time: run.elapsedBefore + (performance.now() - loop.t0) / 1000, batch: batch.n, data_wait_ms: Math.round(waitMs * 10) / 10,
    };
    await appendFile(checkpointer.metricsFile, JSON.stringify(line) + '\n');
    const rate = res.runSamples / res.stepTime; // runSamplesPerSec's definition, over this run's steps
    const eta = ((totalSteps - run.step) * hyper.batchSize) / rate;
    options.onProgress?.(`train step ${run.step}/${totalSteps} loss ${r.loss.toFixed(4)} lr ${lr.toExponential(2)} scale ${scale.toFixed(2)} ${rate.toFixed(1)} samples/s ETA ${formatDuration(eta)}`);
    if (run.step % options.checkpointEvery === 0 || run.step === totalSteps) {
      const dir = await checkpointer.save(checkpointState(loop, run));
      options.onLog?.(`train: checkpoint ${dir}`);
    }
  }
  res.leaked = numTensors0 < 0 ? 0 : tf.memory().numTensors - numTensors0;
  return res;
}

/** The last progress line of a run: the summary's steps, final loss and samples/s. */
export function trainLine(s: Pick<TrainSummary, 'steps' | 'final_loss' | 'samples_per_sec' | 'seconds'>, totalSteps: number): string {
  return `train done: step ${s.steps}/${totalSteps} final loss ${s.final_loss.toFixed(4)} (mean of the last ${FINAL_LOSS_STEPS} steps) ${s.samples_per_sec.toFixed(1)} samples/s in ${formatDuration(s.seconds)}`;
}

/**
 * Trains a CLIP on shards and writes the model directory (config.json, tokenizer.json,
 * model.json + weights, metrics.jsonl, train_state.json, checkpoints/step-N/). Resolves to a
 * summary. Throws UsageError for bad options, missing shards, an `out` that already holds a model or
 * run (without --resume or --overwrite) or a resume whose settings differ from the run's; InputError
 * for unreadable shards or no decodable pairs; WitError (Interrupted after a signal) when stopped,
 * after saving a checkpoint.
 */
export async function train(input: TrainOptions): Promise<TrainSummary> {
  const t0 = performance.now();
  const { options, plan, backend, claim } = await resolveRun(input).catch((err: unknown) => beforeFirstStep(err, input.resume === true));
  try {
    return await trainRun(options, plan, backend, t0);
  } finally {
    await claim.release();
  }
}

async function trainRun(options: ResolvedTrain, plan: RunPlan, backend: Awaited<ReturnType<typeof resolveRun>>['backend'], t0: number): Promise<TrainSummary> {
  const log = options.onLog ?? (() => {});
  const { model, tokenizer } = plan;
  let optimizer: AdamW;
  try {
    optimizer = new AdamW(model.params, decays, { weightDecay: plan.hyper.weightDecay });
  } catch (err) {
    model.dispose();
    return beforeFirstStep(err, Boolean(plan.resume));
  }
  const checkpointer = new Checkpointer(options.out, model, tokenizer, optimizer);
  const decoder = new ImageDecoder({ workers: options.decodeWorkers });
  let loader: BatchLoader | undefined;
  try {
    log(`train: backend ${backend.name} (${backend.detail})`);
    log(plan.summary);
    const run = await startRun({ options, plan, optimizer, checkpointer, t0 });
    const startStep = run.step;
    await announceCost(plan, log).catch((err: unknown) => beforeFirstStep(err, Boolean(plan.resume)));
    loader = new BatchLoader({
      files: plan.files, batchSize: plan.hyper.batchSize, imageSize: plan.hyper.imageSize, tokenizer, decoder, seed: plan.hyper.seed,
      mean: model.config.image_mean, std: model.config.image_std,
      shuffleBuffer: plan.hyper.shuffleBuffer, start: run.position, augment: DEFAULT_CROP_RANGE, crossPasses: plan.hyper.crossPasses === true,
    });
    const runStart = performance.now();
    const res = await runLoop({ options, plan, optimizer, loader, checkpointer, t0 }, run);
    await saveModelDir(options.out, model, tokenizer);
    if (res.leaked > 0) log(`train: warning: ${res.leaked} tensors not freed`);
    const summary: TrainSummary = {
      out: options.out,
      steps: run.step,
      final_loss: finalLoss(res.recent),
      samples_per_sec: res.stepTime > 0 ? res.runSamples / res.stepTime : 0,
      backend: backend.name,
      backend_detail: backend.detail,
      seconds: (performance.now() - runStart) / 1000,
      arch: model.config.name,
      parameters: model.parameterCount(),
      loss: model.loss,
      batch_size: plan.hyper.batchSize,
      samples: run.samples,
      epochs: run.samples / plan.rows,
      bad_images: run.badImages,
      skipped_records: loader.streamStats.skipped,
      bad_items: loader.streamStats.badItems,
      vocab_size: tokenizer.vocabSize,
      leaked_tensors: res.leaked,
      ...(startStep > 0 ? { resumed_from: startStep } : {}),
      checkpoints: checkpointer.written,
    };
    // the last progress line is the summary's numbers: steps, final loss, the run's one rate
    options.onProgress?.(trainLine(summary, plan.totalSteps));
    return summary;
  } finally {
    await loader?.close().catch(() => undefined);
    await decoder.close();
    optimizer.dispose();
    model.dispose();
  }
}
