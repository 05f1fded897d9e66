import { readFileSync, existsSync } from 'node:fs';
import { InputError, UsageError } from '../util/errors.js';
import { ARCH_LIMITS, archSizeProblem, sizeProblem, type ArchLimit } from '../model/validate.js';
import vitMicro from './configs/vit-micro.json' with { type: 'json' };
import vitTiny from './configs/vit-tiny.json' with { type: 'json' };
import vitSmall from './configs/vit-small.json' with { type: 'json' };
import vitB32 from './configs/ViT-B-32.json' with { type: 'json' };
import rnTiny from './configs/rn-tiny.json' with { type: 'json' };
import rn50 from './configs/RN50.json' with { type: 'json' };
import { readInputTextSync } from '../util/input.js';

/** ViT image tower (CLIP's VisionTransformer). */
export interface VitConfig {
  type: 'vit';
  image_size: number;
  patch_size: number;
  width: number;
  layers: number;
  heads: number;
  mlp_ratio?: number;
}

/** ResNet-style image tower (CLIP's ModifiedResNet, with GroupNorm instead of BatchNorm). */
export interface ResNetConfig {
  type: 'resnet';
  image_size: number;
  /** Stem width; stage i has width·2^i planes and 4× that many output channels (bottlenecks). */
  width: number;
  /** Bottleneck blocks per stage. */
  stages: number[];
  /** Heads of the attention pool. */
  heads: number;
}

/** Causal text Transformer. */
export interface TextConfig {
  context_length: number;
  /** Upper bound for the BPE vocabulary (the trained tokenizer may be smaller). */
  vocab_size: number;
  width: number;
  heads: number;
  layers: number;
  mlp_ratio?: number;
}

/** An architecture: what `--arch NAME` or `--arch file.json` resolves to, stored in config.json. */
export interface ClipConfig {
  name: string;
  description?: string;
  embed_dim: number;
  vision: VitConfig | ResNetConfig;
  text: TextConfig;
  /** MLP activation; see `Activation`. */
  act: Activation;
  /** Per-channel RGB mean and std of the input normalisation (default: OpenAI CLIP's); set by imported models. */
  image_mean?: number[];
  image_std?: number[];
}

/**
 * quick_gelu: x·σ(1.702x) (OpenAI CLIP); gelu_erf: exact GELU (open_clip's other models);
 * gelu: the tanh approximation (wit's own models; kept so existing checkpoints load unchanged).
 */
export type Activation = 'quick_gelu' | 'gelu' | 'gelu_erf';
export const ACTIVATIONS: readonly Activation[] = ['quick_gelu', 'gelu', 'gelu_erf'];

/** The shipped architectures, by name. */
export const ARCHS: Record<string, ClipConfig> = Object.fromEntries(
  [vitMicro, vitTiny, vitSmall, vitB32, rnTiny, rn50].map((c) => [c.name, c as ClipConfig]),
);

/**
 * Checks a config for the shapes the model needs, and every size against wit's limits
 * (src/model/validate.ts, before anything is allocated); throws UsageError naming the field, its value
 * and the limit. `where` names the source (arch name or file) in the message.
 */
export function validateConfig(c: unknown, where: string): ClipConfig {
  const bad = (msg: string): never => {
    throw new UsageError('train', `architecture ${where}: ${msg}`);
  };
  const size = (value: unknown, field: string, limit: ArchLimit, opts?: { integer?: boolean; optional?: boolean }): void => {
    const problem = sizeProblem(value, field, limit, opts);
    if (problem) bad(problem);
  };
  const cfg = c as ClipConfig;
  if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) bad('not a JSON object');
  size(cfg.embed_dim, 'embed_dim', 'embed_dim');
  if (!ACTIVATIONS.includes(cfg.act)) bad(`act must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(cfg.act)}`);
  const v = cfg.vision;
  if (!v || typeof v !== 'object') bad('missing vision');
  size(v.image_size, 'vision.image_size', 'image_size');
  if (v.type === 'vit') {
    for (const k of ['patch_size', 'width', 'layers', 'heads'] as const) size(v[k], `vision.${k}`, k);
    size(v.mlp_ratio, 'vision.mlp_ratio', 'mlp_ratio', { integer: false, optional: true });
    if (Math.round(v.width * (v.mlp_ratio ?? 4)) < 1) bad(`vision.mlp_ratio ${v.mlp_ratio} leaves the MLP no units`);
    if (v.image_size % v.patch_size) bad(`vision.image_size ${v.image_size} is not a multiple of patch_size ${v.patch_size}`);
    if (v.width % v.heads) bad(`vision.width ${v.width} is not a multiple of heads ${v.heads}`);
  } else if (v.type === 'resnet') {
    size(v.width, 'vision.width', 'width');
    size(v.heads, 'vision.heads', 'heads');
    if (v.width % 2) bad(`vision.width ${v.width} must be even (the stem's first convolutions have width/2 channels)`);
    if (!Array.isArray(v.stages) || !v.stages.length) bad('vision.stages must be a list of positive integers');
    if (v.stages.length > ARCH_LIMITS.stages) bad(`vision.stages has ${v.stages.length} stages, above wit's limit of ${ARCH_LIMITS.stages}`);
    v.stages.forEach((n, i) => size(n, `vision.stages[${i}]`, 'stage_blocks'));
    const down = 2 ** (v.stages.length + 1);
    if (v.image_size % down) bad(`vision.image_size must be a multiple of ${down} for ${v.stages.length} stages`);
    if ((v.width * 2 ** (v.stages.length - 1) * 4) % v.heads) bad('vision.heads must divide the last stage width');
  } else bad(`vision.type must be vit or resnet, got ${JSON.stringify((v as { type?: unknown }).type)}`);
  for (const k of ['image_mean', 'image_std'] as const) {
    const m = cfg[k];
    if (m !== undefined && !(Array.isArray(m) && m.length === 3 && m.every((x) => typeof x === 'number' && Number.isFinite(x)) && (k === 'image_mean' || m.every((x) => x > 0)))) bad(`${k} must be three numbers (RGB)`);
  }
  const t = cfg.text;
  if (!t || typeof t !== 'object') bad('missing text');
  for (const k of ['context_length', 'vocab_size', 'width', 'heads', 'layers'] as const) size(t[k], `text.${k}`, k);
  size(t.mlp_ratio, 'text.mlp_ratio', 'mlp_ratio', { integer: false, optional: true });
  if (Math.round(t.width * (t.mlp_ratio ?? 4)) < 1) bad(`text.mlp_ratio ${t.mlp_ratio} leaves the MLP no units`);
  if (t.width % t.heads) bad(`text.width ${t.width} is not a multiple of heads ${t.heads}`);
  if (t.context_length < 3) bad('text.context_length must be >= 3');
  const total = archSizeProblem(cfg);
  if (total) bad(total);
  return { ...cfg, name: cfg.name ?? where };
}

/**
 * Resolves `--arch`: a shipped name (vit-micro, vit-tiny, vit-small, ViT-B/32 or ViT-B-32,
 * rn-tiny, RN50) or a path to a JSON config. Returns a fresh copy; throws UsageError otherwise.
 */
export function resolveArch(arch: string): ClipConfig {
  const byName = ARCHS[arch] ?? ARCHS[arch.replace(/-(\d+)$/, '/$1')];
  if (byName) return structuredClone(byName);
  if (arch.endsWith('.json') || existsSync(arch)) {
    let json: unknown;
    try {
      json = JSON.parse(readInputTextSync(arch, { kind: 'config', stage: 'train' }));
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new UsageError('train', `cannot read architecture file: ${(err as Error).message}`, { file: arch });
    }
    return validateConfig(json, arch);
  }
  throw new UsageError('train', `unknown architecture '${arch}'; one of ${Object.keys(ARCHS).join(', ')} or a .json file`);
}

/** Applies size overrides from the command line (image size, context length, vocab size). */
export function withOverrides(cfg: ClipConfig, o: { imageSize?: number; contextLength?: number; vocabSize?: number }): ClipConfig {
  const out = structuredClone(cfg);
  if (o.imageSize !== undefined) out.vision.image_size = o.imageSize;
  if (o.contextLength !== undefined) out.text.context_length = o.contextLength;
  if (o.vocabSize !== undefined) out.text.vocab_size = o.vocabSize;
  return validateConfig(out, out.name);
}
