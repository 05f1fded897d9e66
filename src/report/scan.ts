import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { listShards, readAllShardStats, readShardFile, type PairRecord, type ShardStats } from '../shards/index.js';
import { DistinctCounter } from '../util/distinct.js';
import { Rng } from '../util/rng.js';

/** One shard file's size and rows. */
export interface ShardFileInfo {
  file: string;
  rows: number;
  bytes: number;
}

/** A picked record's place, so that its image can be read in a second pass. */
interface Pick {
  file: string;
  key: string;
  similarity?: number;
}

/** What one pass over a shard set (without images) and a second (with the picked images) found. */
export interface ShardScan {
  files: ShardFileInfo[];
  rows: number;
  /** Distinct images (by sha256) among the rows: one image under several captions counts once. */
  distinctImages: number;
  bytes: number;
  stats: ShardStats[];
  hosts: Map<string, number>;
  pageHosts: Map<string, number>;
  /**
   * Histograms with fixed bins, so memory stays flat however many rows: the longest side as
   * downloaded (bins of log2(px) from SIDE_LOG2_MIN, SIDE_LOG2_STEP wide), caption words (last bin
   * = WORDS_MAX or more), similarity (SIM_BINS over [-1, 1]).
   */
  sideCounts: number[];
  wordCounts: number[];
  simCounts: number[];
  /** Rows with a similarity. */
  scored: number;
  storedSizes: Map<string, number>;
  samples: PairRecord[];
  highest: PairRecord[];
  lowest: PairRecord[];
}

/** Image-side histogram: bins of half a power of two from 4 px (the last bin takes 2^15.5 px and more). */
export const SIDE_LOG2_MIN = 2;
export const SIDE_LOG2_STEP = 0.5;
export const SIDE_BINS = 28;
/** Caption-length histogram: 0..WORDS_MAX words, the last bin takes longer captions. */
export const WORDS_MAX = 40;
/** Similarity histogram: bins of 0.005 over [-1, 1], re-grouped for display. */
export const SIM_BINS = 400;

/** Bin edges of ShardScan.sideCounts, in pixels. */
export function sideEdges(): number[] {
  return Array.from({ length: SIDE_BINS + 1 }, (_, i) => 2 ** (SIDE_LOG2_MIN + i * SIDE_LOG2_STEP));
}

/** Bin edges of ShardScan.simCounts. */
export function simEdges(): number[] {
  return Array.from({ length: SIM_BINS + 1 }, (_, i) => -1 + (2 * i) / SIM_BINS);
}

function host(url: string | null | undefined): string {
  if (!url) return '(none)';
  try {
    return new URL(url).host || '(none)';
  } catch {
    return '(not a url)';
  }
}

/** Keeps the k picks with the highest (or lowest) similarity. */
function keepExtreme(list: Pick[], p: Pick, k: number, highest: boolean): void {
  const better = (a: Pick, b: Pick) => (highest ? a.similarity! > b.similarity! : a.similarity! < b.similarity!);
  if (list.length === k && !better(p, list[list.length - 1]!)) return;
  let i = list.length;
  while (i > 0 && better(p, list[i - 1]!)) i--;
  list.splice(i, 0, p);
  if (list.length > k) list.pop();
}

/**
 * Scans a shard directory: one pass without images for counts, hosts, sizes and similarities,
 * then a pass reading images of only the shards that hold the chosen samples (a seeded uniform
 * sample of `samples` rows, and the `extremes` highest- and lowest-similarity rows).
 */
export async function scanShards(dir: string, opts: { samples?: number; extremes?: number; seed?: number } = {}): Promise<ShardScan> {
  const files = await listShards(dir).catch(() => [] as string[]);
  const scan: ShardScan = {
    files: [],
    rows: 0,
    distinctImages: 0,
    bytes: 0,
    stats: await readAllShardStats(dir),
    hosts: new Map(),
    pageHosts: new Map(),
    sideCounts: new Array<number>(SIDE_BINS).fill(0),
    wordCounts: new Array<number>(WORDS_MAX + 1).fill(0),
    simCounts: new Array<number>(SIM_BINS).fill(0),
    scored: 0,
    storedSizes: new Map(),
    samples: [],
    highest: [],
    lowest: [],
  };
  const nSamples = opts.samples ?? 24;
  const k = opts.extremes ?? 0;
  const rng = new Rng(opts.seed ?? 11);
  const reservoir: Pick[] = [];
  const high: Pick[] = [];
  const low: Pick[] = [];
  let seen = 0;
  const images = new DistinctCounter();
  for (const file of files) {
    let rows = 0;
    for await (const r of readShardFile(file, { images: false })) {
      rows++;
      seen++;
      images.add(r.sha256);
      scan.hosts.set(host(r.url), (scan.hosts.get(host(r.url)) ?? 0) + 1);
      if (r.page_url) scan.pageHosts.set(host(r.page_url), (scan.pageHosts.get(host(r.page_url)) ?? 0) + 1);
      const side = Math.max(1, r.original_width, r.original_height);
      scan.sideCounts[Math.min(SIDE_BINS - 1, Math.max(0, Math.floor((Math.log2(side) - SIDE_LOG2_MIN) / SIDE_LOG2_STEP)))]!++;
      const sz = `${r.width}x${r.height}`;
      if (scan.storedSizes.size < 1000 || scan.storedSizes.has(sz)) scan.storedSizes.set(sz, (scan.storedSizes.get(sz) ?? 0) + 1);
      scan.wordCounts[Math.min(WORDS_MAX, r.caption.split(/\s+/).filter(Boolean).length)]!++;
      const p: Pick = { file, key: r.key };
      if (typeof r.similarity === 'number' && Number.isFinite(r.similarity)) {
        scan.scored++;
        scan.simCounts[Math.min(SIM_BINS - 1, Math.max(0, Math.floor(((r.similarity + 1) / 2) * SIM_BINS)))]!++;
        p.similarity = r.similarity;
        if (k) {
          keepExtreme(high, p, k, true);
          keepExtreme(low, p, k, false);
        }
      }
      // Reservoir sampling: a uniform sample whatever the number of rows.
      if (reservoir.length < nSamples) reservoir.push(p);
      else {
        const j = Math.floor(rng.next() * seen);
        if (j < nSamples) reservoir[j] = p;
      }
    }
    const bytes = (await stat(file)).size;
    scan.files.push({ file: basename(file), rows, bytes });
    scan.rows += rows;
    scan.bytes += bytes;
  }
  scan.distinctImages = images.size;
  const wanted = new Map<string, Set<string>>();
  for (const p of [...reservoir, ...high, ...low]) {
    const s = wanted.get(p.file) ?? new Set<string>();
    s.add(p.key);
    wanted.set(p.file, s);
  }
  const found = new Map<string, PairRecord>();
  for (const [file, keys] of wanted) {
    for await (const r of readShardFile(file, { images: true })) {
      if (keys.has(r.key)) found.set(`${file}\0${r.key}`, r);
    }
  }
  const get = (p: Pick) => found.get(`${p.file}\0${p.key}`);
  scan.samples = reservoir.map(get).filter((r): r is PairRecord => Boolean(r)).sort((a, b) => (a.key < b.key ? -1 : 1));
  scan.highest = high.map(get).filter((r): r is PairRecord => Boolean(r));
  scan.lowest = low.map(get).filter((r): r is PairRecord => Boolean(r));
  return scan;
}

/**
 * Records of input shards that are missing from the matching output shards (a filter writes output
 * shard i from input shard i), with images, up to `limit`; memory holds one output shard's keys.
 */
export async function droppedRecords(inputs: readonly string[], outputs: readonly string[], limit: number): Promise<PairRecord[]> {
  const out: PairRecord[] = [];
  for (let i = 0; i < Math.min(inputs.length, outputs.length) && out.length < limit; i++) {
    const kept = new Set<string>();
    for await (const r of readShardFile(outputs[i]!, { images: false })) kept.add(r.key);
    for await (const r of readShardFile(inputs[i]!, { images: true })) {
      if (!kept.has(r.key)) out.push(r);
      if (out.length >= limit) break;
    }
  }
  return out;
}
