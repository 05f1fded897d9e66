import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/train/backend/index.js';
import { resolveArch, withOverrides } from '../../src/train/config.js';
import { ClipModel } from '../../src/train/model.js';
import { saveModelDir } from '../../src/train/model-dir.js';
import { trainTokenizer } from '../../src/train/tokenizer.js';
import { runWit } from '../crawl/run-wit.js';
import { writeShapeShards } from '../train/synthetic-shards.js';
import { readShards, ShardWriter, shardPath, type PairRecord } from '../../src/shards/index.js';

// Drives `wit eval` through the launcher (needs `npm run build`).
let root: string;
let shards: string;
let captions: string[];

/** A vit-micro model directory whose every weight is `value` (0: a collapsed model; NaN: a broken one). */
async function constantModel(dir: string, value: number): Promise<void> {
  const tokenizer = trainTokenizer(captions, { vocabSize: 600, contextLength: 8 });
  const cfg = withOverrides(resolveArch('vit-micro'), { contextLength: 8 });
  cfg.text.vocab_size = tokenizer.vocabSize;
  const model = ClipModel.create(cfg, 'clip', 0);
  for (const v of model.params.values()) v.assign(tf.fill(v.shape, value));
  await saveModelDir(dir, model, tokenizer);
  model.dispose();
}

beforeAll(async () => {
  await initBackend('cpu');
  root = mkdtempSync(join(tmpdir(), 'wit-eval-cli-'));
  shards = join(root, 'shards');
  // 12 shapes × 4 images; the queries of every other image are capitalised ("Red circle").
  captions = (await writeShapeShards(shards, { perClass: 4, shards: 1, capitalizeOdd: true })).captions;
  await constantModel(join(root, 'zero'), 0);
  await constantModel(join(root, 'nan'), NaN);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('wit eval', () => {
  test('counts distinct images (by sha256) beside the pairs read', async () => {
    // the 48 shapes, then 6 of their images again under other captions: 54 pairs, 48 images
    const recs: PairRecord[] = [];
    for await (const r of readShards(shards)) recs.push(r);
    const dup = join(root, 'dup-shards');
    const w = await ShardWriter.open(shardPath(dup, 0), { imageFormat: 'png' });
    for (const r of recs) await w.write(r);
    for (const r of recs.slice(0, 6)) await w.write({ ...r, key: `${r.key}-again`, caption: `another caption of ${r.caption}` });
    await w.close();
    const r = await runWit(['eval', '--model', join(root, 'zero'), '--shards', dup, '--template', '{}', '--backend', 'wasm', '--out', join(root, 'dup-eval.json')], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('pairs: 54 read, 48 distinct images');
    expect(JSON.parse(readFileSync(join(root, 'dup-eval.json'), 'utf8'))).toMatchObject({ pairs: 54, distinct_images: 48 });
  });

  test('a zero-weight model scores chance, not 100 %; labels differing only in case are merged and reported', async () => {
    const out = join(root, 'zero-eval.json');
    const r = await runWit(['eval', '--model', join(root, 'zero'), '--shards', shards, '--template', '{}', '--backend', 'wasm', '--out', out, '--json'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    // 48 images of 12 classes: "red circle" and "Red circle" are one class, not two tied ones.
    expect(s.zero_shot.classes).toBe(12);
    expect(s.zero_shot.merged_labels).toBe(12);
    expect(s.zero_shot.merged_examples).toContain('black circle -> Black circle');
    expect(s.zero_shot.samples).toBe(48);
    // Every embedding is the same vector: ties broken by index give chance exactly (4 images a class).
    expect(s.zero_shot.top1).toBeCloseTo(s.chance_top1, 10);
    expect(s.zero_shot.top5).toBeCloseTo(s.chance_top5, 10);
    expect(s.retrieval.image_to_text).toEqual({ r1: 1 / 48, r5: 5 / 48, r10: 10 / 48 });
    expect(s.retrieval.text_to_image).toEqual({ r1: 1 / 48, r5: 5 / 48, r10: 10 / 48 });
    expect(JSON.parse(readFileSync(out, 'utf8')).zero_shot.top1).toBe(s.zero_shot.top1);
    const human = await runWit(['eval', '--model', join(root, 'zero'), '--shards', shards, '--template', '{}', '--backend', 'wasm', '--out', out], { timeoutMs: 120_000 });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/merged 12 labels that differ only in case or spacing \(/);
  });

  test('a model with NaN weights is an error naming the model (exit 2)', async () => {
    const model = join(root, 'nan');
    const r = await runWit(['eval', '--model', model, '--shards', shards, '--template', '{}', '--backend', 'wasm', '--out', join(root, 'nan.json')], { timeoutMs: 120_000 });
    expect(r.code).toBe(2);
    // refused when loaded (src/model/validate.ts), naming the weights file and the first bad tensor
    expect(r.stderr).toMatch(new RegExp(`wit eval: ${model}/model\\.weights\\.bin: tensor \\S+ holds \\d+ non-finite values`));
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('wit '))).toHaveLength(1); // one error line, no stack
  });

  test('a labels file with the same label in two cases counts it once', async () => {
    const labels = join(root, 'labels.txt');
    writeFileSync(labels, 'red circle\nRed circle\nblue square\n');
    const r = await runWit(['eval', '--model', join(root, 'zero'), '--shards', shards, '--labels', labels, '--template', '{}', '--backend', 'wasm', '--out', join(root, 'l.json'), '--json'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.zero_shot.classes).toBe(2);
    expect(s.zero_shot.label_source).toBe('file');
    expect(s.zero_shot.samples).toBe(6); // 4 red circles (both spellings) + the 2 blue squares spelt as listed
    expect(s.zero_shot.merged_labels).toBe(1);
  });
});
