import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../util/tf.js';
import { Rng, fmix32 } from '../util/rng.js';

/**
 * Near-duplicates among unit vectors, SemDeDup-style (docs/ARCHITECTURE.md, "filter: semantic
 * dedup"). Items are numbered 0..n-1 in the order that decides which one survives (key order): an
 * item is a near-duplicate when its cosine to an earlier item that is itself kept is >= T.
 *
 * Up to EXACT_UP_TO items, every pair is compared (one cluster). Above, the work is linear in n:
 *   1. spherical k-means on a sample (about SAMPLE_PER_CLUSTER vectors per cluster, clusters of
 *      about `clusterSize` items);
 *   2. every vector goes to its nearest centroid's cluster (its home) and, as a guest, to the next
 *      `probes - 1` nearest ones (so a near-duplicate pair split by a cluster border still meets in
 *      the home of one of them), written to one spill file per cluster: memory holds one cluster,
 *      not the corpus;
 *   3. per cluster, homes are compared with homes and guests with homes (blocks of a tf.matMul), and
 *      each item's neighbours at cosine >= T are kept as edges (at most MAX_EDGES per item and
 *      cluster, the earliest);
 *   4. a greedy pass over the edges in item order: an item is dropped when one of its earlier
 *      neighbours was kept, and duplicates the closest kept one.
 * A pair is missed only when neither item's home is among the other's `probes` nearest centroids;
 * bench/semantic-dedup.ts measures the share against the all-pairs answer.
 *
 * Linear for any input (bench/semantic-dedup.ts --adversarial):
 *   - exact duplicates (byte-identical vectors, e.g. one image everywhere) are collapsed in each
 *     cluster before any comparison: every later copy is a duplicate of the earliest (it is dropped
 *     whatever happens to the earliest, as the greedy definition says, and never decides another
 *     item), so a group of a million copies costs a hash each, not a million squared;
 *   - a cluster with more than `maxClusterHomes` homes after that (a tight group of near-identical
 *     vectors k-means cannot split) is compared in chunks of CHUNK_FACTOR x clusterSize homes in item
 *     order, each chunk with itself and with the cluster's earliest `clusterSize` homes (its leaders,
 *     the items a later near-duplicate most likely meets kept); guests meet the leaders only.
 * Cosines are compared with a tolerance: a pair is a near-duplicate when cos >= T - SIM_TOLERANCE,
 * so T = 1 finds identical images although float32 dot products round (docs/ARCHITECTURE.md).
 */

/** A batch of vectors from a scan: item numbers and their vectors, row-major. */
export interface VectorBatch {
  items: Int32Array;
  vectors: Float32Array;
}

export interface NearDuplicateOptions {
  /** Items are 0..n-1. */
  n: number;
  dim: number;
  /** Cosine threshold. */
  threshold: number;
  /** Streams the items' vectors (any order, each item at most once); called once or twice. */
  scan: () => AsyncIterable<VectorBatch>;
  /** Directory for the spill files (created, and removed at the end). */
  workDir: string;
  /** Average items per cluster (CLUSTER_SIZE). */
  clusterSize?: number;
  /** Clusters each vector joins (PROBES). */
  probes?: number;
  /** Compare all pairs up to this many items (EXACT_UP_TO). */
  exactUpTo?: number;
  /** Homes a cluster may hold before it is compared in chunks (MAX_CLUSTER_FACTOR x clusterSize). */
  maxClusterHomes?: number;
  seed?: number;
  checkAbort?: () => void;
  onLog?: (line: string) => void;
}

export interface NearDuplicateResult {
  /** Item -> the earlier kept item it duplicates. */
  duplicateOf: Map<number, number>;
  clusters: number;
  /** Vectors scanned (items without a vector are never duplicates). */
  vectors: number;
  /** Pairs compared, summed over clusters. */
  comparisons: number;
  /** Distinct near-duplicate edges found. */
  edges: number;
  /** Wall seconds by phase: sample and k-means, assignment to clusters (with the spill), comparisons. */
  seconds: { cluster: number; assign: number; compare: number };
}

export const CLUSTER_SIZE = 512;
/** Cosines this far under the threshold still count: the rounding of a float32 dot product of unit vectors. */
export const SIM_TOLERANCE = 1e-5;
/** A cluster over this many times CLUSTER_SIZE homes is compared in chunks. */
export const MAX_CLUSTER_FACTOR = 8;
/** Homes per chunk of an oversized cluster, in units of the cluster size. */
const CHUNK_FACTOR = 2;
export const PROBES = 6;
export const EXACT_UP_TO = 8192;
const SAMPLE_PER_CLUSTER = 48;
const KMEANS_ITERATIONS = 12;
/** Sample rows per k-means assignment block. */
const KMEANS_ROWS = 4096;
const MAX_EDGES = 64;
/** Similarities computed by one matMul block (rows x earlier members), 64 MB. */
const BLOCK_CELLS = 16 << 20;
/** Bytes of spill buffers in all (each cluster writes its share when full; at least 16 records each). */
const SPILL_BUFFER = 64 << 20;

export async function findNearDuplicates(o: NearDuplicateOptions): Promise<NearDuplicateResult> {
  const exactUpTo = o.exactUpTo ?? EXACT_UP_TO;
  const edges = new EdgeList();
  const exactOf = new Map<number, number>();
  const clusterSize = o.clusterSize ?? CLUSTER_SIZE;
  const threshold = o.threshold - SIM_TOLERANCE;
  let comparisons = 0;
  let vectors = 0;
  let clusters = 1;
  const seconds = { cluster: 0, assign: 0, compare: 0 };
  let t = performance.now();
  const lap = (phase: keyof typeof seconds) => {
    const now = performance.now();
    seconds[phase] += (now - t) / 1000;
    t = now;
  };
  if (o.n <= exactUpTo) {
    const all = await collect(o.scan(), o.dim);
    vectors = all.items.length;
    comparisons += clusterEdges(collapseIdentical(all, o.dim, exactOf), o.dim, threshold, edges, { checkAbort: o.checkAbort });
    lap('compare');
  } else {
    clusters = Math.max(2, Math.ceil(o.n / clusterSize));
    const chunking = { maxHomes: o.maxClusterHomes ?? MAX_CLUSTER_FACTOR * clusterSize, chunk: CHUNK_FACTOR * clusterSize, leaders: clusterSize, checkAbort: o.checkAbort };
    const probes = Math.min(clusters, o.probes ?? PROBES);
    const sample = await sampleVectors(o, clusters);
    const centroids = sphericalKMeans(sample, o.dim, clusters, o.seed ?? 1);
    lap('cluster');
    o.onLog?.(`filter: semantic dedup: ${clusters} clusters from a sample of ${sample.items.length}; each vector joins its ${probes} nearest`);
    await rm(o.workDir, { recursive: true, force: true });
    await mkdir(o.workDir, { recursive: true });
    try {
      const spill = new Spill(o.workDir, clusters, o.dim);
      vectors = await assign(o, centroids, probes, spill);
      await spill.close();
      lap('assign');
      for (let c = 0; c < clusters; c++) {
        o.checkAbort?.();
        const members = await spill.read(c);
        comparisons += clusterEdges(collapseIdentical(members, o.dim, exactOf), o.dim, threshold, edges, chunking);
        if (c % 64 === 63) o.onLog?.(`filter: semantic dedup: ${c + 1}/${clusters} clusters compared`);
      }
      centroids.dispose();
      lap('compare');
    } finally {
      await rm(o.workDir, { recursive: true, force: true });
    }
  }
  const unique = edges.sortedUnique();
  const duplicateOf = greedy(unique, exactOf);
  lap('compare');
  return { duplicateOf, clusters, vectors, comparisons, edges: unique.from.length, seconds };
}

async function collect(batches: AsyncIterable<VectorBatch>, dim: number): Promise<VectorBatch> {
  const items: number[] = [];
  const chunks: Float32Array[] = [];
  for await (const b of batches) {
    for (const i of b.items) items.push(i);
    chunks.push(b.vectors.slice(0, b.items.length * dim));
  }
  const vectors = new Float32Array(items.length * dim);
  let at = 0;
  for (const c of chunks) {
    vectors.set(c, at);
    at += c.length;
  }
  return { items: Int32Array.from(items), vectors };
}

/** A deterministic sample (by a hash of the item number) of about SAMPLE_PER_CLUSTER per cluster. */
async function sampleVectors(o: NearDuplicateOptions, clusters: number): Promise<VectorBatch> {
  const p = Math.min(1, (SAMPLE_PER_CLUSTER * clusters) / o.n);
  const cut = p * 2 ** 32;
  async function* sampled(): AsyncIterable<VectorBatch> {
    for await (const b of o.scan()) {
      const keep: number[] = [];
      for (let i = 0; i < b.items.length; i++) if (fmix32(b.items[i]! ^ 0x5bd1e995) < cut) keep.push(i);
      const vectors = new Float32Array(keep.length * o.dim);
      keep.forEach((i, j) => vectors.set(b.vectors.subarray(i * o.dim, (i + 1) * o.dim), j * o.dim));
      yield { items: Int32Array.from(keep, (i) => b.items[i]!), vectors };
    }
  }
  return collect(sampled(), o.dim);
}

/** Spherical k-means (cosine): centroids are normalised means. Empty clusters keep their centroid. */
function sphericalKMeans(sample: VectorBatch, dim: number, k: number, seed: number): tf.Tensor2D {
  const m = sample.items.length;
  const rng = new Rng(seed);
  // Distinct starting points, chosen by a seeded shuffle of the sample (in item order, so the
  // result does not depend on the order the scan delivered them).
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => sample.items[a]! - sample.items[b]!);
  for (let i = m - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const init = new Float32Array(k * dim);
  for (let c = 0; c < k; c++) {
    const from = order[c % Math.max(1, m)];
    if (from !== undefined) init.set(sample.vectors.subarray(from * dim, (from + 1) * dim), c * dim);
    else init[c * dim + (c % dim)] = 1;
  }
  if (m === 0) return tf.tensor2d(init, [k, dim]);
  const x = tf.tensor2d(sample.vectors, [m, dim]);
  let centroids = tf.tensor2d(init, [k, dim]);
  for (let it = 0; it < KMEANS_ITERATIONS; it++) {
    const next = tf.tidy(() => {
      // Nearest centroids a block of rows at a time: the whole sample x centroids matrix would be
      // ~48 k^2 floats (700 MB at 2,000 clusters).
      const parts: tf.Tensor1D[] = [];
      for (let start = 0; start < m; start += KMEANS_ROWS) {
        const rows = Math.min(KMEANS_ROWS, m - start);
        // Its own tidy, so that each block's similarities are freed before the next one.
        parts.push(tf.tidy(() => tf.argMax(tf.matMul(x.slice([start, 0], [rows, dim]), centroids, false, true), 1) as tf.Tensor1D));
      }
      const nearest = parts.length === 1 ? parts[0]! : tf.concat(parts);
      const sums = tf.unsortedSegmentSum(x, nearest.toInt() as tf.Tensor1D, k);
      const norms = tf.norm(sums, 2, 1, true);
      // An empty cluster (norm 0) keeps its centroid.
      return tf.where(tf.greater(norms, 0).tile([1, dim]), tf.div(sums, tf.maximum(norms, 1e-12)), centroids) as tf.Tensor2D;
    });
    centroids.dispose();
    centroids = next;
  }
  x.dispose();
  return centroids;
}

/** Second scan: each vector to its `probes` nearest centroids' spill files. */
async function assign(o: NearDuplicateOptions, centroids: tf.Tensor2D, probes: number, spill: Spill): Promise<number> {
  let vectors = 0;
  for await (const b of o.scan()) {
    o.checkAbort?.();
    const rows = b.items.length;
    if (!rows) continue;
    vectors += rows;
    const top = tf.tidy(() => tf.topk(tf.matMul(tf.tensor2d(b.vectors.subarray(0, rows * o.dim), [rows, o.dim]), centroids, false, true), probes).indices);
    const indices = top.dataSync();
    top.dispose();
    for (let i = 0; i < rows; i++) {
      // The nearest centroid is the vector's home; the next ones get it as a guest (-item - 1).
      for (let p = 0; p < probes; p++) await spill.add(indices[i * probes + p]!, p === 0 ? b.items[i]! : -b.items[i]! - 1, b.vectors.subarray(i * o.dim, (i + 1) * o.dim));
    }
  }
  return vectors;
}

/**
 * One cluster's members with byte-identical vectors collapsed to the earliest item of each group
 * (which keeps its home or guest role); every later one is recorded in `exactOf` (item -> an
 * earlier identical item). Vectors are grouped by a 53-bit hash of their bytes and compared byte for
 * byte, so a hash collision never merges two vectors.
 */
function collapseIdentical(members: VectorBatch, dim: number, exactOf: Map<number, number>): VectorBatch {
  const n = members.items.length;
  const words = new Uint32Array(members.vectors.buffer, members.vectors.byteOffset, n * dim);
  const itemOf = (i: number) => {
    const it = members.items[i]!;
    return it >= 0 ? it : -it - 1;
  };
  const same = (a: number, b: number) => {
    for (let k = 0; k < dim; k++) if (words[a * dim + k] !== words[b * dim + k]) return false;
    return true;
  };
  const groups = new Map<number, number[]>(); // hash -> member indices of distinct vectors
  const repOf = new Int32Array(n).fill(-1); // member -> the member holding its group's earliest item
  for (let i = 0; i < n; i++) {
    let h1 = 0x9747b28c, h2 = 0x85ebca6b;
    for (let k = 0; k < dim; k++) {
      const w = words[i * dim + k]!;
      h1 = fmix32((h1 ^ w) + k);
      h2 = Math.imul(h2 ^ w, 0x01000193) >>> 0;
    }
    const key = h1 * 2 ** 21 + (h2 & 0x1fffff);
    const list = groups.get(key);
    const rep = list?.find((j) => same(i, j));
    if (rep === undefined) {
      if (list) list.push(i);
      else groups.set(key, [i]);
      repOf[i] = i;
      continue;
    }
    if (itemOf(i) < itemOf(rep)) {
      // the new member is earlier: it becomes the group's representative in its place
      list!.splice(list!.indexOf(rep), 1, i);
      repOf[i] = i;
      repOf[rep] = i;
    } else {
      repOf[i] = rep;
    }
  }
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    let r = repOf[i]!;
    while (repOf[r] !== r) r = repOf[r]!;
    if (r === i) keep.push(i);
    else if (itemOf(i) !== itemOf(r)) exactOf.set(itemOf(i), Math.min(itemOf(r), exactOf.get(itemOf(i)) ?? Infinity));
  }
  if (keep.length === n) return members;
  const vectors = new Float32Array(keep.length * dim);
  keep.forEach((from, to) => vectors.set(members.vectors.subarray(from * dim, (from + 1) * dim), to * dim));
  return { items: Int32Array.from(keep, (i) => members.items[i]!), vectors };
}

/** How one cluster is compared: in chunks above `maxHomes` homes (see the header). */
interface Chunking {
  maxHomes?: number;
  chunk?: number;
  leaders?: number;
  checkAbort?: () => void;
}

/**
 * The near-duplicate edges of one cluster. Members are homes (item >= 0: the cluster is their
 * nearest centroid) or guests (stored as -item - 1: one of their next nearest). Homes are compared
 * with each other (each pair once) and guests with every home, never guests with guests: a pair
 * is found in the home cluster of either of its items when the other probes it. For each row, its
 * neighbours at cosine >= threshold become edges (later item -> earlier item), at most MAX_EDGES,
 * the earliest. Returns the number of pairs compared.
 */
function clusterEdges(members: VectorBatch, dim: number, threshold: number, edges: EdgeList, chunking: Chunking): number {
  const checkAbort = chunking.checkAbort;
  const homeIdx: number[] = [];
  const guestIdx: number[] = [];
  members.items.forEach((it, i) => (it >= 0 ? homeIdx : guestIdx).push(i));
  const itemOf = (i: number) => {
    const it = members.items[i]!;
    return it >= 0 ? it : -it - 1;
  };
  const byItem = (a: number, b: number) => itemOf(a) - itemOf(b);
  homeIdx.sort(byItem);
  guestIdx.sort(byItem);
  const h = homeIdx.length;
  if (!h) return 0;
  if (chunking.maxHomes !== undefined && h > chunking.maxHomes) return chunkedEdges(members, dim, homeIdx, guestIdx, itemOf, threshold, edges, chunking);
  const pack = (idx: number[]) => {
    const v = new Float32Array(idx.length * dim);
    idx.forEach((from, to) => v.set(members.vectors.subarray(from * dim, (from + 1) * dim), to * dim));
    return { items: Int32Array.from(idx, itemOf), t: tf.tensor2d(v, [idx.length, dim]) };
  };
  const homes = pack(homeIdx);
  const guests = guestIdx.length ? pack(guestIdx) : undefined;
  let comparisons = 0;
  try {
    // Homes against earlier homes (the lower triangle), then guests against all homes.
    comparisons += edgeBlocks(homes.t, homes.items, homes, true, threshold, edges, checkAbort);
    if (guests) comparisons += edgeBlocks(guests.t, guests.items, homes, false, threshold, edges, checkAbort);
  } finally {
    homes.t.dispose();
    guests?.t.dispose();
  }
  return comparisons;
}

/**
 * An oversized cluster (a tight group of near-identical vectors): homes in item order, in chunks;
 * each chunk against itself and the cluster's leaders (its earliest homes), guests against the
 * leaders. Linear in the cluster's size: (chunk / 2 + leaders) comparisons per home.
 */
function chunkedEdges(members: VectorBatch, dim: number, homeIdx: number[], guestIdx: number[], itemOf: (i: number) => number, threshold: number, edges: EdgeList, chunking: Chunking): number {
  const chunk = Math.max(1, chunking.chunk ?? CHUNK_FACTOR * CLUSTER_SIZE);
  const leaders = Math.min(chunk, Math.max(1, chunking.leaders ?? CLUSTER_SIZE));
  const pack = (idx: number[]) => {
    const v = new Float32Array(idx.length * dim);
    idx.forEach((from, to) => v.set(members.vectors.subarray(from * dim, (from + 1) * dim), to * dim));
    return { items: Int32Array.from(idx, itemOf), t: tf.tensor2d(v, [idx.length, dim]) };
  };
  const lead = homeIdx.slice(0, leaders);
  let comparisons = 0;
  for (let start = 0; start < homeIdx.length; start += chunk) {
    // the chunk after the leaders (chunk 0 holds them): rows from `skip` on meet every earlier column
    const skip = start === 0 ? 0 : lead.length;
    const set = pack(start === 0 ? homeIdx.slice(0, chunk) : [...lead, ...homeIdx.slice(start, start + chunk)]);
    try {
      comparisons += edgeBlocks(set.t, set.items, set, true, threshold, edges, chunking.checkAbort, skip);
    } finally {
      set.t.dispose();
    }
  }
  if (guestIdx.length) {
    const homes = pack(lead);
    const guests = pack(guestIdx);
    try {
      comparisons += edgeBlocks(guests.t, guests.items, homes, false, threshold, edges, chunking.checkAbort);
    } finally {
      homes.t.dispose();
      guests.t.dispose();
    }
  }
  return comparisons;
}

/**
 * Rows (sorted by item) against the homes (sorted by item), in blocks of one tf.matMul each. With
 * `triangle` the rows are the homes themselves and only earlier columns are compared, from row
 * `firstRow` on (the rows before it were compared elsewhere).
 */
function edgeBlocks(rowsT: tf.Tensor2D, rowItems: Int32Array, homes: { items: Int32Array; t: tf.Tensor2D }, triangle: boolean, threshold: number, edges: EdgeList, checkAbort?: () => void, firstRow = 0): number {
  const n = rowItems.length;
  const h = homes.items.length;
  const dim = rowsT.shape[1];
  const rowsPerBlock = Math.max(1, Math.min(1024, Math.floor(BLOCK_CELLS / h)));
  let comparisons = 0;
  for (let start = triangle ? Math.max(1, firstRow) : firstRow; start < n; start += rowsPerBlock) {
    checkAbort?.();
    const end = Math.min(n, start + rowsPerBlock);
    const cols = triangle ? end - 1 : h;
    // (tf.tidy returns the tensor, not its data: tidy walks what it returns, element by element.)
    const simsT = tf.tidy(() => tf.matMul(rowsT.slice([start, 0], [end - start, dim]), homes.t.slice([0, 0], [cols, dim]), false, true));
    const sims = simsT.dataSync() as Float32Array;
    simsT.dispose();
    for (let r = start; r < end; r++) {
      const row = (r - start) * cols;
      const a = rowItems[r]!;
      const upTo = triangle ? r : cols;
      let found = 0;
      for (let c = 0; c < upTo && found < MAX_EDGES; c++) {
        const sim = sims[row + c]!;
        if (sim < threshold) continue;
        const b = homes.items[c]!;
        if (a > b) edges.add(a, b, sim);
        else if (b > a) edges.add(b, a, sim);
        else continue;
        found++;
      }
      comparisons += upTo;
    }
  }
  return comparisons;
}

/**
 * Greedy in item order over edges sorted by (from, to), each from a later to an earlier item. An
 * exact duplicate (`exactOf`) is dropped whatever its edges say and never decides another item (a
 * later item near it is as near its earlier twin): it duplicates its earliest twin, or the item
 * that twin duplicates when the twin was dropped.
 */
function greedy(e: { from: Int32Array; to: Int32Array; sim: Float32Array }, exactOf: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  let i = 0;
  while (i < e.from.length) {
    const from = e.from[i]!;
    let best = -1;
    let bestSim = -Infinity;
    if (exactOf.has(from)) {
      for (; i < e.from.length && e.from[i] === from; i++);
      continue;
    }
    for (; i < e.from.length && e.from[i] === from; i++) {
      const to = e.to[i]!;
      if (!out.has(to) && !exactOf.has(to) && e.sim[i]! > bestSim) {
        best = to;
        bestSim = e.sim[i]!;
      }
    }
    if (best >= 0) out.set(from, best);
  }
  for (const item of [...exactOf.keys()].sort((a, b) => a - b)) {
    let twin = exactOf.get(item)!;
    while (exactOf.has(twin)) twin = exactOf.get(twin)!;
    out.set(item, out.get(twin) ?? twin);
  }
  return out;
}

/** Growable (from, to, similarity) triples. */
class EdgeList {
  from = new Int32Array(1024);
  to = new Int32Array(1024);
  sim = new Float32Array(1024);
  length = 0;

  add(from: number, to: number, sim: number): void {
    if (this.length === this.from.length) {
      const grow = <T extends Int32Array | Float32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.from = grow(this.from);
      this.to = grow(this.to);
      this.sim = grow(this.sim);
    }
    this.from[this.length] = from;
    this.to[this.length] = to;
    this.sim[this.length] = sim;
    this.length++;
  }

  /** Sorted by (from, to), each pair once (the same pair may come from several clusters). */
  sortedUnique(): { from: Int32Array; to: Int32Array; sim: Float32Array } {
    const idx = Array.from({ length: this.length }, (_, i) => i).sort((a, b) => this.from[a]! - this.from[b]! || this.to[a]! - this.to[b]!);
    const keep = idx.filter((k, j) => j === 0 || this.from[k] !== this.from[idx[j - 1]!] || this.to[k] !== this.to[idx[j - 1]!]);
    return { from: Int32Array.from(keep, (k) => this.from[k]!), to: Int32Array.from(keep, (k) => this.to[k]!), sim: Float32Array.from(keep, (k) => this.sim[k]!) };
  }
}

/** One spill file per cluster of (item int32, vector float32 x dim) records, buffered in memory. */
class Spill {
  private readonly buffers: Float32Array[];
  private readonly fill: number[];
  private readonly files: (FileHandle | undefined)[];
  private readonly record: number;
  private readonly perCluster: number;

  constructor(
    private readonly dir: string,
    clusters: number,
    private readonly dim: number,
  ) {
    this.record = dim + 1;
    // Records buffered per cluster, so that all buffers together stay within SPILL_BUFFER.
    this.perCluster = Math.max(16, Math.floor(SPILL_BUFFER / 4 / this.record / clusters));
    this.buffers = Array.from({ length: clusters }, () => new Float32Array(0));
    this.fill = new Array<number>(clusters).fill(0);
    this.files = new Array<FileHandle | undefined>(clusters).fill(undefined);
  }

  async add(cluster: number, item: number, vector: Float32Array): Promise<void> {
    let buf = this.buffers[cluster]!;
    if (buf.length === 0) buf = this.buffers[cluster] = new Float32Array(this.perCluster * this.record);
    const at = this.fill[cluster]! * this.record;
    new Int32Array(buf.buffer, at * 4, 1)[0] = item;
    buf.set(vector, at + 1);
    if (++this.fill[cluster]! === this.perCluster) await this.flush(cluster);
  }

  private async flush(cluster: number): Promise<void> {
    const n = this.fill[cluster]!;
    if (!n) return;
    const f = (this.files[cluster] ??= await open(join(this.dir, `c${cluster}.bin`), 'w'));
    const buf = this.buffers[cluster]!;
    await f.write(new Uint8Array(buf.buffer, 0, n * this.record * 4));
    this.fill[cluster] = 0;
  }

  async close(): Promise<void> {
    for (let c = 0; c < this.buffers.length; c++) {
      await this.flush(c);
      await this.files[c]?.close();
      this.files[c] = undefined;
      this.buffers[c] = new Float32Array(0);
    }
  }

  async read(cluster: number): Promise<VectorBatch> {
    let bytes: Buffer;
    try {
      const f = await open(join(this.dir, `c${cluster}.bin`), 'r');
      try {
        bytes = await f.readFile();
      } finally {
        await f.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { items: new Int32Array(0), vectors: new Float32Array(0) };
      throw err;
    }
    // A typed view needs a 4-byte aligned offset; small reads may come from Node's shared pool.
    const raw = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(bytes);
    const floats = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const ints = new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const n = floats.length / this.record;
    const items = new Int32Array(n);
    const vectors = new Float32Array(n * this.dim);
    for (let i = 0; i < n; i++) {
      items[i] = ints[i * this.record]!;
      vectors.set(floats.subarray(i * this.record + 1, (i + 1) * this.record), i * this.dim);
    }
    return { items, vectors };
  }
}
