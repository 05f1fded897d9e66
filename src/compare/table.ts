/**
 * The compare table (docs/ARCHITECTURE.md, "compare"): per recipe, each metric's per-seed values, mean
 * and sample standard deviation, and its differences in percentage points from a paired bootstrap over
 * seeds and eval images (stats.ts). The primary metric's comparisons (each recipe against raw, each
 * curation against its size-matched random twin) are one family, Holm-corrected: the interval printed
 * is at the level Holm tests that comparison at, and the verdict word comes from it.
 */
import type { CellResult } from './cells.js';
import type { Curation } from './curate.js';
import { describeRecipe, type Recipe } from './recipes.js';
import { bootstrapDraws, bootstrapP, holm, mean, percentileInterval, sd, seedOf, type PairedDiff } from './stats.js';

/** Per eval item: is it a hit of the metric (ranks in a cell's per_item). */
type ItemMetric = (r: CellResult) => number[] | undefined;
const hits = (ranks: number[] | undefined, k: number) => ranks?.map((x) => (x < k ? 1 : 0));

/** The metrics of the table, by name: the cell's value and its per-item hits. */
export const METRICS = {
  top1: { value: (r: CellResult) => r.top1, items: ((r) => hits(r.per_item?.zero_shot, 1)) as ItemMetric, label: 'zero-shot top-1' },
  top5: { value: (r: CellResult) => r.top5, items: ((r) => hits(r.per_item?.zero_shot, 5)) as ItemMetric, label: 'zero-shot top-5' },
  image_to_text_r1: { value: (r: CellResult) => r.image_to_text.r1, items: ((r) => hits(r.per_item?.image_to_text, 1)) as ItemMetric, label: 'image->text R@1' },
  image_to_text_r5: { value: (r: CellResult) => r.image_to_text.r5, items: ((r) => hits(r.per_item?.image_to_text, 5)) as ItemMetric, label: 'image->text R@5' },
  text_to_image_r1: { value: (r: CellResult) => r.text_to_image.r1, items: ((r) => hits(r.per_item?.text_to_image, 1)) as ItemMetric, label: 'text->image R@1' },
  text_to_image_r5: { value: (r: CellResult) => r.text_to_image.r5, items: ((r) => hits(r.per_item?.text_to_image, 5)) as ItemMetric, label: 'text->image R@5' },
} as const;
export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

/** Bootstrap draws of a secondary metric's 95 % interval, and of the primary's Holm-corrected ones. */
export const DRAWS = 2000;
export const PRIMARY_DRAWS = 10000;
/** The family-wise error rate of the primary metric's comparisons. */
export const ALPHA = 0.05;

/** A difference with its interval: percentage of hits, bootstrap over seeds and eval items. */
export interface Diff extends PairedDiff {
  /** Eval items the difference is over. */
  items: number;
}

/** One metric of one recipe over its seeds. */
export interface MetricStats {
  /** Value per seed, by seed ("0": 0.42). */
  seeds: Record<string, number>;
  mean: number | null;
  sd: number | null;
  /** The difference to raw over the seeds both have, 95 % bootstrap interval, not corrected (null for raw or no common seed). */
  diff_to_raw: Diff | null;
}

/** One comparison of the primary metric: against raw or against a random twin, Holm-corrected. */
export interface Comparison {
  against: string;
  metric: MetricName;
  mean: number;
  /** Interval at Holm's level for this comparison (`level`: 1 - its coverage). */
  lo: number;
  hi: number;
  level: number;
  p: number;
  p_holm: number;
  /** Seeds and eval items the difference is over. */
  n: number;
  items: number;
  verdict: 'better' | 'worse' | 'not shown to differ';
}

/** One row: a recipe. */
export interface RecipeRow {
  name: string;
  description: string;
  recipe: Recipe;
  /** Pairs the curated pool holds: distinct pairs a cell trains on (null: not curated yet). */
  pairs_kept: number | null;
  /** Samples every finished cell of the recipe saw (null: none finished; [a, b] would mean unequal cells). */
  samples: number | null;
  /** Passes over the recipe's pairs: samples / pairs_kept. */
  epochs: number | null;
  /** For a random control: the recipe(s) it is the size-matched twin of. */
  control_for: string[];
  /** The random twin of this recipe (null: it keeps every pair, or --no-random-control). */
  twin: string | null;
  /** Finished seeds. */
  seeds: number[];
  metrics: Record<MetricName, MetricStats>;
  /** The primary metric against raw and against the twin (Holm-corrected over the table's comparisons). */
  vs_raw: Comparison | null;
  vs_twin: Comparison | null;
}

/** compare.json: the run's fixed compute, what the intervals are over, and the rows. */
export interface CompareTable {
  pool_pairs: number;
  steps: number;
  batch_size: number;
  /** Samples every cell sees: steps x batch, exactly (batches run across pass boundaries). */
  samples_per_cell: number;
  arch: string;
  seeds: number;
  chance_top1: number | null;
  /** The metric the verdicts are about. */
  primary: MetricName;
  /** Eval items: labelled images of zero-shot, pairs of retrieval. */
  eval_items: { zero_shot: number | null; retrieval: number | null };
  /** How the intervals are made. */
  intervals: { method: string; draws: number; primary_draws: number; alpha: number; comparisons: number; correction: 'holm' };
  /** The one tokenizer of every cell. */
  tokenizer: { source: string; kind: string; vocab_size: number; sha256: string } | null;
  /** The pool/eval overlap check (null: not run). */
  overlap: unknown;
  recipes: RecipeRow[];
  /** Cells' results as measured (for plots and other statistics; per_item left out). */
  results: Omit<CellResult, 'per_item'>[];
}

const num = (x: number) => (Number.isFinite(x) ? x : null);

/** Per common seed, the per-item hits of two recipes (seed order), or null without a common seed or per-item data. */
function paired(a: readonly CellResult[], b: readonly CellResult[], m: MetricName): { a: number[][]; b: number[][] } | null {
  const bySeed = new Map(b.map((c) => [c.seed, c]));
  const xa: number[][] = [];
  const xb: number[][] = [];
  for (const c of [...a].sort((x, y) => x.seed - y.seed)) {
    const o = bySeed.get(c.seed);
    const ia = METRICS[m].items(c);
    const ib = o && METRICS[m].items(o);
    if (!ia || !ib || ia.length !== ib.length) continue;
    xa.push(ia);
    xb.push(ib);
  }
  return xa.length ? { a: xa, b: xb } : null;
}

/** Builds the table from the finished cells (recipes in the given order, raw first). */
export function buildTable(
  recipes: readonly Recipe[],
  curations: ReadonlyMap<string, Curation>,
  results: readonly CellResult[],
  run: { poolPairs: number; steps: number; batchSize: number; seeds: number; arch: string; primary: MetricName; tokenizer: CompareTable['tokenizer']; overlap: unknown },
): CompareTable {
  const byRecipe = new Map<string, CellResult[]>();
  for (const r of results) byRecipe.set(r.recipe, [...(byRecipe.get(r.recipe) ?? []), r]);
  const cellsOf = (name: string) => (byRecipe.get(name) ?? []).sort((a, b) => a.seed - b.seed);
  const twinOf = new Map<string, string>();
  const controlFor = new Map<string, string[]>();
  for (const r of recipes) if (r.twin_of) for (const of of r.twin_of) {
    twinOf.set(of, r.name);
    controlFor.set(r.name, [...(controlFor.get(r.name) ?? []), of]);
  }
  const rows = recipes.map((rec): RecipeRow => {
    const cells = cellsOf(rec.name);
    const metrics = {} as Record<MetricName, MetricStats>;
    for (const m of METRIC_NAMES) {
      const vals = cells.map((c) => METRICS[m].value(c));
      let d: Diff | null = null;
      const p = rec.name === 'raw' ? null : paired(cells, cellsOf('raw'), m);
      if (p) {
        const b = bootstrapDraws(p.a, p.b, DRAWS, seedOf(`${rec.name}|raw|${m}`));
        const ci = percentileInterval(b.draws, ALPHA);
        d = { mean: b.mean, lo: ci.lo, hi: ci.hi, n: b.seeds, items: b.items };
      }
      metrics[m] = { seeds: Object.fromEntries(cells.map((c, i) => [String(c.seed), vals[i]!])), mean: num(mean(vals)), sd: num(sd(vals)), diff_to_raw: d };
    }
    const pairs = rec.name === 'raw' ? run.poolPairs : (curations.get(rec.name)?.pairs_kept ?? cells[0]?.pairs_kept ?? null);
    const samples = cells.length ? cells[0]!.samples : null;
    return {
      name: rec.name, description: describeRecipe(rec), recipe: rec, pairs_kept: pairs, samples, epochs: samples !== null && pairs ? samples / pairs : null,
      control_for: controlFor.get(rec.name) ?? [], twin: twinOf.get(rec.name) ?? null, seeds: cells.map((c) => c.seed), metrics, vs_raw: null, vs_twin: null,
    };
  });
  // The primary metric's family: every row against raw, every curation against its twin.
  const family: { row: RecipeRow; against: string; mean: number; draws: Float64Array; n: number; items: number; p: number }[] = [];
  for (const row of rows) {
    for (const against of row.name === 'raw' ? [] : ['raw', ...(row.twin ? [row.twin] : [])]) {
      const p = paired(cellsOf(row.name), cellsOf(against), run.primary);
      if (!p) continue;
      const b = bootstrapDraws(p.a, p.b, PRIMARY_DRAWS, seedOf(`${row.name}|${against}|${run.primary}`));
      family.push({ row, against, mean: b.mean, draws: b.draws, n: b.seeds, items: b.items, p: bootstrapP(b.draws) });
    }
  }
  const h = holm(family.map((f) => f.p), ALPHA);
  family.forEach((f, i) => {
    const ci = percentileInterval(f.draws, h.level[i]!);
    const shown = h.adjusted[i]! < ALPHA;
    const c: Comparison = {
      against: f.against, metric: run.primary, mean: f.mean, lo: ci.lo, hi: ci.hi, level: h.level[i]!, p: f.p, p_holm: h.adjusted[i]!, n: f.n, items: f.items,
      verdict: shown && ci.lo > 0 ? 'better' : shown && ci.hi < 0 ? 'worse' : 'not shown to differ',
    };
    if (f.against === 'raw') f.row.vs_raw = c;
    else f.row.vs_twin = c;
  });
  const any = results.find((r) => r.per_item);
  return {
    pool_pairs: run.poolPairs, steps: run.steps, batch_size: run.batchSize, samples_per_cell: run.steps * run.batchSize, arch: run.arch,
    seeds: run.seeds, chance_top1: results[0]?.chance_top1 ?? null, primary: run.primary,
    eval_items: { zero_shot: any?.per_item?.zero_shot.length ?? null, retrieval: any?.per_item?.image_to_text.length ?? null },
    intervals: { method: 'paired bootstrap over seeds and eval items (percentile)', draws: DRAWS, primary_draws: PRIMARY_DRAWS, alpha: ALPHA, comparisons: family.length, correction: 'holm' },
    tokenizer: run.tokenizer, overlap: run.overlap, recipes: rows,
    results: results.map(({ per_item: _, ...r }) => r),
  };
}

const pct = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(d)}`);
const sign = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;

function meanSd(s: MetricStats): string {
  return s.mean === null ? '–' : `${pct(s.mean)} ± ${pct(s.sd)}`;
}

function comparisonCell(c: Comparison | null): string {
  return c ? `${sign(c.mean)} [${sign(c.lo)}, ${sign(c.hi)}]` : '';
}

/**
 * What a difference to raw says, in words: better or worse when the interval lies on one side of 0,
 * "not shown to differ" when it contains 0.
 */
export function verdict(d: PairedDiff | null): string {
  if (!d) return 'no seed in common with raw';
  if (d.lo === null || d.hi === null) return 'one seed: no interval (give --seeds 3 or more)';
  if (d.lo > 0) return `better than raw (95% interval above 0, ${d.n} seeds)`;
  if (d.hi < 0) return `worse than raw (95% interval below 0, ${d.n} seeds)`;
  return `not shown to differ from raw (95% interval contains 0, ${d.n} seeds)`;
}

/** A comparison in words: "better than raw (Holm p 0.003)". */
export function comparisonVerdict(c: Comparison | null): string {
  if (!c) return '';
  const what = c.verdict === 'not shown to differ' ? `not shown to differ from ${c.against}` : `${c.verdict} than ${c.against}`;
  return `${what} (Holm-adjusted p ${c.p_holm < 0.001 ? '< 0.001' : c.p_holm.toFixed(3)})`;
}

/** The text table: one line a recipe, percentages, the primary metric against raw and against the random twin. */
export function renderTable(t: CompareTable, extra?: { out: string; missing: string[] }): string {
  const P = METRICS[t.primary].label;
  const head = ['recipe', 'pairs', 'samples', 'epochs', 'seeds', `${P} %`, 'Δ vs raw', 'verdict', 'Δ vs random twin', 'verdict', 'top-1 %', 'top-5 %', 'i→t R@1 %', 'i→t R@5 %', 't→i R@1 %', 't→i R@5 %'];
  const word = (c: Comparison | null) => (c ? c.verdict : '');
  const rows = t.recipes.map((r) => [
    r.control_for.length ? `${r.name} (control)` : r.name, r.pairs_kept === null ? '–' : String(r.pairs_kept), r.samples === null ? '–' : String(r.samples),
    r.epochs === null ? '–' : r.epochs.toFixed(1), String(r.seeds.length), meanSd(r.metrics[t.primary]), comparisonCell(r.vs_raw), word(r.vs_raw),
    comparisonCell(r.vs_twin), word(r.vs_twin), meanSd(r.metrics.top1), meanSd(r.metrics.top5), meanSd(r.metrics.image_to_text_r1), meanSd(r.metrics.image_to_text_r5),
    meanSd(r.metrics.text_to_image_r1), meanSd(r.metrics.text_to_image_r5),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 7 || i === 9 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  const tok = t.tokenizer ? `; one tokenizer for every cell (${t.tokenizer.source}, ${t.tokenizer.vocab_size} ids)` : '';
  const ov = t.overlap as { removed?: number; exact?: number; near?: number; mode?: string } | null;
  const overlap = ov ? `; eval images in the pool: ${ov.exact ?? 0} identical, ${ov.near ?? 0} near-duplicate${ov.mode === 'remove' ? ` (${ov.removed ?? 0} pairs removed)` : ov.mode === 'keep' ? ' (kept: --overlap keep)' : ''}` : '';
  const lines = [
    `compare: ${t.recipes.length} recipes x ${t.seeds} seeds; every cell trains ${t.arch} for ${t.steps} steps x ${t.batch_size} = ${t.samples_per_cell} samples${tok}; pool ${t.pool_pairs} pairs${overlap}`,
    `eval: ${t.eval_items.zero_shot ?? '–'} images (zero-shot${t.chance_top1 ? `, chance top-1 ${pct(t.chance_top1)}%` : ''}), ${t.eval_items.retrieval ?? '–'} pairs (retrieval); primary metric: ${P}`,
    line(head),
    ...rows.map(line),
    `mean ± sd over seeds; Δ: ${P}, percentage points, paired bootstrap over seeds and eval images (${t.intervals.primary_draws} draws); intervals and verdicts Holm-corrected over the ${t.intervals.comparisons} comparisons at ${100 * t.intervals.alpha}%`,
    ...t.recipes.filter((r) => r.name !== 'raw').map((r) => `  ${r.name}: ${r.description}${r.vs_raw ? `; ${comparisonVerdict(r.vs_raw)}` : ''}${r.vs_twin ? `; ${comparisonVerdict(r.vs_twin)}` : ''}`),
  ];
  if (extra?.missing.length) lines.push(`missing cells (${extra.missing.length}): ${extra.missing.slice(0, 8).join(', ')}${extra.missing.length > 8 ? ', …' : ''}; rerun to make them`);
  if (extra) lines.push(`table: ${extra.out}/compare.json`);
  return lines.join('\n') + '\n';
}
