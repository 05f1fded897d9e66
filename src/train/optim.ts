import { tf } from '../util/tf.js';
import { throwIfInterrupted } from '../util/interrupt.js';

/** AdamW hyperparameters (CLIP paper: β2 0.98, ε 1e-6, decoupled weight decay 0.2). */
export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay, step for step as torch.optim.AdamW:
 * p ← p·(1 − lr·wd) for decaying parameters, then p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε).
 * Written with tf ops over named variables because tf.train.adam has no decoupled decay and no
 * per-parameter decay mask; its moments are plain tensors so that checkpoints can save them.
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Updates applied so far (t of the bias correction). */
  t = 0;
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();

  constructor(
    private readonly params: Map<string, tf.Variable>,
    /** Whether a parameter decays (by name and shape). */
    private readonly decayMask: (name: string, shape: readonly number[]) => boolean,
    opts: AdamWOptions = {},
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.98;
    this.eps = opts.eps ?? 1e-6;
    this.weightDecay = opts.weightDecay ?? 0.2;
    // Two zeroed copies of every parameter: seconds for a large model, so a stop request is heard
    // between parameters (docs/ARCHITECTURE.md, "Interrupting").
    try {
      for (const [name, p] of params) {
        throwIfInterrupted();
        // tf.variable shares the buffer of the tensor it is made from and keeps that tensor registered: the
        // zeros are disposed here, or each optimizer left two model-sized buffers behind (a leak per train()).
        for (const moments of [this.m, this.v]) {
          const zeros = tf.zerosLike(p);
          moments.set(name, tf.variable(zeros, false));
          zeros.dispose();
        }
      }
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  /** One update with gradients by parameter name (missing ones are treated as zero and skipped). */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.t++;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = grads.get(name);
        if (!g) continue;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const decayed = this.weightDecay > 0 && this.decayMask(name, p.shape) ? tf.mul(p, 1 - lr * this.weightDecay) : p;
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), this.eps);
        p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize)));
      }
    });
  }

  /** Moment tensors by name (m.NAME, v.NAME), for checkpoints. */
  stateTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, t] of this.m) out[`m.${name}`] = t;
    for (const [name, t] of this.v) out[`v.${name}`] = t;
    return out;
  }

  /** Restores moments and t from a checkpoint; throws when a moment is missing or misshapen. */
  loadState(tensors: Record<string, tf.Tensor>, t: number): void {
    for (const [kind, map] of [['m', this.m], ['v', this.v]] as const) {
      for (const [name, variable] of map) {
        const src = tensors[`${kind}.${name}`];
        if (!src || src.shape.join(',') !== variable.shape.join(',')) throw new Error(`optimizer state lacks ${kind}.${name} of shape [${variable.shape}]`);
        variable.assign(src);
      }
    }
    this.t = t;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/**
 * Learning rate at step s (0-based) of `total`: linear warmup over `warmup` steps to `base`, then
 * cosine decay to 0 at the end (open_clip's cosine_lr).
 */
export function learningRate(s: number, total: number, base: number, warmup: number): number {
  if (s < warmup) return (base * (s + 1)) / warmup;
  const span = Math.max(1, total - warmup);
  return 0.5 * (1 + Math.cos((Math.PI * (s - warmup)) / span)) * base;
}

/**
 * Scales gradients so their global L2 norm is at most maxNorm (torch's clip_grad_norm_).
 * Returns the clipped gradients (new tensors) and the norm before clipping (a scalar tensor).
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: tf.Scalar } {
  const norm = tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) return { grads: new Map([...grads].map(([k, g]) => [k, g.clone()])), norm };
  const factor = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
  return { grads: new Map([...grads].map(([k, g]) => [k, tf.mul(g, factor)])), norm };
}
