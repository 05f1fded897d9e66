import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { listShards, readShards, ShardWriter, shardPath, readShardStats, type PairRecord } from '../../src/shards/index.js';
import { InputError } from '../../src/util/errors.js';
import { killWriterMidShard } from '../helpers/kill-writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-shards-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function makeRecords(n: number, seed = 0): PairRecord[] {
  const out: PairRecord[] = [];
  for (let i = 0; i < n; i++) {
    // sizes across the small/large BYTE_ARRAY paths of the writer, including empty
    const image = randomBytes(i % 7 === 0 ? 0 : (i * 997 + seed) % 9000);
    out.push({
      key: `k${seed}-${i}`,
      url: `https://example.org/img/${i}.jpg?q=${'é'.repeat(i % 3)}`,
      page_url: i % 4 === 0 ? null : `https://example.org/page/${i}`,
      caption: `a cat 🐱 number ${i}\twith tab`,
      queries: i % 5 === 0 ? [] : i % 5 === 1 ? ['cat'] : ['cat', `number ${i}`, '🐱'],
      image,
      width: i,
      height: 2 * i + 1,
      original_width: 640 + i,
      original_height: 480 - i,
      sha256: createHash('sha256').update(image).digest('hex'),
      similarity: i % 6 === 0 ? null : (i - 20) / 37,
    });
  }
  return out;
}

async function writeShard(path: string, recs: PairRecord[], opts: Parameters<typeof ShardWriter.open>[1] = {}) {
  const w = await ShardWriter.open(path, { rowGroupSize: 7, ...opts });
  for (const r of recs) await w.write(r);
  return w.close({ candidates: recs.length + 3 });
}

describe('ShardWriter / readShards', () => {
  it('round-trips records with binary images, nulls, empty lists and Unicode', async () => {
    const recs = makeRecords(50);
    const path = shardPath(join(dir, 'rt'), 0);
    const stats = await writeShard(path, recs, { withSimilarity: true });
    expect(stats.count).toBe(50);
    expect(stats.candidates).toBe(53);
    expect((await readShardStats(path))?.count).toBe(50);
    const back: PairRecord[] = [];
    for await (const r of readShards(join(dir, 'rt'))) back.push(r);
    expect(back.length).toBe(50);
    for (let i = 0; i < 50; i++) {
      const a = recs[i]!;
      const b = back[i]!;
      expect(Buffer.from(b.image).equals(Buffer.from(a.image))).toBe(true);
      expect({ ...b, image: null, similarity: b.similarity == null ? null : Number(b.similarity.toFixed(5)) }).toEqual({
        ...a,
        image: null,
        similarity: a.similarity == null ? null : Number(Math.fround(a.similarity).toFixed(5)),
      });
    }
  });

  it('reads several files and directories in order, and can skip the image column', async () => {
    const d = join(dir, 'multi');
    await writeShard(shardPath(d, 0), makeRecords(10, 1));
    await writeShard(shardPath(d, 1), makeRecords(5, 2), { imageFormat: 'webp' });
    const keys: string[] = [];
    for await (const r of readShards([d, shardPath(d, 0)], { images: false })) {
      keys.push(r.key);
      expect(r.image.length).toBe(0);
    }
    expect(keys.length).toBe(25);
    expect(keys[10]).toBe('k2-0');
    expect(keys[15]).toBe('k1-0');
  });

  it('is read identically by DuckDB: rows, types and bytes', async () => {
    const recs = makeRecords(40, 3);
    const path = shardPath(join(dir, 'duck'), 0);
    await writeShard(path, recs, { withSimilarity: true });
    const conn = await (await DuckDBInstance.create(':memory:')).connect();
    const types = await conn.runAndReadAll(`describe select * from read_parquet('${path}')`);
    const typeMap = Object.fromEntries(types.getRowObjects().map((r) => [String(r.column_name), String(r.column_type)]));
    expect(typeMap).toEqual({
      key: 'VARCHAR', url: 'VARCHAR', page_url: 'VARCHAR', caption: 'VARCHAR', queries: 'VARCHAR[]', jpg: 'BLOB',
      width: 'INTEGER', height: 'INTEGER', original_width: 'INTEGER', original_height: 'INTEGER', sha256: 'VARCHAR', similarity: 'FLOAT',
    });
    const res = await conn.runAndReadAll(
      `select key, url, page_url, caption, queries, to_base64(jpg) as b64, width, height, original_width, original_height, sha256, similarity from read_parquet('${path}')`,
    );
    const rows = res.getRowObjectsJson();
    expect(rows.length).toBe(40);
    rows.forEach((row, i) => {
      const a = recs[i]!;
      expect(row.key).toBe(a.key);
      expect(row.url).toBe(a.url);
      expect(row.page_url).toBe(a.page_url ?? null);
      expect(row.caption).toBe(a.caption);
      expect(row.queries).toEqual(a.queries);
      expect(Buffer.from(String(row.b64), 'base64').equals(Buffer.from(a.image))).toBe(true);
      expect([row.width, row.height, row.original_width, row.original_height]).toEqual([a.width, a.height, a.original_width, a.original_height]);
      expect(row.sha256).toBe(a.sha256);
      if (a.similarity == null) expect(row.similarity).toBeNull();
      else expect(Number(row.similarity)).toBeCloseTo(a.similarity, 5);
    });
  });

  it('is read identically by hyparquet used directly (utf8: false keeps the image binary)', async () => {
    const recs = makeRecords(20, 4);
    const path = shardPath(join(dir, 'hyp'), 0);
    await writeShard(path, recs);
    const buf = await readFile(path);
    const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const meta = await parquetMetadataAsync(file);
    expect(Number(meta.num_rows)).toBe(20);
    expect(meta.row_groups.length).toBe(3);
    const rows = (await parquetReadObjects({ file, utf8: false })) as Record<string, unknown>[];
    rows.forEach((row, i) => {
      const a = recs[i]!;
      expect(row.key).toBe(a.key);
      expect(row.queries).toEqual(a.queries);
      expect(row.jpg).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(row.jpg as Uint8Array).equals(Buffer.from(a.image))).toBe(true);
      expect(row.original_width).toBe(a.original_width);
    });
  });

  it('a writer killed mid-shard leaves no .parquet that a reader would take', async () => {
    const d = join(dir, 'killed');
    await killWriterMidShard(shardPath(d, 0), { rowGroupSize: 10 }, 20000);
    const names = await readdir(d);
    expect(names.some((n) => n.startsWith('.00000.parquet.tmp-'))).toBe(true);
    expect(names.filter((n) => n.endsWith('.parquet'))).toEqual([]);
    await expect(listShards(d)).rejects.toThrow(/holds no shards/);
    expect(await readShardStats(shardPath(d, 0))).toBeUndefined();
  });

  it('a truncated or corrupt shard is a clear error naming the file', async () => {
    const recs = makeRecords(30, 5);
    const good = shardPath(join(dir, 'bad'), 0);
    await writeShard(good, recs);
    const size = (await stat(good)).size;
    await truncate(good, Math.floor(size / 2));
    const consume = async (p: string) => { for await (const _ of readShards(p)) void _; };
    await expect(consume(good)).rejects.toThrow(InputError);
    await expect(consume(good)).rejects.toThrow(new RegExp(`shards: ${good.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    // (in a folder of its own: beside 00000_stats.json, a shard without its stats is unfinished, refused before it is read)
    const garbage = join(dir, 'bad-garbage', '00001.parquet');
    await mkdir(join(dir, 'bad-garbage'), { recursive: true });
    await writeFile(garbage, 'this is not parquet at all, just text');
    await expect(consume(garbage)).rejects.toThrow(/00001\.parquet: not a readable Parquet shard/);
    await expect(consume(join(dir, 'nope'))).rejects.toThrow(/nope: no such file or directory/);
  });
});
