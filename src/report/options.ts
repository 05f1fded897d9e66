import { defineOptions } from '../util/options.js';

/** Options of `wit report`, declared once (docs/ARCHITECTURE.md, "Options"). */
export const REPORT_OPTIONS = defineOptions({
  runs: {
    type: 'string[]', flag: 'run', required: true, metavar: 'DIR…',
    help: 'run directories or files (a demo folder, crawl/filter output, model dir, queries.tsv, eval.json)',
  },
  out: { type: 'string', default: 'report.html', metavar: 'FILE', help: 'HTML file to write' },
  samples: { type: 'int', default: 24, min: 0, max: 500, help: 'sample pairs shown per shard set' },
  extremes: { type: 'int', default: 12, min: 0, max: 200, help: 'highest- and lowest-scoring pairs shown for a filter run' },
  title: { type: 'string', default: 'wit report', help: 'page title' },
});
