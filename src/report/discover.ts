import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { readManifest, type RunManifest } from '../shards/index.js';
import { UsageError } from '../util/errors.js';

/** A query list found in a run: `queries.tsv` and its `.summary.json` when present. */
export interface FoundQueries {
  tsv: string;
  summary?: string;
}

/** A directory of shards, with its manifest when it has one (stage: crawl, filter, …). */
export interface FoundShards {
  dir: string;
  manifest?: RunManifest;
  /** manifest.stage, or 'shards' when there is no manifest. */
  stage: string;
}

/** A model directory written by `wit train`. */
export interface FoundModel {
  dir: string;
  metrics?: string;
  config?: string;
}

/** Everything the report found under the --run paths. */
export interface RunInventory {
  queries: FoundQueries[];
  shards: FoundShards[];
  models: FoundModel[];
  /** Evaluation results (JSON with a zero_shot or retrieval object). */
  evals: string[];
  /** Embedding indexes made by wit embed (directories holding wit-index.json). */
  indexes: string[];
  /** Folders of wit compare (holding compare.json). */
  compares: string[];
}

const SKIP_DIRS = new Set(['node_modules', '.git', 'status']); // status/: url-list outcomes of Parquet shards, not shards

async function firstLine(file: string): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(256);
    const { bytesRead } = await fh.read(buf, 0, 256, 0);
    return buf.subarray(0, bytesRead).toString('utf8').split('\n')[0]!.replace(/\r$/, '');
  } finally {
    await fh.close();
  }
}

/** True for a `query<TAB>source<TAB>count` file (querygen's output). */
async function isQueryList(file: string): Promise<boolean> {
  try {
    return /^query\tsource\tcount$/.test(await firstLine(file));
  } catch {
    return false;
  }
}

async function isEvalJson(file: string): Promise<boolean> {
  // wit eval's own file name: shown even when damaged (not JSON, NaN in it, too large), so that the
  // report names what is wrong with it instead of leaving the evaluation out without a word
  if (basename(file) === 'eval.json') return true;
  try {
    const st = await stat(file);
    if (st.size > 5_000_000) return false;
    const j = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    return Boolean(j && typeof j === 'object' && ('zero_shot' in j || 'zeroShot' in j || 'retrieval' in j));
  } catch {
    return false;
  }
}

/**
 * Finds what a set of run paths holds: query lists (a TSV whose header is `query source count`),
 * shard directories (with or without manifest.json), model directories (metrics.jsonl or
 * config.json + tokenizer.json) and evaluation JSON files. Each path may be one of those itself,
 * or a folder holding them (searched `depth` levels down; hidden folders skipped).
 * Throws UsageError when a path does not exist.
 */
export async function discoverRuns(paths: readonly string[], depth = 3): Promise<RunInventory> {
  const inv: RunInventory = { queries: [], shards: [], models: [], evals: [], indexes: [], compares: [] };
  const seen = new Set<string>();
  const addFile = async (file: string) => {
    const f = resolve(file);
    if (seen.has(f)) return;
    seen.add(f);
    const name = basename(f);
    if (name.endsWith('.tsv') && name !== 'query_counts.tsv' && (await isQueryList(f))) {
      const summary = f.replace(/\.tsv$/, '.summary.json');
      inv.queries.push({ tsv: f, summary: (await stat(summary).catch(() => undefined)) ? summary : undefined });
    } else if (name.endsWith('.json') && !name.endsWith('_stats.json') && !['manifest.json', 'config.json', 'tokenizer.json'].includes(name) && (await isEvalJson(f))) {
      inv.evals.push(f);
    } else if (name === 'metrics.jsonl') {
      await addDir(dirname(f), 0);
    } else if (name.endsWith('.parquet') || name.endsWith('.tar')) {
      await addDir(dirname(f), 0);
    }
  };
  const addDir = async (dir: string, level: number): Promise<void> => {
    const d = resolve(dir);
    if (seen.has(d)) return;
    seen.add(d);
    let names: string[];
    try {
      names = (await readdir(d)).sort();
    } catch {
      return;
    }
    const has = new Set(names);
    if (has.has('compare.json') || has.has('compare.plan.json')) {
      // Its cells' models, evals and curated pools belong to the compare section, not to the others.
      if (has.has('compare.json')) inv.compares.push(d);
      return;
    }
    if (has.has('wit-index.json')) {
      // LanceDB's files inside are not runs.
      inv.indexes.push(d);
      return;
    }
    const isModel = has.has('metrics.jsonl') || (has.has('config.json') && has.has('tokenizer.json'));
    if (isModel) {
      inv.models.push({ dir: d, metrics: has.has('metrics.jsonl') ? join(d, 'metrics.jsonl') : undefined, config: has.has('config.json') ? join(d, 'config.json') : undefined });
    }
    // a files shard's folder (img2dataset's layout) has its completion record beside it: it is part of this run, no run of its own
    const folderShard = (n: string) => !n.includes('.') && has.has(`${n}_stats.json`);
    if (has.has('manifest.json') || names.some((n) => /\.(parquet|tar)$/.test(n) && !n.startsWith('.'))) {
      let manifest: RunManifest | undefined;
      try {
        manifest = await readManifest(d);
      } catch {
        manifest = undefined;
      }
      if (manifest || names.some((n) => /\.(parquet|tar)$/.test(n) && !n.startsWith('.'))) inv.shards.push({ dir: d, manifest, stage: String(manifest?.stage ?? 'shards') });
    }
    for (const n of names) {
      if (n.startsWith('.') || SKIP_DIRS.has(n) || folderShard(n)) continue;
      // A model's checkpoints are copies of the model, not more models.
      if (isModel && n === 'checkpoints') continue;
      const p = join(d, n);
      const st = await stat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        if (level < depth) await addDir(p, level + 1);
      } else if (/\.(tsv|json)$/.test(n)) {
        await addFile(p);
      }
    }
  };
  for (const p of paths) {
    const st = await stat(p).catch(() => undefined);
    if (!st) throw new UsageError('report', 'no such file or directory', { file: p });
    if (st.isDirectory()) await addDir(p, 0);
    else await addFile(p);
  }
  return inv;
}
