import type { CommandDef } from '../command.js';
import { report, REPORT_OPTIONS } from '../../report/index.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';

export const command: CommandDef = {
  name: 'report',
  summary: 'one self-contained HTML page with the queries, crawl, shards, training, evaluation and filtering of runs',
  usage: 'wit report --run DIR… --out report.html',
  flags: groupFlags(flagSpecs(REPORT_OPTIONS), { input: ['run'], output: ['out', 'title', 'samples', 'extremes'] }),
  examples: [
    { what: 'the page about everything the demo wrote', cmd: 'wit report --run data/demo --out report.html' },
    { what: 'one page about a crawl, its filtering, a model and the query list', cmd: "wit report --run shards/ filtered/ model/ queries.tsv --out report.html --title 'first crawl'" },
  ],
  async run(flags, ctx) {
    const s = await report({ ...optionsFromFlags(REPORT_OPTIONS, flags), onProgress: ctx.progress });
    const sec = Object.entries(s.sections).map(([k, v]) => `${k}${v === 'ok' ? '' : ` (${v})`}`).join(', ');
    return {
      summary: { ...s },
      text: `report: ${s.out}\n  ${(s.bytes / 1e6).toFixed(2)} MB, ${s.charts} charts, ${s.images} images; sections: ${sec}\n`,
    };
  },
};
