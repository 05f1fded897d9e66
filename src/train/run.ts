import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listShards, readShards } from '../shards/index.js';
import { InputError, UsageError } from '../util/errors.js';
import { claimOutput, type OutputClaim } from '../util/output.js';
import { resolveOptions, type ResolvedOptions } from '../util/options.js';
import { initBackend, type BackendInfo } from './backend/index.js';
import { readTrainState, type Hyper, type TrainState } from './checkpointer.js';
import { resolveArch, withOverrides, type ClipConfig } from './config.js';
import { countRows } from './data.js';
import { ClipModel } from './model.js';
import { archSize } from '../model/validate.js';
import { listCheckpoints, loadModelDir } from './model-dir.js';
import { trainOptions, type TrainOptions } from './options.js';
import { trainTokenizer, type TextTokenizer } from './tokenizer.js';

/** The options after validation and defaults. */
export type ResolvedTrain = ResolvedOptions<typeof trainOptions> & Omit<TrainOptions, keyof typeof trainOptions>;

/** Everything the loop needs: what to train, on what, for how long, and from where. */
export interface RunPlan {
  files: string[];
  rows: number;
  hyper: Hyper;
  totalSteps: number;
  model: ClipModel;
  tokenizer: TextTokenizer;
  /** Set when resuming: the checkpoint folder and its state. */
  resume?: { dir: string; state: TrainState };
  /** One line for the log: what starts. */
  summary: string;
}

/** wit's files in a model directory (what --overwrite deletes; nothing else there is touched). */
const RUN_FILES = ['checkpoints', 'model.json', 'model.weights.bin', 'config.json', 'tokenizer.json', 'metrics.jsonl', 'train_state.json', 'eval.json'];

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

/** Whether an option was given: present and not its default (the CLI fills defaults in). */
function given<K extends keyof typeof trainOptions>(o: ResolvedTrain, key: K): boolean {
  const v = (o as Record<string, unknown>)[key];
  return v !== undefined && v !== (trainOptions[key] as { default?: unknown }).default;
}

/**
 * What `out` holds decides between a fresh run, a resume and a refusal: a finished model or another
 * run is never replaced without --overwrite, and --resume needs a checkpoint.
 */
async function checkOut(o: ResolvedTrain): Promise<{ dir: string; step: number } | undefined> {
  if (o.overwrite && o.resume) throw new UsageError('train', '--overwrite and --resume do not go together');
  if (o.overwrite) {
    await Promise.all(RUN_FILES.map((f) => rm(join(o.out, f), { recursive: true, force: true })));
    return undefined;
  }
  const last = (await listCheckpoints(o.out)).at(-1);
  const finished = await exists(join(o.out, 'model.json'));
  if (o.resume) {
    if (last) return last;
    if (finished) throw new UsageError('train', `${o.out} holds a finished model and no checkpoint to resume from; pass --overwrite to replace it or choose another --out`);
    return undefined; // nothing to resume: a fresh run (as after a kill before the first checkpoint)
  }
  if (last) throw new UsageError('train', `${o.out} already holds a training run (checkpoint step ${last.step}); pass --resume to continue it, --overwrite to replace it, or choose another --out`);
  if (finished) throw new UsageError('train', `${o.out} already holds a trained model (model.json); pass --overwrite to replace it or choose another --out`);
  return undefined;
}

/** The differences between what --resume was asked and what the run in the checkpoint is, as "name: asked (run has X)". */
function resumeClashes(o: ResolvedTrain, hyper: Hyper, config: ClipConfig, files: string[], rows: number, state: TrainState): string[] {
  const out: string[] = [];
  const same = (k: keyof Hyper & keyof ResolvedTrain): void => {
    if (given(o, k) && o[k] !== hyper[k]) out.push(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${o[k]} (run has ${hyper[k]})`);
  };
  for (const k of ['loss', 'batchSize', 'lr', 'weightDecay', 'warmupSteps', 'seed', 'shuffleBuffer', 'gradClip'] as const) same(k);
  if (given(o, 'crossPasses') && !hyper.crossPasses) out.push('--cross-passes (run has batches within passes)');
  // Architecture: the shape the options ask for against the checkpoint's config.
  if (given(o, 'arch') || o.imageSize !== undefined || o.contextLength !== undefined || o.vocabSize !== undefined) {
    const asked = withOverrides(resolveArch(given(o, 'arch') ? o.arch : hyper.arch), { imageSize: o.imageSize, contextLength: o.contextLength });
    if (given(o, 'arch') && asked.name !== config.name) out.push(`--arch ${o.arch} (run has ${config.name})`);
    if (JSON.stringify(asked.vision) !== JSON.stringify(config.vision)) out.push(`image tower ${JSON.stringify(asked.vision)} (run has ${JSON.stringify(config.vision)})`);
    const { vocab_size: _a, ...askedText } = asked.text;
    const { vocab_size: _b, ...runText } = config.text;
    if (JSON.stringify(askedText) !== JSON.stringify(runText)) out.push(`text tower ${JSON.stringify(askedText)} (run has ${JSON.stringify(runText)})`);
    if (o.vocabSize !== undefined && hyper.vocabSize !== undefined && o.vocabSize !== hyper.vocabSize) out.push(`--vocab-size ${o.vocabSize} (run has ${hyper.vocabSize})`);
  }
  // Data: the same shard files (the shuffle order and the resume position depend on them).
  const list = (xs: string[]): string => `${xs.slice(0, 2).join(', ')}${xs.length > 2 ? `, … (${xs.length} files)` : ''}`;
  if (hyper.shards && hyper.shards.join('\n') !== files.join('\n')) out.push(`--shards ${list(files)} (run read ${list(hyper.shards)})`);
  else if (rows !== state.rows) out.push(`--shards hold ${rows} pairs (run read ${state.rows})`);
  return out;
}

/** Resuming: model, tokenizer and settings from the last checkpoint, checked against the options. */
async function planResume(o: ResolvedTrain, files: string[], rows: number, last: { dir: string; step: number }): Promise<RunPlan> {
  const state = await readTrainState(last.dir);
  const loaded = await loadModelDir(last.dir);
  const hyper = state.hyper;
  const clashes = resumeClashes(o, hyper, loaded.model.config, files, rows, state);
  if (clashes.length) {
    loaded.model.dispose();
    throw new UsageError('train', `--resume continues the run in ${o.out} with its own settings, and these differ from it: ${clashes.join('; ')}`);
  }
  const totalSteps = o.steps ?? (given(o, 'epochs') ? Math.ceil((o.epochs * rows) / hyper.batchSize) : state.totalSteps);
  return { files, rows, hyper, totalSteps, model: loaded.model, tokenizer: loaded.tokenizer, resume: { dir: last.dir, state }, summary: `train: resuming from ${last.dir} at step ${state.step}` };
}

async function collectCaptions(files: string[], max: number): Promise<string[]> {
  const out: string[] = [];
  for await (const r of readShards(files, { images: false })) {
    out.push(r.caption);
    if (out.length >= max) break;
  }
  return out;
}

/** A fresh run: a new model (or --init-from's), a tokenizer trained on the captions, the options' settings. */
async function planFresh(o: ResolvedTrain, files: string[], rows: number): Promise<RunPlan> {
  const init = o.initFrom ? await loadModelDir(o.initFrom) : undefined;
  const cfg = init ? init.model.config : withOverrides(resolveArch(o.arch), { imageSize: o.imageSize, contextLength: o.contextLength, vocabSize: o.vocabSize });
  const totalSteps = o.steps ?? Math.max(1, Math.ceil((o.epochs * rows) / o.batchSize));
  const hyper: Hyper = {
    arch: init ? cfg.name : o.arch, loss: init ? init.model.loss : o.loss, batchSize: o.batchSize, lr: o.lr, weightDecay: o.weightDecay,
    warmupSteps: o.warmupSteps ?? Math.min(500, Math.floor(totalSteps / 10)), seed: o.seed, shuffleBuffer: o.shuffleBuffer, gradClip: o.gradClip,
    imageSize: cfg.vision.image_size, contextLength: cfg.text.context_length, vocabSize: cfg.text.vocab_size, shards: files,
    ...(o.crossPasses ? { crossPasses: true } : {}),
  };
  const steps = `${rows} pairs, ${totalSteps} steps of ${o.batchSize}`;
  if (init) {
    return { files, rows, hyper, totalSteps, model: init.model, tokenizer: init.tokenizer, summary: `train: starting from ${o.initFrom} (${cfg.name}), ${steps}` };
  }
  if (o.tokenizer && o.tokenizer.contextLength !== cfg.text.context_length) {
    throw new UsageError('train', `the given tokenizer's context length is ${o.tokenizer.contextLength}, the architecture's ${cfg.text.context_length}`);
  }
  const captions = o.tokenizer ? [] : await collectCaptions(files, o.tokenizerCaptions);
  const tokenizer = o.tokenizer ?? trainTokenizer(captions, { vocabSize: cfg.text.vocab_size, contextLength: cfg.text.context_length });
  cfg.text.vocab_size = tokenizer.vocabSize;
  // Said before the model is drawn (seconds to a minute for a large one, and Ctrl-C stops it).
  o.onLog?.(`train: initialising ${cfg.name} (${archSize(cfg).parameters.toLocaleString('en')} parameters)`);
  const model = ClipModel.create(cfg, hyper.loss, hyper.seed);
  const from = o.tokenizer ? 'given' : `from ${captions.length} captions`;
  return { files, rows, hyper, totalSteps, model, tokenizer, summary: `train: ${cfg.name}, tokenizer ${tokenizer.vocabSize} ids ${from}, ${steps}` };
}

/**
 * Resolves a run from the options: validates them, lists and counts the shards, decides fresh /
 * resume / refuse from what `out` holds, starts the backend, and builds the model and tokenizer. Throws UsageError for
 * bad options, missing shards, an `out` that holds a model or run (without --resume/--overwrite) or a
 * resume whose settings differ; InputError for unreadable shards or checkpoints.
 */
export async function resolveRun(input: TrainOptions): Promise<{ options: ResolvedTrain; plan: RunPlan; backend: BackendInfo; claim: OutputClaim }> {
  const options = resolveOptions('train', trainOptions, input) as ResolvedTrain;
  const files = await listShards(options.shards);
  const rows = await countRows(files);
  if (!rows) throw new InputError('train', files[0]!, 'the shards hold no pairs');
  // The lock is held until train() ends (it releases the claim); released here when the run cannot start.
  const claim = await claimOutput(options.out, { command: 'train' });
  try {
    const last = await checkOut(options);
    const backend = await initBackend(options.backend, { threads: options.threads });
    const plan = last ? await planResume(options, files, rows, last) : await planFresh(options, files, rows);
    await claim.create();
    return { options, plan, backend, claim };
  } catch (err) {
    await claim.release();
    throw err;
  }
}
