import { rmSync, mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { train, type MetricsLine, type TrainOptions } from '../../src/train/index.js';
import { trainLine } from '../../src/train/train.js';
import { runSamplesPerSec } from '../../src/train/final-loss.js';
import { loadClip } from '../../src/train/clip.js';
import { InputError, UsageError, WitError } from '../../src/util/errors.js';
import { writeShapeShards } from './synthetic-shards.js';

// Needs the compiled decode worker: `npm run build` (npm test does it first).
let root: string;
let shards: string;
const base = (out: string): TrainOptions => ({
  shards: [shards], out, arch: 'vit-micro', batchSize: 12, lr: 3e-3, warmupSteps: 2, backend: 'wasm', seed: 3, shuffleBuffer: 10, decodeWorkers: 1, contextLength: 8,
});
const metrics = (out: string): MetricsLine[] => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wit-train-'));
  shards = join(root, 'shards');
  await writeShapeShards(shards, { perClass: 3, shards: 2, corrupt: 2 });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('train', () => {
  test('a few steps on a tiny synthetic set reduce the loss; writes the model dir, metrics and checkpoints', async () => {
    const out = join(root, 'run');
    const lines: string[] = [];
    // Whole-set batches (36 good images of 12 captions, 2 corrupt): every step's loss is over the
    // same pairs, so the curve is comparable from step to step; ln 3 is its floor (3 images a caption).
    const s = await train({ ...base(out), batchSize: 38, lr: 5e-3, steps: 24, checkpointEvery: 12, onProgress: (l) => lines.push(l) });
    expect(s.steps).toBe(24);
    expect(s.backend).toBe('wasm');
    expect(s.bad_images).toBeGreaterThan(0); // the two corrupt images were counted and dropped
    expect(s.samples_per_sec).toBeGreaterThan(0);
    expect(s.leaked_tensors).toBe(0); // tf.memory().numTensors flat across the 24 steps
    // the last progress line is the summary (issue 29): its steps, final loss and the run's one rate,
    // which the last step's line, metrics.jsonl (as the report and the demo read it) and the summary share
    expect(lines[lines.length - 1]).toBe(trainLine(s, 24));
    expect(lines[lines.length - 1]).toMatch(new RegExp(`^train done: step 24/24 final loss ${s.final_loss.toFixed(4)} .* ${s.samples_per_sec.toFixed(1)} samples/s in `));
    expect(lines.filter((l) => l.startsWith('train step ')).pop()).toContain(` ${s.samples_per_sec.toFixed(1)} samples/s `);
    expect(runSamplesPerSec(metrics(out)) / s.samples_per_sec).toBeCloseTo(1, 6);
    const m = metrics(out);
    expect(m.map((x) => x.step)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    expect(m.every((x) => x.batch === 36)).toBe(true);
    for (const k of ['loss', 'lr', 'logit_scale', 'samples_per_s', 'time', 'grad_norm', 'data_wait_ms']) expect(typeof (m[0] as unknown as Record<string, unknown>)[k]).toBe('number');
    expect(m[0]!.loss).toBeCloseTo(Math.log(36), 0);
    console.log(`synthetic loss: ${m.map((x) => x.loss.toFixed(2)).join(' ')}`);
    expect(m[23]!.loss).toBeLessThan(0.7 * m[0]!.loss);
    for (const f of ['config.json', 'tokenizer.json', 'model.json', 'model.weights.bin', 'train_state.json', 'checkpoints/step-000012/train_state.json', 'checkpoints/step-000024/optimizer.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(lines.at(-2)).toMatch(/^train step 24\/24 loss \d/); // then the summary line
    const clip = await loadClip(out, { backend: 'keep', decodeWorkers: 0 });
    const [a, b] = await clip.embedTexts(['a red circle', 'a blue square']);
    expect(a!.length).toBe(64);
    expect(Math.hypot(...a!)).toBeCloseTo(1, 5);
    expect(a).not.toEqual(b);
    expect(clip.logitScale()).toBeGreaterThan(1);
    await clip.dispose();
  });

  test('resume after an interruption equals the uninterrupted run, bit for bit', async () => {
    const a = join(root, 'straight');
    const b = join(root, 'interrupted');
    await train({ ...base(a), steps: 9, checkpointEvery: 3 });
    const ctrl = new AbortController();
    await expect(train({ ...base(b), steps: 9, checkpointEvery: 3, signal: ctrl.signal, onProgress: (l) => { if (l.startsWith('train step 5/')) ctrl.abort(); } }))
      .rejects.toThrow(/interrupted at step 5\/9.*--resume/);
    expect(existsSync(join(b, 'checkpoints/step-000005/train_state.json'))).toBe(true);
    const r = await train({ ...base(b), steps: 9, checkpointEvery: 3, resume: true });
    expect(r.resumed_from).toBe(5);
    expect(r.steps).toBe(9);
    expect(readFileSync(join(b, 'model.weights.bin')).equals(readFileSync(join(a, 'model.weights.bin')))).toBe(true);
    expect(metrics(b).map((x) => [x.step, x.loss, x.lr])).toEqual(metrics(a).map((x) => [x.step, x.loss, x.lr]));
  });

  test('--init-from starts from a trained model (new optimizer and schedule)', async () => {
    const out = join(root, 'finetune');
    const s = await train({ ...base(out), initFrom: join(root, 'run'), steps: 2, arch: 'vit-tiny' });
    expect(s.arch).toBe('vit-micro'); // the model's own architecture wins
    const m = metrics(out);
    console.log(`init-from first loss ${m[0]!.loss.toFixed(3)} (fresh at batch 12: ~ln 12 = ${Math.log(12).toFixed(3)})`);
    expect(m[0]!.loss).toBeLessThan(Math.log(12) - 0.3);
  });

  test('--loss siglip trains a model with a learned bias', async () => {
    const out = join(root, 'siglip');
    const s = await train({ ...base(out), loss: 'siglip', steps: 3 });
    expect(s.loss).toBe('siglip');
    expect(Number.isFinite(s.final_loss)).toBe(true);
    const clip = await loadClip(out, { backend: 'keep', decodeWorkers: 0 });
    expect(clip.logitBias()).toBeCloseTo(-10, 0);
    expect(clip.logitScale()).toBeCloseTo(10, 0);
    await clip.dispose();
  });

  test('bad options and inputs are usage errors naming the problem', async () => {
    await expect(train({ ...base(join(root, 'x')), shards: [join(root, 'nope')] })).rejects.toThrow(UsageError);
    await expect(train({ ...base(join(root, 'x')), batchSize: 1 })).rejects.toThrow(/batch-size/);
    await expect(train({ ...base(join(root, 'x')), arch: 'vit-huge' })).rejects.toThrow(/unknown architecture 'vit-huge'/);
    // An existing run is not overwritten without --resume, and --resume refuses changed settings.
    await expect(train({ ...base(join(root, 'run')), steps: 2 })).rejects.toThrow(/already holds a training run/);
    await expect(train({ ...base(join(root, 'run')), steps: 17, batchSize: 4, resume: true })).rejects.toThrow(/--batch-size 4 \(run has 38\)/);
    const badArch = join(root, 'bad-arch.json');
    writeFileSync(badArch, JSON.stringify({ embed_dim: 8, act: 'relu' }));
    await expect(train({ ...base(join(root, 'y')), arch: badArch })).rejects.toThrow(/act must be/);
    expect(new UsageError('train', 'x')).toBeInstanceOf(WitError);
    // Shards whose every image is corrupt: an input error, not an endless loop.
    const junk = join(root, 'junk');
    await writeShapeShards(junk, { perClass: 0, shards: 1, corrupt: 5 });
    await expect(train({ ...base(join(root, 'z')), shards: [junk], steps: 2, batchSize: 4 })).rejects.toThrow(InputError);
    await expect(train({ ...base(join(root, 'z2')), shards: [junk], steps: 2, batchSize: 4 })).rejects.toThrow(/no image in the shards decodes/);
  });
});
