import type { CommandDef } from '../command.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';
import { exportModel, exportSchema, importModel, importSchema } from '../../model/index.js';

const importCommand: CommandDef = {
  name: 'model import',
  summary: "import an open_clip checkpoint (safetensors + model config + CLIP's BPE) as a wit model directory",
  usage: 'wit model import DIR --out OUT   (or --weights FILE.safetensors --config MODEL.json [--vocab bpe_simple_vocab_16e6.txt.gz])',
  flags: groupFlags(flagSpecs(importSchema), { input: ['weights', 'config', 'vocab', 'force-quick-gelu'], output: ['out', 'name'] }),
  examples: [
    { what: "OpenAI's ViT-B/32 from open_clip's files (the vocabulary found next to the weights)", cmd: 'wit model import --weights open_clip_model.safetensors --config ViT-B-32.json --force-quick-gelu --out vit-b-32/' },
    { what: "a hub model's files, the vocabulary given", cmd: 'wit model import --weights open_clip_model.safetensors --config open_clip_config.json --vocab bpe_simple_vocab_16e6.txt.gz --out model-b/' },
  ],
  async run(flags) {
    const s = await importModel(optionsFromFlags(importSchema, flags));
    return { summary: { ...s } };
  },
};

const exportCommand: CommandDef = {
  name: 'model export',
  summary: "export a wit model directory in open_clip's format (open_clip_config.json, open_clip_model.safetensors, bpe_vocab.txt.gz, wit-export.json) or as ONNX",
  usage: 'wit model export --model DIR --out OUT [--format open_clip|onnx]',
  flags: groupFlags(flagSpecs(exportSchema), { input: ['model'], output: ['out', 'format'] }),
  examples: [
    { what: "a trained model in open_clip's format", cmd: 'wit model export --model model/ --out model-open-clip/' },
    { what: "the demo's model", cmd: 'wit model export --model data/demo/model --out demo-open-clip/' },
    { what: 'ONNX graphs of both towers, for ONNX Runtime and other runtimes', cmd: 'wit model export --model model/ --format onnx --out model-onnx/' },
  ],
  async run(flags, ctx) {
    const s = await exportModel(optionsFromFlags(exportSchema, flags));
    if (s.tokenizer_note && !ctx.json) ctx.log(`wit model export: note: ${s.tokenizer_note}`);
    if (!ctx.json) ctx.log(`wit model export: in open_clip: create_model_and_transforms('local-dir:${s.out}') and get_tokenizer('local-dir:${s.out}')`);
    return { summary: { ...s } };
  },
};

export const command: CommandDef = {
  name: 'model',
  summary: "models in open_clip's format: import (safetensors -> wit model dir) and export",
  usage: 'wit model import|export [flags]',
  flags: {},
  subcommands: { import: importCommand, export: exportCommand },
  async run() {
    throw new Error('unreachable: wit model needs a subcommand');
  },
};
