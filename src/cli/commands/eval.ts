import type { CommandDef } from '../command.js';
import { BACKEND_NAMES } from '../../train/backend/index.js';
import { evaluate, type EvalOptions } from '../../eval/index.js';

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

export const command: CommandDef = {
  name: 'eval',
  summary: 'zero-shot top-1/top-5 and image<->text recall@1/5/10 of a trained model on held-out shards',
  usage: 'wit eval --model MODEL_DIR --shards DIR… [--labels FILE] [--out eval.json]',
  flags: {
    model: { type: 'string', description: 'model directory from wit train (or one of its checkpoints)', required: true, metavar: 'DIR' },
    shards: { type: 'string[]', description: 'held-out shard files or directories', required: true, metavar: 'DIR…' },
    labels: { type: 'string', description: "class names, one a line (default: the pairs' first query, else caption)", metavar: 'FILE' },
    out: { type: 'string', description: 'summary JSON (default: MODEL_DIR/eval.json)', metavar: 'FILE' },
    template: { type: 'string[]', description: "prompt templates with {} for the label, averaged (default: 12 of CLIP's, 'a photo of a {}.' …)", metavar: 'TEXT…' },
    'batch-size': { type: 'int', description: 'rows per forward pass', default: 64, min: 1 },
    limit: { type: 'int', description: 'evaluate at most N pairs', min: 1 },
    'retrieval-samples': { type: 'int', description: 'pairs in the retrieval pool (the first N)', default: 5000, min: 1 },
    backend: { type: 'string', description: 'tfjs backend', default: 'auto', choices: BACKEND_NAMES },
    'decode-workers': { type: 'int', description: 'image decoding worker threads (default: cores - 1, max 4; 0 = inline)', min: 0, max: 64 },
  },
  async run(flags, ctx) {
    const opts: EvalOptions = {
      model: flags.model as string,
      shards: flags.shards as string[],
      labels: flags.labels as string | undefined,
      out: flags.out as string | undefined,
      templates: flags.template as string[] | undefined,
      batchSize: flags.batchSize as number,
      limit: flags.limit as number | undefined,
      retrievalSamples: flags.retrievalSamples as number,
      backend: flags.backend as EvalOptions['backend'],
      decodeWorkers: flags.decodeWorkers as number | undefined,
      onProgress: ctx.progress,
    };
    const s = await evaluate(opts);
    const z = s.zeroShot;
    const r = s.retrieval;
    const text =
      `zero-shot: top-1 ${pct(z.top1)}  top-5 ${pct(z.top5)}  (${z.classes} classes, chance ${pct(s.chanceTop1)}, ${z.samples} images, ${z.templates} templates)\n` +
      `image->text: R@1 ${pct(r.imageToText.r1)}  R@5 ${pct(r.imageToText.r5)}  R@10 ${pct(r.imageToText.r10)}  (${r.samples} pairs)\n` +
      `text->image: R@1 ${pct(r.textToImage.r1)}  R@5 ${pct(r.textToImage.r5)}  R@10 ${pct(r.textToImage.r10)}\n` +
      (s.badImages ? `${s.badImages} images failed to decode\n` : '') +
      `written: ${s.out}\n`;
    const { perClass: _omit, ...zeroShot } = z;
    return { summary: { ...s, zeroShot }, text };
  },
};
