import { InputError } from '../util/errors.js';
import type { ClipConfig, ResNetConfig, TextConfig, VitConfig } from '../train/config.js';

/**
 * The one validation of model configs and weights (docs/ARCHITECTURE.md, "Model validation"). Every
 * path that reads or writes a model goes through it: `--arch` files and shipped configs, the config.json
 * of every model directory that train (resume, --init-from), filter, eval, embed, search and serve load
 * (src/train/config.ts `validateConfig`), open_clip configs at `wit model import`
 * (src/model/openclip-config.ts), and the weights of import, export and every load (`checkFinite`,
 * called by src/train/weights-io.ts and src/model/index.ts).
 *
 * The size limits are checked before anything is built, so that a config with `layers: 1000000` is one
 * line and exit 2, not a heap crash a minute later. They are several times the largest models open_clip
 * ships (ViT-bigG-14: 48 layers of width 1664, ViT-e-14: 56 layers; SigLIP's i18n text tower: a
 * 250,000-token vocabulary; RN50x64: 448 px and a 36-block stage; long-context text towers: 248 tokens).
 */
export const ARCH_LIMITS = {
  /** Transformer layers of one tower. */
  layers: 256,
  /** Transformer or ResNet stem width. */
  width: 16384,
  heads: 256,
  embed_dim: 16384,
  patch_size: 512,
  image_size: 2048,
  context_length: 4096,
  vocab_size: 1 << 20,
  mlp_ratio: 16,
  /** ResNet stages, and blocks in one stage. */
  stages: 8,
  stage_blocks: 256,
  /** Elements of the largest single tensor (4 GiB of float32: what one typed array can hold). */
  tensor_elements: 2 ** 30,
  /** All parameters together (40 GB of float32; ViT-bigG-14 has 2.5·10⁹). */
  parameters: 1e10,
} as const;

export type ArchLimit = keyof typeof ARCH_LIMITS;

/**
 * The problem with one size field, or undefined when it is fine: not a positive integer (or, for
 * mlp_ratio, a positive number), or above its limit. `field` is the name the user wrote (vision.layers,
 * vision_cfg.layers), so that the message points at the line to fix.
 */
export function sizeProblem(value: unknown, field: string, limit: ArchLimit, opts: { integer?: boolean; optional?: boolean } = {}): string | undefined {
  if (value === undefined && opts.optional) return undefined;
  const integer = opts.integer ?? true;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    return `${field} must be a positive ${integer ? 'integer' : 'number'}, got ${shortJson(value)}`;
  }
  const max = ARCH_LIMITS[limit];
  if (value > max) return `${field} = ${value} is above wit's limit of ${max.toLocaleString('en')}`;
  return undefined;
}

function shortJson(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** Tensors of an architecture by kind: the elements of one tensor, and how many such tensors there are. */
interface TensorGroup {
  what: string;
  count: number;
  elements: number;
}

function transformerGroups(prefix: string, width: number, layers: number, mlpRatio: number): TensorGroup[] {
  const hidden = Math.round(width * mlpRatio);
  const p = `${prefix}.resblocks.N`;
  return [
    { what: `${p} norms and width-sized biases`, count: 6 * layers, elements: width },
    { what: `${p}.attn.in_proj_weight`, count: layers, elements: 3 * width * width },
    { what: `${p}.attn.in_proj_bias`, count: layers, elements: 3 * width },
    { what: `${p}.attn.out_proj.weight`, count: layers, elements: width * width },
    { what: `${p}.mlp.c_fc.weight and c_proj.weight`, count: 2 * layers, elements: width * hidden },
    { what: `${p}.mlp.c_fc.bias`, count: layers, elements: hidden },
  ];
}

function vitGroups(v: VitConfig, embedDim: number): TensorGroup[] {
  const tokens = (v.image_size / v.patch_size) ** 2 + 1;
  return [
    { what: 'visual.conv1.weight', count: 1, elements: v.patch_size * v.patch_size * 3 * v.width },
    { what: 'visual.positional_embedding', count: 1, elements: tokens * v.width },
    { what: 'visual class embedding and norms', count: 5, elements: v.width },
    ...transformerGroups('visual.transformer', v.width, v.layers, v.mlp_ratio ?? 4),
    { what: 'visual.proj', count: 1, elements: v.width * embedDim },
  ];
}

function conv(what: string, k: number, cin: number, cout: number): TensorGroup[] {
  // The convolution and its GroupNorm's weight and bias.
  return [{ what: `${what} weight`, count: 1, elements: k * k * cin * cout }, { what: `${what} norm`, count: 2, elements: cout }];
}

function resnetGroups(v: ResNetConfig, embedDim: number): TensorGroup[] {
  const w = v.width;
  const out: TensorGroup[] = [...conv('visual.conv1', 3, 3, w / 2), ...conv('visual.conv2', 3, w / 2, w / 2), ...conv('visual.conv3', 3, w / 2, w)];
  let cin = w;
  v.stages.forEach((n, s) => {
    const planes = w * 2 ** s;
    for (let i = 0; i < n; i++) {
      const b = `visual.layer${s + 1}.${i}`;
      out.push(...conv(`${b}.conv1`, 1, cin, planes), ...conv(`${b}.conv2`, 3, planes, planes), ...conv(`${b}.conv3`, 1, planes, planes * 4));
      if ((i === 0 && s > 0) || cin !== planes * 4) out.push(...conv(`${b}.downsample`, 1, cin, planes * 4));
      cin = planes * 4;
    }
  });
  const c = w * 2 ** (v.stages.length - 1) * 4;
  const grid = v.image_size / 2 ** (v.stages.length + 1);
  out.push(
    { what: 'visual.attnpool.positional_embedding', count: 1, elements: (grid * grid + 1) * c },
    { what: 'visual.attnpool q, k and v projections', count: 3, elements: c * c },
    { what: 'visual.attnpool biases', count: 3, elements: c },
    { what: 'visual.attnpool.c_proj.weight', count: 1, elements: c * embedDim },
    { what: 'visual.attnpool.c_proj.bias', count: 1, elements: embedDim },
  );
  return out;
}

function textGroups(t: TextConfig, embedDim: number): TensorGroup[] {
  return [
    { what: 'token_embedding.weight', count: 1, elements: t.vocab_size * t.width },
    { what: 'positional_embedding', count: 1, elements: t.context_length * t.width },
    ...transformerGroups('transformer', t.width, t.layers, t.mlp_ratio ?? 4),
    { what: 'ln_final', count: 2, elements: t.width },
    { what: 'text_projection', count: 1, elements: t.width * embedDim },
  ];
}

/**
 * Parameters of an architecture and its largest tensor, computed from the sizes alone (nothing is
 * allocated; the count is the sum over src/train/model.ts `parameterSpecs`, logit scale and bias aside).
 * Expects sizes already within ARCH_LIMITS (the ResNet loop runs once per block).
 */
export function archSize(cfg: ClipConfig): { parameters: number; largest: { what: string; elements: number } } {
  const groups = [...(cfg.vision.type === 'vit' ? vitGroups(cfg.vision, cfg.embed_dim) : resnetGroups(cfg.vision, cfg.embed_dim)), ...textGroups(cfg.text, cfg.embed_dim)];
  let parameters = 0;
  let largest = { what: '', elements: 0 };
  for (const g of groups) {
    parameters += g.count * g.elements;
    if (g.elements > largest.elements) largest = { what: g.what, elements: g.elements };
  }
  return { parameters, largest };
}

/** The problem with an architecture's total size (all fields already within their limits), or undefined. */
export function archSizeProblem(cfg: ClipConfig): string | undefined {
  const { parameters, largest } = archSize(cfg);
  if (largest.elements > ARCH_LIMITS.tensor_elements) {
    return `${largest.what} would hold ${largest.elements.toExponential(2)} values, above wit's limit of ${ARCH_LIMITS.tensor_elements.toExponential(2)} for one tensor`;
  }
  if (parameters > ARCH_LIMITS.parameters) return `${parameters.toExponential(2)} parameters is above wit's limit of ${ARCH_LIMITS.parameters.toExponential(0)}`;
  return undefined;
}

/**
 * Refuses weights that hold NaN or ±Infinity, naming the tensor, how many values are bad and where the
 * first is. A model with such weights loads and runs, but every similarity it computes is NaN: filter
 * would score every pair 0 and drop them all, embed would write NaN vectors. One pass over the values.
 */
export function checkFinite(values: Float32Array, tensor: string, file: string, stage: string): void {
  let first = -1;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x - x !== 0) {
      first = i;
      break;
    }
  }
  if (first < 0) return;
  let bad = 0;
  for (let i = first; i < values.length; i++) {
    const x = values[i]!;
    if (x - x !== 0) bad++;
  }
  throw new InputError(stage, file, `tensor ${tensor} holds ${bad} non-finite value${bad === 1 ? '' : 's'} of ${values.length} (${values[first]} at index ${first}); NaN or infinite weights make every score NaN, so the model is refused`);
}
