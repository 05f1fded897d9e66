import { mkdir, readdir, readFile, rename, rm, open, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { endianness } from 'node:os';
import { tf } from '../util/tf.js';
import { InputError, UsageError } from '../util/errors.js';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { claimOutput, isPartialSet, testHook } from '../util/output.js';
import { parameterSpecs } from '../train/model.js';
import { modelDirConfigOf, readModelConfig, loadTokenizer } from '../train/model-dir.js';
import { ClipTokenizer } from '../train/clip-tokenizer.js';
import { BpeTokenizer, type TextTokenizer } from '../train/tokenizer.js';
import { loadWeights } from '../train/weights-io.js';
import { SafetensorsReader, writeSafetensors, type TensorToWrite } from './safetensors.js';
import { parseOpenClipConfig, toOpenClipConfig, SUPPORTED } from './openclip-config.js';
import { fromTorch, toTorch, torchKey, torchShape } from './layout.js';
import { witBpeAsClip } from './wit-bpe-export.js';
import { ONNX_EXPORT_FILES, exportOnnx } from './onnx-export.js';
import { readInputText } from '../util/input.js';
import { checkFinite } from './validate.js';
import { CLIP_VOCAB_FILE, importFiles } from './import-files.js';

export { SafetensorsReader, writeSafetensors, type SafetensorsEntry, type TensorToWrite } from './safetensors.js';
export { parseOpenClipConfig, toOpenClipConfig, SUPPORTED } from './openclip-config.js';

/**
 * `wit model import` and `wit model export` (docs/ARCHITECTURE.md, "Models in open_clip's format"):
 * open_clip checkpoints (safetensors + model config + CLIP's BPE merges) to wit model
 * directories and back.
 */

const STAGE = 'model';
export { CLIP_VOCAB_FILE } from './import-files.js';
/** Buffers of the JIT-era OpenAI state dict that carry no weights. */
const IGNORED_KEYS = new Set(['input_resolution', 'context_length', 'vocab_size', 'attn_mask', 'text.attn_mask']);

export const importSchema = defineOptions({
  from: { type: 'string', positional: true, metavar: 'DIR', help: 'folder to import: a `wit model export` or an open_clip download (open_clip_config.json, *.safetensors, the BPE vocabulary); also the bare argument' },
  weights: { type: 'string', metavar: 'FILE', help: 'open_clip state dict as .safetensors (fp32, fp16 or bf16); default: the one in the folder' },
  config: { type: 'string', metavar: 'FILE', help: "open_clip model config JSON (model_configs/NAME.json, or a hub's open_clip_config.json); default: the folder's" },
  vocab: { type: 'string', metavar: 'FILE', help: `CLIP BPE merges (default: ${CLIP_VOCAB_FILE} or bpe_vocab.txt.gz in the folder, next to --weights or --config)` },
  out: { type: 'string', required: true, metavar: 'DIR', help: 'model directory to write (must not exist or be empty)' },
  name: { type: 'string', metavar: 'NAME', help: 'architecture name stored in config.json (default: the config file name)' },
  forceQuickGelu: { type: 'boolean', default: false, help: "use QuickGELU whatever the config says (OpenAI's weights with a plain ViT-B-32.json)" },
});

export type ImportOptions = OptionsInput<typeof importSchema>;

/** Summary of an import (snake_case, as every command's). */
export interface ImportSummary {
  out: string;
  arch: string;
  activation: string;
  parameters: number;
  tensors: number;
  source_dtypes: Record<string, number>;
  vocab_size: number;
  context_length: number;
  image_size: number;
}


async function readJson(file: string): Promise<unknown> {
  const text = await readInputText(file, { kind: 'config', stage: STAGE });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(STAGE, file, `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Checks the file's tensors against the architecture: the first missing key, extra key or shape
 * mismatch is an error naming the key and both shapes.
 */
function checkKeys(reader: SafetensorsReader, specs: ReturnType<typeof parameterSpecs>, cfg: Parameters<typeof torchShape>[2], customText: boolean): void {
  const expected = new Map(specs.map((s) => [torchKey(s.name, customText), torchShape(s.name, s.shape, cfg)]));
  for (const [key, shape] of expected) {
    const e = reader.entries.get(key);
    if (!e) throw new InputError(STAGE, reader.file, `missing key ${key} (the config needs shape [${shape}])`);
    if (e.shape.join(',') !== shape.join(',')) throw new InputError(STAGE, reader.file, `key ${key} has shape [${e.shape}] but the config needs [${shape}]`);
  }
  for (const e of reader.entries.values()) {
    if (!expected.has(e.name) && !IGNORED_KEYS.has(e.name)) throw new InputError(STAGE, reader.file, `unexpected key ${e.name} (shape [${e.shape}]) that the config's architecture has no place for; wit runs ${SUPPORTED}`);
  }
}

/**
 * Imports an open_clip checkpoint as a wit model directory (config.json, tokenizer.json,
 * model.json + model.weights.bin). Tensors are converted one at a time and streamed to the
 * weights file, so memory stays at one tensor; the directory appears complete or not at all.
 */
export async function importModel(options: ImportOptions): Promise<ImportSummary> {
  const o = resolveOptions(STAGE, importSchema, options);
  const files = await importFiles(o);
  const claim = await claimOutput(o.out, { command: 'model import', reuse: false, inputs: [files.weights, files.config, files.vocab] });
  try {
    const out = claim.path;
    if (await isPartialSet(dirname(resolve(files.weights)))) throw new InputError(STAGE, files.weights, 'is in a partial export (wit model export was stopped before its files were complete); export again');
    const parsed = parseOpenClipConfig(await readJson(files.config), files.config, { name: o.name, forceQuickGelu: o.forceQuickGelu });
    const { arch, loss, customText } = parsed;
    const tokenizer = await ClipTokenizer.fromMergesFile(files.vocab, arch.text.vocab_size, arch.text.context_length);
    const reader = await SafetensorsReader.open(files.weights);
    try {
      const specs = parameterSpecs(arch, loss);
      checkKeys(reader, specs, arch, customText);
      const dtypes: Record<string, number> = {};
      let parameters = 0;
      // The model directory appears complete or not at all (docs/ARCHITECTURE.md, "Claiming an output").
      await claim.publish(async (tmp) => {
        const fh = await open(join(tmp, 'model.weights.bin'), 'w');
        try {
          for (const s of specs) {
            const key = torchKey(s.name, customText);
            const entry = reader.entries.get(key)!;
            dtypes[entry.dtype] = (dtypes[entry.dtype] ?? 0) + 1;
            const raw = await reader.read(key);
            checkFinite(raw, key, files.weights, STAGE);
            const data = fromTorch(s.name, raw, entry.shape);
            parameters += data.length;
            await fh.write(littleEndian(data));
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        await writeJsonAtomic(join(tmp, 'config.json'), modelDirConfigOf(arch, loss, tokenizer));
        await writeJsonAtomic(join(tmp, 'tokenizer.json'), tokenizer.toJSON());
        const manifest = {
          format: 'wit-clip',
          generatedBy: `wit model import (TensorFlow.js tfjs-core v${tf.version_core} weights manifest)`,
          convertedBy: null,
          modelTopology: { class_name: 'WitClip', config: arch, loss },
          weightsManifest: [{ paths: ['model.weights.bin'], weights: specs.map((s) => ({ name: s.name, shape: s.shape, dtype: 'float32' })) }],
        };
        await writeFileAtomic(join(tmp, 'model.json'), JSON.stringify(manifest));
      });
      return {
        out, arch: arch.name, activation: arch.act, parameters, tensors: specs.length, source_dtypes: dtypes,
        vocab_size: tokenizer.vocabSize, context_length: arch.text.context_length, image_size: arch.vision.image_size,
      };
    } finally {
      await reader.close();
    }
  } finally {
    await claim.release();
  }
}

function littleEndian(data: Float32Array): Uint8Array {
  if (endianness() === 'LE') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const b = Buffer.alloc(data.length * 4);
  data.forEach((x, i) => b.writeFloatLE(x, i * 4));
  return b;
}

export const exportSchema = defineOptions({
  model: { type: 'string', required: true, metavar: 'DIR', help: 'wit model directory (wit train --out, a checkpoint, or wit model import --out)' },
  out: { type: 'string', required: true, metavar: 'DIR', help: 'output directory (open_clip: open_clip_config.json, open_clip_model.safetensors, bpe_vocab.txt.gz, wit-export.json; onnx: image.onnx, text.onnx, tokenizer.json, onnx_config.json)' },
  format: { type: 'string', choices: ['open_clip', 'onnx'], default: 'open_clip', help: "open_clip's checkpoint format, or ONNX graphs (opset 17) of the two towers for ONNX Runtime and other runtimes" },
});

export type ExportOptions = OptionsInput<typeof exportSchema>;

/**
 * The open_clip model name an export registers: `open_clip.add_model_config('DIR/wit-export.json')`
 * makes `create_model_and_transforms('wit-export', pretrained='DIR/open_clip_model.safetensors')` and
 * `get_tokenizer('wit-export')` work (open_clip keys a model config by its file's stem).
 */
export const EXPORT_MODEL_NAME = 'wit-export';

/** The files of an export, published as one set. */
export const EXPORT_FILES = ['open_clip_config.json', 'open_clip_model.safetensors', 'bpe_vocab.txt.gz', `${EXPORT_MODEL_NAME}.json`] as const;

export interface ExportSummary {
  out: string;
  /** open_clip or onnx. */
  format: string;
  files: string[];
  arch: string;
  quick_gelu: boolean;
  parameters: number;
  vocab_size: number;
  tokenizer: string;
  /** The vocabulary open_clip's get_tokenizer reads (text_cfg.tokenizer_kwargs.bpe_path: absolute, so moving the folder breaks it). */
  bpe_path?: string;
  /** The model name `wit-export.json` registers with open_clip.add_model_config. */
  open_clip_model_name?: string;
  /** What open_clip's tokenizer does that wit's own BPE did not (only for wit-trained tokenizers of version 1). */
  tokenizer_note?: string;
}

/** Vocabulary rows permutation and merges file for the exported tokenizer. */
function exportedTokenizer(tokenizer: TextTokenizer, where: string): { merges: string; rowOf?: Int32Array } {
  if (tokenizer instanceof ClipTokenizer) return { merges: tokenizer.mergesFile() };
  if (tokenizer instanceof BpeTokenizer) return witBpeAsClip(tokenizer, where);
  throw new UsageError(STAGE, `cannot export tokenizer kind ${tokenizer.kind}`, { file: where });
}

/**
 * Exports a wit model directory in open_clip's format: open_clip_config.json (model_cfg +
 * preprocess_cfg), open_clip_model.safetensors (torch layout) and bpe_vocab.txt.gz (CLIP's merges
 * format). Settings open_clip cannot express are an error before anything is written.
 */
export async function exportModel(options: ExportOptions): Promise<ExportSummary> {
  const o = resolveOptions(STAGE, exportSchema, options);
  if (o.format === 'onnx') {
    const claim = await claimOutput(o.out, { command: 'model export', inputs: [o.model], files: ONNX_EXPORT_FILES });
    try {
      return { out: claim.path, format: 'onnx', ...(await exportOnnx(o.model, claim)) };
    } finally {
      await claim.release();
    }
  }
  const claim = await claimOutput(o.out, { command: 'model export', inputs: [o.model], files: EXPORT_FILES });
  try {
    const config = await readModelConfig(o.model);
    const openclip = toOpenClipConfig(config.arch, config.loss, o.model);
    const tokenizer = await loadTokenizer(join(o.model, 'tokenizer.json'), config.tokenizer?.type ?? 'wit-byte-bpe');
    const tok = exportedTokenizer(tokenizer, o.model);
    const arch = config.arch;
    const vocabRows = tok.rowOf ? tok.rowOf.length : arch.text.vocab_size;
    // open_clip 3.3's get_tokenizer passes text_cfg.tokenizer_kwargs to SimpleTokenizer, whose bpe_path
    // is opened as given (relative to the caller's working directory, not to the folder): absolute.
    const bpePath = join(resolve(claim.path), 'bpe_vocab.txt.gz');
    const textCfg = (openclip.model_cfg as { text_cfg: Record<string, unknown> }).text_cfg;
    textCfg.vocab_size = vocabRows;
    textCfg.tokenizer_kwargs = { bpe_path: bpePath };
    const { tensors } = await loadWeights(o.model, 'model');
    const out = claim.path;
    let parameters = 0;
    // The three files are published as one set: a crash between them leaves no folder that import
    // accepts, and a rerun sweeps what the killed run left (docs/ARCHITECTURE.md, "Claiming an output").
    await claim.publish(async (dir) => {
      try {
        const items: TensorToWrite[] = parameterSpecs(arch, config.loss).map((s) => {
          const t = tensors[s.name];
          if (!t) throw new InputError(STAGE, join(o.model, 'model.json'), `weights lack parameter ${s.name}`);
          const tshape = torchShape(s.name, s.shape, arch);
          const shape = s.name === 'token_embedding.weight' ? [vocabRows, arch.text.width] : tshape;
          return {
            name: s.name,
            shape,
            data: () => {
              const data = t.dataSync() as Float32Array;
              parameters += data.length;
              if (s.name === 'token_embedding.weight' && tok.rowOf) return permuteRows(data, tok.rowOf, arch.text.width);
              return toTorch(s.name, data, tshape);
            },
          };
        });
        await writeSafetensors(join(dir, 'open_clip_model.safetensors'), items, { format: 'pt', exported_by: 'wit model export' });
      } finally {
        tf.dispose(Object.values(tensors));
      }
      testHook('model-export:weights-written');
      await writeFileAtomic(join(dir, 'bpe_vocab.txt.gz'), gzipSync(tok.merges));
      await writeJsonAtomic(join(dir, `${EXPORT_MODEL_NAME}.json`), openclip.model_cfg);
      await writeJsonAtomic(join(dir, 'open_clip_config.json'), openclip);
    });
    return {
      out,
      format: 'open_clip',
      files: [...EXPORT_FILES],
      arch: arch.name,
      quick_gelu: arch.act === 'quick_gelu',
      parameters,
      vocab_size: vocabRows,
      tokenizer: tokenizer.kind,
      bpe_path: bpePath,
      open_clip_model_name: EXPORT_MODEL_NAME,
      ...(tokenizer instanceof BpeTokenizer && tokenizer.version < 2
        ? { tokenizer_note: "this model's tokenizer (version 1, from an older wit) does not clean text as open_clip does (ftfy, HTML unescaping, special tokens), so open_clip tokenizes captions with curly quotes, entities, mojibake, ligatures or full-width forms differently; a model trained by this wit (tokenizer version 2) gives identical ids" }
        : {}),
    };
  } finally {
    await claim.release();
  }
}

function permuteRows(data: Float32Array, rowOf: Int32Array, width: number): Float32Array {
  const out = new Float32Array(rowOf.length * width);
  for (let r = 0; r < rowOf.length; r++) out.set(data.subarray(rowOf[r]! * width, (rowOf[r]! + 1) * width), r * width);
  return out;
}

