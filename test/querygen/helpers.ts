import { readFileSync } from 'node:fs';
import { wordTokens, isPunctuationToken } from '../../src/text/tokenize.js';
import { SPAN_BREAK, type DumpPage } from '../helpers/wiki-dump.js';

/** Reference counts computed from the generator's `visible` text (what a correct cleaner keeps). */
export function referenceCounts(pages: DumpPage[]): { uni: Map<string, number>; bi: Map<string, number>; tokens: number; articles: number } {
  const uni = new Map<string, number>();
  const bi = new Map<string, number>();
  let tokens = 0;
  let articles = 0;
  for (const p of pages) {
    if ((p.ns ?? 0) !== 0 || p.redirect !== undefined) continue;
    articles++;
    for (const line of (p.visible ?? []).flatMap((l) => l.split(SPAN_BREAK))) {
      let prev: string | null = null;
      for (const t of wordTokens(line)) {
        tokens++;
        uni.set(t, (uni.get(t) ?? 0) + 1);
        if (isPunctuationToken(t)) {
          prev = null;
          continue;
        }
        if (prev !== null) bi.set(`${prev} ${t}`, (bi.get(`${prev} ${t}`) ?? 0) + 1);
        prev = t;
      }
    }
  }
  return { uni, bi, tokens, articles };
}

/** Rows of a queries.tsv. */
export function readTsv(path: string): Array<{ query: string; source: string; count: number }> {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[0] !== 'query\tsource\tcount') throw new Error(`bad header: ${lines[0]}`);
  return lines.slice(1).filter((l) => l.length > 0).map((l) => {
    const [query, source, count] = l.split('\t');
    return { query: query!, source: source!, count: Number(count) };
  });
}
