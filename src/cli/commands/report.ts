import type { CommandDef } from '../command.js';
import { report, REPORT_OPTIONS } from '../../report/index.js';
import { flagSpecs, optionsFromFlags } from '../../util/options.js';

export const command: CommandDef = {
  name: 'report',
  summary: 'one self-contained HTML page with the queries, crawl, shards, training, evaluation and filtering of runs',
  usage: 'wit report --run DIR… --out report.html',
  flags: flagSpecs(REPORT_OPTIONS),
  async run(flags, ctx) {
    const s = await report({ ...optionsFromFlags(REPORT_OPTIONS, flags), onProgress: ctx.progress });
    const sec = Object.entries(s.sections).map(([k, v]) => `${k}${v === 'ok' ? '' : ` (${v})`}`).join(', ');
    return {
      summary: { ...s },
      text: `report: ${s.out}\n  ${(s.bytes / 1e6).toFixed(2)} MB, ${s.charts} charts, ${s.images} images; sections: ${sec}\n`,
    };
  },
};
