import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/train/backend/index.js';
import { validateConfig, type ClipConfig } from '../../src/train/config.js';
import { ClipModel, decays } from '../../src/train/model.js';
import { conv3x3, embed } from '../../src/train/nn.js';
import { lossOf, trainStep } from '../../src/train/train.js';
import { AdamW, clipByGlobalNorm, learningRate } from '../../src/train/optim.js';
import { loadModelDir, saveModelDir } from '../../src/train/model-dir.js';
import { trainTokenizer } from '../../src/train/tokenizer.js';
import type { Batch } from '../../src/train/data.js';
import { Rng } from '../../src/util/rng.js';

const text = { context_length: 8, vocab_size: 530, width: 16, heads: 2, layers: 1, mlp_ratio: 2 };
const vit: ClipConfig = validateConfig({ name: 'grad-vit', embed_dim: 8, act: 'quick_gelu', text, vision: { type: 'vit', image_size: 16, patch_size: 8, width: 16, layers: 1, heads: 2, mlp_ratio: 2 } }, 'test');
const resnet: ClipConfig = validateConfig({ name: 'grad-rn', embed_dim: 8, act: 'gelu', text, vision: { type: 'resnet', image_size: 16, width: 8, stages: [1, 1], heads: 2 } }, 'test');

function syntheticBatch(cfg: ClipConfig, n: number, seed: number): Batch {
  const rng = new Rng(seed);
  const s = cfg.vision.image_size;
  const l = cfg.text.context_length;
  const images = Float32Array.from({ length: n * s * s * 3 }, () => rng.normal());
  const ids = new Int32Array(n * l);
  const eos = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const len = 2 + rng.below(l - 3);
    ids[i * l] = 1;
    for (let j = 1; j <= len; j++) ids[i * l + j] = 3 + rng.below(cfg.text.vocab_size - 3);
    ids[i * l + len + 1] = 2;
    eos[i] = len + 1;
  }
  return { images, ids, eos, n, keys: Array.from({ length: n }, (_, i) => String(i)), end: { epoch: 0, index: n }, bad: 0, errors: [] };
}

function lossFn(model: ClipModel, b: Batch): () => tf.Scalar {
  const s = model.config.vision.image_size;
  const l = model.config.text.context_length;
  return () => tf.tidy(() => lossOf(model.loss, model.forward(tf.tensor4d(b.images, [b.n, s, s, 3]), tf.tensor2d(b.ids, [b.n, l], 'int32'), tf.tensor1d(b.eos, 'int32'), true)));
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('model', () => {
  test.each([['ViT', 'clip'], ['ResNet', 'clip'], ['ViT', 'siglip']] as const)('%s gradients (%s loss) match finite differences', async (kind, loss) => {
    const cfg = kind === 'ViT' ? vit : resnet;
    const model = ClipModel.create(cfg, loss, 7);
    const batch = syntheticBatch(cfg, 4, 3);
    const f = lossFn(model, batch);
    const names = [...model.params.keys()];
    const vars = model.variables();
    const { grads } = tf.variableGrads(f, vars);
    const rng = new Rng(11);
    // Directions: all parameters at once, and single groups that exercise each path.
    const groups: Array<(n: string) => boolean> = [
      () => true,
      (n) => n === 'token_embedding.weight',
      (n) => n === 'logit_scale' || n === 'logit_bias',
      (n) => n.startsWith('visual.') && (n.includes('conv') || n.includes('attnpool') || n.includes('class_embedding')),
      (n) => n.startsWith('transformer.resblocks.0.attn'),
    ];
    for (const sel of groups) {
      const dirs = vars.map((v, i) => (sel(names[i]!) ? Float32Array.from({ length: v.size }, () => rng.normal()) : new Float32Array(v.size)));
      const norm = Math.sqrt(dirs.reduce((a, d) => a + d.reduce((x, y) => x + y * y, 0), 0));
      dirs.forEach((d) => d.forEach((_, j) => (d[j]! /= norm)));
      let analytic = 0;
      vars.forEach((v, i) => {
        const g = grads[v.name]!.dataSync();
        for (let j = 0; j < g.length; j++) analytic += g[j]! * dirs[i]![j]!;
      });
      const eps = 1e-2;
      const orig = vars.map((v) => v.clone());
      const shift = (k: number) => vars.forEach((v, i) => v.assign(tf.tidy(() => tf.add(orig[i]!, tf.mul(tf.tensor(dirs[i]!, v.shape), k)))));
      shift(eps);
      const up = f().dataSync()[0]!;
      shift(-eps);
      const down = f().dataSync()[0]!;
      vars.forEach((v, i) => v.assign(orig[i]!));
      tf.dispose(orig);
      const numeric = (up - down) / (2 * eps);
      expect(Math.abs(numeric - analytic)).toBeLessThan(0.02 * Math.abs(analytic) + 2e-4);
    }
    tf.dispose(grads);
    model.dispose();
  });

  test('embedding by one-hot matmul equals gather; im2col convolution equals tf.conv2d', () => {
    const table = tf.randomNormal([20, 4]) as tf.Tensor2D;
    const ids = tf.tensor2d([[1, 5, 19], [0, 0, 7]], undefined, 'int32');
    const a = tf.gather(table, ids);
    const b = embed(table, ids, true);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-6);
    const x = tf.randomNormal([2, 8, 8, 3]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 5]) as tf.Tensor4D;
    for (const stride of [1, 2] as const) {
      const ref = tf.conv2d(x, w, stride, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      const got = conv3x3(x, w, stride);
      expect(got.shape).toEqual(ref.shape);
      expect(tf.max(tf.abs(tf.sub(ref, got))).dataSync()[0]).toBeLessThan(1e-4);
    }
  });

  test('save then load gives identical embeddings', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wit-model-'));
    const tok = trainTokenizer(['a red square', 'a blue circle'], { vocabSize: 530, contextLength: 8 });
    const cfg = structuredClone(vit);
    cfg.text.vocab_size = tok.vocabSize;
    const model = ClipModel.create(cfg, 'siglip', 5);
    await saveModelDir(dir, model, tok);
    const loaded = await loadModelDir(dir);
    const batch = syntheticBatch(cfg, 3, 9);
    const run = (m: ClipModel) => tf.tidy(() => {
      const o = m.forward(tf.tensor4d(batch.images, [3, 16, 16, 3]), tf.tensor2d(batch.ids, [3, 8], 'int32'), tf.tensor1d(batch.eos, 'int32'));
      return [...o.imageFeatures.dataSync(), ...o.textFeatures.dataSync(), o.logitScale.dataSync()[0]!, o.logitBias!.dataSync()[0]!];
    });
    expect(run(loaded.model)).toEqual(run(model));
    expect(loaded.tokenizer.toJSON()).toEqual(tok.toJSON());
    expect(loaded.config.loss).toBe('siglip');
    model.dispose();
    loaded.model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('training steps: loss falls on a fixed batch, no tensor leaks, logit scale stays clamped', async () => {
    const model = ClipModel.create(vit, 'clip', 1);
    const opt = new AdamW(model.params, decays, { weightDecay: 0.1 });
    const batch = syntheticBatch(vit, 8, 5);
    const losses: number[] = [];
    let tensors = 0;
    for (let i = 0; i < 20; i++) {
      const r = await trainStep(model, opt, batch, 3e-3, 1);
      losses.push(r.loss);
      if (i === 1) tensors = tf.memory().numTensors;
      if (i > 1) expect(tf.memory().numTensors).toBe(tensors);
    }
    expect(losses[losses.length - 1]!).toBeLessThan(0.3 * losses[0]!);
    // Push the log scale over ln 100: the clamp brings it back.
    model.params.get('logit_scale')!.assign(tf.scalar(7));
    await trainStep(model, opt, batch, 1e-3, 1);
    expect(model.params.get('logit_scale')!.dataSync()[0]).toBeCloseTo(Math.log(100), 5);
    opt.dispose();
    model.dispose();
  });
});

describe('optimizer', () => {
  test('a model and its AdamW leave no tensor behind once disposed (the moments leaked two model-sized buffers per train())', () => {
    const before = tf.memory();
    const model = ClipModel.create(vit, 'clip', 1);
    const opt = new AdamW(model.params, decays, { weightDecay: 0.1 });
    opt.dispose();
    model.dispose();
    const after = tf.memory();
    expect(after.numTensors - before.numTensors).toBe(0);
    expect(after.numBytes - before.numBytes).toBe(0);
  });

  test('AdamW matches a hand-computed torch.optim.AdamW step, decoupled decay only where the mask says', () => {
    const params = new Map<string, tf.Variable>([['w.weight', tf.variable(tf.tensor2d([[1, -2]]))], ['b.bias', tf.variable(tf.tensor1d([0.5]))]]);
    const opt = new AdamW(params, decays, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 });
    const lr = 0.1;
    opt.apply(new Map<string, tf.Tensor>([['w.weight', tf.tensor2d([[0.2, 0.4]])], ['b.bias', tf.tensor1d([-1])]]), lr);
    // Step 1: m̂ = g, v̂ = g², update = lr·g/(|g|+eps) = ±lr; decay p·(1 - lr·wd) for the matrix only.
    const w = params.get('w.weight')!.dataSync();
    expect(w[0]).toBeCloseTo(1 * (1 - 0.05) - 0.1, 5);
    expect(w[1]).toBeCloseTo(-2 * (1 - 0.05) - 0.1, 5);
    expect(params.get('b.bias')!.dataSync()[0]).toBeCloseTo(0.5 + 0.1, 5);
    opt.dispose();
  });

  test('weight decay as open_clip: 2-D weights and the token embedding; not gains, biases, logit scale/bias, class or positional embeddings', () => {
    const decayed = (cfg: ClipConfig, loss: 'clip' | 'siglip') => {
      const m = ClipModel.create(cfg, loss, 1);
      const out = new Map([...m.params].map(([n, v]) => [n, decays(n, v.shape)]));
      m.dispose();
      return out;
    };
    const v = decayed(vit, 'siglip');
    for (const n of ['token_embedding.weight', 'visual.conv1.weight', 'visual.proj', 'text_projection', 'transformer.resblocks.0.attn.in_proj_weight', 'visual.transformer.resblocks.0.mlp.c_fc.weight']) expect(v.get(n), n).toBe(true);
    for (const n of ['positional_embedding', 'visual.positional_embedding', 'visual.class_embedding', 'logit_scale', 'logit_bias', 'ln_final.weight', 'visual.ln_pre.bias', 'transformer.resblocks.0.attn.in_proj_bias']) expect(v.get(n), n).toBe(false);
    const r = decayed(resnet, 'clip');
    for (const n of ['visual.conv1.weight', 'visual.layer1.0.conv2.weight', 'visual.attnpool.q_proj.weight']) expect(r.get(n), n).toBe(true);
    for (const n of ['visual.attnpool.positional_embedding', 'visual.gn1.weight', 'visual.attnpool.q_proj.bias']) expect(r.get(n), n).toBe(false);
  });

  test('warmup then cosine schedule; global-norm clipping', () => {
    expect(learningRate(0, 100, 1, 10)).toBeCloseTo(0.1);
    expect(learningRate(9, 100, 1, 10)).toBeCloseTo(1);
    expect(learningRate(10, 100, 1, 10)).toBeCloseTo(1);
    expect(learningRate(55, 100, 1, 10)).toBeCloseTo(0.5);
    expect(learningRate(99, 100, 1, 10)).toBeLessThan(0.001);
    const g = new Map<string, tf.Tensor>([['a', tf.tensor1d([3, 0])], ['b', tf.tensor1d([4])]]);
    const { grads, norm } = clipByGlobalNorm(g, 1);
    expect(norm.dataSync()[0]).toBeCloseTo(5);
    expect([...grads.get('a')!.dataSync(), ...grads.get('b')!.dataSync()].map((x) => +x.toFixed(4))).toEqual([0.6, 0, 0.8]);
  });
});
