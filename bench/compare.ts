/**
 * bench/compare: what `wit compare` costs beyond the train and eval runs it is made of.
 *
 *   npm run bench:compare -- [--emoji 60] [--seeds 3] [--steps 40] [--batch 32] [--arch vit-micro] [--backend wasm]
 *
 * Builds a pool of real emoji images (google and openmoji designs, caption = name, a head of 3 emoji
 * shown 8 times more) and a held-out set (twitter), then:
 *   1. one train() + evaluate() pair run directly, as a user would run `wit train` and `wit eval`
 *      (the baseline of one cell);
 *   2. compare() of raw and a capped recipe over --seeds seeds, in the same process, sampling the
 *      process's RSS every 50 ms and splitting the samples by cell (the log line that starts a cell).
 * Prints a table:
 *   cell          wall time of the cell (from its start line to the next), its train + eval seconds
 *                 (the calls' own clocks), the overhead of the cell over them, and its peak RSS
 *   whole table   wall time of compare() against the sum of every cell's train + eval seconds
 *                 (curation included in the overhead), and the baseline against cell raw/0
 * Expectations (docs/ARCHITECTURE.md, "compare"): overhead <= 5 % of train + eval; peak RSS flat across cells.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compare } from '../src/compare/index.js';
import { emojiImage, commonEmoji, type EmojiSet } from '../src/data/emoji.js';
import { evaluate } from '../src/eval/index.js';
import { ShardWriter, shardPath } from '../src/shards/index.js';
import { train } from '../src/train/index.js';
import * as tf from '@tensorflow/tfjs';

const { values } = parseArgs({
  options: {
    emoji: { type: 'string', default: '60' },
    seeds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '40' },
    batch: { type: 'string', default: '32' },
    arch: { type: 'string', default: 'vit-micro' },
    backend: { type: 'string', default: 'wasm' },
  },
});
const backend = values.backend as 'wasm';
const steps = Number(values.steps);
const batchSize = Number(values.batch);

async function writeSet(dir: string, emoji: { code: string; name: string }[], sets: EmojiSet[], head: number): Promise<void> {
  const w = await ShardWriter.open(shardPath(dir, 0), { imageFormat: 'png' });
  let i = 0;
  for (const set of sets) {
    for (const [k, e] of emoji.entries()) {
      const image = new Uint8Array(await emojiImage(set, e.code, { size: 64 }));
      for (let c = 0; c < (k < head ? 9 : 1); c++) {
        await w.write({
          key: `p${i}`, url: `https://emoji.example/${set}/${e.code}/${c}.png`, page_url: null, caption: e.name, queries: [e.name], image,
          width: 64, height: 64, original_width: 64, original_height: 64, sha256: createHash('sha256').update(image).digest('hex'),
        });
        i++;
      }
    }
  }
  await w.close();
}

const root = await mkdtemp(join(tmpdir(), 'wit-bench-compare-'));
try {
  const emoji = (await commonEmoji(['google', 'twitter', 'openmoji'], { flags: false })).slice(0, Number(values.emoji));
  await writeSet(join(root, 'pool'), emoji, ['google', 'openmoji'], 3);
  await writeSet(join(root, 'heldout'), emoji, ['twitter'], 0);
  const common = { arch: values.arch!, steps, batchSize, lr: 2e-3, warmupSteps: 5, weightDecay: 0.1, backend };
  const templates = ['{}'];

  // 1. The baseline: one train and one eval, as `wit train` + `wit eval`.
  const t0 = performance.now();
  const tr = await train({ shards: [join(root, 'pool')], out: join(root, 'base'), seed: 0, checkpointEvery: 100, ...common });
  const ev = await evaluate({ model: join(root, 'base'), shards: [join(root, 'heldout')], templates, out: join(root, 'base', 'eval.json'), backend });
  const baseline = (performance.now() - t0) / 1000;

  // 2. compare(), RSS sampled and split by cell.
  await writeFile(join(root, 'recipes.json'), JSON.stringify([{ name: 'capped', cap: 2 }]));
  // tensors, bytes held by TensorFlow.js and the V8 heap after a GC at each cell's start: a leak grows them.
  type Cell = { name: string; start: number; peak: number; tensors: number; tfMb: number; heapMb: number };
  const cells: Cell[] = [];
  let current: Cell | undefined;
  const gc = (globalThis as { gc?: () => void }).gc;
  const timer = setInterval(() => { if (current) current.peak = Math.max(current.peak, process.memoryUsage().rss); }, 50);
  const c0 = performance.now();
  const s = await compare({
    pool: [join(root, 'pool')], eval: [join(root, 'heldout')], recipes: join(root, 'recipes.json'), seeds: Number(values.seeds), out: join(root, 'cmp'),
    templates, checkpointEvery: 100, ...common,
    onLog: (l) => {
      const m = /^compare: cell (\S+) \(/.exec(l);
      if (m) {
        gc?.();
        const mem = tf.memory();
        current = { name: m[1]!, start: performance.now(), peak: process.memoryUsage().rss, tensors: mem.numTensors, tfMb: mem.numBytes / 1e6, heapMb: process.memoryUsage().heapUsed / 1e6 };
        cells.push(current);
      }
    },
  });
  const total = (performance.now() - c0) / 1000;
  clearInterval(timer);
  const ends = [...cells.slice(1).map((c) => c.start), c0 + total * 1000];
  const rows = cells.map((c, i) => {
    const [recipe, seed] = c.name.split('/');
    const r = s.results.find((x) => x.recipe === recipe && String(x.seed) === seed)!;
    const wall = (ends[i]! - c.start) / 1000;
    const inner = r.train_seconds + r.eval_seconds;
    return { cell: c.name, wall, inner, overhead: (wall - inner) / inner, rss: c.peak / 1e6, tensors: c.tensors, tfMb: c.tfMb, heapMb: c.heapMb };
  });
  const inner = s.results.reduce((a, r) => a + r.train_seconds + r.eval_seconds, 0);
  const fmt = (x: number, d = 2) => x.toFixed(d);
  console.log(`bench:compare: ${values.arch}, ${steps} steps x ${batchSize}, ${backend}; pool ${s.pool_pairs} pairs, ${s.recipes.length} recipes x ${values.seeds} seeds`);
  console.log(`| cell | wall s | train + eval s | overhead | peak RSS MB | at start: tf tensors / MB | V8 heap MB${gc ? ' (after GC)' : ' (run with node --expose-gc for a GC first)'} |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.cell} | ${fmt(r.wall)} | ${fmt(r.inner)} | ${fmt(100 * r.overhead, 1)} % | ${fmt(r.rss, 0)} | ${r.tensors} / ${fmt(r.tfMb, 1)} | ${fmt(r.heapMb, 0)} |`);
  console.log(`| whole table | ${fmt(total)} | ${fmt(inner)} | ${fmt((100 * (total - inner)) / inner, 1)} % | ${fmt(Math.max(...rows.map((r) => r.rss)), 0)} | | |`);
  console.log(`| baseline: train + eval, not through compare | ${fmt(baseline)} | ${fmt(tr.seconds + ev.seconds)} | ${fmt((100 * (baseline - tr.seconds - ev.seconds)) / (tr.seconds + ev.seconds), 1)} % | | | |`);
  const rss = rows.map((r) => r.rss);
  console.log(`peak RSS across cells: first ${fmt(rss[0]!, 0)} MB, last ${fmt(rss[rss.length - 1]!, 0)} MB, max - min ${fmt(Math.max(...rss) - Math.min(...rss), 0)} MB`);
} finally {
  await rm(root, { recursive: true, force: true });
}
