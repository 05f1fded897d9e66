import { mkdir, readFile } from 'node:fs/promises';
import { SERVE_OPTIONS } from '../search/serve.js';
import { writeFileAtomic } from '../util/atomic.js';
import { basename, dirname, join, resolve } from 'node:path';
import { discoverRuns, type RunInventory } from './discover.js';
import { esc, STYLE } from './html.js';
import { queryStats, renderQueries } from './queries.js';
import { scanShards } from './scan.js';
import { renderCompare } from './compare.js';
import { renderCrawl, renderEval, renderFilter, renderShards, renderTraining } from './sections.js';
import { InputError, UsageError, WitError, errorMessage } from '../util/errors.js';
import { ItemError, problemOf, type InputProblem } from './problems.js';
import { claimOutput, type OutputClaim } from '../util/output.js';
import { defaultOf, resolveOptions, type OptionsInput } from '../util/options.js';
import { REPORT_OPTIONS } from './options.js';
import { VERSION } from '../util/version.js';

export { discoverRuns, type RunInventory } from './discover.js';
export { esc } from './html.js';
export { REPORT_OPTIONS } from './options.js';

/** Options of {@link report}: the schema's options, plus a progress line per section. */
export type ReportOptions = OptionsInput<typeof REPORT_OPTIONS> & {
  /** A line per section as it is built. */
  onProgress?: (line: string) => void;
};

/** What was written (`wit report --json`; README.md, "report"). */
export interface ReportSummary {
  out: string;
  bytes: number;
  /** Sections with data, and those that said "no data". */
  sections: Record<string, 'ok' | 'empty' | 'error'>;
  /** Inline SVG charts drawn. */
  charts: number;
  /** Sample images embedded. */
  images: number;
  /** The first evaluation's zero-shot numbers, when a run has one. */
  zero_shot?: ZeroShot;
  seconds: number;
}

type ZeroShot = { top1: number; top5: number; classes: number };

interface Section {
  id: string;
  title: string;
  html: string;
  state: 'ok' | 'empty' | 'error';
}

/**
 * An embedding index of the runs: what it holds, the command that serves its search page and a
 * link to that page (live only while `wit serve` runs: the report itself stays static and offline).
 */
async function renderIndex(dir: string): Promise<string> {
  const meta = JSON.parse(await readFile(join(dir, 'wit-index.json'), 'utf8')) as { model?: string; embed_dim?: number; dtype?: string; ann?: { kind?: string; rows?: number } | null; finished?: Record<string, { rows: number }> };
  const rows = Object.values(meta.finished ?? {}).reduce((a, f) => a + f.rows, 0);
  const url = `http://127.0.0.1:${defaultOf(SERVE_OPTIONS, 'port')}/`;
  return (
    `<p>${rows} pairs embedded by <code>${esc(meta.model ?? '?')}</code> (${meta.embed_dim}-d ${esc(meta.dtype ?? '')}, ${meta.ann?.kind === 'none' || !meta.ann ? 'exact search' : esc(meta.ann.kind ?? '')}) in <code>${esc(dir)}</code>.</p>` +
    `<p>Search them by text or by image: run <code>wit serve --index ${esc(dir)}</code>, then open <a href="${url}">${url}</a>; or <code>wit search --index ${esc(dir)} "a red apple"</code> in a terminal.</p>`
  );
}

function empty(what: string): string {
  return `<p class="empty">No ${what} found in the runs given.</p>`;
}

/**
 * What one section made: its HTML, whether it had data, the zero-shot numbers of an evaluation, and
 * the inputs it could not read but still drew around (a model whose weights are damaged).
 */
type SectionBody = { html: string; state?: Section['state']; zeroShot?: ZeroShot; problems?: InputProblem[] };

/** What the sections are built from: the inventory, and each shard set scanned once. */
interface ReportInputs {
  inv: RunInventory;
  crawls: ShardRun[];
  filters: ShardRun[];
  scan: (dir: string, isFilter: boolean) => ReturnType<typeof scanShards>;
}

type ShardRun = RunInventory['shards'][number];

/**
 * Renders each item with `render` and joins them; the "no data" text when there is none. An item
 * that throws fails the section, its error carrying the item's path (`where`) for the exit line.
 */
async function eachOf<T>(items: readonly T[], none: string, where: (item: T) => string, render: (item: T) => Promise<string | { html: string; problems?: InputProblem[] }>): Promise<SectionBody> {
  if (!items.length) return { html: empty(none), state: 'empty' };
  const parts: string[] = [];
  const problems: InputProblem[] = [];
  for (const item of items) {
    let r: Awaited<ReturnType<typeof render>>;
    try {
      r = await render(item);
    } catch (err) {
      throw new ItemError(where(item), err);
    }
    parts.push(typeof r === 'string' ? r : r.html);
    if (typeof r !== 'string' && r.problems) problems.push(...r.problems);
  }
  return { html: parts.join('<hr>'), problems };
}

/** The sections of a report, in page order; `when` leaves a section out entirely (no "none" entry). */
const SECTIONS: { id: string; title: string; when?: (inputs: ReportInputs) => boolean; build: (inputs: ReportInputs) => Promise<SectionBody> }[] = [
  {
    id: 'queries', title: 'Queries',
    build: ({ inv }) => eachOf(inv.queries, 'query list (queries.tsv)', (q) => q.tsv, async (q) => renderQueries(await queryStats(q))),
  },
  {
    id: 'crawl', title: 'Crawl',
    build: ({ crawls, scan }) => eachOf(crawls, 'crawl run (a shard directory whose manifest.json says stage "crawl")', (c) => c.dir, async (c) => renderCrawl(c, await scan(c.dir, false))),
  },
  {
    id: 'shards', title: 'Shards',
    build: ({ inv, scan }) =>
      eachOf(inv.shards, 'shards', (s) => s.dir, async (s) => {
        const r = await renderShards(s, await scan(s.dir, s.stage === 'filter'));
        return `<h3>${esc(basename(s.dir))} <span class="note">(${esc(s.stage)})</span></h3>${r.html}`;
      }),
  },
  {
    id: 'training', title: 'Training',
    // each run under its own heading (the demo has two: the model and compare's scorer)
    build: ({ inv }) => eachOf(inv.models, 'model directory (metrics.jsonl)', (m) => m.dir, async (m) => {
      const r = await renderTraining(m);
      return { ...r, html: `<h3>${esc(basename(m.dir))} <span class="note">(${esc(m.dir)})</span></h3>${r.html}` };
    }),
  },
  {
    id: 'eval', title: 'Evaluation',
    build: async ({ inv }) => {
      let zeroShot: ZeroShot | undefined;
      const body = await eachOf(inv.evals, 'evaluation results (eval.json)', (e) => e, async (e) => {
        const r = await renderEval(e);
        zeroShot ??= r.zeroShot;
        return r;
      });
      return { ...body, zeroShot };
    },
  },
  {
    id: 'filter', title: 'Filtering',
    build: ({ filters, scan }) => eachOf(filters, 'filter run (a shard directory whose manifest.json says stage "filter")', (f) => f.dir, async (f) => renderFilter(f, await scan(f.dir, true))),
  },
  { id: 'compare', title: 'Does the curation help? (wit compare)', when: ({ inv }) => inv.compares.length > 0, build: ({ inv }) => eachOf(inv.compares, 'compare run', (d) => d, async (d) => (await renderCompare(d)).html) },
  { id: 'search', title: 'Search', when: ({ inv }) => inv.indexes.length > 0, build: ({ inv }) => eachOf(inv.indexes, 'index', (d) => d, renderIndex) },
];

/** The runs' inventory; UsageError when a path is missing or holds nothing to report. */
async function findRuns(runs: string[]): Promise<RunInventory> {
  const inv = await discoverRuns(runs);
  if (!inv.queries.length && !inv.shards.length && !inv.models.length && !inv.evals.length && !inv.compares.length) {
    throw new UsageError('report', `nothing to report in ${runs.join(', ')}: no queries.tsv, shards, model or eval results found`);
  }
  return inv;
}

/** Builds every section; one whose files are unreadable says why and the others are still built. */
async function buildSections(inv: RunInventory, opts: { samples: number; extremes: number }, progress: (line: string) => void): Promise<{ sections: Section[]; zeroShot?: ZeroShot; problems: InputProblem[] }> {
  const scans = new Map<string, ReturnType<typeof scanShards>>();
  const inputs: ReportInputs = {
    inv,
    crawls: inv.shards.filter((s) => s.stage === 'crawl'),
    filters: inv.shards.filter((s) => s.stage === 'filter'),
    scan: (dir, isFilter) => {
      let scanned = scans.get(dir);
      if (!scanned) {
        scanned = scanShards(dir, { samples: opts.samples, extremes: isFilter ? opts.extremes : 0 });
        scans.set(dir, scanned);
      }
      return scanned;
    },
  };
  const sections: Section[] = [];
  const problems: InputProblem[] = [];
  let zeroShot: ZeroShot | undefined;
  for (const { id, title, when, build } of SECTIONS) {
    if (when && !when(inputs)) continue;
    progress(`report: ${title.toLowerCase()}`);
    try {
      const body = await build(inputs);
      zeroShot ??= body.zeroShot;
      problems.push(...(body.problems ?? []));
      sections.push({ id, title, html: body.html, state: body.state ?? 'ok' });
    } catch (err) {
      const p = err instanceof ItemError ? problemOf(err.error, err.where) : problemOf(err, inv.indexes[0] ?? '');
      problems.push(p);
      sections.push({ id, title, html: `<p class="empty">Could not read this part of the run: ${esc(`${p.file}: ${p.message}`)}</p>`, state: 'error' });
    }
  }
  return { sections, zeroShot, problems };
}

/** The whole page: header, table of contents, sections. */
function renderPage(title: string, runs: string[], sections: Section[]): string {
  const created = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const toc = sections.map((s) => `<a href="#${s.id}">${esc(s.title)}${s.state === 'ok' ? '' : ' (none)'}</a>`).join('');
  const body = sections.map((s) => `<section id="${s.id}"><h2>${esc(s.title)}</h2>\n${s.html}\n</section>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="generator" content="wit ${esc(VERSION)} report">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>${STYLE}</style></head>
<body>
<header class="top"><h1>${esc(title)}</h1><p>${esc(runs.map((r) => resolve(r)).join(', '))} · ${esc(created)}</p></header>
<nav class="toc">${toc}</nav>
<main>
${body}
</main>
</body></html>
`;
}

/** Writes the page to a temporary name and renames it when complete; returns the absolute path. */
async function writeReport(file: string, html: string): Promise<string> {
  const out = resolve(file);
  try {
    await mkdir(dirname(out), { recursive: true });
    await writeFileAtomic(out, html);
  } catch (err) {
    // A wit error or a file-system error (with code and path) already says what is wrong; the CLI
    // prints either as one line with exit 2 (README.md, "Exit codes and errors").
    if (err instanceof WitError || typeof (err as NodeJS.ErrnoException).code === 'string') throw err;
    throw new WitError('report', `cannot write the report: ${errorMessage(err)}`, { file: out, cause: err });
  }
  return out;
}

/**
 * Writes one self-contained HTML report of the runs: the query list, the crawl, the shards,
 * training, evaluation and filtering, each found by looking at what the run paths hold. Charts are
 * inline SVG, images are downscaled data: URIs, styles are inline: the file needs no network and
 * no script. Sections without data say so; a section whose files are unreadable says why and the
 * rest is still written. Written to a temporary name and renamed when complete.
 * Yields a ReportSummary; throws UsageError for bad options, when a run path does not exist or nothing
 * at all is found, WitError when the output cannot be written.
 */
export async function report(input: ReportOptions): Promise<ReportSummary> {
  const t0 = performance.now();
  const opts = resolveReport(input);
  const claim = await claimOutput(opts.out, { command: 'report', kind: 'file', inputs: opts.runs });
  try {
    return await writeWholeReport(opts, claim, t0);
  } finally {
    await claim.release();
  }
}

type ResolvedReport = ReturnType<typeof resolveReport>;
const resolveReport = (input: ReportOptions) => resolveOptions('report', REPORT_OPTIONS, input);

async function writeWholeReport(opts: ResolvedReport, claim: OutputClaim, t0: number): Promise<ReportSummary> {
  const inv = await findRuns(opts.runs);
  const { sections, zeroShot, problems } = await buildSections(inv, opts, opts.onProgress ?? (() => undefined));
  const html = renderPage(opts.title, opts.runs, sections);
  await claim.create();
  const out = await writeReport(opts.out, html);
  // The page is written, the problems in their sections; the run still fails (exit 2) when an
  // input could not be read, so a script that makes the report notices.
  const first = problems[0];
  if (first) {
    const more = problems.length > 1 ? `; ${problems.length - 1} more input${problems.length > 2 ? 's' : ''} could not be read` : '';
    throw new InputError('report', first.file, `${first.message}${more} (the page was written to ${out}, with what could be read)`);
  }
  return {
    out,
    bytes: Buffer.byteLength(html),
    sections: Object.fromEntries(sections.map((s) => [s.id, s.state])),
    charts: (html.match(/<svg class="chart"/g) ?? []).length,
    images: (html.match(/<img src="data:/g) ?? []).length,
    zero_shot: zeroShot,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The inventory type, for callers that want to know what a run holds before reporting. */
export type { RunInventory as ReportInventory };
