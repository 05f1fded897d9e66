/**
 * `wit model export --format onnx` (docs/ARCHITECTURE.md, "ONNX"): a model directory as two ONNX
 * graphs for other runtimes, with the tokenizer the text graph's ids come from and a JSON that says
 * how to feed them. Published as one set, as the open_clip export.
 */
import { join } from 'node:path';
import { copyFile } from 'node:fs/promises';
import { writeJsonAtomic } from '../util/atomic.js';
import { testHook, type OutputClaim } from '../util/output.js';
import { readModelDirHead, readModelWeights } from '../train/model-dir.js';
import { OPSET } from '../train/onnx/graph.js';
import { weightSource, writeTower } from '../train/onnx/write.js';

/** The names an ONNX export may hold (the .data files only for towers above 1.5 GiB of weights). */
export const ONNX_EXPORT_FILES = ['image.onnx', 'text.onnx', 'image.onnx.data', 'text.onnx.data', 'tokenizer.json', 'onnx_config.json'] as const;

/** What an ONNX export wrote. */
export interface OnnxExport {
  files: string[];
  parameters: number;
  arch: string;
  quick_gelu: boolean;
  vocab_size: number;
  tokenizer: string;
}

/**
 * Writes image.onnx, text.onnx (each with .data beside it when large), wit's tokenizer.json and
 * onnx_config.json into the claimed folder as one set. Throws UsageError/InputError as loading the model does.
 */
export async function exportOnnx(model: string, claim: OutputClaim): Promise<OnnxExport> {
  const { config, tokenizer } = await readModelDirHead(model);
  const weights = await readModelWeights(model, config);
  const source = weightSource(weights);
  const arch = config.arch;
  let files: string[] = [];
  await claim.publish(async (dir) => {
    const image = await writeTower(join(dir, 'image.onnx'), 'image', arch, source);
    testHook('model-export:weights-written');
    const text = await writeTower(join(dir, 'text.onnx'), 'text', arch, source);
    await copyFile(join(model, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    const scalar = (n: string): number | null => weights.get(n)?.data[0] ?? null;
    await writeJsonAtomic(join(dir, 'onnx_config.json'), {
      format: 'wit-onnx',
      opset: OPSET,
      arch,
      image: {
        file: 'image.onnx',
        inputs: { pixels: { dtype: 'float32', shape: ['batch', arch.vision.image_size, arch.vision.image_size, 3], layout: 'NHWC, RGB in [0, 1], minus mean, over std' } },
        outputs: { image_features: { dtype: 'float32', shape: ['batch', arch.embed_dim], normalised: false } },
        preprocess: config.preprocess,
      },
      text: {
        file: 'text.onnx',
        inputs: {
          ids: { dtype: 'int32', shape: ['batch', arch.text.context_length], tokenizer: 'tokenizer.json' },
          eot: { dtype: 'int32', shape: ['batch'], what: 'position of the end-of-text token in each row' },
        },
        outputs: { text_features: { dtype: 'float32', shape: ['batch', arch.embed_dim], normalised: false } },
        tokenizer: { file: 'tokenizer.json', type: tokenizer.kind, context_length: arch.text.context_length },
      },
      similarity: 'cosine of the L2-normalised features, times logit_scale (plus logit_bias for SigLIP)',
      logit_scale: Math.exp(scalar('logit_scale') ?? 0),
      logit_bias: scalar('logit_bias'),
    });
    files = [...image, ...text, join(dir, 'tokenizer.json'), join(dir, 'onnx_config.json')].map((f) => f.slice(dir.length + 1));
  });
  let parameters = 0;
  for (const w of weights.values()) parameters += w.data.length;
  return { files, parameters, arch: arch.name, quick_gelu: arch.act === 'quick_gelu', vocab_size: tokenizer.vocabSize, tokenizer: tokenizer.kind };
}
