import type { CommandDef } from '../command.js';
import { compare, COMPARE_OPTIONS, renderTable } from '../../compare/index.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';

export const command: CommandDef = {
  name: 'compare',
  summary: 'curation ablations on your pool: train each recipe at fixed compute over seeds, table of zero-shot and retrieval vs raw',
  usage: "wit compare --pool SHARDS… --eval HELDOUT… [--labels FILE] --recipes recipes.json [--seeds N] --out DIR [--cells 'RECIPE/SEED'…] [--steps N] [--tokenizer DIR|FILE] [--primary METRIC] [--overlap remove|refuse|keep] [--no-random-control] [--json]",
  flags: groupFlags(flagSpecs(COMPARE_OPTIONS), {
    input: ['pool', 'eval', 'labels', 'recipes', 'overlap', 'overlap-hamming'],
    grid: ['seeds', 'cells', 'random-control'],
    training: ['steps', 'batch-size', 'arch', 'lr', 'warmup-steps', 'weight-decay', 'checkpoint-every', 'tokenizer'],
    evaluation: ['template', 'retrieval-samples', 'primary'],
    compute: ['backend', 'decode-workers', 'threads'],
    output: ['out'],
  }),
  examples: [
    { what: 'raw against the recipes of recipes.json, 3 seeds each, at the same samples seen', cmd: 'wit compare --pool shards/ --eval heldout/ --recipes recipes.json --seeds 3 --out compare/' },
    { what: 'one machine of several sharing compare/: only the raw cells (a last run without --cells collects the table)', cmd: "wit compare --pool shards/ --eval heldout/ --recipes recipes.json --seeds 3 --out compare/ --cells 'raw/*'" },
    { what: 'a fixed budget and your own class names', cmd: 'wit compare --pool shards/ --eval heldout/ --labels classes.txt --recipes recipes.json --steps 2000 --batch-size 128 --out compare/' },
    { what: "CLIP's tokenizer for every cell, verdicts on image->text R@1, stop if the pool holds eval images", cmd: 'wit compare --pool shards/ --eval heldout/ --recipes recipes.json --tokenizer bpe_simple_vocab_16e6.txt.gz --primary image_to_text_r1 --overlap refuse --out compare/' },
  ],
  async run(flags, ctx) {
    const s = await compare({ ...optionsFromFlags(COMPARE_OPTIONS, flags), signal: ctx.signal, onLog: ctx.log, onProgress: ctx.progress });
    return { summary: s as unknown as Record<string, unknown>, text: renderTable(s, { out: s.out, missing: s.cells.missing }) };
  },
};
