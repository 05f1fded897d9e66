/**
 * ONNX graphs of a wit model's two towers, built from its config and weights (docs/ARCHITECTURE.md,
 * "ONNX"): the same arithmetic as model.ts and nn.ts, op for op where it matters (LayerNormalization with
 * epsilon 1e-5, the activation's exact formula, the additive causal mask, [EOS] pooling), in opset 17.
 *
 * Inputs and outputs:
 *   image: pixels float32 [batch, S, S, 3] (CLIP-normalised, NHWC as wit's preprocess writes them)
 *          -> image_features float32 [batch, E] (not normalised, as open_clip's encode_image)
 *   text:  ids int32 [batch, L] (L = text.context_length), eot int32 [batch] (position of [EOS])
 *          -> text_features float32 [batch, E]
 */
import { Message } from './proto.js';
import type { Activation, ClipConfig, ResNetConfig, VitConfig } from '../config.js';
import { resnetBlocks } from '../model.js';
import { groupsFor } from '../nn.js';

/** A parameter's values and shape, in wit's layout (dense weights [in, out], convolutions [k, k, in, out]). */
export interface Weight {
  data: Float32Array;
  shape: readonly number[];
}

/** Looks up one parameter by its open_clip name; throws when it is missing. */
export type WeightSource = (name: string) => Weight;

/** ONNX's opset for the default domain (LayerNormalization is 17's). */
export const OPSET = 17;
/** ONNX IR version of opset 17. */
export const IR_VERSION = 8;

const FLOAT = 1;
const INT32 = 6;
const INT64 = 7;

type Attr = { i: number } | { f: number } | { ints: readonly number[] };

interface Initializer {
  name: string;
  dims: readonly number[];
  type: number;
  bytes: Uint8Array;
}

interface IO {
  name: string;
  type: number;
  dims: ReadonlyArray<number | string>;
}

/** A graph under construction: nodes in topological order and initializers (weights and constants). */
export class GraphBuilder {
  readonly nodes: Message[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: IO[] = [];
  readonly outputs: IO[] = [];
  private n = 0;
  private consts = new Map<string, string>();
  private names = new Set<string>();

  constructor(readonly name: string) {}

  private fresh(prefix: string): string {
    return `${prefix}_${this.n++}`;
  }

  input(name: string, type: 'float' | 'int32', dims: ReadonlyArray<number | string>): string {
    this.inputs.push({ name, type: type === 'float' ? FLOAT : INT32, dims });
    return name;
  }

  output(from: string, name: string, dims: ReadonlyArray<number | string>): void {
    this.op('Identity', [from], {}, name);
    this.outputs.push({ name, type: FLOAT, dims });
  }

  /** Whether an initializer of this name exists. */
  has(name: string): boolean {
    return this.names.has(name);
  }

  /** A float initializer; the bytes are a view of `data` (not copied). */
  floats(name: string, data: Float32Array, dims: readonly number[]): string {
    this.names.add(name);
    this.initializers.push({ name, dims, type: FLOAT, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  /** A float scalar constant, shared by value. */
  scalar(v: number): string {
    const key = `f${v}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.floats(this.fresh('const'), Float32Array.of(v), []);
      this.consts.set(key, name);
    }
    return name;
  }

  /** An int64 vector constant (shapes, axes, splits), shared by value. */
  ints(vs: readonly number[]): string {
    const key = `i${vs.join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.fresh('shape');
      const b = BigInt64Array.from(vs.map((v) => BigInt(v)));
      this.names.add(name);
      this.initializers.push({ name, dims: [vs.length], type: INT64, bytes: new Uint8Array(b.buffer) });
      this.consts.set(key, name);
    }
    return name;
  }

  /** Adds a node; returns its output name (or names, when `outputs` is a count above 1). */
  op(type: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, output?: string): string {
    return this.opN(type, inputs, attrs, [output ?? this.fresh(type.toLowerCase())])[0]!;
  }

  opN(type: string, inputs: readonly string[], attrs: Record<string, Attr>, outputs: readonly string[] | number): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(type.toLowerCase())) : [...outputs];
    const m = new Message();
    for (const i of inputs) m.string(1, i);
    for (const o of outs) m.string(2, o);
    m.string(3, this.fresh(`n_${type}`));
    m.string(4, type);
    for (const [k, a] of Object.entries(attrs)) {
      const am = new Message().string(1, k);
      if ('i' in a) am.int(3, a.i).int(20, 2);
      else if ('f' in a) am.float(2, a.f).int(20, 1);
      else am.packedInts(8, a.ints).int(20, 7);
      m.message(5, am);
    }
    this.nodes.push(m);
    return outs;
  }

  // Shorthands for the ops the towers use.
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  matmul(a: string, b: string): string {
    return this.op('MatMul', [a, b]);
  }
  reshape(x: string, shape: readonly number[]): string {
    return this.op('Reshape', [x, this.ints(shape)]);
  }
  transpose(x: string, perm: readonly number[]): string {
    return this.op('Transpose', [x], { perm: { ints: perm } });
  }
}

/** x·W (+ b): wit's dense, weights [in, out]. */
function dense(g: GraphBuilder, x: string, w: WeightSource, wName: string, bName?: string): string {
  const y = g.matmul(x, param(g, w, wName));
  return bName ? g.add(y, param(g, w, bName)) : y;
}

/** A parameter as an initializer named as open_clip names it (once per graph). */
function param(g: GraphBuilder, w: WeightSource, name: string, reshape?: readonly number[]): string {
  if (!g.has(name)) {
    const t = w(name);
    g.floats(name, t.data, reshape ?? t.shape);
  }
  return name;
}

function layerNorm(g: GraphBuilder, x: string, w: WeightSource, prefix: string): string {
  return g.op('LayerNormalization', [x, param(g, w, `${prefix}.weight`), param(g, w, `${prefix}.bias`)], { axis: { i: -1 }, epsilon: { f: 1e-5 } });
}

/** nn.ts's activation, formula for formula. */
function activation(g: GraphBuilder, x: string, kind: Activation): string {
  if (kind === 'quick_gelu') return g.mul(x, g.op('Sigmoid', [g.mul(x, g.scalar(1.702))]));
  const half = g.mul(x, g.scalar(0.5));
  if (kind === 'gelu_erf') return g.mul(half, g.add(g.op('Erf', [g.mul(x, g.scalar(Math.SQRT1_2))]), g.scalar(1)));
  const cube = g.mul(x, g.mul(x, x));
  const inner = g.mul(g.add(x, g.mul(cube, g.scalar(0.044715))), g.scalar(Math.sqrt(2 / Math.PI)));
  return g.mul(half, g.add(g.op('Tanh', [inner]), g.scalar(1)));
}

/** Multi-head self-attention with packed in-projection (nn.ts's selfAttention); x [B, L, D]. */
function selfAttention(g: GraphBuilder, x: string, w: WeightSource, prefix: string, width: number, heads: number, mask?: string): string {
  const dh = width / heads;
  const qkv = dense(g, x, w, `${prefix}.in_proj_weight`, `${prefix}.in_proj_bias`); // [B, L, 3D]
  const [q, k, v] = g.opN('Split', [qkv, g.ints([width, width, width])], { axis: { i: -1 } }, 3) as [string, string, string];
  const qh = g.transpose(g.reshape(q, [0, 0, heads, dh]), [0, 2, 1, 3]); // [B, H, L, dh]
  const kt = g.transpose(g.reshape(k, [0, 0, heads, dh]), [0, 2, 3, 1]); // [B, H, dh, L]
  const vh = g.transpose(g.reshape(v, [0, 0, heads, dh]), [0, 2, 1, 3]);
  let att = g.mul(g.matmul(qh, kt), g.scalar(1 / Math.sqrt(dh))); // [B, H, L, L]
  if (mask) att = g.add(att, mask);
  const o = g.matmul(g.op('Softmax', [att], { axis: { i: -1 } }), vh); // [B, H, L, dh]
  const merged = g.reshape(g.transpose(o, [0, 2, 1, 3]), [0, 0, width]);
  return dense(g, merged, w, `${prefix}.out_proj.weight`, `${prefix}.out_proj.bias`);
}

/** Pre-LN residual block (nn.ts's residualBlock). */
function residualBlock(g: GraphBuilder, x: string, w: WeightSource, prefix: string, width: number, heads: number, act: Activation, mask?: string): string {
  const h = g.add(x, selfAttention(g, layerNorm(g, x, w, `${prefix}.ln_1`), w, `${prefix}.attn`, width, heads, mask));
  const n = layerNorm(g, h, w, `${prefix}.ln_2`);
  const m = dense(g, activation(g, dense(g, n, w, `${prefix}.mlp.c_fc.weight`, `${prefix}.mlp.c_fc.bias`), act), w, `${prefix}.mlp.c_proj.weight`, `${prefix}.mlp.c_proj.bias`);
  return g.add(h, m);
}

function vitImage(g: GraphBuilder, pixels: string, v: VitConfig, cfg: ClipConfig, w: WeightSource): string {
  const p = v.patch_size;
  const grid = v.image_size / p;
  // Patchify as model.ts: [B, g, p, g, p·3] -> [B, g, g, p, p·3] -> [B, N, p·p·3], then conv1 as a matrix.
  const r = g.reshape(pixels, [-1, grid, p, grid, p * 3]);
  const patches = g.reshape(g.transpose(r, [0, 1, 3, 2, 4]), [-1, grid * grid, p * p * 3]);
  const x0 = dense(g, patches, w, 'visual.conv1.weight'); // [B, N, W]
  const batch = g.op('Slice', [g.op('Shape', [x0]), g.ints([0]), g.ints([1])]); // [B]
  const clsShape = g.op('Concat', [batch, g.ints([1, v.width])], { axis: { i: 0 } });
  const cls = g.op('Expand', [param(g, w, 'visual.class_embedding', [1, 1, v.width]), clsShape]); // [B, 1, W]
  let x = g.add(g.op('Concat', [cls, x0], { axis: { i: 1 } }), param(g, w, 'visual.positional_embedding'));
  x = layerNorm(g, x, w, 'visual.ln_pre');
  for (let i = 0; i < v.layers; i++) x = residualBlock(g, x, w, `visual.transformer.resblocks.${i}`, v.width, v.heads, cfg.act);
  const first = g.op('Gather', [x, g.ints([0])], { axis: { i: 1 } }); // [B, 1, W]
  const pooled = layerNorm(g, g.reshape(first, [-1, v.width]), w, 'visual.ln_post');
  return dense(g, pooled, w, 'visual.proj');
}

/** [k, k, in, out] (or [in, out] for 1×1) -> ONNX's [out, in, k, k]. */
function convWeight(t: Weight): Weight {
  const [k, cin, cout] = t.shape.length === 2 ? [1, t.shape[0]!, t.shape[1]!] : [t.shape[0]!, t.shape[2]!, t.shape[3]!];
  const out = new Float32Array(t.data.length);
  for (let y = 0; y < k; y++) {
    for (let x = 0; x < k; x++) {
      for (let i = 0; i < cin; i++) {
        const src = ((y * k + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) out[((o * cin + i) * k + y) * k + x] = t.data[src + o]!;
      }
    }
  }
  return { data: out, shape: [cout, cin, k, k] };
}

function resnetImage(g: GraphBuilder, pixels: string, v: ResNetConfig, w: WeightSource): string {
  const conv = (x: string, name: string, stride: 1 | 2): string => {
    if (!g.has(name)) {
      const t = convWeight(w(name));
      g.floats(name, t.data, t.shape);
    }
    const k = w(name).shape.length === 2 ? 1 : 3; // conv1x1 weights are [in, out], conv3x3 [3, 3, in, out]
    const pad = (k - 1) / 2;
    return g.op('Conv', [x, name], { kernel_shape: { ints: [k, k] }, strides: { ints: [stride, stride] }, pads: { ints: [pad, pad, pad, pad] } });
  };
  // GroupNorm as InstanceNormalization over [B, G, C/G·H·W] (the same statistics), then the per-channel affine.
  const gn = (x: string, name: string, c: number): string => {
    const groups = groupsFor(c);
    const unit = (v: number): string => {
      const name = `gn_${v}_${groups}`;
      return g.has(name) ? name : g.floats(name, new Float32Array(groups).fill(v), [groups]);
    };
    const n = g.op('InstanceNormalization', [g.reshape(x, [0, groups, -1]), unit(1), unit(0)], { epsilon: { f: 1e-5 } });
    const y = g.op('Reshape', [n, g.op('Shape', [x])]);
    return g.add(g.mul(y, param(g, w, `${name}.weight`, [c, 1, 1])), param(g, w, `${name}.bias`, [c, 1, 1]));
  };
  const relu = (x: string): string => g.op('Relu', [x]);
  const pool = (x: string): string => g.op('AveragePool', [x], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } });
  const half = v.width / 2;
  let x = g.transpose(pixels, [0, 3, 1, 2]); // NHWC -> NCHW
  x = relu(gn(conv(x, 'visual.conv1.weight', 2), 'visual.gn1', half));
  x = relu(gn(conv(x, 'visual.conv2.weight', 1), 'visual.gn2', half));
  x = pool(relu(gn(conv(x, 'visual.conv3.weight', 1), 'visual.gn3', v.width)));
  for (const b of resnetBlocks(v)) {
    const p = b.prefix;
    let h = relu(gn(conv(x, `${p}.conv1.weight`, 1), `${p}.gn1`, b.planes));
    h = relu(gn(conv(h, `${p}.conv2.weight`, 1), `${p}.gn2`, b.planes));
    if (b.stride > 1) h = pool(h);
    h = gn(conv(h, `${p}.conv3.weight`, 1), `${p}.gn3`, b.planes * 4);
    let id = x;
    if (b.stride > 1 || b.cin !== b.planes * 4) {
      if (b.stride > 1) id = pool(id);
      id = gn(conv(id, `${p}.downsample.weight`, 1), `${p}.downsample.gn`, b.planes * 4);
    }
    x = relu(g.add(h, id));
  }
  // Attention pooling: the mean token queries all positions (model.ts).
  const c = v.width * 2 ** (v.stages.length - 1) * 4;
  const dh = c / v.heads;
  const seq = g.transpose(g.reshape(x, [0, c, -1]), [0, 2, 1]); // [B, HW, C]
  const mean = g.op('ReduceMean', [seq], { axes: { ints: [1] }, keepdims: { i: 1 } });
  const tokens = g.add(g.op('Concat', [mean, seq], { axis: { i: 1 } }), param(g, w, 'visual.attnpool.positional_embedding')); // [B, N+1, C]
  const q0 = g.op('Slice', [tokens, g.ints([0]), g.ints([1]), g.ints([1])]); // [B, 1, C]
  const q = dense(g, q0, w, 'visual.attnpool.q_proj.weight', 'visual.attnpool.q_proj.bias');
  const k = dense(g, tokens, w, 'visual.attnpool.k_proj.weight', 'visual.attnpool.k_proj.bias');
  const val = dense(g, tokens, w, 'visual.attnpool.v_proj.weight', 'visual.attnpool.v_proj.bias');
  const qh = g.transpose(g.reshape(q, [0, 0, v.heads, dh]), [0, 2, 1, 3]); // [B, H, 1, dh]
  const kt = g.transpose(g.reshape(k, [0, 0, v.heads, dh]), [0, 2, 3, 1]); // [B, H, dh, N+1]
  const vh = g.transpose(g.reshape(val, [0, 0, v.heads, dh]), [0, 2, 1, 3]);
  const att = g.op('Softmax', [g.mul(g.matmul(qh, kt), g.scalar(1 / Math.sqrt(dh)))], { axis: { i: -1 } });
  const o = g.reshape(g.transpose(g.matmul(att, vh), [0, 2, 1, 3]), [-1, c]);
  return dense(g, o, w, 'visual.attnpool.c_proj.weight', 'visual.attnpool.c_proj.bias');
}

/** The image tower's graph (ViT or ResNet). */
export function imageGraph(cfg: ClipConfig, w: WeightSource): GraphBuilder {
  const g = new GraphBuilder(`${cfg.name} image`);
  const s = cfg.vision.image_size;
  const pixels = g.input('pixels', 'float', ['batch', s, s, 3]);
  const y = cfg.vision.type === 'vit' ? vitImage(g, pixels, cfg.vision, cfg, w) : resnetImage(g, pixels, cfg.vision, w);
  g.output(y, 'image_features', ['batch', cfg.embed_dim]);
  return g;
}

/** The text tower's graph: token and position embeddings, causal transformer, [EOS] pooling, projection. */
export function textGraph(cfg: ClipConfig, w: WeightSource): GraphBuilder {
  const t = cfg.text;
  const l = t.context_length;
  const g = new GraphBuilder(`${cfg.name} text`);
  const ids = g.input('ids', 'int32', ['batch', l]);
  const eot = g.input('eot', 'int32', ['batch']);
  let x = g.add(g.op('Gather', [param(g, w, 'token_embedding.weight'), ids], { axis: { i: 0 } }), param(g, w, 'positional_embedding'));
  // nn.ts's causalMask: 0 on and below the diagonal, -1e9 above.
  const mask = new Float32Array(l * l);
  for (let i = 0; i < l; i++) for (let j = i + 1; j < l; j++) mask[i * l + j] = -1e9;
  const maskName = g.floats('causal_mask', mask, [l, l]);
  for (let i = 0; i < t.layers; i++) x = residualBlock(g, x, w, `transformer.resblocks.${i}`, t.width, t.heads, cfg.act, maskName);
  // The [EOS] token's activation (ln_final is per token, so picking first gives model.ts's values).
  const at = g.op('Expand', [g.reshape(g.op('Cast', [eot], { to: { i: INT64 } }), [-1, 1, 1]), g.ints([1, 1, t.width])]); // [B, 1, W]
  const picked = g.reshape(g.op('GatherElements', [x, at], { axis: { i: 1 } }), [-1, t.width]);
  const y = dense(g, layerNorm(g, picked, w, 'ln_final'), w, 'text_projection');
  g.output(y, 'text_features', ['batch', cfg.embed_dim]);
  return g;
}

function valueInfo(io: IO): Message {
  const shape = new Message();
  for (const d of io.dims) shape.message(1, typeof d === 'number' ? new Message().int(1, d) : new Message().string(2, d));
  const tensorType = new Message().int(1, io.type).message(2, shape);
  return new Message().string(1, io.name).message(2, new Message().message(1, tensorType));
}

/**
 * A graph as an ONNX ModelProto. With `externalData` (a file name beside the model) every weight is
 * stored there instead (returned as `data`, in order): protobuf stops at 2 GiB, and ViT-L/14 is 1.7 GB.
 */
export function modelProto(g: GraphBuilder, producerVersion: string, externalData?: string): { model: Message; data: Uint8Array[] } {
  const graph = new Message();
  for (const n of g.nodes) graph.message(1, n);
  graph.string(2, g.name);
  const data: Uint8Array[] = [];
  let offset = 0;
  for (const init of g.initializers) {
    const t = new Message().packedInts(1, init.dims).int(2, init.type).string(8, init.name);
    if (externalData && init.bytes.length >= 1024) {
      const entry = (k: string, v: string): Message => new Message().string(1, k).string(2, v);
      t.message(13, entry('location', externalData)).message(13, entry('offset', String(offset))).message(13, entry('length', String(init.bytes.length))).int(14, 1);
      data.push(init.bytes);
      offset += init.bytes.length;
    } else t.bytes(9, init.bytes);
    graph.message(5, t);
  }
  for (const i of g.inputs) graph.message(11, valueInfo(i));
  for (const o of g.outputs) graph.message(12, valueInfo(o));
  const model = new Message()
    .int(1, IR_VERSION)
    .string(2, 'wit')
    .string(3, producerVersion)
    .message(7, graph)
    .message(8, new Message().string(1, '').int(2, OPSET));
  return { model, data };
}
