import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic, statsPathFor, type ShardStats } from './writer.js';
import { listShards } from './reader.js';
import { InputError } from '../util/errors.js';

/** `manifest.json` of a run directory: what made it and what it holds. */
export interface RunManifest {
  /** Stage that wrote the run: crawl, filter, … */
  stage: string;
  version: string;
  created: string;
  /** Options the stage ran with (for reruns and reports). */
  options: Record<string, unknown>;
  inputs: string[];
  shards: string[];
  /** Totals over all shards (counts, outcomes by reason, …). */
  totals: Record<string, unknown>;
  /**
   * The shard set's identity (docs/ARCHITECTURE.md, "Shard sets and pair identity"): a random id
   * given when the folder's first manifest is written and kept by every rewrite of it, so two
   * crawls whose keys and shard names are the same (keys restart in every run) stay apart.
   */
  set_id?: string;
  [extra: string]: unknown;
}

/**
 * Writes `dir/manifest.json` atomically. The set id is the folder's own: the one its manifest
 * already holds, else a new one; a `set_id` in `manifest` (copied from another folder's manifest,
 * as convert does) is never taken over.
 */
export async function writeManifest(dir: string, manifest: RunManifest): Promise<void> {
  const own = await readManifest(dir).catch(() => undefined);
  const setId = typeof own?.set_id === 'string' && own.set_id ? own.set_id : randomUUID();
  await writeJsonAtomic(join(dir, 'manifest.json'), { ...manifest, set_id: setId });
}

/** The set id of the run folder `dir` (from its manifest.json), or undefined (no manifest, or one written before set ids). */
export async function readSetId(dir: string): Promise<string | undefined> {
  const m = await readManifest(dir).catch(() => undefined);
  return typeof m?.set_id === 'string' && m.set_id ? m.set_id : undefined;
}

/** Reads `dir/manifest.json`, or undefined when absent; InputError when it is not JSON. */
export async function readManifest(dir: string): Promise<RunManifest | undefined> {
  const path = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as RunManifest;
  } catch (err) {
    throw new InputError('shards', path, `manifest is not valid JSON: ${(err as Error).message}`);
  }
}

/** Stats of a finished shard, or undefined when the shard is not finished (no stats file). */
export async function readShardStats(shardFile: string): Promise<ShardStats | undefined> {
  try {
    return JSON.parse(await readFile(statsPathFor(shardFile), 'utf8')) as ShardStats;
  } catch {
    return undefined;
  }
}

/** Stats of every finished shard in a directory, in shard order. */
export async function readAllShardStats(dir: string): Promise<ShardStats[]> {
  let files: string[];
  try {
    files = await listShards(dir);
  } catch {
    return [];
  }
  const out: ShardStats[] = [];
  for (const f of files) {
    const s = await readShardStats(f);
    if (s) out.push(s);
  }
  return out;
}
