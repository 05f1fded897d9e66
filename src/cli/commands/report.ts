import type { CommandDef } from '../command.js';
import { report } from '../../report/index.js';

export const command: CommandDef = {
  name: 'report',
  summary: 'one self-contained HTML page with the queries, crawl, shards, training, evaluation and filtering of runs',
  usage: 'wit report --run DIR… --out report.html',
  flags: {
    run: { type: 'string[]', description: 'run directories or files (a demo folder, crawl/filter output, model dir, queries.tsv, eval.json)', required: true, metavar: 'DIR…' },
    out: { type: 'string', description: 'HTML file to write', default: 'report.html', metavar: 'FILE' },
    samples: { type: 'int', description: 'sample pairs shown per shard set', default: 24, min: 0, max: 500 },
    extremes: { type: 'int', description: 'highest- and lowest-scoring pairs shown for a filter run', default: 12, min: 0, max: 200 },
    title: { type: 'string', description: 'page title', default: 'wit report' },
  },
  async run(flags, ctx) {
    const s = await report({
      runs: flags.run as string[],
      out: flags.out as string,
      samples: flags.samples as number,
      extremes: flags.extremes as number,
      title: flags.title as string,
      onProgress: ctx.progress,
    });
    const sec = Object.entries(s.sections).map(([k, v]) => `${k}${v === 'ok' ? '' : ` (${v})`}`).join(', ');
    return {
      summary: { ...s },
      text: `report: ${s.out}\n  ${(s.bytes / 1e6).toFixed(2)} MB, ${s.charts} charts, ${s.images} images; sections: ${sec}\n`,
    };
  },
};
