/**
 * Recipes: named curations of one pool (docs/ARCHITECTURE.md, "compare"). A recipe is a JSON object of
 * fields, each optional, applied in this order: the per-query balance (`cap` or MetaCLIP's
 * `sample_threshold`, on the pool's `queries` column), then one `wit filter` run (basic filters, exact
 * dedup, semantic dedup, CLIP score with the scorer `model`). `raw` (the pool as is) is always included.
 */
import { stat } from 'node:fs/promises';
import { readInputText } from '../util/input.js';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import { checkOption, defineOptions } from '../util/options.js';

const STAGE = 'compare';

/** The fields of a recipe (snake_case, as in recipes.json), with their types and bounds. */
export const RECIPE_FIELDS = defineOptions({
  cap: { type: 'int', min: 1, cli: false, help: 'most pairs per query, in pool order (the CLIP paper: 20,000); a pair is kept while one of its queries has room' },
  sample_threshold: { type: 'number', min: 1e-9, cli: false, help: "MetaCLIP's t: a query with count > t keeps each of its pairs with probability t / count" },
  sample_seed: { type: 'int', min: 0, cli: false, help: "seed of MetaCLIP's draws (default 0); the draws depend on (seed, pair key, query), not on order" },
  model: { type: 'string', cli: false, help: 'scorer: any wit model directory (wit train, wit model import); relative to recipes.json' },
  min_similarity: { type: 'number', min: -1, max: 1, cli: false, help: 'keep pairs whose image-text cosine is >= X (needs model)' },
  keep_fraction: { type: 'number', min: 1e-9, max: 1, cli: false, help: 'keep the top fraction by cosine (needs model; DataComp: 0.3)' },
  dedup: { type: 'boolean', cli: false, help: 'drop exact duplicates (image sha256, url + caption), first wins' },
  dedup_semantic: { type: 'number', min: -1, max: 1, cli: false, help: "drop pairs whose image embedding has cosine >= T to an earlier-kept one (needs model)" },
  min_caption_words: { type: 'int', min: 0, cli: false, help: 'basic filter (DataComp: 3)' },
  min_caption_chars: { type: 'int', min: 0, cli: false, help: 'basic filter (DataComp: 6)' },
  min_image_side: { type: 'int', min: 0, cli: false, help: 'basic filter on the original shorter side (DataComp: 200)' },
  max_aspect: { type: 'number', min: 1, cli: false, help: 'basic filter on the side ratio (DataComp: 3)' },
  random_pairs: { type: 'int', min: 1, cli: false, help: 'keep exactly this many pairs drawn uniformly at random (a control; alone, with random_seed); every curation gets one of its size unless --no-random-control' },
  random_seed: { type: 'int', min: 0, cli: false, help: 'seed of the random_pairs draw (default 0)' },
});

type Fields = typeof RECIPE_FIELDS;

/** One validated recipe (model resolved to an absolute path). */
export interface Recipe {
  name: string;
  cap?: number;
  sample_threshold?: number;
  sample_seed?: number;
  model?: string;
  min_similarity?: number;
  keep_fraction?: number;
  dedup?: boolean;
  dedup_semantic?: number;
  min_caption_words?: number;
  min_caption_chars?: number;
  min_image_side?: number;
  max_aspect?: number;
  random_pairs?: number;
  random_seed?: number;
  /** A random control made by compare (not a field of recipes.json): the recipes it is the size-matched twin of. */
  twin_of?: string[];
}

/** The recipe every table has: the pool as it is. */
export const RAW: Recipe = { name: 'raw' };

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A recipe runs `wit filter` when it has any of these. */
const FILTER_FIELDS = ['model', 'min_similarity', 'keep_fraction', 'dedup', 'dedup_semantic', 'min_caption_words', 'min_caption_chars', 'min_image_side', 'max_aspect'] as const;

/** True when the recipe balances over queries. */
export function balances(r: Recipe): boolean {
  return r.cap !== undefined || r.sample_threshold !== undefined;
}

/** True when the recipe runs `wit filter` (basic filters, dedup, scoring). */
export function filters(r: Recipe): boolean {
  return FILTER_FIELDS.some((f) => r[f] !== undefined && r[f] !== false);
}

/** The name of the size-matched random control of a recipe keeping `pairs` pairs. */
export function twinName(pairs: number): string {
  return `random-${pairs}`;
}

/** The random control of that size: seed 0, so that recipes of one size share it. */
export function twinRecipe(pairs: number, of: string[]): Recipe {
  return { name: twinName(pairs), random_pairs: pairs, random_seed: 0, twin_of: of };
}

/** A recipe's definition without compare's bookkeeping (what a curated folder is checked against). */
export function definition(r: Recipe): Recipe {
  const { twin_of: _, ...rest } = r;
  return rest;
}

/** One line describing what a recipe does, for tables and logs. */
export function describeRecipe(r: Recipe): string {
  const parts: string[] = [];
  if (r.random_pairs !== undefined) parts.push(`${r.random_pairs} pairs drawn at random (seed ${r.random_seed ?? 0})${r.twin_of?.length ? `: the size-matched control of ${r.twin_of.join(', ')}` : ''}`);
  if (r.cap !== undefined) parts.push(`cap ${r.cap}/query`);
  if (r.sample_threshold !== undefined) parts.push(`MetaCLIP t=${r.sample_threshold}`);
  const basic = (['min_caption_words', 'min_caption_chars', 'min_image_side', 'max_aspect'] as const).filter((f) => r[f] !== undefined).map((f) => `${f} ${r[f]}`);
  if (basic.length) parts.push(basic.join(', '));
  if (r.dedup) parts.push('exact dedup');
  if (r.dedup_semantic !== undefined) parts.push(`semantic dedup >= ${r.dedup_semantic}`);
  if (r.min_similarity !== undefined) parts.push(`score >= ${r.min_similarity}`);
  if (r.keep_fraction !== undefined) parts.push(`top ${+(100 * r.keep_fraction).toFixed(2)}% by score`);
  return parts.length ? parts.join(' + ') : 'the pool as is';
}

/** Throws the one-line error of a bad recipe: `FILE: recipe 'NAME': what`. */
function bad(file: string, where: string, what: string): never {
  throw new UsageError(STAGE, `${where}: ${what}`, { file });
}

/**
 * Checks one recipe object: known fields, types and bounds (RECIPE_FIELDS), and the rules between
 * fields; resolves `model` against `baseDir`. Throws UsageError naming the file, the recipe and the field.
 */
export function validateRecipe(raw: unknown, index: number, file: string, baseDir: string): Recipe {
  const where0 = `recipe ${index + 1}`;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) bad(file, where0, 'expected an object with a "name" and curation fields');
  const obj = raw as Record<string, unknown>;
  if (typeof obj.name !== 'string') bad(file, where0, 'has no "name" (text)');
  const name = obj.name;
  const where = `recipe '${name}'`;
  if (!NAME_RE.test(name)) bad(file, where, 'the name must be 1 to 64 letters, digits, _ . - (it names a folder)');
  if (name === 'raw') bad(file, where, "'raw' (the pool as is) is always included; give this recipe another name");
  const out: Recipe = { name };
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'name') continue;
    if (!(key in RECIPE_FIELDS)) bad(file, where, `unknown field '${key}' (fields: ${Object.keys(RECIPE_FIELDS).join(', ')})`);
    try {
      (out as unknown as Record<string, unknown>)[key] = checkOption(STAGE, RECIPE_FIELDS, key as keyof Fields & string, value);
    } catch (err) {
      const msg = err instanceof UsageError ? err.message.replace(/^compare: option '[^']+' /, '') : String(err);
      bad(file, where, `${key} ${msg}`);
    }
  }
  if (out.random_seed !== undefined && out.random_pairs === undefined) bad(file, where, 'random_seed needs random_pairs');
  if (out.random_pairs !== undefined && Object.keys(out).some((k) => !['name', 'random_pairs', 'random_seed'].includes(k))) bad(file, where, 'random_pairs is a control on its own: give no other curation field');
  if (out.cap !== undefined && out.sample_threshold !== undefined) bad(file, where, 'cap and sample_threshold are two ways to balance; give one');
  if (out.sample_seed !== undefined && out.sample_threshold === undefined) bad(file, where, 'sample_seed needs sample_threshold');
  if (out.min_similarity !== undefined && out.keep_fraction !== undefined) bad(file, where, 'min_similarity and keep_fraction are two ways to cut by score; give one');
  const needsModel = (['min_similarity', 'keep_fraction', 'dedup_semantic'] as const).filter((f) => out[f] !== undefined);
  if (needsModel.length && out.model === undefined) bad(file, where, `${needsModel.join(' and ')} need a scorer: add "model": "DIR" (any wit model directory)`);
  if (out.model !== undefined) {
    if (!needsModel.length) bad(file, where, 'model is given but nothing uses it (add min_similarity, keep_fraction or dedup_semantic)');
    out.model = isAbsolute(out.model) ? out.model : resolve(baseDir, out.model);
  }
  return out;
}

/** Checks that each scorer model directory exists and holds a model; UsageError naming the recipe otherwise. */
async function checkModels(file: string, recipes: readonly Recipe[]): Promise<void> {
  for (const r of recipes) {
    if (!r.model) continue;
    const st = await stat(join(r.model, 'config.json')).catch(() => undefined);
    if (!st?.isFile()) bad(file, `recipe '${r.name}'`, `model ${r.model} is not a wit model directory (no config.json; make one with wit train or wit model import)`);
  }
}

/** The largest recipes file read (a list of small objects). */
const MAX_RECIPES_BYTES = 1 << 20;

/**
 * Reads and validates recipes.json: a list of recipes, or `{"recipes": [...]}`. Names are unique. Returns
 * `raw` first, then the file's recipes in order. Without a file, `raw` alone. Throws UsageError (exit 2)
 * naming the file, the recipe and the field.
 */
export async function readRecipes(file: string | undefined): Promise<Recipe[]> {
  if (!file) return [RAW];
  // One bounded read (docs/ARCHITECTURE.md, "Reading inputs"): regular files only, a size limit.
  const text = await readInputText(file, { kind: 'config', stage: STAGE });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(STAGE, `not valid JSON: ${(err as Error).message}`, { file });
  }
  const list = Array.isArray(json) ? json : json && typeof json === 'object' && Array.isArray((json as { recipes?: unknown }).recipes) ? (json as { recipes: unknown[] }).recipes : undefined;
  if (!list) throw new UsageError(STAGE, 'expected a list of recipes, or {"recipes": [...]}', { file });
  const baseDir = dirname(resolve(file));
  const recipes = list.map((r, i) => validateRecipe(r, i, file, baseDir));
  const seen = new Set<string>();
  for (const r of recipes) {
    if (seen.has(r.name)) bad(file, `recipe '${r.name}'`, 'the name is used twice');
    seen.add(r.name);
  }
  await checkModels(file, recipes);
  return [RAW, ...recipes];
}
