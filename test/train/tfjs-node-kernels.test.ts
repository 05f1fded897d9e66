/**
 * A training step must run on @tensorflow/tfjs-node(-gpu), whose libtensorflow cannot be installed
 * here. So the step runs on a stand-in backend that registers exactly the kernels tfjs-node 4.22
 * registers (test/fixtures/tfjs-node/kernels-4.22.0.json, read from the package's published sources;
 * see extract.mjs there), computing with the cpu backend's kernels and recording every kernel call
 * with its attributes. The model then takes the code paths it takes on tfjs-node (it picks them by
 * which kernels exist), and every call is checked against the attribute checks tfjs-node's kernel
 * functions make before they reach libtensorflow (e.g. Conv2DBackpropFilter: VALID or SAME padding only).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { validateConfig, type ClipConfig } from '../../src/train/config.js';
import { ClipModel, decays, type LossKind } from '../../src/train/model.js';
import { AdamW } from '../../src/train/optim.js';
import { trainStep } from '../../src/train/train.js';
import { conv3x3 } from '../../src/train/nn.js';
import { Rng } from '../../src/util/rng.js';
import type { Batch } from '../../src/train/data.js';

interface Fixture {
  kernels: string[];
  padding: Array<{ kernel: string; allowed: string[]; source: string }>;
  other: Array<{ kernel: string; attr: string; allowed: unknown[]; source: string }>;
}
const fixture = JSON.parse(readFileSync(join(process.cwd(), 'test/fixtures/tfjs-node/kernels-4.22.0.json'), 'utf8')) as Fixture;
const SIM = 'tfjs-node-4.22-sim';

interface Call { kernel: string; attrs: Record<string, unknown> }
let calls: Call[] = [];

/** The padding kind tfjs-core derives from a `pad` attribute (conv_util getPadAndOutInfo, NHWC). */
function padKind(pad: unknown): string {
  if (typeof pad === 'number') return pad === 0 ? 'VALID' : 'NUMBER';
  if (pad === 'same') return 'SAME';
  if (pad === 'valid') return 'VALID';
  if (Array.isArray(pad)) return (pad as number[][]).slice(1, 3).flat().every((v) => v === 0) ? 'VALID' : 'EXPLICIT';
  return `unknown ${JSON.stringify(pad)}`;
}

/** Every call tfjs-node 4.22 would reject: kernel not registered there, or an attribute its kernel refuses. */
function violations(recorded: Call[]): string[] {
  const known = new Set(fixture.kernels);
  const out = new Set<string>();
  for (const c of recorded) {
    if (!known.has(c.kernel)) out.add(`${c.kernel}: not a tfjs-node 4.22 kernel`);
    for (const p of fixture.padding) {
      if (p.kernel !== c.kernel) continue;
      const kind = padKind(c.attrs.pad);
      if (!p.allowed.includes(kind)) out.add(`${c.kernel}: padding ${kind} (pad ${JSON.stringify(c.attrs.pad)}); tfjs-node accepts ${p.allowed.join('/')} (${p.source})`);
    }
    for (const o of fixture.other) {
      if (o.kernel === c.kernel && !o.allowed.includes(c.attrs[o.attr])) out.add(`${c.kernel}: ${o.attr}=${JSON.stringify(c.attrs[o.attr])} (${o.source})`);
    }
  }
  return [...out];
}

const text = { context_length: 8, vocab_size: 530, width: 16, heads: 2, layers: 1, mlp_ratio: 2 };
const archs: Record<string, ClipConfig> = {
  ViT: validateConfig({ name: 'k-vit', embed_dim: 8, act: 'quick_gelu', text, vision: { type: 'vit', image_size: 16, patch_size: 8, width: 16, layers: 1, heads: 2, mlp_ratio: 2 } }, 'test'),
  ResNet: validateConfig({ name: 'k-rn', embed_dim: 8, act: 'gelu', text, vision: { type: 'resnet', image_size: 32, width: 8, stages: [1, 1], heads: 2 } }, 'test'),
};

function batchFor(cfg: ClipConfig, n: number): Batch {
  const rng = new Rng(5);
  const s = cfg.vision.image_size;
  const l = cfg.text.context_length;
  const ids = new Int32Array(n * l);
  const eos = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    ids[i * l] = 1;
    for (let j = 1; j <= 3; j++) ids[i * l + j] = 3 + rng.below(cfg.text.vocab_size - 3);
    ids[i * l + 4] = 2;
    eos[i] = 4;
  }
  return { images: Float32Array.from({ length: n * s * s * 3 }, () => rng.normal()), ids, eos, n, keys: Array.from({ length: n }, (_, i) => String(i)), end: { epoch: 0, index: n }, bad: 0, errors: [] };
}

let previous = '';
beforeAll(async () => {
  previous = tf.getBackend();
  await tf.setBackend('cpu');
  const Cpu = tf.findBackend('cpu')!.constructor as new () => tf.KernelBackend;
  tf.registerBackend(SIM, () => new Cpu());
  const wanted = new Set(fixture.kernels);
  for (const k of tf.getKernelsForBackend('cpu')) {
    if (!wanted.has(k.kernelName)) continue;
    tf.registerKernel({
      ...k,
      backendName: SIM,
      kernelFunc: (args) => {
        calls.push({ kernel: k.kernelName, attrs: { ...(args.attrs as Record<string, unknown>) } });
        return k.kernelFunc(args);
      },
    });
  }
  await tf.setBackend(SIM);
});

afterAll(async () => {
  await tf.setBackend(previous || 'cpu');
  tf.removeBackend(SIM);
  for (const k of tf.getKernelsForBackend(SIM)) tf.unregisterKernel(k.kernelName, SIM);
});

describe('a training step uses only what tfjs-node 4.22 implements', () => {
  test('the fixture lists the kernels and checks of the published package', () => {
    expect(fixture.kernels.length).toBeGreaterThan(150);
    expect(fixture.kernels).toContain('Conv2DBackpropFilter');
    expect(fixture.padding.find((p) => p.kernel === 'Conv2DBackpropFilter')?.allowed).toEqual(['VALID', 'SAME']);
    // The checker itself catches the defect it is for: explicit padding in a conv gradient.
    expect(violations([{ kernel: 'Conv2DBackpropFilter', attrs: { pad: [[0, 0], [1, 1], [1, 1], [0, 0]] } }])).toHaveLength(1);
    expect(violations([{ kernel: 'NoSuchKernel', attrs: {} }])).toHaveLength(1);
  });

  test.each([['ViT', 'clip'], ['ViT', 'siglip'], ['ResNet', 'clip'], ['ResNet', 'siglip']] as const)('%s with the %s loss', async (arch, loss: LossKind) => {
    const cfg = archs[arch]!;
    const model = ClipModel.create(cfg, loss, 1);
    const opt = new AdamW(model.params, decays);
    calls = [];
    try {
      const r = await trainStep(model, opt, batchFor(cfg, 4), 1e-3, 1);
      expect(Number.isFinite(r.loss)).toBe(true);
    } finally {
      opt.dispose();
      model.dispose();
    }
    const used = [...new Set(calls.map((c) => c.kernel))].sort();
    console.log(`${arch}/${loss}: ${used.length} kernels: ${used.join(' ')}`);
    if (arch === 'ResNet') expect(used).toEqual(expect.arrayContaining(['Conv2D', 'Conv2DBackpropFilter', 'AvgPool', 'AvgPoolGrad']));
    expect(used).toEqual(expect.arrayContaining(['BatchMatMul', 'UnsortedSegmentSum']));
    expect(violations(calls)).toEqual([]);
  });

  test('conv3x3 with VALID/SAME equals padding 1, values and gradients, even and odd sizes', async () => {
    const loss = (conv: (a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor4D) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(conv(a as tf.Tensor4D, b as tf.Tensor4D))));
    for (const [size, stride] of [[8, 1], [8, 2], [7, 1], [6, 2]] as const) {
      const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, 3, 5], 0, 1, 'float32', 4) as tf.Tensor4D;
      const explicit = (a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D => tf.conv2d(a, b, stride, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      const got = conv3x3(x, w, stride);
      const gotGrads = loss((a, b) => conv3x3(a, b, stride))([x, w]);
      // The reference with explicit padding, on the cpu backend (which differentiates it).
      await tf.setBackend('cpu');
      const ref = explicit(x, w);
      const refGrads = loss(explicit)([x, w]);
      expect(got.shape).toEqual(ref.shape);
      expect(tf.max(tf.abs(tf.sub(ref, got))).dataSync()[0]).toBeLessThan(1e-4);
      for (let i = 0; i < 2; i++) expect(tf.max(tf.abs(tf.sub(refGrads[i]!, gotGrads[i]!))).dataSync()[0]).toBeLessThan(1e-3);
      await tf.setBackend(SIM);
    }
  });
});
