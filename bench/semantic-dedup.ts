/**
 * bench/semantic-dedup: `wit filter --dedup-semantic`'s decision step (src/filter/near-duplicates.ts)
 * on synthetic embeddings, wasm backend as the filter runs it.
 *
 *   npm run bench:semdedup -- [--sizes 10000,100000,1000000] [--dim 512] [--exact-up-to 100000] [--threshold 0.95]
 *                             [--cluster-size N] [--probes P]   (defaults: near-duplicates.ts)
 *
 * Data: `dim`-d unit vectors around 1,000 topic centres (cosine to their centre ~0.45, as CLIP image
 * embeddings of one topic are), and every 20th item a planted near-duplicate of an earlier item
 * (cosine ~0.98). Vectors are made on the fly from the item number, so the corpus takes no memory.
 * For each size: the clustered path (as the filter runs it above EXACT_UP_TO items) and, up to
 * --exact-up-to, all pairs (the exact answer). Prints wall seconds, peak RSS, pairs compared, the
 * near-duplicates found, the planted ones found, and the agreement with all pairs.
 *
 *   npm run bench:semdedup -- --adversarial 160000 [--sizes ''] [--threshold 1]
 *
 * Adversarial inputs (the clustered path only): `identical`, every odd item the same vector (half the
 * corpus one point: the quadratic case of a large group of exact duplicates, e.g. one stock image
 * everywhere); `tight`, every odd item that vector plus noise of cosine ~0.9999 (a near-identical
 * group no exact hash collapses). Expected: every odd item but the first (n/2 - 1) dropped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findNearDuplicates, type VectorBatch } from '../src/filter/near-duplicates.js';
import { initBackend } from '../src/train/index.js';
import { Rng, mixSeed } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    dim: { type: 'string', default: '512' },
    'exact-up-to': { type: 'string', default: '100000' },
    threshold: { type: 'string', default: '0.95' },
    'cluster-size': { type: 'string' },
    probes: { type: 'string' },
    adversarial: { type: 'string' },
  },
});
const dim = Number(values.dim);
const T = Number(values.threshold);
const TOPICS = 1000;
const EVERY = 20;

const centres: Float32Array[] = (() => {
  const rng = new Rng(7);
  return Array.from({ length: TOPICS }, () => unit(Float32Array.from({ length: dim }, () => rng.normal())));
})();

function unit(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

/** The adversarial case being run (see the header), or none. */
let adversarial: 'identical' | 'tight' | undefined;
const GROUP = (() => {
  const rng = new Rng(99);
  return unit(Float32Array.from({ length: dim }, () => rng.normal()));
})();

/** Item i's vector, written into `out`. Planted near-duplicates copy an earlier ordinary item. */
function vectorOf(i: number, out: Float32Array): void {
  const rng = new Rng(mixSeed(11, i));
  if (adversarial && i % 2 === 1) {
    out.set(GROUP);
    if (adversarial === 'identical') return;
    for (let k = 0; k < dim; k++) out[k]! += (0.01 / Math.sqrt(dim)) * rng.normal();
    unit(out);
    return;
  }
  if (i % EVERY === EVERY - 1) {
    const of = baseOf(i);
    vectorOf(of, out);
    for (let k = 0; k < dim; k++) out[k]! += (0.2 / Math.sqrt(dim)) * rng.normal();
  } else {
    const c = centres[rng.below(TOPICS)]!;
    for (let k = 0; k < dim; k++) out[k] = c[k]! + (2 / Math.sqrt(dim)) * rng.normal();
  }
  unit(out);
}

/** The item a planted near-duplicate copies (an ordinary, earlier one). */
function baseOf(i: number): number {
  let of = new Rng(mixSeed(13, i)).below(i);
  if (of % EVERY === EVERY - 1) of--;
  return of;
}

function scanOf(n: number): () => AsyncIterable<VectorBatch> {
  return async function* () {
    const B = 4096;
    for (let s = 0; s < n; s += B) {
      const m = Math.min(B, n - s);
      const vectors = new Float32Array(m * dim);
      const items = new Int32Array(m);
      for (let j = 0; j < m; j++) {
        items[j] = s + j;
        vectorOf(s + j, vectors.subarray(j * dim, (j + 1) * dim));
      }
      yield { items, vectors };
    }
  };
}

function rssPeak() {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  return { stop: () => (clearInterval(t), Math.max(peak, process.memoryUsage().rss) / 1e6) };
}

const tuning = {
  ...(values['cluster-size'] ? { clusterSize: Number(values['cluster-size']) } : {}),
  ...(values.probes ? { probes: Number(values.probes) } : {}),
};

async function run(n: number, exact: boolean, dir: string) {
  const mem = rssPeak();
  const t0 = performance.now();
  const r = await findNearDuplicates({ n, dim, threshold: T, scan: scanOf(n), workDir: join(dir, 'spill'), ...(exact ? { exactUpTo: Infinity } : {}), ...tuning });
  const seconds = (performance.now() - t0) / 1000;
  const rss = mem.stop();
  let planted = 0;
  for (let i = EVERY - 1; i < n; i += EVERY) if (r.duplicateOf.has(i)) planted++;
  return { ...r, timing: r.seconds, seconds, rss, planted, plantedOf: Math.floor(n / EVERY) };
}

/** Phase seconds; each includes making the synthetic vectors its scans read. */
function phases(r: { seconds: number; timing: { cluster: number; assign: number; compare: number } }): string {
  return [r.timing.cluster, r.timing.assign, r.timing.compare].map((x) => x.toFixed(1)).join(' / ');
}

/** The adversarial cases at `n` items: clustered path only (all pairs is the quadratic being avoided). */
async function adversarialCases(n: number, dir: string): Promise<void> {
  console.log('');
  console.log(`adversarial: ${n} items, every odd one in one group; expected near-duplicates >= ${n / 2 - 1} (the group but its first)`);
  console.log('| items | case | clusters | s | s: k-means / assign / compare | peak RSS MB | pairs compared | near-duplicates | group members dropped |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const kind of ['identical', 'tight'] as const) {
    adversarial = kind;
    const r = await run(n, false, dir);
    let group = 0;
    for (let i = 3; i < n; i += 2) if (r.duplicateOf.has(i)) group++;
    console.log(`| ${n} | ${kind} | ${r.clusters} | ${r.seconds.toFixed(1)} | ${phases(r)} | ${r.rss.toFixed(0)} | ${r.comparisons.toExponential(2)} | ${r.duplicateOf.size} | ${group} / ${Math.floor(n / 2) - 1} |`);
  }
  adversarial = undefined;
}

async function main(): Promise<void> {
  await initBackend('wasm');
  const dir = await mkdtemp(join(tmpdir(), 'wit-bench-semdedup-'));
  try {
    console.log(`semantic dedup: ${dim}-d, ${TOPICS} topics, a planted near-duplicate every ${EVERY} items, T = ${T}, wasm`);
    console.log('| items | method | clusters | s | s: k-means / assign / compare | peak RSS MB | pairs compared | near-duplicates | planted found | agreement with all pairs |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const n of values.sizes!.split(',').filter(Boolean).map(Number)) {
      const clustered = await run(n, false, dir);
      let agreement = '–';
      let line = '';
      if (n <= Number(values['exact-up-to'])) {
        const all = await run(n, true, dir);
        const same = [...all.duplicateOf].filter(([i, j]) => clustered.duplicateOf.get(i) === j).length;
        agreement = `${same} / ${all.duplicateOf.size}`;
        line = `| ${n} | all pairs | 1 | ${all.seconds.toFixed(1)} | ${phases(all)} | ${all.rss.toFixed(0)} | ${all.comparisons.toExponential(2)} | ${all.duplicateOf.size} | ${all.planted} / ${all.plantedOf} | – |`;
      }
      console.log(`| ${n} | clustered | ${clustered.clusters} | ${clustered.seconds.toFixed(1)} | ${phases(clustered)} | ${clustered.rss.toFixed(0)} | ${clustered.comparisons.toExponential(2)} | ${clustered.duplicateOf.size} | ${clustered.planted} / ${clustered.plantedOf} | ${agreement} |`);
      if (line) console.log(line);
    }
    if (values.adversarial) await adversarialCases(Number(values.adversarial), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
