import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../util/tf.js';
import { InputError, UsageError } from '../util/errors.js';
import { writeJsonAtomic } from '../shards/index.js';
import { validateConfig, type ClipConfig } from './config.js';
import { ClipModel, parameterSpecs, type LossKind } from './model.js';
import { BpeTokenizer, type TextTokenizer } from './tokenizer.js';
import { ClipTokenizer } from './clip-tokenizer.js';
import { CLIP_MEAN, CLIP_STD } from './preprocess.js';
import { loadWeights, readWeightArrays, saveWeights } from './weights-io.js';
import { readInputText } from '../util/input.js';

/**
 * A model directory (the final model or one checkpoint): config.json, tokenizer.json,
 * model.json + model.weights.bin (the tfjs weights-manifest format).
 */

/** What config.json holds. */
export interface ModelDirConfig {
  format: 'wit-clip';
  version: 1;
  /** The architecture, with text.vocab_size set to the trained tokenizer's size. */
  arch: ClipConfig;
  loss: LossKind;
  image_size: number;
  context_length: number;
  /** wit-byte-bpe: wit's own BPE (trained models); clip-bpe: CLIP's (models imported from open_clip). */
  tokenizer: { file: 'tokenizer.json'; type: TextTokenizer['kind']; vocab_size: number };
  preprocess: { mean: readonly number[]; std: readonly number[]; eval: string; train: string };
  weights: 'model.json';
}

/** config.json contents for a model. */
export function modelDirConfig(model: ClipModel, tokenizer: TextTokenizer): ModelDirConfig {
  return modelDirConfigOf(model.config, model.loss, tokenizer);
}

/** config.json contents for an architecture, loss and tokenizer (used where no model is built, e.g. import). */
export function modelDirConfigOf(arch: ClipConfig, loss: LossKind, tokenizer: TextTokenizer): ModelDirConfig {
  const model = { config: arch };
  return {
    format: 'wit-clip',
    version: 1,
    arch,
    loss,
    image_size: model.config.vision.image_size,
    context_length: tokenizer.contextLength,
    tokenizer: { file: 'tokenizer.json', type: tokenizer.kind, vocab_size: tokenizer.vocabSize },
    preprocess: {
      mean: model.config.image_mean ?? CLIP_MEAN,
      std: model.config.image_std ?? CLIP_STD,
      eval: 'bicubic resize of the short side, centre crop, alpha flattened onto white',
      train: 'random resized crop (scale 0.9-1, ratio 3/4-4/3), bicubic',
    },
    weights: 'model.json',
  };
}

/**
 * Writes config.json, tokenizer.json and (unless `weights` is false) the weights into dir, each
 * file atomically; model.json is renamed into place last, so a directory with model.json is complete.
 */
export async function saveModelDir(dir: string, model: ClipModel, tokenizer: TextTokenizer, weights = true): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeJsonAtomic(join(dir, 'config.json'), modelDirConfig(model, tokenizer));
  await writeJsonAtomic(join(dir, 'tokenizer.json'), tokenizer.toJSON());
  if (!weights) return;
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, v] of model.params) tensors[name] = v;
  await saveWeights(dir, 'model', tensors, { modelTopology: { class_name: 'WitClip', config: model.config, loss: model.loss } });
}

/** Reads config.json of a model dir; throws UsageError when the dir is not a model, InputError when malformed. */
export async function readModelConfig(dir: string): Promise<ModelDirConfig> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = await readInputText(file, { kind: 'config', stage: 'train' });
  } catch (err) {
    if (err instanceof InputError && !/no such file|a part of the path/.test(err.message)) throw err;
    const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
    throw new UsageError('train', isDir ? 'not a model directory (no config.json); point at a `wit train --out` directory or a checkpoint in it' : 'no such model directory', { file: dir });
  }
  let json: ModelDirConfig;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError('train', file, `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (json.format !== 'wit-clip' || !json.arch) throw new InputError('train', file, 'not a wit CLIP config (format "wit-clip" with an arch)');
  json.arch = validateConfig(json.arch, file);
  if (json.loss !== 'clip' && json.loss !== 'siglip') throw new InputError('train', file, `unknown loss ${JSON.stringify(json.loss)}`);
  return json;
}

/** Loads model and tokenizer of a model dir (or a checkpoint). Throws UsageError/InputError naming the file. */
export async function loadModelDir(dir: string): Promise<{ model: ClipModel; tokenizer: TextTokenizer; config: ModelDirConfig }> {
  const { config, tokenizer } = await readModelDirHead(dir);
  const { tensors } = await loadWeights(dir, 'model');
  try {
    return { model: ClipModel.fromTensors(config.arch, config.loss, tensors), tokenizer, config };
  } catch (err) {
    throw new InputError('train', join(dir, 'model.json'), (err as Error).message, { cause: err });
  } finally {
    tf.dispose(tensors);
  }
}

/**
 * A model dir's config and tokenizer, checked against each other, and that its weights exist (not read):
 * what every backend needs before the weights. Throws UsageError/InputError naming the file.
 */
export async function readModelDirHead(dir: string): Promise<{ tokenizer: TextTokenizer; config: ModelDirConfig }> {
  const config = await readModelConfig(dir);
  const tokenizer = await loadTokenizer(join(dir, 'tokenizer.json'), config.tokenizer?.type ?? 'wit-byte-bpe');
  if (tokenizer.vocabSize !== config.arch.text.vocab_size) {
    throw new InputError('train', join(dir, 'tokenizer.json'), `tokenizer has ${tokenizer.vocabSize} ids but the model's embedding has ${config.arch.text.vocab_size} rows`);
  }
  if (!(await stat(join(dir, 'model.json')).then(() => true, () => false))) {
    const cps = await listCheckpoints(dir);
    const hint = cps.length ? `; training has not finished: load a checkpoint such as ${cps[cps.length - 1]!.dir}` : '';
    throw new UsageError('train', `no model.json (weights) in this model directory${hint}`, { file: dir });
  }
  return { config, tokenizer };
}

/**
 * A model dir's weights as Float32Arrays by name, checked against the config's parameters (names and
 * shapes, as ClipModel.fromTensors), without tfjs. Throws InputError naming model.json and the parameter.
 */
export async function readModelWeights(dir: string, config: ModelDirConfig): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
  const { arrays } = await readWeightArrays(dir, 'model');
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const s of parameterSpecs(config.arch, config.loss)) {
    const a = arrays[s.name];
    const bad = !a ? `weights lack parameter ${s.name}` : a.shape.join(',') !== s.shape.join(',') ? `parameter ${s.name} has shape [${a.shape}] but the config needs [${s.shape}]` : '';
    if (bad) throw new InputError('train', join(dir, 'model.json'), bad);
    out.set(s.name, a!);
  }
  return out;
}

/** Reads tokenizer.json of the kind config.json names; throws InputError naming the file. */
export async function loadTokenizer(file: string, kind: TextTokenizer['kind']): Promise<TextTokenizer> {
  if (kind === 'wit-byte-bpe') return BpeTokenizer.load(file);
  if (kind !== 'clip-bpe') throw new InputError('train', file, `unknown tokenizer type ${JSON.stringify(kind)} (wit-byte-bpe or clip-bpe)`);
  let json: unknown;
  try {
    json = JSON.parse(await readInputText(file, { kind: 'vocab', stage: 'train' }));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError('train', file, `cannot read tokenizer: ${(err as Error).message}`, { cause: err });
  }
  return ClipTokenizer.fromJSON(json, file);
}

/** Checkpoint directories `checkpoints/step-NNNNNN` that are complete (have train_state.json), oldest first. */
export async function listCheckpoints(out: string): Promise<Array<{ step: number; dir: string }>> {
  const root = join(out, 'checkpoints');
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const found: Array<{ step: number; dir: string }> = [];
  for (const n of names) {
    const m = /^step-(\d+)$/.exec(n);
    if (!m) continue;
    const dir = join(root, n);
    if (await stat(join(dir, 'train_state.json')).then(() => true, () => false)) found.push({ step: Number(m[1]), dir });
  }
  return found.sort((a, b) => a.step - b.step);
}

/** `checkpoints/step-000100` for step 100. */
export function checkpointDir(out: string, step: number): string {
  return join(out, 'checkpoints', `step-${String(step).padStart(6, '0')}`);
}
