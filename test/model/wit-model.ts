import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/train/backend/index.js';
import { validateConfig, type ClipConfig } from '../../src/train/config.js';
import { ClipModel, type LossKind } from '../../src/train/model.js';
import { saveModelDir } from '../../src/train/model-dir.js';
import { trainTokenizer } from '../../src/train/tokenizer.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWit } from '../crawl/run-wit.js';
import { sharedFixture } from '../helpers/shared-fixtures.js';

/** Plain captions (no HTML entities or curly quotes, where wit's and CLIP's cleaning agree). */
export const PLAIN_CAPTIONS = ['a photo of a dog', 'two cats on a red sofa', 'the bridge over the river at night 42', 'ΣΟΦΙΑ café 東京 😀!', 'a dog and a cat'];

/** What the tokenizer of makeWitModel learns from (default: PLAIN_CAPTIONS, 600 ids, 12 tokens). */
export interface WitModelTokenizer { captions?: readonly string[]; vocabSize?: number; contextLength?: number }

/** A small wit-native CLIP (random init) with a BPE trained on a few captions, saved as a model dir. */
export async function makeWitModel(dir: string, overrides: Partial<ClipConfig> = {}, loss: LossKind = 'clip', text: WitModelTokenizer = {}): Promise<ClipConfig> {
  await initBackend('wasm');
  const captions = text.captions ?? Array.from({ length: 30 }, (_, i) => PLAIN_CAPTIONS[i % PLAIN_CAPTIONS.length]!);
  const contextLength = text.contextLength ?? 12;
  const tok = trainTokenizer(captions, { vocabSize: text.vocabSize ?? 600, contextLength });
  const cfg = validateConfig({
    name: 'wit-small', embed_dim: 16, act: 'quick_gelu',
    vision: { type: 'vit', image_size: 32, patch_size: 8, width: 32, layers: 2, heads: 4 },
    text: { context_length: contextLength, vocab_size: tok.vocabSize, width: 32, heads: 4, layers: 2 },
    ...overrides,
  }, 'test');
  const model = ClipModel.create(cfg, loss, 5);
  // Non-trivial norms and biases, so that a layout mistake in any tensor shows.
  tf.tidy(() => {
    for (const [name, v] of model.params) if (v.rank === 1) v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.1, 'float32', name.length)));
  });
  await saveModelDir(dir, model, tok);
  model.dispose();
  return cfg;
}

/** The shared {@link makeWitModel} model (defaults) and its `wit model export`, built once per run. */
export interface SharedWitModel {
  /** The wit model folder (read-only: copy it to change it). */
  model: string;
  /** Its open_clip export (open_clip_model.safetensors, open_clip_config.json, bpe_vocab.txt.gz). */
  exported: string;
  /** What `wit model export` printed on stderr. */
  exportStderr: string;
}

export async function sharedWitModel(): Promise<SharedWitModel> {
  const dir = await sharedFixture('wit-model-export', async (d) => {
    await makeWitModel(join(d, 'wit'));
    const r = await runWit(['model', 'export', '--model', join(d, 'wit'), '--out', join(d, 'exported')], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`shared fixture: wit model export exited ${r.code}: ${r.stderr}`);
    writeFileSync(join(d, 'export-stderr.txt'), r.stderr);
  }, { inPlace: true }); // in place: the export's open_clip_config.json names its vocabulary by absolute path
  return { model: join(dir, 'wit'), exported: join(dir, 'exported'), exportStderr: readFileSync(join(dir, 'export-stderr.txt'), 'utf8') };
}
