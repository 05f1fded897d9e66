/**
 * Reading the query list: `queries.tsv` as `wit querygen` writes it (header `query\tsource\tcount`),
 * or a plain text file with one query a line. Either may be gzipped.
 */
import { InputError } from '../util/errors.js';
import { openBytes, splitLines } from './sources/open.js';

const HEADER = ['query', 'source', 'count'];

/**
 * Reads queries.tsv (header `query\tsource\tcount`) or a plain text file (one query a line).
 * Returns the queries in file order, surrounding whitespace trimmed, empty lines and exact
 * duplicates dropped (the first occurrence keeps its place, so ids are stable). Throws InputError
 * naming the file and line for a missing file, a malformed TSV line, a tab in a plain list or an
 * empty list.
 */
export async function loadQueries(path: string): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  let tsv: boolean | null = null;
  for await (const line of splitLines(openBytes(path), 1024 * 1024)) {
    if (line.tooLong) throw new InputError('crawl', path, `line ${line.no}: longer than 1 MiB, not a query list`);
    let text = line.text;
    if (line.no === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (tsv === null) {
      const cols = text.split('\t');
      if (cols.length >= 2 && cols[0]!.trim() === HEADER[0]) {
        if (cols.length !== 3 || cols.some((c, i) => c.trim() !== HEADER[i])) {
          throw new InputError('crawl', path, `line ${line.no}: queries.tsv header must be "query\\tsource\\tcount", got ${JSON.stringify(text.slice(0, 100))}`);
        }
        tsv = true;
        continue;
      }
      tsv = false;
    }
    let query: string;
    if (tsv) {
      if (!text.trim()) continue;
      const cols = text.split('\t');
      if (cols.length !== 3) {
        throw new InputError('crawl', path, `line ${line.no}: expected 3 tab-separated fields (query, source, count), got ${cols.length}`);
      }
      if (!/^\s*\d+\s*$/.test(cols[2]!)) {
        throw new InputError('crawl', path, `line ${line.no}: count must be a non-negative integer, got ${JSON.stringify(cols[2]!.slice(0, 40))}`);
      }
      query = cols[0]!.trim();
      if (!query) throw new InputError('crawl', path, `line ${line.no}: empty query`);
    } else {
      if (text.includes('\t')) {
        throw new InputError('crawl', path, `line ${line.no}: tab in a plain query list (a queries.tsv starts with the header "query\\tsource\\tcount")`);
      }
      query = text.trim();
      if (!query) continue;
    }
    if (seen.has(query)) continue;
    seen.add(query);
    out.push(query);
  }
  if (out.length === 0) throw new InputError('crawl', path, 'no queries in the file');
  return out;
}
