import { tf } from '../util/tf.js';
import type { Activation } from './config.js';

/**
 * Building blocks written with core ops only, each differentiable on every tfjs backend: where a
 * backend lacks a gradient kernel (wasm has no Conv2DBackpropFilter, and until the backend work
 * lands no UnsortedSegmentSum for gather's gradient) the block uses an equivalent built from
 * matMul, slice, pad and reshape.
 */

export type Params = Map<string, tf.Variable>;

/** The parameter `name`; throws when the model was built without it (a programming error). */
export function param(p: Params, name: string): tf.Variable {
  const v = p.get(name);
  if (!v) throw new Error(`model: missing parameter ${name}`);
  return v;
}

/** Whether the active backend registers a kernel (decides the differentiable fallbacks). */
export function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/**
 * x [..., I] @ w [I, O] (+ b [O]) -> [..., O], via a 2-D matMul (rank-3 × rank-2 is not broadcast). The
 * bias goes through the fused matMul, which wit's GEMM adds in its epilogue (no pass of its own over the
 * output: docs/ARCHITECTURE.md, "Train and eval"); tfjs-node and cpu have the same kernel.
 */
export function dense(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const inner = shape[shape.length - 1]!;
  const flat = x.rank === 2 ? x : tf.reshape(x, [-1, inner]);
  const y = b ? tf.fused.matMul({ a: flat as tf.Tensor2D, b: w as tf.Tensor2D, bias: b }) : tf.matMul(flat as tf.Tensor2D, w as tf.Tensor2D);
  return x.rank === 2 ? y : tf.reshape(y, [...shape.slice(0, -1), w.shape[1]!]);
}

/**
 * LayerNorm over the last axis (eps 1e-5, as torch). tf.moments' arithmetic, with its x - mean kept for
 * the output instead of computed twice: the same values, one pass over x fewer.
 */
export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, 1e-5))), g), b);
}

/** GroupNorm for NHWC: statistics per sample over (H, W, C/groups). */
export function groupNorm(x: tf.Tensor4D, groups: number, g: tf.Tensor, b: tf.Tensor): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const xg = tf.reshape(x, [n, h, w, groups, c / groups]);
  // Statistics from E[x] and E[x²], folded with the affine into one per-(sample, channel) scale and
  // shift: two full-size elementwise ops instead of five, which is most of a ResNet step on wasm.
  const mean = tf.mean(xg, [1, 2, 4], true); // [N, 1, 1, G, 1]
  const variance = tf.relu(tf.sub(tf.mean(tf.square(xg), [1, 2, 4], true), tf.square(mean)));
  const rstd = tf.rsqrt(tf.add(variance, 1e-5));
  const scale = tf.reshape(tf.mul(rstd, tf.reshape(g, [groups, c / groups])), [n, 1, 1, c]);
  const meanC = tf.reshape(tf.mul(mean, tf.ones([1, 1, 1, 1, c / groups])), [n, 1, 1, c]); // broadcast (tile has no rank-5 gradient)
  const shift = tf.sub(b, tf.mul(meanC, scale));
  return tf.add(tf.mul(x, scale), shift) as tf.Tensor4D;
}

/** Largest divisor of c not above 32: the group count GroupNorm uses. */
export function groupsFor(c: number): number {
  for (let g = Math.min(32, c); g > 1; g--) if (c % g === 0) return g;
  return 1;
}

/**
 * The MLP activation (docs/ARCHITECTURE.md, "Models in open_clip's format"): quick_gelu is OpenAI
 * CLIP's x·σ(1.702x); gelu_erf is the exact GELU, 0.5·x·(1 + erf(x/√2)), as torch's nn.GELU that
 * open_clip's other models use; gelu is the tanh approximation wit's own models are trained with.
 */
export function activation(x: tf.Tensor, kind: Activation): tf.Tensor {
  if (kind === 'quick_gelu') return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
  if (kind === 'gelu_erf') return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** x / ‖x‖ along the last axis. */
export function l2Normalize(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), -1, true), 1e-12)));
}

/** Additive causal mask [L, L]: 0 on and below the diagonal, -1e9 above. */
export function causalMask(l: number): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([l, l]), -1, 0)), -1e9) as tf.Tensor2D);
}

/**
 * Multi-head self-attention over x [B, L, D] with packed in-projection [D, 3D] (torch's
 * nn.MultiheadAttention layout, transposed to tfjs's [in, out]). mask: additive [L, L].
 */
export function selfAttention(x: tf.Tensor3D, p: Params, prefix: string, heads: number, mask?: tf.Tensor): tf.Tensor3D {
  const [b, l, d] = x.shape;
  const dh = d / heads;
  const qkv = dense(x, param(p, `${prefix}.in_proj_weight`), param(p, `${prefix}.in_proj_bias`)); // [B, L, 3D]
  const [q, k, v] = tf.split(qkv, 3, -1).map((t) => tf.transpose(tf.reshape(t, [b, l, heads, dh]), [0, 2, 1, 3])); // [B, H, L, dh]
  let att = tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(dh)); // [B, H, L, L]
  if (mask) att = tf.add(att, mask);
  const o = tf.matMul(tf.softmax(att), v!); // [B, H, L, dh]
  const merged = tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [b, l, d]);
  return dense(merged, param(p, `${prefix}.out_proj.weight`), param(p, `${prefix}.out_proj.bias`)) as tf.Tensor3D;
}

/** Pre-LN residual block: x + attn(ln_1(x)); x + mlp(ln_2(x)). */
export function residualBlock(x: tf.Tensor3D, p: Params, prefix: string, heads: number, act: Activation, mask?: tf.Tensor): tf.Tensor3D {
  const a = selfAttention(layerNorm(x, param(p, `${prefix}.ln_1.weight`), param(p, `${prefix}.ln_1.bias`)) as tf.Tensor3D, p, `${prefix}.attn`, heads, mask);
  const h = tf.add(x, a);
  const n = layerNorm(h, param(p, `${prefix}.ln_2.weight`), param(p, `${prefix}.ln_2.bias`));
  const m = dense(activation(dense(n, param(p, `${prefix}.mlp.c_fc.weight`), param(p, `${prefix}.mlp.c_fc.bias`)), act), param(p, `${prefix}.mlp.c_proj.weight`), param(p, `${prefix}.mlp.c_proj.bias`));
  return tf.add(h, m) as tf.Tensor3D;
}

/**
 * Embedding lookup table [V, D] at ids [B, L] -> [B, L, D]. With `differentiable` on a backend
 * without UnsortedSegmentSum (gather's gradient) it multiplies a one-hot matrix instead, which
 * costs V·D per token but trains anywhere.
 */
export function embed(table: tf.Tensor2D, ids: tf.Tensor2D, differentiable: boolean): tf.Tensor3D {
  const [b, l] = ids.shape;
  const flat = tf.reshape(ids, [-1]) as tf.Tensor1D;
  const rows = differentiable && !hasKernel('UnsortedSegmentSum')
    ? tf.matMul(oneHotFloat(flat, table.shape[0]), table)
    : tf.gather(table, flat);
  return tf.reshape(rows, [b, l, table.shape[1]]);
}

/**
 * One-hot rows as float32. Built as int32 and cast: the wasm backend's OneHot writes its int
 * pattern into float32 outputs (1 becomes 1.4e-45).
 */
export function oneHotFloat(indices: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(indices, depth), 'float32') as tf.Tensor2D;
}

/** [B, H, W, C] -> [B, H/2, W/2, C] taking every other pixel (a stride-2 subsample that has a gradient everywhere). */
export function subsample2(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const r = tf.reshape(x, [b, h / 2, 2, w / 2, 2 * c]);
  return tf.reshape(tf.slice(r, [0, 0, 0, 0, 0], [b, h / 2, 1, w / 2, c]), [b, h / 2, w / 2, c]) as tf.Tensor4D;
}

/**
 * 3×3 convolution, padding 1, NHWC, weights [3, 3, C, O]; stride 1 or 2. Uses tf.conv2d where the
 * backend can differentiate it, else im2col (nine shifted slices concatenated, one matMul).
 * tf.conv2d gets only VALID or SAME padding: tfjs-node's gradient kernels (Conv2DBackpropFilter,
 * Conv2DBackpropInput) refuse explicit padding. Stride 1: SAME is padding 1 on every side. Stride 2:
 * SAME would pad 0 before and 1 after (TensorFlow's rule), so the input is padded by 1 and the conv is VALID.
 */
export function conv3x3(x: tf.Tensor4D, w: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  if (hasKernel('Conv2DBackpropFilter')) {
    if (stride === 1) return tf.conv2d(x, w, 1, 'same');
    return tf.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), w, 2, 'valid');
  }
  const [b, h, wd, c] = x.shape;
  const xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  const cols: tf.Tensor[] = [];
  for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) cols.push(tf.slice(xp, [0, dy, dx, 0], [b, h, wd, c]));
  const patches = tf.concat(cols, 3); // [B, H, W, 9C], ordered (dy, dx, c) like w's reshape
  const y = tf.reshape(dense(patches, tf.reshape(w, [9 * c, w.shape[3]])), [b, h, wd, w.shape[3]]) as tf.Tensor4D;
  return stride === 2 ? subsample2(y) : y;
}
