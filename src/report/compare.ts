/**
 * The report's compare section (docs/ARCHITECTURE.md, "compare"): the table of `wit compare`'s
 * compare.json and a plot of zero-shot top-1 against pairs kept, one dot a seed, one ring a recipe's mean.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verdict, type CompareTable, type MetricStats } from '../compare/table.js';
import { esc, facts, fmtNum, table } from './html.js';
import { color, dotChart, figure } from './svg.js';

const pct = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? (100 * x).toFixed(1) : '–');
const signed = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;

function meanSd(s: MetricStats): string {
  return s.mean === null ? '–' : `${pct(s.mean)} ± ${pct(s.sd)}`;
}

function diffCell(s: MetricStats): string {
  const d = s.diff_to_raw;
  if (!d) return '';
  const ci = d.lo === null || d.hi === null ? ' (1 seed)' : ` [${signed(d.lo)}, ${signed(d.hi)}]`;
  const cls = d.lo !== null && d.lo > 0 ? 'good' : d.hi !== null && d.hi < 0 ? 'bad' : '';
  return `<span class="num${cls ? ` ${cls}` : ''}" title="${esc(verdict(d))}">${signed(d.mean)}${ci}</span><br><span class="note">${esc(verdict(d).replace(/ \(.*$/, ''))}</span>`;
}

/** One compare folder: what was compared, the table, the plot. */
export async function renderCompare(dir: string): Promise<{ html: string; charts: number }> {
  const t = JSON.parse(await readFile(join(dir, 'compare.json'), 'utf8')) as CompareTable;
  const items: [string, string][] = [
    ['pool', `${fmtNum(t.pool_pairs)} pairs`], ['recipes', fmtNum(t.recipes.length)], ['seeds', fmtNum(t.seeds)],
    ['every cell', `${esc(t.arch)}, ${fmtNum(t.steps)} steps × ${fmtNum(t.batch_size)} = ${fmtNum(t.samples_per_cell)} samples`],
  ];
  if (t.chance_top1) items.push(['chance top-1', `${pct(t.chance_top1)}%`]);
  const rows = t.recipes.map((r) => [
    `<b>${esc(r.name)}</b><br><span class="note">${esc(r.description)}</span>`, `<span class="num">${fmtNum(r.pairs_kept)}</span>`, `<span class="num">${r.seeds.length}</span>`,
    `<span class="num">${meanSd(r.metrics.top1)}</span>`, diffCell(r.metrics.top1), `<span class="num">${meanSd(r.metrics.top5)}</span>`, diffCell(r.metrics.top5),
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
        'One dot per seed; the ring is the recipe’s mean. Every recipe trained the same number of samples.',
      )
    : '';
  const head = ['recipe', 'pairs kept', 'seeds', 'top-1 %', 'Δ top-1 vs raw [95% CI]', 'top-5 %', 'Δ top-5 vs raw', 'i→t R@1 %', 't→i R@1 %'];
  const note = '<p class="note">mean ± standard deviation over seeds; Δ: the paired difference to raw over the same seeds with its 95 % t interval, in percentage points.</p>';
  return { html: `${facts(items)}<p class="src">${esc(dir)}</p>${table(head, rows)}${note}${chart}`, charts: groups.length ? 1 : 0 };
}
