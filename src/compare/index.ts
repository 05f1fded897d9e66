/**
 * `wit compare`: curation ablations on the user's own pool (docs/ARCHITECTURE.md, "compare"). Each
 * recipe is curated once (curate.ts), each (recipe, seed) trains and evaluates in its own resumable cell
 * (cells.ts) at fixed compute, and the table (table.ts) gives per recipe the mean and standard deviation
 * over seeds and the paired difference to raw.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { claimOutput, type OutputClaim } from '../util/output.js';
import { resolve } from 'node:path';
import { listShards, readShardInfo } from '../shards/index.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { UsageError } from '../util/errors.js';
import { readLabels } from '../eval/index.js';
import { resolveOptions } from '../util/options.js';
import { cellDir, readCell, runCell, type CellResult, type CellSettings } from './cells.js';
import { curate, recipeDir, type Curation } from './curate.js';
import { COMPARE_OPTIONS, type CompareOptions } from './options.js';
import { describeRecipe, readRecipes, type Recipe } from './recipes.js';
import { buildTable, type CompareTable } from './table.js';
import { join } from 'node:path';

export { COMPARE_OPTIONS, type CompareOptions } from './options.js';
export { readRecipes, validateRecipe, describeRecipe, RECIPE_FIELDS, type Recipe } from './recipes.js';
export { balancePool, type Curation } from './curate.js';
export { buildTable, renderTable, METRICS, type CompareTable, type RecipeRow, type MetricStats } from './table.js';
export { pairedDiff, tQuantile975, mean, sd, type PairedDiff } from './stats.js';
export type { CellResult } from './cells.js';

const STAGE = 'compare';
/** The file that says a folder is a compare run, and with what settings (checked on every rerun). */
export const PLAN_FILE = 'compare.plan.json';
/** The table, rewritten atomically after every run. */
export const TABLE_FILE = 'compare.json';

/** What compare() returns and `wit compare --json` prints: the table plus what this run did. */
export interface CompareSummary extends CompareTable {
  out: string;
  /** Cells in the table's grid, finished ones, those this run made, and those still missing. */
  cells: { total: number; finished: number; ran: number; missing: string[] };
  seconds: number;
}

type Resolved = ReturnType<typeof resolveOptions<typeof COMPARE_OPTIONS, CompareOptions>>;

/** The settings that decide every cell's numbers: a rerun with other values would mix two experiments. */
function planOf(o: Resolved, pool: string[], evalFiles: string[], steps: number) {
  return {
    pool: pool.map((f) => resolve(f)), eval: evalFiles.map((f) => resolve(f)), labels: o.labels ? resolve(o.labels) : null,
    steps, batch_size: o.batchSize, arch: o.arch, lr: o.lr, warmup_steps: o.warmupSteps ?? null, weight_decay: o.weightDecay,
    templates: o.templates ?? null, retrieval_samples: o.retrievalSamples,
  };
}

/**
 * Claims --out for a compare run: a new or empty folder, or one holding a compare run with the same
 * plan (resume). UsageError naming what differs otherwise.
 */
async function claimCompareOut(out: string, plan: ReturnType<typeof planOf>): Promise<OutputClaim> {
  // The one output claim (docs/ARCHITECTURE.md, "Claiming an output"): no file, device, foreign or other run's folder, no input.
  const claim = await claimOutput(out, { command: 'compare', inputs: [...plan.pool, ...plan.eval] });
  try {
    await checkCompareOut(out, plan, claim);
  } catch (err) {
    await claim.release();
    throw err;
  }
  return claim;
}

async function checkCompareOut(out: string, plan: ReturnType<typeof planOf>, claim: OutputClaim): Promise<void> {
  const st = await stat(out).catch(() => undefined);
  if (st && !st.isDirectory()) throw new UsageError(STAGE, 'is not a folder', { file: out });
  let before: Record<string, unknown> | undefined;
  try {
    before = JSON.parse(await readFile(join(out, PLAN_FILE), 'utf8')) as Record<string, unknown>;
  } catch {
    before = undefined;
  }
  if (!before) {
    const names = st ? (await readdir(out)).filter((n) => !n.startsWith('.')) : [];
    if (names.length) throw new UsageError(STAGE, `the folder holds other files (${names.slice(0, 3).join(', ')}) and no ${PLAN_FILE}; give a new or empty --out`, { file: out });
    await claim.create();
    await writeJsonAtomic(join(out, PLAN_FILE), plan);
    return;
  }
  const diffs = Object.entries(plan).filter(([k, v]) => JSON.stringify(before[k] ?? null) !== JSON.stringify(v)).map(([k, v]) => `${k} ${JSON.stringify(v)} (the run has ${JSON.stringify(before[k] ?? null)})`);
  if (diffs.length) throw new UsageError(STAGE, `holds a compare run with other settings: ${diffs.join('; ')}; rerun with the run's settings or give another --out`, { file: out });
}

/** A recipe whose folder was curated with another definition would mix two recipes under one name. */
async function checkCurated(out: string, r: Recipe): Promise<Curation | undefined> {
  let c: Curation;
  try {
    c = JSON.parse(await readFile(join(recipeDir(out, r.name), 'curation.json'), 'utf8')) as Curation;
  } catch {
    return undefined;
  }
  if (JSON.stringify(c.recipe) !== JSON.stringify(r)) {
    throw new UsageError(STAGE, `recipe '${r.name}' differs from the one ${recipeDir(out, r.name)} was curated with (${describeRecipe(c.recipe)}); rename the recipe, or remove recipes/${r.name} and cells/${r.name}`, { file: out });
  }
  return c;
}

/** `recipe/seed` matches a --cells pattern (* matches any run of characters but /). */
function cellMatcher(patterns: readonly string[] | undefined): (recipe: string, seed: number) => boolean {
  if (!patterns?.length) return () => true;
  const res = patterns.map((p) => {
    const [r, s = '*'] = p.split('/');
    const glob = (x: string) => new RegExp(`^${x.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
    return { r: glob(r!), s: glob(s) };
  });
  return (recipe, seed) => res.some((m) => m.r.test(recipe) && m.s.test(String(seed)));
}

/** Files of the pool and held-out sets, their pair counts, and the labels file; UsageError when missing. */
async function inputs(o: Resolved) {
  const pool = await listShards(o.pool);
  const evalFiles = await listShards(o.eval);
  if (o.labels && !(await stat(o.labels).then((s) => s.isFile(), () => false))) throw new UsageError(STAGE, 'no such labels file', { file: o.labels });
  // Read once here, through eval's own reader, so that a bad labels file stops the run before minutes of training.
  if (o.labels) await readLabels(o.labels);
  let poolPairs = 0;
  for (const f of pool) poolPairs += (await readShardInfo(f)).rows;
  if (poolPairs < 2) throw new UsageError(STAGE, `the pool holds ${poolPairs} pairs; training needs at least 2`, { file: o.pool[0] });
  return { pool, evalFiles, poolPairs };
}

/**
 * Compares recipes (named curations of one pool) by training each at the same compute and evaluating
 * on held-out shards, over several seeds. Curates each recipe once, runs every selected cell that has
 * no result yet (resuming a killed one), and writes the table of every finished cell to OUT/compare.json.
 * Resolves to the table and what this run did. Throws UsageError (exit 2) for bad options, a bad
 * recipes file, missing inputs or an --out holding something else; what train, eval or filter throw.
 */
export async function compare(input: CompareOptions): Promise<CompareSummary> {
  const t0 = performance.now();
  const o = resolveOptions(STAGE, COMPARE_OPTIONS, input);
  const recipes = await readRecipes(o.recipes);
  const { pool, evalFiles, poolPairs } = await inputs(o);
  const steps = o.steps ?? Math.max(1, Math.ceil(poolPairs / o.batchSize));
  const out = resolve(o.out);
  const seeds = Array.from({ length: o.seeds }, (_, i) => i);
  const selected = cellMatcher(o.cells);
  if (o.cells?.length && !recipes.some((r) => seeds.some((s) => selected(r.name, s)))) {
    throw new UsageError(STAGE, `--cells ${o.cells.join(' ')} matches no cell (recipes: ${recipes.map((r) => r.name).join(', ')}; seeds 0-${o.seeds - 1})`);
  }
  const claim = await claimCompareOut(out, planOf(o, pool, evalFiles, steps));
  try {
    // (the claim's lock is held until the function ends)
    const log = o.onLog ?? (() => undefined);
    const progress = o.onProgress ?? (() => undefined);
    const settings: CellSettings = {
      out, eval: evalFiles, labels: o.labels, templates: o.templates, retrievalSamples: o.retrievalSamples, steps, batchSize: o.batchSize,
      arch: o.arch, lr: o.lr, warmupSteps: o.warmupSteps, weightDecay: o.weightDecay, checkpointEvery: o.checkpointEvery,
      backend: o.backend, threads: o.threads, decodeWorkers: o.decodeWorkers, log, progress, signal: o.signal,
    };
    const curations = new Map<string, Curation>();
    let ran = 0;
    for (const r of recipes) {
      const curated = r.name === 'raw' ? undefined : await checkCurated(out, r);
      if (curated) curations.set(r.name, curated);
      const todo: number[] = [];
      for (const seed of seeds) if (selected(r.name, seed) && !(await readCell(out, r.name, seed))) todo.push(seed);
      if (!todo.length) continue;
      let data = pool;
      let kept = poolPairs;
      if (r.name !== 'raw') {
        const c = curated ?? (await curate(r, { out, pool, poolPairs, backend: o.backend, log, progress, signal: o.signal }));
        curations.set(r.name, c);
        log(`compare: ${r.name} (${c.description}) keeps ${c.pairs_kept} of ${poolPairs} pairs`);
        if (c.pairs_kept < 2) throw new UsageError(STAGE, `recipe '${r.name}' keeps ${c.pairs_kept} pairs of ${poolPairs}; a cell needs at least 2 to train`, { file: o.recipes });
        if (c.pairs_kept < o.batchSize) log(`compare: ${r.name} keeps fewer pairs (${c.pairs_kept}) than a batch (${o.batchSize}): its batches are the whole set, so it sees fewer samples`);
        data = [join(recipeDir(out, r.name), 'data')];
        kept = c.pairs_kept;
      }
      for (const seed of todo) {
        log(`compare: cell ${r.name}/${seed} (${cellDir(out, r.name, seed)})`);
        const res = await runCell(settings, r.name, data, kept, seed);
        ran++;
        log(`compare: cell ${r.name}/${seed}: top-1 ${(100 * res.top1).toFixed(2)}%, top-5 ${(100 * res.top5).toFixed(2)}%`);
      }
    }
    const results: CellResult[] = [];
    const missing: string[] = [];
    for (const r of recipes) {
      for (const seed of seeds) {
        const res = await readCell(out, r.name, seed);
        if (res) results.push(res);
        else missing.push(`${r.name}/${seed}`);
      }
    }
    const table = buildTable(recipes, curations, results, { poolPairs, steps, batchSize: o.batchSize, seeds: o.seeds, arch: o.arch });
    await writeJsonAtomic(join(out, TABLE_FILE), table);
    return { ...table, out, cells: { total: recipes.length * seeds.length, finished: results.length, ran, missing }, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await claim.release();
  }
}
