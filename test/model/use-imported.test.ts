import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { train, type TrainOptions } from '../../src/train/index.js';
import { readModelConfig } from '../../src/train/model-dir.js';
import { writeEmojiShards } from '../helpers/emoji-shards.js';
import { runWit } from '../crawl/run-wit.js';
import { makeWitModel } from './wit-model.js';

/**
 * An imported open_clip model is a model directory like any other: wit filter scores the demo's
 * emoji shards with it, wit train fine-tunes it (--init-from) and resumes that run.
 */

let root: string;
let imported: string;
let shards: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wit-use-imported-'));
  // An open_clip checkpoint: a wit model exported, then imported (CLIP BPE, open_clip layout).
  await makeWitModel(join(root, 'wit'));
  const e = await runWit(['model', 'export', '--model', join(root, 'wit'), '--out', join(root, 'oc')]);
  expect(e.code, e.stderr).toBe(0);
  // A non-default normalisation (as open_clip's non-OpenAI models), to see it travel through fine-tuning.
  const cfgFile = join(root, 'oc/open_clip_config.json');
  const oc = JSON.parse(readFileSync(cfgFile, 'utf8'));
  oc.preprocess_cfg.mean = [0.5, 0.5, 0.5];
  oc.preprocess_cfg.std = [0.5, 0.5, 0.5];
  writeFileSync(cfgFile, JSON.stringify(oc));
  imported = join(root, 'imported');
  const i = await runWit(['model', 'import', '--weights', join(root, 'oc/open_clip_model.safetensors'), '--config', join(root, 'oc/open_clip_config.json'), '--vocab', join(root, 'oc/bpe_vocab.txt.gz'), '--out', imported]);
  expect(i.code, i.stderr).toBe(0);
  shards = join(root, 'shards');
  await writeEmojiShards(shards, { sets: ['google'], limit: 24, size: 64, perShard: 12 });
}, 600_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('an imported model in the other stages', () => {
  test('wit filter --model scores the demo emoji shards with it', async () => {
    const r = await runWit(['filter', '--shards', shards, '--model', imported, '--out', join(root, 'filtered'), '--keep-fraction', '0.5', '--backend', 'wasm', '--json'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.input).toBe(24);
    expect(s.scored).toBe(24);
    expect(s.kept).toBe(12);
  }, 600_000);

  test('wit eval --model evaluates it (zero-shot over the queries, retrieval)', async () => {
    const r = await runWit(['eval', '--model', imported, '--shards', shards, '--out', join(root, 'eval.json'), '--backend', 'wasm', '--json'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.zero_shot.samples).toBe(24);
    expect(s.retrieval.samples).toBe(24);
  }, 600_000);

  const opts = (out: string): TrainOptions => ({
    shards: [shards], out, initFrom: imported, batchSize: 6, lr: 1e-3, warmupSteps: 1, backend: 'wasm', seed: 2, shuffleBuffer: 8, decodeWorkers: 1, steps: 4, checkpointEvery: 2,
  });

  test('wit train --init-from fine-tunes it, keeping CLIP BPE, activation and normalisation; --resume gives the same weights', async () => {
    const a = join(root, 'ft-a');
    const s = await train(opts(a));
    expect(s.steps).toBe(4);
    const cfg = await readModelConfig(a);
    expect(cfg.tokenizer.type).toBe('clip-bpe');
    expect(cfg.arch.act).toBe('quick_gelu');
    expect(cfg.preprocess.mean).toEqual([0.5, 0.5, 0.5]);
    expect(cfg.arch.image_std).toEqual([0.5, 0.5, 0.5]);
    const b = join(root, 'ft-b');
    const ctrl = new AbortController();
    await expect(train({ ...opts(b), signal: ctrl.signal, onProgress: (l) => { if (l.startsWith('train step 3/')) ctrl.abort(); } })).rejects.toThrow(/--resume/);
    const r = await train({ ...opts(b), resume: true });
    expect(r.resumed_from).toBeGreaterThanOrEqual(2);
    expect(readFileSync(join(b, 'model.weights.bin')).equals(readFileSync(join(a, 'model.weights.bin')))).toBe(true);
  }, 600_000);
});
