/**
 * `wit compare`: curation ablations on the user's own pool (docs/ARCHITECTURE.md, "compare"). Each
 * recipe is curated once (curate.ts), each (recipe, seed) trains and evaluates in its own resumable cell
 * (cells.ts) at fixed compute, and the table (table.ts) gives per recipe the mean and standard deviation
 * over seeds and the paired difference to raw.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { claimOutput, type OutputClaim } from '../util/output.js';
import { resolve } from 'node:path';
import { listShards, readShardInfo, readShards } from '../shards/index.js';
import { resolveArch } from '../train/config.js';
import { ClipTokenizer } from '../train/clip-tokenizer.js';
import { loadTokenizer, readModelConfig } from '../train/model-dir.js';
import { BpeTokenizer, trainTokenizer, type TextTokenizer } from '../train/tokenizer.js';
import { readInputFile, readInputText } from '../util/input.js';
import { checkOverlap } from './overlap.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { UsageError, WitError } from '../util/errors.js';
import { readLabels } from '../eval/index.js';
import { resolveOptions } from '../util/options.js';
import { cellDir, readCell, runCell, type CellResult, type CellSettings } from './cells.js';
import { curate, recipeDir, type Curation } from './curate.js';
import { COMPARE_OPTIONS, type CompareOptions } from './options.js';
import { definition, describeRecipe, readRecipes, twinRecipe, type Recipe } from './recipes.js';
import { buildTable, type CompareTable, type MetricName } from './table.js';
import { join } from 'node:path';

export { COMPARE_OPTIONS, type CompareOptions } from './options.js';
export { readRecipes, validateRecipe, describeRecipe, RECIPE_FIELDS, type Recipe } from './recipes.js';
export { balancePool, randomSubset, type Curation } from './curate.js';
export { buildTable, renderTable, METRICS, type CompareTable, type RecipeRow, type MetricStats, type Comparison } from './table.js';
export { pairedDiff, tQuantile975, mean, sd, bootstrapDraws, holm, type PairedDiff } from './stats.js';
export { checkOverlap, dHash, type OverlapReport } from './overlap.js';
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
    templates: o.templates ?? null, retrieval_samples: o.retrievalSamples, tokenizer: o.tokenizer ? resolve(o.tokenizer) : 'trained on the pool',
    batches: 'across passes', overlap: o.overlap, overlap_hamming: o.overlapHamming, random_control: o.randomControl,
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
  if (JSON.stringify(definition(c.recipe)) !== JSON.stringify(definition(r))) {
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
  if (o.tokenizer && !(await stat(o.tokenizer).catch(() => undefined))) throw new UsageError(STAGE, 'no such tokenizer (a model directory, a tokenizer.json or a CLIP merges file)', { file: o.tokenizer });
  let poolPairs = 0;
  for (const f of pool) poolPairs += (await readShardInfo(f)).rows;
  if (poolPairs < 2) throw new UsageError(STAGE, `the pool holds ${poolPairs} pairs; training needs at least 2`, { file: o.pool[0] });
  return { pool, evalFiles, poolPairs };
}

/** The table's one tokenizer, in OUT/tokenizer.json (made once, before any cell). */
const TOKENIZER_FILE = 'tokenizer.json';

/**
 * The one tokenizer of every cell (docs/ARCHITECTURE.md, "compare"), fixed before any cell trains so
 * that the cells differ only in their data: OUT/tokenizer.json when a run made it, else --tokenizer's
 * (a model directory's or a tokenizer.json, at the architecture's context length), else wit's BPE
 * trained once on the captions of the whole (overlap-checked) pool.
 */
async function tableTokenizer(o: Resolved, out: string, pool: string[], log: (l: string) => void): Promise<{ tokenizer: TextTokenizer; source: string; sha256: string }> {
  const file = join(out, TOKENIZER_FILE);
  const source = o.tokenizer ? resolve(o.tokenizer) : 'trained on the pool';
  const load = async (f: string, kind?: TextTokenizer['kind']) => {
    const text = await readInputText(f, { kind: 'vocab', stage: STAGE });
    let type: unknown;
    try {
      type = (JSON.parse(text) as { type?: unknown }).type;
    } catch (err) {
      throw new UsageError(STAGE, `not a tokenizer.json: ${(err as Error).message}`, { file: f });
    }
    return loadTokenizer(f, kind ?? (type === 'clip-bpe' ? 'clip-bpe' : 'wit-byte-bpe'));
  };
  const sha = (t: TextTokenizer) => createHash('sha256').update(JSON.stringify(t.toJSON())).digest('hex');
  if (await stat(file).then((s) => s.isFile(), () => false)) {
    const tokenizer = await load(file);
    return { tokenizer, source, sha256: sha(tokenizer) };
  }
  const arch = resolveArch(o.arch);
  const L = arch.text.context_length;
  let tokenizer: TextTokenizer;
  if (o.tokenizer) {
    const st = await stat(o.tokenizer).catch(() => undefined);
    if (!st) throw new UsageError(STAGE, 'no such tokenizer (a model directory or a tokenizer.json)', { file: o.tokenizer });
    const given = st.isDirectory()
      ? await load(join(o.tokenizer, 'tokenizer.json'), (await readModelConfig(o.tokenizer)).tokenizer?.type ?? 'wit-byte-bpe')
      : /\.txt(\.gz)?$/.test(o.tokenizer)
        ? await clipMerges(o.tokenizer, L)
        : await load(o.tokenizer);
    tokenizer = given instanceof ClipTokenizer ? new ClipTokenizer(given.merges, L) : new BpeTokenizer((given as BpeTokenizer).merges, L);
    log(`compare: one tokenizer for every cell: ${source} (${tokenizer.kind}, ${tokenizer.vocabSize} ids, context ${L})`);
  } else {
    const captions: string[] = [];
    for await (const r of readShards(pool, { images: false })) {
      captions.push(r.caption);
      if (captions.length >= 200_000) break;
    }
    tokenizer = trainTokenizer(captions, { vocabSize: arch.text.vocab_size, contextLength: L });
    log(`compare: one tokenizer for every cell: ${tokenizer.vocabSize} ids trained on ${captions.length} captions of the pool`);
  }
  // As a model directory writes it, so that every cell's tokenizer.json is this file, byte for byte.
  await writeJsonAtomic(file, tokenizer.toJSON());
  return { tokenizer, source, sha256: sha(tokenizer) };
}

/**
 * CLIP's BPE from its merges file (bpe_simple_vocab_16e6.txt, gzipped or not): as CLIP, the first
 * 48,894 merges after the version line (49,408 ids), or all of a shorter file's.
 */
async function clipMerges(file: string, contextLength: number): Promise<ClipTokenizer> {
  let text: string;
  try {
    text = (await readInputFile(file, { kind: 'vocab', stage: STAGE, decompress: true })).toString('utf8');
  } catch (err) {
    if (err instanceof WitError) throw err;
    throw new UsageError(STAGE, `cannot read the merges file: ${(err as Error).message}`, { file });
  }
  if (!text.startsWith('#version')) throw new UsageError(STAGE, "not a CLIP merges file (bpe_simple_vocab_16e6.txt starts with '#version')", { file });
  const merges = text.split('\n').slice(1).filter((l) => l !== '').length;
  return ClipTokenizer.fromMergesFile(file, 514 + Math.min(merges, 48_894), contextLength);
}

/**
 * Compares recipes (named curations of one pool) by training each at the same compute and evaluating
 * on held-out shards, over several seeds. Checks the pool against the eval set first (overlap.ts), fixes
 * one tokenizer, curates each recipe once and gives each one that removes pairs a size-matched random
 * twin, runs every selected cell that has no result yet (resuming a killed one), and writes the table of
 * every finished cell to OUT/compare.json. Resolves to the table and what this run did. Throws
 * UsageError (exit 2) for bad options, a bad recipes file, missing inputs, an --out holding something
 * else or (--overlap refuse) a pool holding eval images; what train, eval or filter throw.
 */
export async function compare(input: CompareOptions): Promise<CompareSummary> {
  const t0 = performance.now();
  const o = resolveOptions(STAGE, COMPARE_OPTIONS, input);
  const given = await readRecipes(o.recipes);
  const { pool: poolIn, evalFiles, poolPairs: poolIn_pairs } = await inputs(o);
  const out = resolve(o.out);
  const seeds = Array.from({ length: o.seeds }, (_, i) => i);
  const selected = cellMatcher(o.cells);
  if (o.cells?.length && !given.some((r) => seeds.some((s) => selected(r.name, s))) && !o.cells.some((c) => c.startsWith('random-'))) {
    throw new UsageError(STAGE, `--cells ${o.cells.join(' ')} matches no cell (recipes: ${given.map((r) => r.name).join(', ')}; seeds 0-${o.seeds - 1})`);
  }
  const log = o.onLog ?? (() => undefined);
  const progress = o.onProgress ?? (() => undefined);
  // Steps come from the pool as given (the plan is fixed before the overlap check can change it).
  const steps = o.steps ?? Math.max(1, Math.ceil(poolIn_pairs / o.batchSize));
  const claim = await claimCompareOut(out, planOf(o, poolIn, evalFiles, steps));
  // (the claim's lock is held until the function ends)
  try {
    const ov = await checkOverlap({ out, pool: poolIn, poolPairs: poolIn_pairs, eval: evalFiles, mode: o.overlap as 'remove', hamming: o.overlapHamming, log, progress, signal: o.signal });
    const pool = ov.files;
    const poolPairs = ov.pairs;
    if (poolPairs < 2) throw new UsageError(STAGE, `the pool holds ${poolPairs} pairs once eval images are removed; training needs at least 2`, { file: o.pool[0] });
    const tok = await tableTokenizer(o, out, pool, log);
    const settings: CellSettings = {
      out, eval: evalFiles, labels: o.labels, templates: o.templates, retrievalSamples: o.retrievalSamples, steps, batchSize: o.batchSize,
      arch: o.arch, lr: o.lr, warmupSteps: o.warmupSteps, weightDecay: o.weightDecay, checkpointEvery: o.checkpointEvery,
      backend: o.backend, threads: o.threads, decodeWorkers: o.decodeWorkers, tokenizer: tok.tokenizer, tokenizerSha256: tok.sha256, log, progress, signal: o.signal,
    };
    const curations = new Map<string, Curation>();
    const twins = new Map<number, Recipe>();
    let ran = 0;
    const runRecipe = async (r: Recipe): Promise<void> => {
      const curated = r.name === 'raw' ? undefined : await checkCurated(out, r);
      if (curated) curations.set(r.name, curated);
      const todo: number[] = [];
      for (const seed of seeds) if (selected(r.name, seed) && !(await readCell(out, r.name, seed))) todo.push(seed);
      let data = pool;
      let kept = poolPairs;
      if (r.name !== 'raw' && (todo.length || (o.randomControl && !r.random_pairs))) {
        const c = curated ?? (await curate(r, { out, pool, poolPairs, backend: o.backend, log, progress, signal: o.signal }));
        curations.set(r.name, c);
        log(`compare: ${r.name} (${c.description}) keeps ${c.pairs_kept} of ${poolPairs} pairs`);
        if (c.pairs_kept < 2) throw new UsageError(STAGE, `recipe '${r.name}' keeps ${c.pairs_kept} pairs of ${poolPairs}; a cell needs at least 2 to train`, { file: o.recipes });
        if (c.pairs_kept < o.batchSize) log(`compare: ${r.name} keeps fewer pairs (${c.pairs_kept}) than a batch (${o.batchSize}): a batch holds some pairs twice`);
        data = [join(recipeDir(out, r.name), 'data')];
        kept = c.pairs_kept;
        if (o.randomControl && !r.random_pairs && c.pairs_kept < poolPairs) {
          const t = twins.get(c.pairs_kept) ?? twinRecipe(c.pairs_kept, []);
          t.twin_of!.push(r.name);
          twins.set(c.pairs_kept, t);
        }
      }
      for (const seed of todo) {
        log(`compare: cell ${r.name}/${seed} (${cellDir(out, r.name, seed)})`);
        const res = await runCell(settings, r.name, data, kept, seed);
        ran++;
        log(`compare: cell ${r.name}/${seed}: top-1 ${(100 * res.top1).toFixed(2)}%, top-5 ${(100 * res.top5).toFixed(2)}%, ${res.samples} samples (${res.epochs.toFixed(1)} passes over ${kept} pairs)`);
      }
    };
    for (const r of given) await runRecipe(r);
    // The random controls: one per size, after the recipes (a recipes.json entry of the same draw is the same control).
    const recipes = [...given];
    for (const t of [...twins.values()].sort((a, b) => b.random_pairs! - a.random_pairs!)) {
      const same = recipes.find((r) => r.name === t.name);
      if (same) {
        if (JSON.stringify(definition(same)) !== JSON.stringify(definition(t))) {
          throw new UsageError(STAGE, `recipe '${same.name}' has the name of the random control of ${t.twin_of!.join(', ')} (${describeRecipe(t)}); rename it`, { file: o.recipes });
        }
        same.twin_of = t.twin_of;
        continue;
      }
      recipes.push(t);
      await runRecipe(t);
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
    const stale = results.find((r) => r.tokenizer_sha256 !== undefined && r.tokenizer_sha256 !== tok.sha256);
    if (stale) throw new WitError(STAGE, `cell ${stale.recipe}/${stale.seed} was trained with another tokenizer than ${join(out, TOKENIZER_FILE)}; remove the cell or the folder`);
    const table = buildTable(recipes, curations, results, {
      poolPairs, steps, batchSize: o.batchSize, seeds: o.seeds, arch: o.arch, primary: o.primary as MetricName,
      tokenizer: { source: tok.source, kind: tok.tokenizer.kind, vocab_size: tok.tokenizer.vocabSize, sha256: tok.sha256 }, overlap: ov.report,
    });
    await writeJsonAtomic(join(out, TABLE_FILE), table);
    return { ...table, out, cells: { total: recipes.length * seeds.length, finished: results.length, ran, missing }, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await claim.release();
  }
}
