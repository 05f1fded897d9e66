/**
 * bench/filter: pairs scored per second by `wit filter` for vit-tiny on the wasm backend.
 *
 *   npm run bench:filter -- [--pairs N] [--batch 16,32,64,128] [--backend wasm] [--arch vit-tiny]
 *
 * Builds shards of real images (emoji PNGs, 64 px, as the crawl would store them), makes a
 * vit-tiny model with one training step (the score rate does not depend on the weights), then runs
 * the filter over the shards at several batch sizes, with the pipeline on (depth 2: the next batch
 * is read and decoded while one is encoded) and off (depth 1). Prints a table:
 *   pairs/s      scored pairs per second of wall time of the scoring pass (read, decode, both
 *                encoders, cosine, write), as FilterSummary.pairs_per_second
 *   incl. load   the same over the whole filter() call, with backend init and model loading
 *   pairs/CPU-s  scored pairs per second of CPU time of the process (all threads) over the whole
 *                call: the rate on an otherwise idle machine, when timings are noisy (shared cores)
 *   decode share the time decoding alone takes (the same worker pool, the same images, measured
 *                once before) as a share of the scoring pass: the part the pipeline overlaps
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { filter } from '../src/filter/index.js';
import { ShardWriter, shardPath, readShards, type PairRecord } from '../src/shards/index.js';
import { listEmoji, emojiImage } from '../src/data/emoji.js';
import { createHash } from 'node:crypto';
import { train, readModelConfig, ImageDecoder } from '../src/train/index.js';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '512' },
    batch: { type: 'string', default: '16,32,64,128' },
    backend: { type: 'string', default: 'wasm' },
    arch: { type: 'string', default: 'vit-tiny' },
  },
});
const nPairs = Number(values.pairs);
const batches = values.batch!.split(',').map(Number);
const backend = values.backend as 'wasm' | 'cpu' | 'tensorflow' | 'auto';

async function makeShards(dir: string): Promise<void> {
  const emoji = await listEmoji('google');
  const w = await ShardWriter.open(shardPath(dir, 0), { imageFormat: 'png' });
  for (let i = 0; i < nPairs; i++) {
    const e = emoji[(i * 7) % emoji.length]!;
    const image = new Uint8Array(await emojiImage('google', e.code, { size: 64 }));
    const rec: PairRecord = {
      key: `b${i}`,
      url: `https://emoji.example/${i}.png`,
      page_url: null,
      caption: `${e.name} ${i}`,
      queries: [e.name],
      image,
      width: 64,
      height: 64,
      original_width: 64,
      original_height: 64,
      sha256: createHash('sha256').update(image).digest('hex'),
    };
    await w.write(rec);
  }
  await w.close();
}

async function decodeOnlyMs(dir: string, imageSize: number): Promise<number> {
  const images: Uint8Array[] = [];
  for await (const r of readShards(dir)) images.push(r.image);
  const dec = new ImageDecoder();
  try {
    await Promise.all(images.slice(0, 16).map((b) => dec.decode(b, imageSize))); // warm the workers
    const t0 = performance.now();
    await Promise.all(images.map((b) => dec.decode(b, imageSize)));
    return performance.now() - t0;
  } finally {
    await dec.close();
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wit-bench-filter-'));
  try {
    const shards = join(dir, 'shards');
    await makeShards(shards);
    const model = join(dir, 'model');
    await train({ shards: [shards], out: model, arch: values.arch!, steps: 1, batchSize: 16, backend, seed: 1 });
    const imageSize = (await readModelConfig(model)).image_size;
    const decodeMs = await decodeOnlyMs(shards, imageSize);
    const rows: string[][] = [];
    let run = 0;
    for (const batchSize of batches) {
      for (const depth of [2, 1]) {
        const out = join(dir, `out-${run++}`);
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const s = await filter({ shards: [shards], out, model, backend, batchSize, depth, minSimilarity: -1, dedup: false });
        const wall = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const cpuSec = (cpu.user + cpu.system) / 1e6;
        const scoringMs = (1000 * s.scored) / s.pairs_per_second;
        rows.push([String(batchSize), String(depth), s.pairs_per_second.toFixed(1), (s.scored / (wall / 1000)).toFixed(1), (s.scored / cpuSec).toFixed(1), `${((100 * decodeMs) / scoringMs).toFixed(1)}%`]);
        await rm(out, { recursive: true, force: true });
      }
    }
    const head = ['batch', 'depth', 'pairs/s', 'pairs/s incl. model load', 'pairs/CPU-s', 'decode share'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => r.map((c, i) => c.padStart(w[i]!)).join('  ');
    process.stdout.write(`bench/filter: ${nPairs} pairs (64 px PNG), ${values.arch} on ${backend}; decode alone ${decodeMs.toFixed(0)} ms (${((nPairs / decodeMs) * 1000).toFixed(0)} images/s)\n`);
    process.stdout.write(`${line(head)}\n${rows.map(line).join('\n')}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
