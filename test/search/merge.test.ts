import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddingIndex, META_FILE, type IndexMeta } from '../../src/search/index.js';
import { runWit } from '../crawl/run-wit.js';
import { writeEmojiShards } from '../helpers/emoji-shards.js';
import { writeRandomModel } from './helpers.js';

let dir: string;
let shards: string;
let model: string;
let pairs: number;
const part = (i: number) => join(dir, `part-${i}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-merge-'));
  shards = join(dir, 'shards');
  const written = await writeEmojiShards(shards, { sets: ['google'], limit: 36, size: 32, perShard: 12 });
  pairs = written.pairs;
  model = join(dir, 'model');
  await writeRandomModel(model, written.emoji.map((e) => e.name));
  // Two "machines", each with its own shard set and its own index; and the whole corpus at once.
  const runs = [
    ['embed', '--model', model, '--shards', join(shards, '00000.parquet'), join(shards, '00001.parquet'), '--out', part(0), '--dtype', 'float16'],
    ['embed', '--model', model, '--shards', join(shards, '00002.parquet'), '--out', part(1), '--dtype', 'float16'],
    ['embed', '--model', model, '--shards', shards, '--out', join(dir, 'whole'), '--dtype', 'float16'],
  ];
  for (const args of runs) {
    const r = await runWit(args, { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Hit = { key: string; similarity: number };

async function searchJson(index: string, query: string): Promise<Hit[]> {
  const r = await runWit(['search', '--index', index, '--k', '8', '--json', query], { timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { results: Hit[] }).results;
}

describe('wit embed merge', () => {
  it('appends the parts into one index that searches like the index of the whole corpus; a rerun resumes', async () => {
    const out = join(dir, 'merged');
    const r = await runWit(['embed', 'merge', '--parts', part(0), part(1), '--out', out, '--json'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { rows: number; shards: number; parts: unknown; ann: { kind: string } };
    expect(s).toMatchObject({ rows: pairs, shards: 3, parts: { input: 2, copied: 2, resumed: 0 }, ann: { kind: 'none' } });
    for (const q of ['smiling face', 'red heart']) {
      const [merged, whole] = [await searchJson(out, q), await searchJson(join(dir, 'whole'), q)];
      expect(merged.map((h) => h.key)).toEqual(whole.map((h) => h.key));
      merged.forEach((h, i) => expect(h.similarity).toBeCloseTo(whole[i]!.similarity, 5));
    }
    // The vectors streamed out of the merged table (float16) are the ones stored, row by row.
    const idx = await EmbeddingIndex.open(out, 'test');
    try {
      let seen = 0;
      for await (const b of idx.scanImageVectors()) {
        for (let i = 0; i < b.rows.length; i += 5) {
          const hits = await idx.table.query().where(`shard = '${b.shards[i]!.replace(/'/g, "''")}' AND row = ${b.rows[i]}`).toArray();
          const stored = Array.from(hits[0]!.image_vector as Iterable<number>);
          expect(Array.from(b.vectors.subarray(i * 64, (i + 1) * 64))).toEqual(stored);
          seen++;
        }
      }
      expect(seen).toBeGreaterThan(5);
    } finally {
      idx.close();
    }
    // A kill after part 0's rows were appended but before the index file listed them: redone, no duplicates.
    const meta = JSON.parse(await readFile(join(out, META_FILE), 'utf8')) as IndexMeta;
    for (const shard of Object.keys(meta.finished).slice(0, 2)) delete meta.finished[shard];
    meta.complete = false;
    await writeFile(join(out, META_FILE), JSON.stringify(meta));
    const again = await runWit(['embed', 'merge', '--parts', part(0), part(1), '--out', out, '--json'], { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ rows: pairs, parts: { input: 2, copied: 1, resumed: 1 } });
  }, 600_000);

  it('refuses parts of another model, parts sharing a shard, and an unfinished part, naming the part', async () => {
    const other = join(dir, 'other-model');
    await writeRandomModel(other, ['x', 'y'], { seed: 99 });
    const odd = join(dir, 'odd');
    expect((await runWit(['embed', '--model', other, '--shards', join(shards, '00002.parquet'), '--out', odd, '--dtype', 'float16'], { timeoutMs: 120_000 })).code).toBe(0);
    const mixed = await runWit(['embed', 'merge', '--parts', part(0), odd, '--out', join(dir, 'm1')]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain(odd);
    expect(mixed.stderr).toMatch(/another model/);
    const twice = await runWit(['embed', 'merge', '--parts', part(0), join(dir, 'whole'), '--out', join(dir, 'm2')]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/parts must hold different shards/);
    const meta = JSON.parse(await readFile(join(part(1), META_FILE), 'utf8')) as IndexMeta;
    await writeFile(join(part(1), META_FILE), JSON.stringify({ ...meta, complete: false }));
    const unfinished = await runWit(['embed', 'merge', '--parts', part(0), part(1), '--out', join(dir, 'm3')]);
    expect(unfinished.code).toBe(2);
    expect(unfinished.stderr).toContain(part(1));
    expect(unfinished.stderr).toMatch(/not finished/);
    await writeFile(join(part(1), META_FILE), JSON.stringify(meta));
    const missing = await runWit(['embed', 'merge', '--out', join(dir, 'm4')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--parts/);
  }, 600_000);
});
