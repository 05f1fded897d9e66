import { tf } from '../util/tf.js';
import type { ClipConfig, ResNetConfig, TextConfig, VitConfig } from './config.js';
import { resnetBlocks } from './model.js';

/**
 * What a training step costs, estimated before the first one runs (a ViT-B/32 step on a laptop CPU
 * is minutes, and the user should know that before waiting): the FLOPs of the matrix products and
 * convolutions of one step, and the rate the active backend multiplies matrices at.
 */

/** FLOPs (2 per multiply-add) of one transformer stack over `tokens` positions of `width`. */
function transformerFlops(batch: number, tokens: number, width: number, layers: number, mlpRatio: number): number {
  const bt = batch * tokens;
  const hidden = Math.round(width * mlpRatio);
  const perLayer = 2 * bt * width * 3 * width + 2 * 2 * batch * tokens * tokens * width + 2 * bt * width * width + 2 * 2 * bt * width * hidden;
  return layers * perLayer;
}

function vitFlops(v: VitConfig, batch: number, embedDim: number): number {
  const patches = (v.image_size / v.patch_size) ** 2;
  return 2 * batch * patches * v.patch_size ** 2 * 3 * v.width + transformerFlops(batch, patches + 1, v.width, v.layers, v.mlp_ratio ?? 4) + 2 * batch * v.width * embedDim;
}

function resnetFlops(v: ResNetConfig, batch: number, embedDim: number): number {
  const conv = (side: number, k: number, cin: number, cout: number): number => 2 * batch * side * side * k * k * cin * cout;
  const w = v.width;
  let side = v.image_size / 2;
  let f = conv(side, 3, 3, w / 2) + conv(side, 3, w / 2, w / 2) + conv(side, 3, w / 2, w);
  side /= 2;
  for (const b of resnetBlocks(v)) {
    f += conv(side, 1, b.cin, b.planes) + conv(side, 3, b.planes, b.planes);
    if (b.stride > 1) side /= 2;
    f += conv(side, 1, b.planes, b.planes * 4);
    if (b.stride > 1 || b.cin !== b.planes * 4) f += conv(side, 1, b.cin, b.planes * 4);
  }
  const c = w * 2 ** (v.stages.length - 1) * 4;
  const tokens = side * side + 1;
  return f + 2 * batch * (2 * tokens * c * c + c * c + 2 * tokens * c + c * embedDim);
}

function textFlops(t: TextConfig, batch: number, embedDim: number): number {
  return transformerFlops(batch, t.context_length, t.width, t.layers, t.mlp_ratio ?? 4) + 2 * batch * t.width * embedDim;
}

/** FLOPs of one forward pass of a batch (image tower, text tower, similarity logits). */
export function forwardFlops(cfg: ClipConfig, batch: number): number {
  const image = cfg.vision.type === 'vit' ? vitFlops(cfg.vision, batch, cfg.embed_dim) : resnetFlops(cfg.vision, batch, cfg.embed_dim);
  return image + textFlops(cfg.text, batch, cfg.embed_dim) + 2 * batch * batch * cfg.embed_dim;
}

/** FLOPs of one training step: the forward pass and a backward pass of about twice its cost. */
export function stepFlops(cfg: ClipConfig, batch: number): number {
  return 3 * forwardFlops(cfg, batch);
}

/**
 * GFLOP/s of the active backend on a square matrix product: the size doubles from 128 until one
 * product takes 20 ms (at most 512, so plain JS measures in about a second), best of three after it.
 */
export async function measureGflops(): Promise<number> {
  const time = async (n: number): Promise<number> => {
    const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
    try {
      let best = Infinity;
      for (let i = 0; i < 4; i++) {
        const t0 = performance.now();
        const c = tf.matMul(a, b);
        await c.data();
        c.dispose();
        if (i > 0) best = Math.min(best, performance.now() - t0);
      }
      return best;
    } finally {
      tf.dispose([a, b]);
    }
  };
  let n = 128;
  let ms = await time(n);
  while (ms < 20 && n < 512) {
    n *= 2;
    ms = await time(n);
  }
  return (2 * n ** 3) / (Math.max(ms, 1e-3) / 1000) / 1e9;
}
