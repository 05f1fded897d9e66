import { mkdir, readFile } from 'node:fs/promises';
import { SERVE_OPTIONS } from '../search/serve.js';
import { defaultOf } from '../util/options.js';
import { writeFileAtomic } from '../util/atomic.js';
import { basename, dirname, join, resolve } from 'node:path';
import { discoverRuns, type RunInventory } from './discover.js';
import { esc, STYLE } from './html.js';
import { queryStats, renderQueries } from './queries.js';
import { scanShards } from './scan.js';
import { renderCrawl, renderEval, renderFilter, renderShards, renderTraining } from './sections.js';
import { UsageError, WitError, errorMessage } from '../util/errors.js';

export { discoverRuns, type RunInventory } from './discover.js';
export { esc } from './html.js';

/** Options of `wit report`. */
export interface ReportOptions {
  /** Run directories (or files): a demo folder, a crawl output, a model dir, queries.tsv, … */
  runs: string[];
  /** The HTML file to write. */
  out: string;
  /** Sample pairs shown per shard set (default 24). */
  samples?: number;
  /** Highest/lowest-similarity pairs shown for a filter run (default 12). */
  extremes?: number;
  /** Page title (default "wit report"). */
  title?: string;
  /** A line per section as it is built. */
  onProgress?: (line: string) => void;
}

/** What was written. */
export interface ReportSummary {
  out: string;
  bytes: number;
  /** Sections with data, and those that said "no data". */
  sections: Record<string, 'ok' | 'empty' | 'error'>;
  /** Inline SVG charts drawn. */
  charts: number;
  /** Sample images embedded. */
  images: number;
  zeroShot?: { top1: number; top5: number; classes: number };
  seconds: number;
}

interface Section {
  id: string;
  title: string;
  html: string;
  state: 'ok' | 'empty' | 'error';
}

/**
 * The embedding indexes of the runs: what each holds, the command that serves its search page and a
 * link to that page (live only while `wit serve` runs: the report itself stays static and offline).
 */
async function renderIndexes(dirs: string[]): Promise<string> {
  const parts: string[] = [];
  for (const dir of dirs) {
    const meta = JSON.parse(await readFile(join(dir, 'wit-index.json'), 'utf8')) as { model?: string; embed_dim?: number; dtype?: string; ann?: { kind?: string; rows?: number } | null; finished?: Record<string, { rows: number }> };
    const rows = Object.values(meta.finished ?? {}).reduce((a, f) => a + f.rows, 0);
    const url = `http://127.0.0.1:${defaultOf(SERVE_OPTIONS, 'port')}/`;
    parts.push(
      `<p>${rows} pairs embedded by <code>${esc(meta.model ?? '?')}</code> (${meta.embed_dim}-d ${esc(meta.dtype ?? '')}, ${meta.ann?.kind === 'none' || !meta.ann ? 'exact search' : esc(meta.ann.kind ?? '')}) in <code>${esc(dir)}</code>.</p>` +
        `<p>Search them by text or by image: run <code>wit serve --index ${esc(dir)}</code>, then open <a href="${url}">${url}</a>; or <code>wit search --index ${esc(dir)} "a red apple"</code> in a terminal.</p>`,
    );
  }
  return parts.join('<hr>');
}

function empty(what: string): string {
  return `<p class="empty">No ${what} found in the runs given.</p>`;
}

/**
 * Writes one self-contained HTML report of the runs: the query list, the crawl, the shards,
 * training, evaluation and filtering, each found by looking at what the run paths hold. Charts are
 * inline SVG, images are downscaled data: URIs, styles are inline: the file needs no network and
 * no script. Sections without data say so; a section whose files are unreadable says why and the
 * rest is still written. Written to a temporary name and renamed when complete.
 * Yields a ReportSummary; throws UsageError when a run path does not exist or nothing at all is
 * found, WitError when the output cannot be written.
 */
export async function report(opts: ReportOptions): Promise<ReportSummary> {
  const t0 = performance.now();
  if (!opts.runs?.length) throw new UsageError('report', 'no run directories given (--run DIR…)');
  if (!opts.out) throw new UsageError('report', 'no output file given (--out report.html)');
  const inv = await discoverRuns(opts.runs);
  if (!inv.queries.length && !inv.shards.length && !inv.models.length && !inv.evals.length) {
    throw new UsageError('report', `nothing to report in ${opts.runs.join(', ')}: no queries.tsv, shards, model or eval results found`);
  }
  const progress = opts.onProgress ?? (() => undefined);
  const sections: Section[] = [];
  let zeroShot: ReportSummary['zeroShot'];
  const guard = async (id: string, title: string, build: () => Promise<{ html: string; state?: Section['state'] }>) => {
    progress(`report: ${title.toLowerCase()}`);
    try {
      const r = await build();
      sections.push({ id, title, html: r.html, state: r.state ?? 'ok' });
    } catch (err) {
      sections.push({ id, title, html: `<p class="empty">Could not read this part of the run: ${esc(errorMessage(err))}</p>`, state: 'error' });
    }
  };

  await guard('queries', 'Queries', async () => {
    if (!inv.queries.length) return { html: empty('query list (queries.tsv)'), state: 'empty' };
    const parts: string[] = [];
    for (const q of inv.queries) {
      const s = await queryStats(q);
      parts.push(renderQueries(s));
    }
    return { html: parts.join('<hr>') };
  });

  const crawls = inv.shards.filter((s) => s.stage === 'crawl');
  const filters = inv.shards.filter((s) => s.stage === 'filter');
  const scans = new Map<string, Awaited<ReturnType<typeof scanShards>>>();
  const scanOf = async (dir: string, isFilter: boolean) => {
    let s = scans.get(dir);
    if (!s) {
      s = await scanShards(dir, { samples: opts.samples ?? 24, extremes: isFilter ? opts.extremes ?? 12 : 0 });
      scans.set(dir, s);
    }
    return s;
  };

  await guard('crawl', 'Crawl', async () => {
    if (!crawls.length) return { html: empty('crawl run (a shard directory whose manifest.json says stage "crawl")'), state: 'empty' };
    const parts: string[] = [];
    for (const c of crawls) {
      const r = await renderCrawl(c, await scanOf(c.dir, false));
      parts.push(r.html);
    }
    return { html: parts.join('<hr>') };
  });

  await guard('shards', 'Shards', async () => {
    if (!inv.shards.length) return { html: empty('shards'), state: 'empty' };
    const parts: string[] = [];
    for (const s of inv.shards) {
      const r = await renderShards(s, await scanOf(s.dir, s.stage === 'filter'));
      parts.push(`<h3>${esc(basename(s.dir))} <span class="note">(${esc(s.stage)})</span></h3>${r.html}`);
    }
    return { html: parts.join('<hr>') };
  });

  await guard('training', 'Training', async () => {
    if (!inv.models.length) return { html: empty('model directory (metrics.jsonl)'), state: 'empty' };
    const parts: string[] = [];
    for (const m of inv.models) {
      const r = await renderTraining(m);
      parts.push(r.html);
    }
    return { html: parts.join('<hr>') };
  });

  await guard('eval', 'Evaluation', async () => {
    if (!inv.evals.length) return { html: empty('evaluation results (eval.json)'), state: 'empty' };
    const parts: string[] = [];
    for (const e of inv.evals) {
      const r = await renderEval(e);
      zeroShot ??= r.zeroShot;
      parts.push(r.html);
    }
    return { html: parts.join('<hr>') };
  });

  await guard('filter', 'Filtering', async () => {
    if (!filters.length) return { html: empty('filter run (a shard directory whose manifest.json says stage "filter")'), state: 'empty' };
    const parts: string[] = [];
    for (const f of filters) {
      const r = await renderFilter(f, await scanOf(f.dir, true));
      parts.push(r.html);
    }
    return { html: parts.join('<hr>') };
  });

  if (inv.indexes.length) await guard('search', 'Search', async () => ({ html: await renderIndexes(inv.indexes) }));

  const title = opts.title ?? 'wit report';
  const created = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const toc = sections.map((s) => `<a href="#${s.id}">${esc(s.title)}${s.state === 'ok' ? '' : ' (none)'}</a>`).join('');
  const body = sections.map((s) => `<section id="${s.id}"><h2>${esc(s.title)}</h2>\n${s.html}\n</section>`).join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>${STYLE}</style></head>
<body>
<header class="top"><h1>${esc(title)}</h1><p>${esc(opts.runs.map((r) => resolve(r)).join(', '))} · ${esc(created)}</p></header>
<nav class="toc">${toc}</nav>
<main>
${body}
</main>
</body></html>
`;
  const out = resolve(opts.out);
  try {
    await mkdir(dirname(out), { recursive: true });
    await writeFileAtomic(out, html);
  } catch (err) {
    // A wit error or a file-system error (with code and path) already says what is wrong; the CLI
    // prints either as one line with exit 2 (README.md, "Exit codes and errors").
    if (err instanceof WitError || typeof (err as NodeJS.ErrnoException).code === 'string') throw err;
    throw new WitError('report', `cannot write the report: ${errorMessage(err)}`, { file: out, cause: err });
  }
  const images = (html.match(/<img src="data:/g) ?? []).length;
  return {
    out,
    bytes: Buffer.byteLength(html),
    sections: Object.fromEntries(sections.map((s) => [s.id, s.state])),
    charts: (html.match(/<svg class="chart"/g) ?? []).length,
    images,
    zeroShot,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The inventory type, for callers that want to know what a run holds before reporting. */
export type { RunInventory as ReportInventory };
