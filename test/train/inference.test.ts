/**
 * A forward pass holds one transformer block's intermediates at a time (src/train/model.ts,
 * blockByBlock): ViT-B/32 at batch 48 kept every block's (~330 MB each) until the caller's tidy ended and
 * ran wasm's heap into its 4 GiB wall, where tfjs-wasm placed tensors at address 0 and the process spun.
 * Here: the peak bytes of a deeper model grow only by the blocks' outputs, and a failed wasm allocation
 * throws instead of corrupting memory. And the embeddings on wasm (wit's GEMM with the bias in its
 * epilogue, the block-by-block pass) are tfjs's cpu reference ones within 1e-5.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/train/backend/index.js';
import { validateConfig, type ClipConfig } from '../../src/train/config.js';
import { ClipModel } from '../../src/train/model.js';
import { l2Normalize } from '../../src/train/nn.js';

const W = 32;
function config(layers: number): ClipConfig {
  return validateConfig({
    name: `mem-${layers}`, embed_dim: 16, act: 'quick_gelu',
    text: { context_length: 16, vocab_size: 300, width: W, heads: 2, layers, mlp_ratio: 4 },
    vision: { type: 'vit', image_size: 32, patch_size: 8, width: W, layers, heads: 2, mlp_ratio: 4 },
  }, 'test');
}

/** Bytes a forward pass allocates above what was live before it, at its peak. */
async function peakExtra(fn: () => tf.Tensor): Promise<number> {
  const before = tf.memory().numBytes;
  const info = await tf.profile(() => {
    tf.tidy(() => {
      fn().dataSync();
    });
  });
  return info.peakBytes - before;
}

beforeAll(async () => {
  await initBackend('wasm', { threads: 2 });
});

describe('inference', () => {
  const B = 64;
  test('image and text towers hold one block of intermediates at a time', async () => {
    const peaks: Record<number, { image: number; text: number }> = {};
    for (const layers of [1, 8]) {
      const model = ClipModel.create(config(layers), 'clip', 1);
      const images = tf.randomNormal([B, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const ids = tf.tensor2d(Int32Array.from({ length: B * 16 }, (_, i) => 1 + (i % 290)), [B, 16], 'int32');
      const eos = tf.fill([B], 15, 'int32') as tf.Tensor1D;
      peaks[layers] = {
        image: await peakExtra(() => model.encodeImage(images)),
        text: await peakExtra(() => model.encodeText(ids, eos)),
      };
      tf.dispose([images, ids, eos]);
      model.dispose();
    }
    // Each extra block may leave its output ([B, tokens, W] floats) alive until the pass ends, and nothing
    // else; before, each left ~20 such tensors (LayerNorm, q/k/v, attention, the 4x-wide MLP).
    const blockOut = { image: B * 17 * W * 4, text: B * 16 * W * 4 };
    for (const tower of ['image', 'text'] as const) {
      const growth = peaks[8]![tower] - peaks[1]![tower];
      expect(growth, `${tower}: peak ${peaks[1]![tower]} B with 1 block, ${peaks[8]![tower]} B with 8`).toBeLessThanOrEqual(7 * 2 * blockOut[tower]);
    }
  });

  test('wasm embeddings equal the cpu reference within 1e-5', async () => {
    const cfg = config(3);
    const model = ClipModel.create(cfg, 'clip', 5);
    // Biases and LayerNorm gains start as zeros and ones: make them count.
    let seed = 100;
    for (const [name, v] of model.params) {
      if (v.rank === 1) v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.5, 'float32', seed++))));
    }
    const images = tf.randomNormal([B, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const idsData = Int32Array.from({ length: B * 16 }, (_, i) => 1 + ((i * 37) % 290));
    const eosData = Int32Array.from({ length: B }, (_, i) => 4 + (i % 12));
    const run = async (backend: string): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      const ids = tf.tensor2d(idsData, [B, 16], 'int32');
      const eos = tf.tensor1d(eosData, 'int32');
      const out = tf.tidy(() => [l2Normalize(model.encodeImage(images)), l2Normalize(model.encodeText(ids, eos))]);
      const data = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array));
      tf.dispose([...out, ids, eos]);
      return data;
    };
    try {
      const want = await run('cpu');
      const got = await run('wasm');
      for (const [i, tower] of ['image', 'text'].entries()) {
        let worst = 0;
        for (let j = 0; j < want[i]!.length; j++) worst = Math.max(worst, Math.abs(want[i]![j]! - got[i]![j]!));
        expect(worst, `${tower} embeddings: max abs difference`).toBeLessThanOrEqual(1e-5);
      }
    } finally {
      await tf.setBackend('wasm');
      images.dispose();
      model.dispose();
    }
  });

  test('an allocation the wasm heap cannot hold throws instead of landing at address 0', () => {
    // 0xFFFFFFF0 bytes: more than wasm32's heap can ever hold, refused by malloc without growing the heap.
    expect(() => tf.fill([0x3ffffffc], 0)).toThrow(/out of WebAssembly memory/);
    const t = tf.ones([4]);
    expect(Array.from(t.dataSync())).toEqual([1, 1, 1, 1]);
    t.dispose();
  });
});
