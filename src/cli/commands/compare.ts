import type { CommandDef } from '../command.js';
import { compare, COMPARE_OPTIONS, renderTable } from '../../compare/index.js';
import { flagSpecs, optionsFromFlags } from '../../util/options.js';

export const command: CommandDef = {
  name: 'compare',
  summary: 'curation ablations on your pool: train each recipe at fixed compute over seeds, table of zero-shot and retrieval vs raw',
  usage: "wit compare --pool SHARDS… --eval HELDOUT… [--labels FILE] --recipes recipes.json [--seeds N] --out DIR [--cells 'RECIPE/SEED'…] [--steps N] [--json]",
  flags: flagSpecs(COMPARE_OPTIONS),
  async run(flags, ctx) {
    const s = await compare({ ...optionsFromFlags(COMPARE_OPTIONS, flags), signal: ctx.signal, onLog: ctx.log, onProgress: ctx.progress });
    return { summary: s as unknown as Record<string, unknown>, text: renderTable(s, { out: s.out, missing: s.cells.missing }) };
  },
};
