/**
 * bench/search: the embedding index (LanceDB, as `wit embed` builds it) and `wit embed` throughput.
 *
 *   npm run bench:search -- [--sizes 100000,1000000] [--queries 100] [--dim 512] [--embed-pairs 512]
 *                           [--embed-arch vit-tiny,ViT-B/32] [--skip-embed] [--skip-index]
 *   npm run bench:search -- --merge 200000      (wit embed merge of 4 parts holding that many rows in all)
 *
 * Index part, one child process per size (so that peak memory is that size's alone): synthetic unit
 * vectors of dimension `dim`, with `queries` planted groups: a random centre and 10 neighbours near it
 * (cosine ~0.9), scattered among random vectors (which are near-orthogonal to everything in 512-d).
 * Rows are written in batches of 20,000 through EmbeddingIndex.append (both vector columns, as the
 * product stores them), then the ANN index is built as `wit embed` chooses it by size. Each centre is
 * then searched with the ANN index and with the exact scan. Prints:
 *   write s / index s   time to append the rows / to build the ANN index
 *   peak RSS MB         highest resident memory of the process while writing / while indexing
 *   p50 / p99 ms        latency of one ANN query (top 10), and p50 of the exact scan
 *   recall@10           overlap of the ANN top 10 with the exact top 10
 *   planted@10          share of the planted neighbours in the exact top 10 (checks the data)
 *
 * Embed part: pairs of real images (emoji PNGs, 64 px, resized by the model's preprocessing to its
 * input size) through `embed()` with each untrained architecture of `--embed-arch` (the rate does not
 * depend on the weights; ViT-B/32 is open_clip's shape, as `wit model import` brings it) on the wasm
 * backend: pairs per second of the embedding pass, of wall time, and per CPU-second.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EmbeddingIndex, embed, mergeIndexes, type EmbeddedRow } from '../src/search/index.js';
import { ShardWriter, shardPath, type PairRecord } from '../src/shards/index.js';
import { emojiImage, listEmoji } from '../src/data/emoji.js';
import { ClipModel, initBackend, resolveArch, saveModelDir, trainTokenizer } from '../src/train/index.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    queries: { type: 'string', default: '100' },
    dim: { type: 'string', default: '512' },
    'embed-pairs': { type: 'string', default: '512' },
    'skip-embed': { type: 'boolean', default: false },
    'embed-arch': { type: 'string', default: 'vit-tiny' },
    'skip-index': { type: 'boolean', default: false },
    one: { type: 'string' },
    merge: { type: 'string' },
  },
});
const dim = Number(values.dim);
const nQueries = Number(values.queries);
const PLANTED = 10;
const BATCH = 20_000;

function unit(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

function randomUnit(rng: Rng): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = rng.normal();
  return unit(v);
}

/** A neighbour of `c` at cosine about 1/sqrt(1 + s^2). */
function near(c: Float32Array, rng: Rng, s = 0.5): Float32Array {
  const v = new Float32Array(dim);
  const sd = s / Math.sqrt(dim);
  for (let i = 0; i < dim; i++) v[i] = c[i]! + sd * rng.normal();
  return unit(v);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

/** Peak RSS sampler. */
function rssPeak() {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  return { stop: () => (clearInterval(t), Math.max(peak, process.memoryUsage().rss) / 1e6) };
}

/** One size, in this process: writes, indexes, queries; prints one JSON line. */
async function benchOne(n: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wit-bench-search-'));
  const rng = new Rng(12345);
  const centres = Array.from({ length: nQueries }, () => randomUnit(rng));
  // Planted rows: positions spread over the table.
  const plantedAt = new Map<number, number>();
  const step = Math.floor(n / (nQueries * PLANTED));
  for (let q = 0; q < nQueries; q++) for (let j = 0; j < PLANTED; j++) plantedAt.set((q * PLANTED + j) * step + (q % step), q);
  const index = await EmbeddingIndex.create(dir, { model: 'synthetic', model_fingerprint: 'synthetic', embed_dim: dim, dtype: 'float32', shards: ['synthetic'] }, 'bench');
  try {
    let mem = rssPeak();
    const t0 = performance.now();
    for (let start = 0; start < n; start += BATCH) {
      const rows: EmbeddedRow[] = [];
      for (let i = start; i < Math.min(n, start + BATCH); i++) {
        const q = plantedAt.get(i);
        const v = q === undefined ? randomUnit(rng) : near(centres[q]!, rng);
        rows.push({ key: `v${i}`, url: '', caption: '', queries: [], shard: 'synthetic', row: i, image_vector: v, text_vector: v });
      }
      await index.append(rows);
    }
    const writeS = (performance.now() - t0) / 1000;
    const writeRss = mem.stop();
    mem = rssPeak();
    const t1 = performance.now();
    const ann = await index.buildAnn();
    index.meta.ann = ann;
    const indexS = (performance.now() - t1) / 1000;
    const indexRss = mem.stop();
    const annMs: number[] = [];
    const exactMs: number[] = [];
    let recall = 0;
    let planted = 0;
    for (let q = 0; q < nQueries; q++) {
      let t = performance.now();
      const got = await index.search(centres[q]!, { k: 10 });
      annMs.push(performance.now() - t);
      t = performance.now();
      const exact = await index.search(centres[q]!, { k: 10, exact: true });
      exactMs.push(performance.now() - t);
      const truth = new Set(exact.map((h) => h.key));
      recall += got.filter((h) => truth.has(h.key)).length / 10;
      planted += exact.filter((h) => plantedAt.get(h.row) === q).length / PLANTED;
    }
    process.stdout.write(
      JSON.stringify({
        n, ann: ann.kind, writeS, indexS, writeRss, indexRss,
        p50: pct(annMs, 0.5), p99: pct(annMs, 0.99), exactP50: pct(exactMs, 0.5),
        recall: recall / nQueries, planted: planted / nQueries,
      }) + '\n',
    );
  } finally {
    index.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function runChild(n: number): Promise<Record<string, number | string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--one', String(n), '--queries', String(nQueries), '--dim', String(dim)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`size ${n}: exit ${code}: ${out}`));
      else resolve(JSON.parse(line) as Record<string, number | string>);
    });
  });
}

/** Writes `pairs` emoji pairs into one shard under `dir`; returns their captions. */
async function writeEmojiShard(dir: string, pairs: number): Promise<string[]> {
  const emoji = await listEmoji('google');
  const w = await ShardWriter.open(shardPath(join(dir, 'shards'), 0), { imageFormat: 'png' });
  const captions: string[] = [];
  for (let i = 0; i < pairs; i++) {
    const e = emoji[(i * 7) % emoji.length]!;
    const image = new Uint8Array(await emojiImage('google', e.code, { size: 64 }));
    const rec: PairRecord = { key: `b${i}`, url: `https://emoji.example/${i}.png`, page_url: null, caption: `${e.name} ${i}`, queries: [e.name], image, width: 64, height: 64, original_width: 64, original_height: 64, sha256: createHash('sha256').update(image).digest('hex') };
    captions.push(rec.caption);
    await w.write(rec);
  }
  await w.close();
  return captions;
}

async function benchEmbed(pairs: number, archs: string[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wit-bench-embed-'));
  try {
    const captions = await writeEmojiShard(dir, pairs);
    await initBackend('wasm');
    console.log('\nwit embed, untrained models, wasm backend, 64 px PNGs resized to the model input');
    console.log('| model | image px | pairs | pairs/s (embedding pass) | pairs/s incl. load | pairs/CPU-s |');
    console.log('|---|---|---|---|---|---|');
    for (const arch of archs) {
      const cfg = structuredClone(resolveArch(arch));
      const tok = trainTokenizer(captions, { vocabSize: 2048, contextLength: cfg.text.context_length });
      cfg.text.vocab_size = tok.vocabSize;
      const model = ClipModel.create(cfg, 'clip', 1);
      const modelDir = join(dir, `model-${arch.replace(/\W/g, '_')}`);
      await saveModelDir(modelDir, model, tok);
      model.dispose();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const s = await embed({ model: modelDir, shards: [join(dir, 'shards')], out: join(dir, `index-${arch.replace(/\W/g, '_')}`), backend: 'wasm' });
      const wall = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const cpuS = (cpu.user + cpu.system) / 1e6;
      console.log(`| ${arch} | ${cfg.vision.image_size} | ${s.rows} | ${s.pairs_per_second.toFixed(2)} | ${(s.rows / wall).toFixed(2)} | ${(s.rows / cpuS).toFixed(2)} |`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `wit embed merge` of 4 finished parts of n/4 synthetic rows each: rows/s and peak RSS of the copy. */
async function benchMerge(n: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wit-bench-merge-'));
  try {
    const rng = new Rng(99);
    const parts: string[] = [];
    for (let p = 0; p < 4; p++) {
      const out = join(dir, `part-${p}`);
      const shard = `/machine-${p}/shards/00000.parquet`;
      const index = await EmbeddingIndex.create(out, { model: 'synthetic', model_fingerprint: 'synthetic', embed_dim: dim, dtype: 'float32', shards: [shard] }, 'bench');
      for (let start = 0; start < n / 4; start += BATCH) {
        const rows: EmbeddedRow[] = [];
        for (let i = start; i < Math.min(n / 4, start + BATCH); i++) {
          const v = randomUnit(rng);
          rows.push({ key: `p${p}-${i}`, url: '', caption: `caption ${i}`, queries: ['q'], shard, row: i, image_vector: v, text_vector: v });
        }
        await index.append(rows);
      }
      await index.markFinished(shard, n / 4, 0);
      index.meta.ann = { kind: 'none', rows: n / 4 };
      index.meta.complete = true;
      await index.saveMeta();
      index.close();
      parts.push(out);
    }
    const mem = rssPeak();
    const t0 = performance.now();
    const s = await mergeIndexes({ parts, out: join(dir, 'merged'), ann: 'none' });
    const seconds = (performance.now() - t0) / 1000;
    console.log(`wit embed merge: 4 parts, ${dim}-d float32, no ANN index`);
    console.log('| rows | s (copy + compaction) | rows/s (copy) | peak RSS MB |');
    console.log('|---|---|---|---|');
    console.log(`| ${s.rows} | ${seconds.toFixed(1)} | ${Math.round(s.rows_per_second)} | ${mem.stop().toFixed(0)} |`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (values.one) return benchOne(Number(values.one));
  if (values.merge) return benchMerge(Number(values.merge));
  if (!values['skip-index']) {
    console.log(`index: ${dim}-d unit vectors, ${nQueries} queries with ${PLANTED} planted neighbours each`);
    console.log('| vectors | ANN | write s | write peak RSS MB | index s | index peak RSS MB | p50 ms | p99 ms | exact p50 ms | recall@10 | planted@10 |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const n of values.sizes!.split(',').map(Number)) {
      const r = await runChild(n);
      const f = (k: string, d = 1) => Number(r[k]).toFixed(d);
      console.log(`| ${n} | ${r.ann} | ${f('writeS')} | ${f('writeRss', 0)} | ${f('indexS')} | ${f('indexRss', 0)} | ${f('p50')} | ${f('p99')} | ${f('exactP50')} | ${f('recall', 3)} | ${f('planted', 3)} |`);
    }
  }
  if (!values['skip-embed']) await benchEmbed(Number(values['embed-pairs']), values['embed-arch']!.split(','));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
