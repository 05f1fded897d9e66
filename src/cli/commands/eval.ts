import type { CommandDef } from '../command.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';
import { evalOptions, evaluate } from '../../eval/index.js';

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

export const command: CommandDef = {
  name: 'eval',
  summary: 'zero-shot top-1/top-5 and image<->text recall@1/5/10 of a trained model on held-out shards',
  usage: 'wit eval --model MODEL_DIR --shards DIR… [--labels FILE] [--out eval.json]',
  flags: groupFlags(flagSpecs(evalOptions), {
    input: ['model', 'shards', 'labels'],
    evaluation: ['template', 'limit', 'retrieval-samples'],
    output: ['out'],
    performance: ['batch-size', 'backend', 'device', 'decode-workers'],
  }),
  examples: [
    { what: 'zero-shot accuracy and recall of a model on held-out shards (writes model/eval.json)', cmd: 'wit eval --model model/ --shards heldout/' },
    { what: 'your own class names and one prompt, the result elsewhere', cmd: "wit eval --model model/ --shards heldout/ --labels classes.txt --template 'a photo of a {}.' --out eval-heldout.json" },
    { what: 'a quick look at the first 500 pairs', cmd: 'wit eval --model model/ --shards heldout/ --limit 500' },
  ],
  async run(flags, ctx) {
    const s = await evaluate({ ...optionsFromFlags(evalOptions, flags), onProgress: ctx.progress, signal: ctx.signal });
    const z = s.zero_shot;
    const r = s.retrieval;
    const text =
      `zero-shot: top-1 ${pct(z.top1)}  top-5 ${pct(z.top5)}  (${z.classes} classes, chance ${pct(s.chance_top1)}, ${z.samples} images, ${z.templates} templates)\n` +
      (z.merged_labels ? `merged ${z.merged_labels} labels that differ only in case or spacing (${z.merged_examples.slice(0, 3).join(', ')}${z.merged_labels > 3 ? ', …' : ''})\n` : '') +
      `image->text: R@1 ${pct(r.image_to_text.r1)}  R@5 ${pct(r.image_to_text.r5)}  R@10 ${pct(r.image_to_text.r10)}  (${r.samples} pairs)\n` +
      `text->image: R@1 ${pct(r.text_to_image.r1)}  R@5 ${pct(r.text_to_image.r5)}  R@10 ${pct(r.text_to_image.r10)}\n` +
      `pairs: ${s.pairs} read, ${s.distinct_images} distinct images\n` +
      (s.bad_images ? `${s.bad_images} images failed to decode\n` : '') +
      `written: ${s.out}\n`;
    return { summary: { ...s }, text };
  },
};
