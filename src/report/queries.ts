import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { FoundQueries } from './discover.js';
import { esc, facts, fmtNum, table } from './html.js';
import { barChart, color, figure, lineChart } from './svg.js';

interface QueryRow {
  query: string;
  source: string;
  count: number;
}

/** Keeps the n rows with the largest (or smallest) count, in order. */
class TopN {
  readonly rows: QueryRow[] = [];
  constructor(private readonly n: number, private readonly largest: boolean) {}
  add(r: QueryRow): void {
    const better = (a: QueryRow, b: QueryRow) => (this.largest ? a.count > b.count : a.count < b.count);
    if (this.rows.length === this.n && !better(r, this.rows[this.rows.length - 1]!)) return;
    let i = this.rows.length;
    while (i > 0 && better(r, this.rows[i - 1]!)) i--;
    this.rows.splice(i, 0, r);
    if (this.rows.length > this.n) this.rows.pop();
  }
}

/** What the query section shows, computed in one streaming pass over queries.tsv. */
export interface QueryStats {
  file: string;
  total: number;
  bySource: Map<string, number>;
  top: QueryRow[];
  /** The lowest counts of each source (a source's tail is where its threshold shows). */
  tail: QueryRow[];
  /** Per source, counts sorted descending, sampled to at most 400 points (rank-frequency curve). */
  curves: Map<string, [number, number][]>;
  summary?: Record<string, unknown>;
  badLines: number;
}

/** Reads a query list (streamed; memory holds the counts only) and its summary JSON. */
export async function queryStats(q: FoundQueries, n = 15): Promise<QueryStats> {
  const bySource = new Map<string, number>();
  const counts = new Map<string, number[]>();
  const top = new TopN(n, true);
  const tails = new Map<string, TopN>();
  let total = 0;
  let badLines = 0;
  const rl = createInterface({ input: createReadStream(q.tsv), crlfDelay: Infinity });
  let header = true;
  for await (const line of rl) {
    if (header) {
      header = false;
      continue;
    }
    if (!line) continue;
    const [query, source, c] = line.split('\t');
    const count = Number(c);
    if (query === undefined || source === undefined || !Number.isFinite(count)) {
      badLines++;
      continue;
    }
    total++;
    bySource.set(source, (bySource.get(source) ?? 0) + 1);
    let list = counts.get(source);
    if (!list) counts.set(source, (list = []));
    list.push(count);
    const row = { query, source, count };
    top.add(row);
    let t = tails.get(source);
    if (!t) tails.set(source, (t = new TopN(5, false)));
    t.add(row);
  }
  const curves = new Map<string, [number, number][]>();
  for (const [source, list] of counts) {
    list.sort((a, b) => b - a);
    const step = Math.max(1, list.length / 400);
    const pts: [number, number][] = [];
    for (let i = 0; i < list.length; i = Math.floor(i + step) === i ? i + 1 : Math.floor(i + step)) pts.push([i + 1, list[i]!]);
    pts.push([list.length, list[list.length - 1]!]);
    curves.set(source, pts);
  }
  let summary: Record<string, unknown> | undefined;
  if (q.summary) {
    try {
      summary = JSON.parse(await readFile(q.summary, 'utf8')) as Record<string, unknown>;
    } catch {
      summary = undefined;
    }
  }
  const tail = [...tails.keys()].sort((a, b) => (SOURCE_ORDER.indexOf(a) + 1 || 99) - (SOURCE_ORDER.indexOf(b) + 1 || 99)).flatMap((src) => tails.get(src)!.rows);
  return { file: q.tsv, total, bySource, top: top.rows, tail, curves, summary, badLines };
}

const SOURCE_ORDER = ['wordnet', 'unigram', 'bigram', 'title'];

/** The query section's HTML; the number of charts it drew is returned too. */
export function renderQueries(s: QueryStats): string {
  const sources = [...s.bySource.keys()].sort((a, b) => (SOURCE_ORDER.indexOf(a) + 1 || 99) - (SOURCE_ORDER.indexOf(b) + 1 || 99));
  const sum = s.summary ?? {};
  const items: [string, string][] = [['queries', fmtNum(s.total)]];
  for (const k of ['tokens', 'articles', 'seconds']) if (typeof sum[k] === 'number') items.push([k, fmtNum(sum[k])]);
  if (s.badLines) items.push(['unreadable lines', fmtNum(s.badLines)]);
  const bars = barChart({ title: 'Queries per source', bars: sources.map((src, i) => ({ label: src, value: s.bySource.get(src)!, color: color(i) })) });
  const curve = lineChart({
    title: 'Count in Wikipedia by rank, per source (log-log)',
    series: sources.filter((src) => s.curves.get(src)!.some(([, y]) => y > 0)).map((src) => ({ name: src, points: s.curves.get(src)!, color: color(sources.indexOf(src)) })),
    logX: true,
    logY: true,
    xLabel: 'rank within source',
    yLabel: 'count',
  });
  const row = (r: QueryRow) => [esc(r.query), esc(r.source), `<span class="num">${fmtNum(r.count)}</span>`];
  return `${facts(items)}
<p class="src">${esc(s.file)}</p>
<div class="grid2">${figure(bars)}${figure(curve, 'Count: occurrences in the dump (unigram, bigram), summed pageviews (title), or as listed for WordNet entries.')}</div>
<div class="grid2"><div><h3>Top queries by count</h3>${table(['query', 'source', 'count'], s.top.map(row))}</div>
<div><h3>Tail: lowest counts of each source</h3>${table(['query', 'source', 'count'], s.tail.map(row))}</div></div>`;
}
