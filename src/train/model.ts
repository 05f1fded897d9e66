import { tf } from '../util/tf.js';
import type { ClipConfig, ResNetConfig, TextConfig, VitConfig } from './config.js';
import { Rng } from '../util/rng.js';
import './backend/quiet.js';
import { throwIfInterrupted } from '../util/interrupt.js';

/** Values drawn between two looks at the stop word while a model is initialised. */
const INIT_SLICE = 1 << 20;
import {
  activation, causalMask, conv3x3, dense, embed, groupNorm, groupsFor, l2Normalize, layerNorm, oneHotFloat, param, residualBlock, type Params,
} from './nn.js';

/**
 * Runs `layers` blocks over x, each in its own tf.tidy, so a forward pass holds the intermediates of one
 * block at a time (docs/ARCHITECTURE.md, "Train and eval": inference memory). Without it a whole tower's
 * intermediates lived until the caller's tidy ended: ~330 MB per ViT-B/32 block at batch 48, past wasm's
 * 4 GiB. Under a gradient tape tfjs keeps what the backward pass needs (saved tensors are kept clones),
 * so training computes the same gradients.
 */
function blockByBlock(x: tf.Tensor3D, layers: number, block: (x: tf.Tensor3D, i: number) => tf.Tensor3D): tf.Tensor3D {
  for (let i = 0; i < layers; i++) {
    const h = x;
    x = tf.tidy(() => block(h, i));
  }
  return x;
}

/** Loss a model is trained with: decides whether it has a learned bias (SigLIP) and the scale's init. */
export type LossKind = 'clip' | 'siglip';

/** How a parameter starts: normal(0, std), a constant, or zeros/ones. */
type Init = { normal: number } | { constant: number };

interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
}

const ones = { constant: 1 };
const zeros = { constant: 0 };

/** Parameters of one pre-LN transformer stack, with CLIP's init (scaled residual projections). */
function transformerSpecs(prefix: string, width: number, layers: number, mlpRatio: number): ParamSpec[] {
  const attnStd = width ** -0.5;
  const projStd = width ** -0.5 * (2 * layers) ** -0.5;
  const fcStd = (2 * width) ** -0.5;
  const hidden = Math.round(width * mlpRatio);
  const out: ParamSpec[] = [];
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}.resblocks.${i}`;
    out.push(
      { name: `${p}.ln_1.weight`, shape: [width], init: ones },
      { name: `${p}.ln_1.bias`, shape: [width], init: zeros },
      { name: `${p}.attn.in_proj_weight`, shape: [width, 3 * width], init: { normal: attnStd } },
      { name: `${p}.attn.in_proj_bias`, shape: [3 * width], init: zeros },
      { name: `${p}.attn.out_proj.weight`, shape: [width, width], init: { normal: projStd } },
      { name: `${p}.attn.out_proj.bias`, shape: [width], init: zeros },
      { name: `${p}.ln_2.weight`, shape: [width], init: ones },
      { name: `${p}.ln_2.bias`, shape: [width], init: zeros },
      { name: `${p}.mlp.c_fc.weight`, shape: [width, hidden], init: { normal: fcStd } },
      { name: `${p}.mlp.c_fc.bias`, shape: [hidden], init: zeros },
      { name: `${p}.mlp.c_proj.weight`, shape: [hidden, width], init: { normal: projStd } },
      { name: `${p}.mlp.c_proj.bias`, shape: [width], init: zeros },
    );
  }
  return out;
}

function vitSpecs(v: VitConfig, embedDim: number): ParamSpec[] {
  const scale = v.width ** -0.5;
  const patchDim = v.patch_size * v.patch_size * 3;
  const tokens = (v.image_size / v.patch_size) ** 2 + 1;
  return [
    // Patch embedding as a matrix over flattened (py, px, c) patches: conv1 without bias, as CLIP.
    { name: 'visual.conv1.weight', shape: [patchDim, v.width], init: { normal: patchDim ** -0.5 } },
    { name: 'visual.class_embedding', shape: [v.width], init: { normal: scale } },
    { name: 'visual.positional_embedding', shape: [tokens, v.width], init: { normal: scale } },
    { name: 'visual.ln_pre.weight', shape: [v.width], init: ones },
    { name: 'visual.ln_pre.bias', shape: [v.width], init: zeros },
    ...transformerSpecs('visual.transformer', v.width, v.layers, v.mlp_ratio ?? 4),
    { name: 'visual.ln_post.weight', shape: [v.width], init: ones },
    { name: 'visual.ln_post.bias', shape: [v.width], init: zeros },
    { name: 'visual.proj', shape: [v.width, embedDim], init: { normal: scale } },
  ];
}

/** Blocks of the ResNet tower: (prefix, in channels, planes, stride); also used by the cost estimate (cost.ts). */
export function resnetBlocks(v: ResNetConfig): Array<{ prefix: string; cin: number; planes: number; stride: 1 | 2 }> {
  const out: Array<{ prefix: string; cin: number; planes: number; stride: 1 | 2 }> = [];
  let cin = v.width;
  v.stages.forEach((n, s) => {
    const planes = v.width * 2 ** s;
    for (let i = 0; i < n; i++) {
      out.push({ prefix: `visual.layer${s + 1}.${i}`, cin, planes, stride: i === 0 && s > 0 ? 2 : 1 });
      cin = planes * 4;
    }
  });
  return out;
}

function convSpec(name: string, k: number, cin: number, cout: number): ParamSpec {
  return { name, shape: k === 1 ? [cin, cout] : [k, k, cin, cout], init: { normal: Math.sqrt(2 / (k * k * cin)) } };
}

function gnSpecs(name: string, c: number, zeroInit = false): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [c], init: zeroInit ? zeros : ones },
    { name: `${name}.bias`, shape: [c], init: zeros },
  ];
}

function resnetSpecs(v: ResNetConfig, embedDim: number): ParamSpec[] {
  const w = v.width;
  const specs: ParamSpec[] = [
    convSpec('visual.conv1.weight', 3, 3, w / 2), ...gnSpecs('visual.gn1', w / 2),
    convSpec('visual.conv2.weight', 3, w / 2, w / 2), ...gnSpecs('visual.gn2', w / 2),
    convSpec('visual.conv3.weight', 3, w / 2, w), ...gnSpecs('visual.gn3', w),
  ];
  for (const b of resnetBlocks(v)) {
    specs.push(
      convSpec(`${b.prefix}.conv1.weight`, 1, b.cin, b.planes), ...gnSpecs(`${b.prefix}.gn1`, b.planes),
      convSpec(`${b.prefix}.conv2.weight`, 3, b.planes, b.planes), ...gnSpecs(`${b.prefix}.gn2`, b.planes),
      // Zero-init the last norm of each residual branch (as CLIP's bn3), so blocks start as identity.
      convSpec(`${b.prefix}.conv3.weight`, 1, b.planes, b.planes * 4), ...gnSpecs(`${b.prefix}.gn3`, b.planes * 4, true),
    );
    if (b.stride > 1 || b.cin !== b.planes * 4) {
      specs.push(convSpec(`${b.prefix}.downsample.weight`, 1, b.cin, b.planes * 4), ...gnSpecs(`${b.prefix}.downsample.gn`, b.planes * 4));
    }
  }
  const c = w * 2 ** (v.stages.length - 1) * 4;
  const grid = v.image_size / 2 ** (v.stages.length + 1);
  const std = c ** -0.5;
  specs.push(
    { name: 'visual.attnpool.positional_embedding', shape: [grid * grid + 1, c], init: { normal: std } },
    { name: 'visual.attnpool.q_proj.weight', shape: [c, c], init: { normal: std } },
    { name: 'visual.attnpool.q_proj.bias', shape: [c], init: zeros },
    { name: 'visual.attnpool.k_proj.weight', shape: [c, c], init: { normal: std } },
    { name: 'visual.attnpool.k_proj.bias', shape: [c], init: zeros },
    { name: 'visual.attnpool.v_proj.weight', shape: [c, c], init: { normal: std } },
    { name: 'visual.attnpool.v_proj.bias', shape: [c], init: zeros },
    { name: 'visual.attnpool.c_proj.weight', shape: [c, embedDim], init: { normal: std } },
    { name: 'visual.attnpool.c_proj.bias', shape: [embedDim], init: zeros },
  );
  return specs;
}

function textSpecs(t: TextConfig, embedDim: number): ParamSpec[] {
  return [
    { name: 'token_embedding.weight', shape: [t.vocab_size, t.width], init: { normal: 0.02 } },
    { name: 'positional_embedding', shape: [t.context_length, t.width], init: { normal: 0.01 } },
    ...transformerSpecs('transformer', t.width, t.layers, t.mlp_ratio ?? 4),
    { name: 'ln_final.weight', shape: [t.width], init: ones },
    { name: 'ln_final.bias', shape: [t.width], init: zeros },
    { name: 'text_projection', shape: [t.width, embedDim], init: { normal: t.width ** -0.5 } },
  ];
}

/** Every parameter of a config, in a fixed order (the order of the saved weights). */
export function parameterSpecs(cfg: ClipConfig, loss: LossKind): ParamSpec[] {
  const vision = cfg.vision.type === 'vit' ? vitSpecs(cfg.vision, cfg.embed_dim) : resnetSpecs(cfg.vision, cfg.embed_dim);
  const specs = [...vision, ...textSpecs(cfg.text, cfg.embed_dim)];
  // CLIP starts at temperature 0.07; SigLIP at t = 10 with bias -10 (its paper's init).
  specs.push({ name: 'logit_scale', shape: [], init: { constant: loss === 'siglip' ? Math.log(10) : Math.log(1 / 0.07) } });
  if (loss === 'siglip') specs.push({ name: 'logit_bias', shape: [], init: { constant: -10 } });
  return specs;
}

/** Upper clamp of the log logit scale: the scale never exceeds 100 (CLIP). */
export const MAX_LOG_LOGIT_SCALE = Math.log(100);

/**
 * Whether AdamW's decoupled weight decay applies, as open_clip's training: every weight of two or more
 * dimensions (linear and conv weights, projections, the token embedding) decays; gains, biases, the
 * logit scale and bias (all 1-D or scalars), the class embedding (1-D) and the positional embeddings do not.
 */
export function decays(name: string, shape: readonly number[]): boolean {
  return shape.length >= 2 && !name.endsWith('positional_embedding') && !name.startsWith('logit_');
}

/** What the model returns for a batch: normalised features and the (exponentiated) scale. */
export interface ClipOutput {
  imageFeatures: tf.Tensor2D; // [B, E]
  textFeatures: tf.Tensor2D; // [B, E]
  logitScale: tf.Scalar;
  logitBias?: tf.Scalar;
}

/**
 * A CLIP: image tower (ViT or ResNet-style), causal text Transformer, learned logit scale. Holds
 * its parameters as tf.Variables named as open_clip's state dict, so checkpoints read naturally.
 */
export class ClipModel {
  readonly params: Params = new Map();
  private mask?: tf.Tensor2D;

  private constructor(readonly config: ClipConfig, readonly loss: LossKind) {}

  /** A freshly initialised model; init is a pure function of the seed. */
  static create(config: ClipConfig, loss: LossKind, seed: number): ClipModel {
    const m = new ClipModel(config, loss);
    const rng = new Rng(seed);
    try {
      for (const s of parameterSpecs(config, loss)) {
        const size = s.shape.reduce((a, b) => a * b, 1);
        const data = new Float32Array(size);
        // Drawing a large model's init takes seconds to a minute on the main thread: a stop request
        // (docs/ARCHITECTURE.md, "Interrupting") is heard every INIT_SLICE values.
        if ('normal' in s.init) {
          for (let i0 = 0; i0 < size; i0 += INIT_SLICE) {
            throwIfInterrupted();
            const std = s.init.normal;
            for (let i = i0, end = Math.min(size, i0 + INIT_SLICE); i < end; i++) data[i] = rng.normal() * std;
          }
        } else data.fill(s.init.constant);
        throwIfInterrupted();
        const init = tf.tensor(data, s.shape, 'float32');
        // Unnamed: tfjs variable names are global, and two models may live in one process.
        m.params.set(s.name, tf.variable(init, true));
        init.dispose();
      }
    } catch (err) {
      m.dispose();
      throw err;
    }
    return m;
  }

  /**
   * A model from saved tensors (names and shapes must match the config exactly). Takes ownership
   * of the tensors' values (copies them into variables). Throws Error naming the first mismatch.
   */
  static fromTensors(config: ClipConfig, loss: LossKind, tensors: Record<string, tf.Tensor>): ClipModel {
    const m = new ClipModel(config, loss);
    for (const s of parameterSpecs(config, loss)) {
      const t = tensors[s.name];
      if (!t) throw new Error(`weights lack parameter ${s.name}`);
      if (t.shape.join(',') !== s.shape.join(',')) throw new Error(`parameter ${s.name} has shape [${t.shape}] but the config needs [${s.shape}]`);
      m.params.set(s.name, tf.variable(t, true));
    }
    return m;
  }

  /** Trainable variables in parameter order. */
  variables(): tf.Variable[] {
    return [...this.params.values()];
  }

  /** Number of scalar parameters. */
  parameterCount(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  /** Image features before normalisation: images [B, S, S, 3] (CLIP-normalised) -> [B, E]. */
  encodeImage(images: tf.Tensor4D): tf.Tensor2D {
    return this.config.vision.type === 'vit' ? this.encodeImageVit(images, this.config.vision) : this.encodeImageResNet(images, this.config.vision);
  }

  private encodeImageVit(images: tf.Tensor4D, v: VitConfig): tf.Tensor2D {
    const p = this.params;
    const [b, s] = images.shape;
    const g = s / v.patch_size;
    // Patchify with rank <= 5 reshapes/transposes: [B, g, p, g, p·3] -> [B, g, g, p, p·3] -> [B, N, p·p·3].
    const r = tf.reshape(images, [b, g, v.patch_size, g, v.patch_size * 3]);
    const patches = tf.reshape(tf.transpose(r, [0, 1, 3, 2, 4]), [b, g * g, v.patch_size * v.patch_size * 3]);
    const x0 = dense(patches, param(p, 'visual.conv1.weight')); // [B, N, W]
    const cls = tf.tile(tf.reshape(param(p, 'visual.class_embedding'), [1, 1, v.width]), [b, 1, 1]); // [B, 1, W]
    let x = tf.add(tf.concat([cls, x0], 1), param(p, 'visual.positional_embedding')) as tf.Tensor3D; // [B, N+1, W]
    x = layerNorm(x, param(p, 'visual.ln_pre.weight'), param(p, 'visual.ln_pre.bias')) as tf.Tensor3D;
    x = blockByBlock(x, v.layers, (h, i) => residualBlock(h, p, `visual.transformer.resblocks.${i}`, v.heads, this.config.act));
    const first = tf.reshape(tf.slice(x, [0, 0, 0], [b, 1, v.width]), [b, v.width]); // [B, W]
    const pooled = layerNorm(first, param(p, 'visual.ln_post.weight'), param(p, 'visual.ln_post.bias'));
    return dense(pooled, param(p, 'visual.proj')) as tf.Tensor2D;
  }

  private encodeImageResNet(images: tf.Tensor4D, v: ResNetConfig): tf.Tensor2D {
    const p = this.params;
    const gn = (x: tf.Tensor4D, name: string): tf.Tensor4D => groupNorm(x, groupsFor(x.shape[3]), param(p, `${name}.weight`), param(p, `${name}.bias`));
    const conv1x1 = (x: tf.Tensor4D, name: string): tf.Tensor4D => dense(x, param(p, name)) as tf.Tensor4D;
    const conv = (x: tf.Tensor4D, name: string, stride: 1 | 2): tf.Tensor4D => conv3x3(x, param(p, name) as tf.Tensor4D, stride);
    const pool = (x: tf.Tensor4D): tf.Tensor4D => tf.avgPool(x, 2, 2, 'valid');
    let x = tf.relu(gn(conv(images, 'visual.conv1.weight', 2), 'visual.gn1'));
    x = tf.relu(gn(conv(x, 'visual.conv2.weight', 1), 'visual.gn2'));
    x = pool(tf.relu(gn(conv(x, 'visual.conv3.weight', 1), 'visual.gn3')));
    for (const blk of resnetBlocks(v)) x = tf.tidy(() => {
      let h = tf.relu(gn(conv1x1(x, `${blk.prefix}.conv1.weight`), `${blk.prefix}.gn1`));
      h = tf.relu(gn(conv(h, `${blk.prefix}.conv2.weight`, 1), `${blk.prefix}.gn2`));
      // Anti-aliased downsampling: average-pool before the stride, as CLIP's ModifiedResNet.
      if (blk.stride > 1) h = pool(h);
      h = gn(conv1x1(h, `${blk.prefix}.conv3.weight`), `${blk.prefix}.gn3`);
      let id = x;
      if (p.has(`${blk.prefix}.downsample.weight`)) {
        if (blk.stride > 1) id = pool(id);
        id = gn(conv1x1(id, `${blk.prefix}.downsample.weight`), `${blk.prefix}.downsample.gn`);
      }
      return tf.relu(tf.add(h, id)) as tf.Tensor4D;
    });
    // Attention pooling: the mean token queries all positions.
    const [b, gh, gw, c] = x.shape;
    const seq = tf.reshape(x, [b, gh * gw, c]);
    const tokens = tf.add(tf.concat([tf.mean(seq, 1, true), seq], 1), param(p, 'visual.attnpool.positional_embedding')); // [B, N+1, C]
    const heads = v.heads;
    const dh = c / heads;
    const q = dense(tf.slice(tokens, [0, 0, 0], [b, 1, c]), param(p, 'visual.attnpool.q_proj.weight'), param(p, 'visual.attnpool.q_proj.bias'));
    const k = dense(tokens, param(p, 'visual.attnpool.k_proj.weight'), param(p, 'visual.attnpool.k_proj.bias'));
    const val = dense(tokens, param(p, 'visual.attnpool.v_proj.weight'), param(p, 'visual.attnpool.v_proj.bias'));
    const split = (t: tf.Tensor, l: number): tf.Tensor => tf.transpose(tf.reshape(t, [b, l, heads, dh]), [0, 2, 1, 3]);
    const n = gh * gw + 1;
    const att = tf.softmax(tf.mul(tf.matMul(split(q, 1), split(k, n), false, true), 1 / Math.sqrt(dh))); // [B, H, 1, N+1]
    const o = tf.reshape(tf.transpose(tf.matMul(att, split(val, n)), [0, 2, 1, 3]), [b, c]);
    return dense(o, param(p, 'visual.attnpool.c_proj.weight'), param(p, 'visual.attnpool.c_proj.bias')) as tf.Tensor2D;
  }

  /**
   * Text features before normalisation: ids [B, L] int32, eos [B] int32 (position of [EOS]) ->
   * [B, E]. The causal mask lets [EOS] see the whole caption and nothing after it.
   * `training` picks an embedding lookup that is differentiable on the active backend.
   */
  encodeText(ids: tf.Tensor2D, eos: tf.Tensor1D, training = false): tf.Tensor2D {
    const p = this.params;
    const t = this.config.text;
    const [b, l] = ids.shape;
    let x = tf.add(embed(param(p, 'token_embedding.weight') as tf.Tensor2D, ids, training), tf.slice(param(p, 'positional_embedding'), [0, 0], [l, t.width])) as tf.Tensor3D;
    if (!this.mask || this.mask.shape[0] !== l) {
      this.mask?.dispose();
      this.mask = tf.keep(causalMask(l));
    }
    const mask = this.mask;
    x = blockByBlock(x, t.layers, (h, i) => residualBlock(h, p, `transformer.resblocks.${i}`, t.heads, this.config.act, mask));
    x = layerNorm(x, param(p, 'ln_final.weight'), param(p, 'ln_final.bias')) as tf.Tensor3D;
    // The [EOS] activation, picked with a one-hot weighted sum (differentiable, no gather).
    const pick = tf.expandDims(oneHotFloat(eos, l), 2); // [B, L, 1]
    const pooled = tf.sum(tf.mul(x, pick), 1); // [B, W]
    return dense(pooled, param(p, 'text_projection')) as tf.Tensor2D;
  }

  /** exp(logit_scale) as a scalar tensor. */
  logitScale(): tf.Scalar {
    return tf.exp(param(this.params, 'logit_scale')) as tf.Scalar;
  }

  /** Normalised features of a batch of pairs plus the scale (and bias for SigLIP). */
  forward(images: tf.Tensor4D, ids: tf.Tensor2D, eos: tf.Tensor1D, training = false): ClipOutput {
    return {
      imageFeatures: l2Normalize(this.encodeImage(images)) as tf.Tensor2D,
      textFeatures: l2Normalize(this.encodeText(ids, eos, training)) as tf.Tensor2D,
      logitScale: this.logitScale(),
      logitBias: this.params.has('logit_bias') ? (param(this.params, 'logit_bias').clone() as tf.Scalar) : undefined,
    };
  }

  /** Keeps the log scale in [0, ln 100] after each update (CLIP's clamp). */
  clampLogitScale(): void {
    tf.tidy(() => {
      const v = param(this.params, 'logit_scale');
      v.assign(tf.clipByValue(v, 0, MAX_LOG_LOGIT_SCALE));
    });
  }

  /** Frees every variable. */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    this.mask?.dispose();
    this.mask = undefined;
  }
}
