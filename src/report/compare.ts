/**
 * The report's compare section (docs/ARCHITECTURE.md, "compare"): the table of `wit compare`'s
 * compare.json and a plot of zero-shot top-1 against pairs kept, one dot a seed, one ring a recipe's mean.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { comparisonVerdict, METRICS, type Comparison, type CompareTable, type MetricStats } from '../compare/table.js';
import { esc, facts, fmtNum, table } from './html.js';
import { color, dotChart, figure } from './svg.js';

const pct = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? (100 * x).toFixed(1) : '–');
const signed = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;

function meanSd(s: MetricStats): string {
  return s.mean === null ? '–' : `${pct(s.mean)} ± ${pct(s.sd)}`;
}

function comparisonCell(c: Comparison | null): string {
  if (!c) return '';
  const cls = c.verdict === 'better' ? 'good' : c.verdict === 'worse' ? 'bad' : '';
  return `<span class="num${cls ? ` ${cls}` : ''}" title="${esc(comparisonVerdict(c))}">${signed(c.mean)} [${signed(c.lo)}, ${signed(c.hi)}]</span><br><span class="note">${esc(c.verdict)}</span>`;
}

/** One compare folder: what was compared, the table, the plot. */
export async function renderCompare(dir: string): Promise<{ html: string; charts: number }> {
  const t = JSON.parse(await readFile(join(dir, 'compare.json'), 'utf8')) as CompareTable;
  const items: [string, string][] = [
    ['pool', `${fmtNum(t.pool_pairs)} pairs`], ['recipes', fmtNum(t.recipes.length)], ['seeds', fmtNum(t.seeds)],
    ['every cell', `${esc(t.arch)}, ${fmtNum(t.steps)} steps × ${fmtNum(t.batch_size)} = ${fmtNum(t.samples_per_cell)} samples`],
    ['eval', `${fmtNum(t.eval_items?.zero_shot ?? null)} images (zero-shot), ${fmtNum(t.eval_items?.retrieval ?? null)} pairs (retrieval)`],
    ['primary metric', esc(METRICS[t.primary ?? 'top1'].label)],
  ];
  if (t.tokenizer) items.push(['tokenizer', `one for every cell: ${esc(t.tokenizer.source)}, ${fmtNum(t.tokenizer.vocab_size)} ids`]);
  const ov = t.overlap as { exact?: number; near?: number; removed?: number } | null;
  if (ov) items.push(['eval images in the pool', `${fmtNum(ov.exact ?? 0)} identical, ${fmtNum(ov.near ?? 0)} near-duplicates; ${fmtNum(ov.removed ?? 0)} removed`]);
  if (t.chance_top1) items.push(['chance top-1', `${pct(t.chance_top1)}%`]);
  const primary = t.primary ?? 'top1';
  const rows = t.recipes.map((r) => [
    `<b>${esc(r.name)}</b><br><span class="note">${esc(r.description)}</span>`, `<span class="num">${fmtNum(r.pairs_kept)}</span>`, `<span class="num">${fmtNum(r.samples ?? null)}</span>`,
    `<span class="num">${r.epochs == null ? '–' : r.epochs.toFixed(1)}</span>`, `<span class="num">${r.seeds.length}</span>`,
    `<span class="num">${meanSd(r.metrics[primary])}</span>`, comparisonCell(r.vs_raw ?? null), comparisonCell(r.vs_twin ?? null), `<span class="num">${meanSd(r.metrics.top1)}</span>`, `<span class="num">${meanSd(r.metrics.top5)}</span>`,
    `<span class="num">${meanSd(r.metrics.image_to_text_r1)}</span>`, `<span class="num">${meanSd(r.metrics.text_to_image_r1)}</span>`,
  ]);
  const groups = t.recipes.filter((r) => r.seeds.length && r.pairs_kept !== null).map((r, i) => ({
    name: r.name, color: color(i),
    points: Object.values(r.metrics.top1.seeds).map((v): [number, number] => [r.pairs_kept!, 100 * v]),
    mean: [r.pairs_kept!, 100 * (r.metrics.top1.mean ?? NaN)] as [number, number],
  }));
  const chart = groups.length
    ? figure(
        dotChart({ title: 'Zero-shot top-1 vs pairs kept', groups, xLabel: 'pairs kept by the recipe', yLabel: 'top-1 %', hlines: t.chance_top1 ? [{ y: 100 * t.chance_top1, label: 'chance' }] : [] }),
        'One dot per seed; the ring is the recipe’s mean. Every cell trained on exactly the same number of samples.',
      )
    : '';
  const P = METRICS[primary].label;
  const head = ['recipe', 'pairs kept', 'samples', 'epochs', 'seeds', `${esc(P)} %`, 'Δ vs raw', 'Δ vs random twin', 'top-1 %', 'top-5 %', 'i→t R@1 %', 't→i R@1 %'];
  const n = t.intervals?.comparisons ?? 0;
  const note = `<p class="note">mean ± standard deviation over seeds; Δ: ${esc(P)} in percentage points, a paired bootstrap over seeds and eval images; intervals and verdicts Holm-corrected over the ${n} comparisons at 5 %. A random twin keeps as many pairs as its recipe, drawn at random: a recipe better than raw but not than its twin is a smaller pool, not better pairs.</p>`;
  return { html: `${facts(items)}<p class="src">${esc(dir)}</p>${table(head, rows)}${note}${chart}`, charts: groups.length ? 1 : 0 };
}
