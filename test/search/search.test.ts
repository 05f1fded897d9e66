import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddingIndex, META_FILE, chooseAnn, type IndexMeta } from '../../src/search/index.js';
import { isLanceDataError, lanceReason } from '../../src/search/store.js';
import { readShards, ShardWriter, shardPath, type PairRecord } from '../../src/shards/index.js';
import { InputError } from '../../src/util/errors.js';
import { runWit } from '../crawl/run-wit.js';
import { writeEmojiShards } from '../helpers/emoji-shards.js';
import { writeRandomModel } from './helpers.js';

let dir: string;
let shards: string;
let model: string;
let index: string;
let pairs: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-search-'));
  shards = join(dir, 'shards');
  const written = await writeEmojiShards(shards, { sets: ['google', 'openmoji'], limit: 30, size: 48, perShard: 20 });
  pairs = written.pairs;
  model = join(dir, 'model');
  await writeRandomModel(model, written.emoji.map((e) => e.name));
  index = join(dir, 'index');
}, 600_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function json<T>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

describe('wit embed', () => {
  it('stores normalised image and text embeddings of every pair with key, url, caption, queries, shard, row', async () => {
    const r = await runWit(['embed', '--model', model, '--shards', shards, '--out', index, '--json'], { timeoutMs: 120_000 });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const s = json<{ rows: number; embed_dim: number; dtype: string; shards: { input: number; embedded: number; resumed: number }; ann: { kind: string } }>(r.stdout);
    expect(s.rows).toBe(pairs);
    expect(s.embed_dim).toBe(64);
    expect(s.dtype).toBe('float32');
    expect(s.shards).toEqual({ input: 3, embedded: 3, resumed: 0 });
    expect(s.ann.kind).toBe('none');

    const idx = await EmbeddingIndex.open(index, 'test');
    try {
      const byId = new Map<string, { key: string; shard: string; row: number; caption: string; url: string; queries: string[] }>();
      const files = [0, 1, 2].map((i) => resolve(shards, `0000${i}.parquet`));
      let i = 0;
      for await (const rec of readShards(shards, { images: false })) {
        byId.set(`${Math.floor(i / 20)}-${i % 20}`, { key: rec.key, shard: files[Math.floor(i / 20)]!, row: i % 20, caption: rec.caption, url: rec.url, queries: rec.queries });
        i++;
      }
      for (const id of [...byId.keys()].filter((_, j) => j % 7 === 0)) {
        const got = (await idx.byId(id))!;
        const want = byId.get(id)!;
        expect(got.id).toBe(id);
        expect({ key: got.key, shard: got.shard, row: got.row, caption: got.caption, url: got.url, queries: got.queries }).toEqual(want);
        for (const v of [got.image_vector, got.text_vector]) {
          expect(v.length).toBe(64);
          expect(Math.hypot(...v)).toBeCloseTo(1, 4);
        }
      }
    } finally {
      idx.close();
    }
  }, 600_000);

  it('a rerun skips finished shards; a shard cut by a kill (rows appended, not recorded) is redone without duplicates', async () => {
    const again = await runWit(['embed', '--model', model, '--shards', shards, '--out', index, '--json'], { timeoutMs: 120_000 });
    expect(again.code).toBe(0);
    expect(json<{ shards: unknown; rows: number }>(again.stdout)).toMatchObject({ shards: { input: 3, embedded: 0, resumed: 3 }, rows: pairs });
    // The state a kill leaves between LanceDB's commit of a shard's rows and the index file's update.
    const meta = JSON.parse(await readFile(join(index, META_FILE), 'utf8')) as IndexMeta;
    delete meta.finished[resolve(shards, '00001.parquet')];
    meta.complete = false;
    await writeFile(join(index, META_FILE), JSON.stringify(meta));
    const resumed = await runWit(['embed', '--model', model, '--shards', shards, '--out', index, '--json'], { timeoutMs: 120_000 });
    expect(resumed.code).toBe(0);
    expect(json<{ shards: unknown; rows: number }>(resumed.stdout)).toMatchObject({ shards: { input: 3, embedded: 1, resumed: 2 }, rows: pairs });
  }, 600_000);

  it('counts an image the guard refuses as image_refused and a corrupt one as undecodable, in this run and a resumed one', async () => {
    const recs: PairRecord[] = [];
    for await (const r of readShards(join(shards, '00000.parquet'))) if (recs.length < 4) recs.push(r);
    const { default: sharp } = await import('sharp');
    const jpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#c04020' } }).jpeg().toBuffer();
    // headers the guard reads, no scan: libjpeg fails on it
    const corrupt = new Uint8Array(Buffer.concat([jpeg.subarray(0, jpeg.indexOf(Buffer.from([0xff, 0xda]))), Buffer.from([0xff, 0xd9])]));
    const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="16000" height="16000"><rect width="16000" height="16000"/></svg>');
    const bad = join(dir, 'bad-shards');
    const w = await ShardWriter.open(shardPath(bad, 0), { imageFormat: 'png' });
    for (const r of [...recs.slice(0, 2), { ...recs[2]!, key: 'svg', image: svg }, { ...recs[3]!, key: 'corrupt', image: corrupt }, ...recs.slice(2)]) await w.write(r);
    await w.close();
    const out = join(dir, 'bad-index');
    const r = await runWit(['embed', '--model', model, '--shards', bad, '--out', out, '--json'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = json<{ rows: number; skipped: Record<string, number>; bad_items: Record<string, number> }>(r.stdout);
    expect(s.rows).toBe(4);
    expect(s.skipped).toEqual({ image_refused: 1, undecodable: 1 });
    expect(s.bad_items).toMatchObject({ image_refused: 1, undecodable: 1 });
    const again = await runWit(['embed', '--model', model, '--shards', bad, '--out', out], { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('skipped: 1 undecodable images, 1 refused by the image guard');
  }, 300_000);

  it('--dtype float16 stores half-precision vectors that still search like the float32 ones', async () => {
    const half = join(dir, 'index16');
    const r = await runWit(['embed', '--model', model, '--shards', shards, '--out', half, '--dtype', 'float16', '--json'], { timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(json<{ dtype: string; rows: number }>(r.stdout)).toMatchObject({ dtype: 'float16', rows: pairs });
    const [a, b] = [await EmbeddingIndex.open(index, 'test'), await EmbeddingIndex.open(half, 'test')];
    try {
      const [full, h] = [(await a.byId('0-0'))!, (await b.byId('0-0'))!];
      for (let i = 0; i < 64; i++) expect(Math.abs(h.image_vector[i]! - full.image_vector[i]!)).toBeLessThan(1e-3);
      const [ra, rb] = [await a.search(full.image_vector, { k: 5 }), await b.search(full.image_vector, { k: 5 })];
      expect(rb.map((x) => x.key)).toEqual(ra.map((x) => x.key));
      expect((await b.stats()).bytes).toBeLessThan((await a.stats()).bytes);
    } finally {
      a.close();
      b.close();
    }
  }, 600_000);

  it('refuses an index directory made with another model', async () => {
    const other = join(dir, 'model-other');
    await writeRandomModel(other, ['a', 'b'], { seed: 99 });
    const r = await runWit(['embed', '--model', other, '--shards', shards, '--out', index]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/embed: .*index.*another model/);
  }, 600_000);
});

describe('wit search', () => {
  it('image to image: a pair\'s own image comes first with similarity 1', async () => {
    let first: PairRecord | undefined;
    for await (const rec of readShards(shards)) {
      first = rec;
      break;
    }
    if (!first) throw new Error('no pairs');
    const img = join(dir, 'query.png');
    await writeFile(img, first.image);
    const r = await runWit(['search', '--index', index, '--image', img, '--k', '5', '--json'], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const s = json<{ results: { rank: number; key: string; similarity: number }[] }>(r.stdout);
    expect(s.results).toHaveLength(5);
    expect(s.results[0]!.key).toBe(first.key);
    expect(s.results[0]!.similarity).toBeCloseTo(1, 4);
    for (let i = 1; i < 5; i++) expect(s.results[i]!.similarity).toBeLessThanOrEqual(s.results[i - 1]!.similarity);
  }, 600_000);

  it('text to image: top-k in order of similarity, as a table or --json', async () => {
    const r = await runWit(['search', '--index', index, 'grinning face', '--k', '4'], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/"grinning face": 4 results/);
    expect(r.stdout.trim().split('\n')).toHaveLength(6);
    const j = await runWit(['search', '--index', index, '--text', 'grinning face', '--k', '4', '--json'], { timeoutMs: 60_000 });
    const s = json<{ results: { similarity: number; caption: string; url: string; queries: string[] }[] }>(j.stdout);
    expect(s.results).toHaveLength(4);
    expect(s.results.map((h) => h.similarity)).toEqual([...s.results.map((h) => h.similarity)].sort((a, b) => b - a));
    for (const h of s.results) expect(r.stdout).toContain(h.caption.slice(0, 20));
  }, 600_000);

  it('bad input: empty query, missing or corrupt index, a model of another width', async () => {
    const empty = await runWit(['search', '--index', index, '  ']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/search: the query is empty/);
    const none = await runWit(['search', '--index', join(dir, 'nope'), 'cat']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(join(dir, 'nope'));
    const corrupt = join(dir, 'corrupt');
    await runWit(['embed', '--model', model, '--shards', join(shards, '00000.parquet'), '--out', corrupt]);
    await writeFile(join(corrupt, META_FILE), '{"format": "wit-embeddings", "embed_dim": ');
    const bad = await runWit(['search', '--index', corrupt, 'cat']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(join(corrupt, META_FILE));
    const noTable = join(dir, 'no-table');
    await runWit(['embed', '--model', model, '--shards', join(shards, '00000.parquet'), '--out', noTable]);
    await rm(join(noTable, 'pairs.lance'), { recursive: true, force: true });
    const gone = await runWit(['search', '--index', noTable, 'cat']);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(new RegExp(`${noTable}: the index is damaged or truncated`));
    const narrow = join(dir, 'model-32');
    await writeRandomModel(narrow, ['a cat'], { embedDim: 32 });
    const width = await runWit(['search', '--index', index, '--model', narrow, 'cat']);
    expect(width.code).toBe(2);
    expect(width.stderr).toMatch(/64-dimensional embeddings .* makes 32-dimensional ones/);
  }, 600_000);
});

describe('a damaged index', () => {
  /**
   * A copy of the index with its data files cut in half (a copy interrupted, a full disk). Every one: the
   * index may hold a fragment the latest version no longer reads (a resumed embed deletes a redone shard's
   * rows), and cutting only the largest file missed the data a search reads in one run of the suite.
   */
  async function cutIndex(name: string): Promise<string> {
    if (!existsSync(join(index, META_FILE))) expect((await runWit(['embed', '--model', model, '--shards', shards, '--out', index], { timeoutMs: 120_000 })).code).toBe(0);
    const cut = join(dir, name);
    await cp(index, cut, { recursive: true });
    const data = join(cut, 'pairs.lance', 'data');
    const files = await Promise.all((await readdir(data)).map(async (f) => ({ f: join(data, f), size: (await stat(join(data, f))).size })));
    for (const victim of files) await truncate(victim.f, Math.floor(victim.size / 2));
    return cut;
  }

  it('every read of the table (search, rows, batches) is an InputError naming the folder, LanceDB\'s reason without its wrappers', async () => {
    const cut = await cutIndex('cut-lib');
    const idx = await EmbeddingIndex.open(cut, 'search');
    try {
      const expected = new RegExp(`^search: ${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the index is damaged or truncated \\(LanceDB: [^()]*\\); rebuild it with wit embed$`);
      const v = new Float32Array(idx.meta.embed_dim).fill(1 / Math.sqrt(idx.meta.embed_dim));
      const err = await idx.search(v, { k: 3 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(expected);
      expect((err as Error).message).not.toMatch(/LanceError|Failed to get next batch|\.rs:\d/);
      const scan = async () => {
        for await (const _ of idx.batches()) void _;
      };
      expect(((await scan().catch((e: unknown) => e)) as Error).message).toMatch(expected);
    } finally {
      idx.close();
    }
  }, 600_000);

  it('LanceDB\'s reason is kept without its wrappers; a full disk is not a damaged index', () => {
    const err = (m: string) => Object.assign(new Error(m), { code: 'GenericFailure' });
    expect(lanceReason(err('Failed to get next batch from stream: lance error: LanceError(IO): Generic LocalFileSystem error: failed to fill whole buffer, /root/.cargo/registry/src/lance-io-0.1/src/local.rs:108:31'))).toBe('failed to fill whole buffer');
    expect(lanceReason(err('Failed to get next batch from stream: lance error: Invalid user input: file does not appear to be a Lance file (invalid magic: [1, 2])'))).toBe('Invalid user input: file does not appear to be a Lance file (invalid magic: [1, 2])');
    expect(isLanceDataError(err('lance error: LanceError(IO): No space left on device (os error 28)'))).toBe(false);
    expect(isLanceDataError(new InputError('search', 'x', 'y'))).toBe(false);
    expect(isLanceDataError(err('Failed to get next batch from stream: lance error: Not found: data/x.lance'))).toBe(true);
  });

  it('search, serve, embed merge and a resumed embed: exit 2, one line naming the folder; serve fails before it listens', async () => {
    const cut = await cutIndex('cut-cli');
    const runs = [
      ['search', '--index', cut, 'cat'],
      ['serve', '--index', cut, '--port', '0'],
      ['embed', 'merge', '--parts', cut, '--out', join(dir, 'cut-merged')],
    ];
    for (const args of runs) {
      const r = await runWit(args, { timeoutMs: 60_000 });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout, args.join(' ')).not.toMatch(/serving http/);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^wit ${args[0] === 'embed' ? 'embed merge' : args[0]}: ${cut}: the index is damaged or truncated \\(LanceDB: .*\\); rebuild it with wit embed$`));
    }
    // A resume that must redo a shard deletes the shard's rows first, a read of the damaged table.
    const meta = JSON.parse(await readFile(join(cut, META_FILE), 'utf8')) as IndexMeta;
    delete meta.finished[meta.shards[0]!];
    await writeFile(join(cut, META_FILE), JSON.stringify(meta));
    const resumed = await runWit(['embed', '--model', model, '--shards', shards, '--out', cut], { timeoutMs: 120_000 });
    expect(resumed.code, resumed.stderr).toBe(2);
    expect(resumed.stderr.trim()).toMatch(new RegExp(`^wit embed: ${cut}: the index is damaged or truncated`));
  }, 600_000);
});

describe('ANN choice', () => {
  it('exact scan for small tables, HNSW for medium, IVF-PQ for large', () => {
    expect(chooseAnn(1000)).toBe('none');
    expect(chooseAnn(100_000)).toBe('hnsw');
    expect(chooseAnn(2_000_000)).toBe('ivf-pq');
    expect(chooseAnn(100, { kind: 'ivf-pq' })).toBe('none');
    expect(existsSync(index)).toBe(true);
  });
});
