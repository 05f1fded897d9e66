import { basename } from 'node:path';
import { InputError, UsageError } from '../util/errors.js';
import { validateConfig, type ClipConfig } from '../train/config.js';
import type { LossKind } from '../train/model.js';
import { CLIP_MEAN, CLIP_STD } from '../train/preprocess.js';
import { sizeProblem, type ArchLimit } from './validate.js';

/**
 * open_clip's model configuration (docs/ARCHITECTURE.md, "Models in open_clip's format"): the
 * JSON of open_clip's model_configs/NAME.json (embed_dim, vision_cfg, text_cfg, quick_gelu, …) or
 * an open_clip_config.json ({model_cfg, preprocess_cfg}), to and from wit's ClipConfig.
 */

const STAGE = 'model';

/** What wit can run: open_clip's ViT image tower with its default token pooling, and its default text tower. */
export const SUPPORTED = 'ViT image towers (ViT-B/32, ViT-B/16, ViT-L/14, ViT-H/14 and custom widths, patch sizes, depths) with open_clip\'s default text Transformer';

/** open_clip's defaults (CLIPVisionCfg, CLIPTextCfg). */
const VISION_DEFAULTS = { layers: 12, width: 768, head_width: 64, mlp_ratio: 4.0, patch_size: 16, image_size: 224 };
const TEXT_DEFAULTS = { context_length: 77, vocab_size: 49408, width: 512, heads: 8, layers: 12, mlp_ratio: 4.0 };

/** Keys of vision_cfg / text_cfg / model_cfg that wit reads, or that do not change the forward pass. */
const VISION_KEYS = new Set(['layers', 'width', 'head_width', 'mlp_ratio', 'patch_size', 'image_size', 'patch_dropout', 'image_mean', 'image_std', 'interpolation', 'resize_mode', 'fill_color']);
const TEXT_KEYS = new Set(['context_length', 'vocab_size', 'width', 'heads', 'layers', 'mlp_ratio']);
const MODEL_KEYS = new Set(['embed_dim', 'vision_cfg', 'text_cfg', 'quick_gelu', 'custom_text', 'init_logit_bias', 'init_logit_scale', 'cast_dtype']);

/** Settings open_clip accepts with values that keep the standard architecture (anything else is unsupported). */
const NEUTRAL: Record<string, unknown[]> = {
  ls_init_value: [null], attentional_pool: [false], no_ln_pre: [false], pool_type: ['tok', 'argmax'], final_ln_after_pool: [false],
  output_tokens: [false], global_average_pool: [false], input_patchnorm: [false], pos_embed_type: ['learnable'], proj_type: ['linear'],
  proj_bias: [false], embed_cls: [false], pad_id: [0], no_causal_mask: [false], act_kwargs: [null], norm_kwargs: [null], output_dim: [],
  tokenizer_kwargs: [null], attn_pooler_queries: [], attn_pooler_heads: [], n_queries: [], text_mask: [], hf_tokenizer_name: [],
};

/**
 * text_cfg.tokenizer_kwargs that leave CLIP's tokenization as wit runs it: where the vocabulary is
 * (`bpe_path`, what `wit model export` writes; import reads the folder's or --vocab) and the default
 * cleaning. Anything else (another cleaning, extra special tokens, a reduction mask) changes the ids.
 */
function neutralTokenizerKwargs(val: unknown): boolean {
  if (val === null || val === undefined) return true;
  if (typeof val !== 'object' || Array.isArray(val)) return false;
  return Object.entries(val as Record<string, unknown>).every(([k, v]) => (k === 'bpe_path' && typeof v === 'string') || (k === 'clean' && v === 'lower'));
}

/** What import needs from an open_clip config. */
export interface ImportedConfig {
  arch: ClipConfig;
  loss: LossKind;
  /** Text tower keys carry a `text.` prefix (open_clip's CustomTextCLIP). */
  customText: boolean;
}

/** Parses an open_clip config (flat or {model_cfg, preprocess_cfg}); throws naming the file and what is unsupported. */
export function parseOpenClipConfig(json: unknown, file: string, opts: { name?: string; forceQuickGelu?: boolean } = {}): ImportedConfig {
  const bad = (msg: string): never => {
    throw new InputError(STAGE, file, msg);
  };
  const unsupported = (what: string): never => {
    throw new UsageError(STAGE, `${what} is not supported; wit runs ${SUPPORTED}`, { file });
  };
  if (!json || typeof json !== 'object' || Array.isArray(json)) bad('not a JSON object');
  const root = json as Record<string, unknown>;
  const model = (root.model_cfg ?? root) as Record<string, unknown>;
  const pre = (root.preprocess_cfg ?? {}) as Record<string, unknown>;
  if (!model || typeof model !== 'object') bad('model_cfg is not an object');
  if (typeof model.embed_dim !== 'number') bad('no embed_dim: not an open_clip model config');
  const v = (model.vision_cfg ?? {}) as Record<string, unknown>;
  const t = (model.text_cfg ?? {}) as Record<string, unknown>;
  if (model.multimodal_cfg) unsupported('a CoCa model (multimodal_cfg)');
  if (v.timm_model_name) unsupported(`a timm image tower (${String(v.timm_model_name)}: ConvNeXt, EVA, …)`);
  if (Array.isArray(v.layers)) unsupported('a ResNet image tower (vision_cfg.layers is a list: RN50, RN101, …)');
  if (t.hf_model_name) unsupported(`a Hugging Face text tower (${String(t.hf_model_name)})`);
  for (const [section, obj, known] of [['model_cfg', model, MODEL_KEYS], ['vision_cfg', v, VISION_KEYS], ['text_cfg', t, TEXT_KEYS]] as const) {
    for (const [k, val] of Object.entries(obj)) {
      if (known.has(k)) continue;
      if (k === 'tokenizer_kwargs' && neutralTokenizerKwargs(val)) continue;
      const ok = NEUTRAL[k];
      if (ok && (val === undefined || ok.some((x) => x === val))) continue;
      unsupported(`${section}.${k} = ${JSON.stringify(val)}`);
    }
  }
  const square = (x: unknown, what: string): number => {
    if (Array.isArray(x)) {
      if (x.length !== 2 || x[0] !== x[1]) unsupported(`a non-square ${what} ${JSON.stringify(x)}`);
      return x[0] as number;
    }
    return x as number;
  };
  const vis = { ...VISION_DEFAULTS, ...v } as Record<string, unknown> & typeof VISION_DEFAULTS;
  const txt = { ...TEXT_DEFAULTS, ...t } as typeof TEXT_DEFAULTS;
  checkSizes(model, vis, txt, bad);
  const width = vis.width;
  if (width % vis.head_width) bad(`vision_cfg.width ${width} is not a multiple of head_width ${vis.head_width}`);
  for (const [what, w, r] of [['vision_cfg', width, vis.mlp_ratio], ['text_cfg', txt.width, txt.mlp_ratio]] as const) {
    // open_clip sizes the MLP with int(width·mlp_ratio), wit with round(): they must agree.
    if (Math.trunc(w * r) !== Math.round(w * r)) unsupported(`${what}.mlp_ratio ${r} (width·ratio ${w * r} is not an integer)`);
  }
  const mean = (pre.mean ?? v.image_mean ?? CLIP_MEAN) as number[];
  const std = (pre.std ?? v.image_std ?? CLIP_STD) as number[];
  const resize = pre.resize_mode ?? v.resize_mode ?? 'shortest';
  if (resize !== 'shortest') unsupported(`resize_mode ${JSON.stringify(resize)} (wit resizes the short side and centre-crops, open_clip's 'shortest')`);
  const interp = pre.interpolation ?? v.interpolation ?? 'bicubic';
  if (interp !== 'bicubic') unsupported(`interpolation ${JSON.stringify(interp)} (wit resizes bicubic)`);
  const loss: LossKind = model.init_logit_bias !== undefined && model.init_logit_bias !== null ? 'siglip' : 'clip';
  const arch = validateConfig({
    name: opts.name ?? basename(file).replace(/\.json$/, ''),
    description: `imported from open_clip (${basename(file)})`,
    embed_dim: model.embed_dim,
    act: model.quick_gelu || opts.forceQuickGelu ? 'quick_gelu' : 'gelu_erf',
    image_mean: [...mean],
    image_std: [...std],
    vision: { type: 'vit', image_size: square(vis.image_size, 'image_size'), patch_size: square(vis.patch_size, 'patch_size'), width, layers: vis.layers, heads: width / vis.head_width, mlp_ratio: vis.mlp_ratio },
    text: { context_length: txt.context_length, vocab_size: txt.vocab_size, width: txt.width, heads: txt.heads, layers: txt.layers, mlp_ratio: txt.mlp_ratio },
  }, file);
  return { arch, loss, customText: Boolean(model.custom_text) };
}

/**
 * Every size under open_clip's own name, against wit's limits (src/model/validate.ts), before any of
 * them is used in arithmetic or to build anything; wit's validateConfig checks the mapped config again.
 */
function checkSizes(model: Record<string, unknown>, vis: Record<string, unknown>, txt: Record<string, unknown>, bad: (msg: string) => never): void {
  const fields: Array<[unknown, string, ArchLimit, boolean?]> = [
    [model.embed_dim, 'embed_dim', 'embed_dim'],
    [vis.layers, 'vision_cfg.layers', 'layers'], [vis.width, 'vision_cfg.width', 'width'], [vis.head_width, 'vision_cfg.head_width', 'width'],
    [vis.mlp_ratio, 'vision_cfg.mlp_ratio', 'mlp_ratio', false],
    [txt.context_length, 'text_cfg.context_length', 'context_length'], [txt.vocab_size, 'text_cfg.vocab_size', 'vocab_size'],
    [txt.width, 'text_cfg.width', 'width'], [txt.heads, 'text_cfg.heads', 'heads'], [txt.layers, 'text_cfg.layers', 'layers'],
    [txt.mlp_ratio, 'text_cfg.mlp_ratio', 'mlp_ratio', false],
  ];
  for (const key of ['image_size', 'patch_size'] as const) {
    const x = vis[key];
    for (const [i, d] of (Array.isArray(x) ? x : [x]).entries()) fields.push([d, `vision_cfg.${key}${Array.isArray(x) ? `[${i}]` : ''}`, key]);
  }
  for (const [value, field, limit, integer] of fields) {
    const problem = sizeProblem(value, field, limit, { integer: integer ?? true });
    if (problem) bad(problem);
  }
}

/** open_clip_config.json for a wit architecture; throws UsageError for what open_clip cannot express. */
export function toOpenClipConfig(arch: ClipConfig, loss: LossKind, where: string): Record<string, unknown> {
  const cannot = (what: string): never => {
    throw new UsageError(STAGE, `cannot export: ${what}; open_clip has no equivalent, so the exported model would compute something else`, { file: where });
  };
  const v = arch.vision;
  if (v.type !== 'vit') cannot("the image tower is wit's ResNet with GroupNorm (open_clip's ModifiedResNet uses BatchNorm)");
  if (arch.act === 'gelu') cannot("the activation is the tanh-approximated GELU ('gelu'); open_clip has QuickGELU and exact GELU");
  const vit = v as Extract<typeof v, { type: 'vit' }>;
  const vr = vit.mlp_ratio ?? 4;
  const tr = arch.text.mlp_ratio ?? 4;
  if (Math.trunc(vit.width * vr) !== Math.round(vit.width * vr)) cannot(`vision mlp_ratio ${vr} gives a fractional MLP width`);
  if (Math.trunc(arch.text.width * tr) !== Math.round(arch.text.width * tr)) cannot(`text mlp_ratio ${tr} gives a fractional MLP width`);
  const model_cfg: Record<string, unknown> = {
    embed_dim: arch.embed_dim,
    quick_gelu: arch.act === 'quick_gelu',
    vision_cfg: { image_size: vit.image_size, layers: vit.layers, width: vit.width, head_width: vit.width / vit.heads, mlp_ratio: vr, patch_size: vit.patch_size },
    text_cfg: { context_length: arch.text.context_length, vocab_size: arch.text.vocab_size, width: arch.text.width, heads: arch.text.heads, layers: arch.text.layers, mlp_ratio: tr },
  };
  if (loss === 'siglip') model_cfg.init_logit_bias = -10;
  return {
    model_cfg,
    preprocess_cfg: { mean: arch.image_mean ?? [...CLIP_MEAN], std: arch.image_std ?? [...CLIP_STD], interpolation: 'bicubic', resize_mode: 'shortest' },
  };
}
