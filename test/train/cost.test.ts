import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/train/backend/index.js';
import { flopsCounted } from '../../src/train/backend/meter.js';
import { resolveArch, validateConfig, withOverrides, type ClipConfig } from '../../src/train/config.js';
import { stepFlops } from '../../src/train/cost.js';
import { ClipModel, decays } from '../../src/train/model.js';
import { AdamW } from '../../src/train/optim.js';
import { trainStep } from '../../src/train/train.js';
import { Rng } from '../../src/util/rng.js';
import type { Batch } from '../../src/train/data.js';

/**
 * The estimate printed before the first step (src/train/cost.ts) against what a real step on the wasm
 * backend multiplies: wit's GEMM pool counts the FLOPs of every matrix product it runs (convolutions
 * included: on wasm they are im2col products).
 */
function batchFor(cfg: ClipConfig, n: number): Batch {
  const rng = new Rng(2);
  const s = cfg.vision.image_size;
  const l = cfg.text.context_length;
  const ids = new Int32Array(n * l);
  const eos = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    ids[i * l] = 1;
    ids[i * l + 1] = 3 + rng.below(cfg.text.vocab_size - 3);
    ids[i * l + 2] = 2;
    eos[i] = 2;
  }
  return { images: Float32Array.from({ length: n * s * s * 3 }, () => rng.normal()), ids, eos, n, keys: [...Array(n).keys()].map(String), end: { epoch: 0, index: n }, bad: 0, errors: [] };
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('step cost estimate', () => {
  test.each([
    ['vit-tiny', withOverrides(resolveArch('vit-tiny'), { vocabSize: 600 })],
    ['resnet', validateConfig({ name: 'rn', embed_dim: 32, act: 'gelu', vision: { type: 'resnet', image_size: 32, width: 16, stages: [1, 1], heads: 2 }, text: { context_length: 8, vocab_size: 600, width: 32, heads: 2, layers: 1 } }, 'test')],
  ])('%s: within 10 percent of the FLOPs a real step multiplies', async (_name, cfg) => {
    const model = ClipModel.create(cfg, 'clip', 1);
    const opt = new AdamW(model.params, decays);
    const batch = batchFor(cfg, 16);
    const before = flopsCounted();
    await trainStep(model, opt, batch, 1e-3, 1);
    const counted = flopsCounted() - before;
    opt.dispose();
    model.dispose();
    const estimate = stepFlops(cfg, 16);
    console.log(`${_name}: estimate ${(estimate / 1e9).toFixed(3)} GFLOP, counted ${(counted / 1e9).toFixed(3)} GFLOP`);
    expect(counted).toBeGreaterThan(0);
    expect(estimate / counted).toBeGreaterThan(0.9);
    expect(estimate / counted).toBeLessThan(1.1);
  });
});
