import type { CommandDef } from '../command.js';
import { search, SEARCH_OPTIONS, type SearchSummary } from '../../search/index.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';

function cut(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** The results as a table. */
export function renderSearchResults(s: SearchSummary): string {
  const head = `${s.query.text !== null ? `"${s.query.text}"` : s.query.image}: ${s.results.length} results\n`;
  const rows = s.results.map((r) => `${String(r.rank).padStart(4)}  ${r.similarity.toFixed(4)}  ${cut(r.key, 16).padEnd(16)}  ${cut(r.caption, 40).padEnd(40)}  ${cut(r.queries.join(', '), 24).padEnd(24)}  ${r.url}`);
  return `${head}${'rank'.padStart(4)}  similarity  ${'key'.padEnd(16)}  ${'caption'.padEnd(40)}  ${'queries'.padEnd(24)}  url\n${rows.join('\n')}\n`.replace('similarity  key', 'sim     key');
}

export const command: CommandDef = {
  name: 'search',
  summary: 'the pairs of an index closest to a text (text to image) or to an image (--image FILE)',
  usage: 'wit search --index INDEX "a red apple" | --image FILE [--k N]',
  flags: groupFlags(flagSpecs(SEARCH_OPTIONS), {
    query: ['text', 'image', 'k'],
    input: ['index', 'model'],
    performance: ['backend', 'device'],
  }),
  examples: [
    { what: 'the ten pairs whose images are closest to a text', cmd: 'wit search --index index/ "a red apple"' },
    { what: 'the twenty closest to an image', cmd: 'wit search --index index/ --image cat.jpg --k 20' },
    { what: 'as JSON, for a script', cmd: 'wit search --index index/ --json "a dog on a beach"' },
  ],
  async run(flags) {
    const summary = await search(optionsFromFlags(SEARCH_OPTIONS, flags));
    return { summary: summary as unknown as Record<string, unknown>, text: renderSearchResults(summary) };
  },
};
