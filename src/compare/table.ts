/**
 * The compare table (docs/ARCHITECTURE.md, "compare"): per recipe, each metric's per-seed values, mean
 * and sample standard deviation, and the paired difference to raw with its 95 % t interval (stats.ts).
 */
import type { CellResult } from './cells.js';
import type { Curation } from './curate.js';
import { describeRecipe, type Recipe } from './recipes.js';
import { mean, pairedDiff, sd, type PairedDiff } from './stats.js';

/** The metrics of the table, by name, and how to read each from a cell's result. */
export const METRICS = {
  top1: (r: CellResult) => r.top1,
  top5: (r: CellResult) => r.top5,
  image_to_text_r1: (r: CellResult) => r.image_to_text.r1,
  image_to_text_r5: (r: CellResult) => r.image_to_text.r5,
  text_to_image_r1: (r: CellResult) => r.text_to_image.r1,
  text_to_image_r5: (r: CellResult) => r.text_to_image.r5,
} as const;
export type MetricName = keyof typeof METRICS;

/** One metric of one recipe over its seeds. */
export interface MetricStats {
  /** Value per seed, by seed ("0": 0.42). */
  seeds: Record<string, number>;
  mean: number | null;
  sd: number | null;
  /** The paired difference to raw over the seeds both have (null for raw, or no common seed). */
  diff_to_raw: PairedDiff | null;
}

/** One row: a recipe. */
export interface RecipeRow {
  name: string;
  description: string;
  recipe: Recipe;
  /** Pairs the curated pool holds (null: not curated yet). */
  pairs_kept: number | null;
  /** Finished seeds. */
  seeds: number[];
  metrics: Record<MetricName, MetricStats>;
}

/** compare.json: the run's fixed compute and the rows. */
export interface CompareTable {
  pool_pairs: number;
  steps: number;
  batch_size: number;
  /** Samples every cell sees: steps x batch. */
  samples_per_cell: number;
  arch: string;
  seeds: number;
  chance_top1: number | null;
  recipes: RecipeRow[];
  /** Cells' results as measured (for plots and other statistics). */
  results: CellResult[];
}

const num = (x: number) => (Number.isFinite(x) ? x : null);

/** Builds the table from the finished cells (recipes in the given order, raw first). */
export function buildTable(recipes: readonly Recipe[], curations: ReadonlyMap<string, Curation>, results: readonly CellResult[], run: { poolPairs: number; steps: number; batchSize: number; seeds: number; arch: string }): CompareTable {
  const byRecipe = new Map<string, CellResult[]>();
  for (const r of results) byRecipe.set(r.recipe, [...(byRecipe.get(r.recipe) ?? []), r]);
  const perSeed = (name: string, m: MetricName) => new Map((byRecipe.get(name) ?? []).map((r) => [r.seed, METRICS[m](r)] as [number, number]));
  const rows = recipes.map((rec): RecipeRow => {
    const cells = (byRecipe.get(rec.name) ?? []).sort((a, b) => a.seed - b.seed);
    const metrics = {} as Record<MetricName, MetricStats>;
    for (const m of Object.keys(METRICS) as MetricName[]) {
      const vals = cells.map((c) => METRICS[m](c));
      metrics[m] = {
        seeds: Object.fromEntries(cells.map((c, i) => [String(c.seed), vals[i]!])),
        mean: num(mean(vals)),
        sd: num(sd(vals)),
        diff_to_raw: rec.name === 'raw' ? null : pairedDiff(perSeed(rec.name, m), perSeed('raw', m)),
      };
    }
    const pairs = rec.name === 'raw' ? run.poolPairs : (curations.get(rec.name)?.pairs_kept ?? cells[0]?.pairs_kept ?? null);
    return { name: rec.name, description: describeRecipe(rec), recipe: rec, pairs_kept: pairs, seeds: cells.map((c) => c.seed), metrics };
  });
  return {
    pool_pairs: run.poolPairs, steps: run.steps, batch_size: run.batchSize, samples_per_cell: run.steps * run.batchSize, arch: run.arch,
    seeds: run.seeds, chance_top1: results[0]?.chance_top1 ?? null, recipes: rows, results: [...results],
  };
}

const pct = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(d)}`);

function meanSd(s: MetricStats): string {
  return s.mean === null ? '–' : `${pct(s.mean)} ± ${pct(s.sd)}`;
}

function diff(s: MetricStats): string {
  const d = s.diff_to_raw;
  if (!d) return '';
  const sign = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;
  return d.lo === null || d.hi === null ? `${sign(d.mean)} (1 seed)` : `${sign(d.mean)} [${sign(d.lo)}, ${sign(d.hi)}]`;
}

/**
 * What a paired difference to raw says, in words: better or worse when the 95 % interval lies on one side
 * of 0, "not shown to differ" when it contains 0 (more seeds narrow it), nothing to say with one seed.
 */
export function verdict(d: PairedDiff | null): string {
  if (!d) return 'no seed in common with raw';
  if (d.lo === null || d.hi === null) return 'one seed: no interval (give --seeds 3 or more)';
  if (d.lo > 0) return `better than raw (95% interval above 0, ${d.n} seeds)`;
  if (d.hi < 0) return `worse than raw (95% interval below 0, ${d.n} seeds)`;
  return `not shown to differ from raw (95% interval contains 0, ${d.n} seeds)`;
}

/** The text table: one line a recipe, percentages, the difference to raw with its 95 % interval. */
export function renderTable(t: CompareTable, extra?: { out: string; missing: string[] }): string {
  const head = ['recipe', 'pairs', 'seeds', 'top-1 %', 'Δ top-1 [95% CI]', 'top-5 %', 'Δ top-5 [95% CI]', 'i→t R@1 %', 't→i R@1 %'];
  const rows = t.recipes.map((r) => [
    r.name, r.pairs_kept === null ? '–' : String(r.pairs_kept), String(r.seeds.length), meanSd(r.metrics.top1), diff(r.metrics.top1),
    meanSd(r.metrics.top5), diff(r.metrics.top5), meanSd(r.metrics.image_to_text_r1), meanSd(r.metrics.text_to_image_r1),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  const lines = [
    `compare: ${t.recipes.length} recipes x ${t.seeds} seeds; every cell trains ${t.arch} for ${t.steps} steps x ${t.batch_size} = ${t.samples_per_cell} samples; pool ${t.pool_pairs} pairs${t.chance_top1 ? `; chance top-1 ${pct(t.chance_top1)}%` : ''}`,
    line(head),
    ...rows.map(line),
    'mean ± sd over seeds; Δ: the paired difference to raw (same seeds), 95% t interval, percentage points',
    ...t.recipes.filter((r) => r.name !== 'raw').map((r) => `  ${r.name}: ${r.description}; top-1 ${verdict(r.metrics.top1.diff_to_raw)}`),
  ];
  if (extra?.missing.length) lines.push(`missing cells (${extra.missing.length}): ${extra.missing.slice(0, 8).join(', ')}${extra.missing.length > 8 ? ', …' : ''}; rerun to make them`);
  if (extra) lines.push(`table: ${extra.out}/compare.json`);
  return lines.join('\n') + '\n';
}
