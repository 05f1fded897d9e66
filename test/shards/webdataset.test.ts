import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  listShards, metadataPathFor, readShardFile, readShardInfo, readShards, readShardStats, shardPath, statusPathFor, ShardWriter,
  successRow, type PairRecord, type StatusRow,
} from '../../src/shards/index.js';
import { InputError } from '../../src/util/errors.js';
import { needs, programPath } from '../helpers/needs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-wds-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const EXTRAS = [
  { name: 'uid', kind: 'string' as const },
  { name: 'n', kind: 'int64' as const },
  { name: 'score', kind: 'double' as const },
  { name: 'ok', kind: 'boolean' as const },
];

function makeRecords(n: number, seed = 0): PairRecord[] {
  const out: PairRecord[] = [];
  for (let i = 0; i < n; i++) {
    // sizes on and off the 512-byte block boundary, including 0 and exact multiples
    const size = [0, 1, 511, 512, 513, 1024, 30000 + i][i % 7]!;
    const image = randomBytes(size);
    out.push({
      key: `${String(seed).padStart(5, '0')}${String(i).padStart(4, '0')}`,
      url: `https://example.org/img/${i}.jpg`,
      page_url: i % 3 === 0 ? null : `https://example.org/page/${i}`,
      caption: `a dog 🐕 number ${i} "quoted"\nsecond line`,
      queries: i % 4 === 0 ? [] : ['dog', `number ${i}`],
      image,
      width: 10 + i,
      height: 20 + i,
      original_width: 640,
      original_height: 480,
      sha256: createHash('sha256').update(image).digest('hex'),
      extra: { uid: `u${seed}-${i}`, n: BigInt(2) ** BigInt(40) + BigInt(i), score: i / 3, ok: i % 2 === 0 },
    });
  }
  return out;
}

async function writeShard(path: string, recs: PairRecord[], status?: StatusRow[]) {
  const w = await ShardWriter.open(path, { extras: EXTRAS, metadata: { 'wit.stage': 'test' } });
  for (const r of recs) await w.write(r);
  return w.close({ candidates: recs.length }, status);
}

/** Python's tarfile, grouping members by key as WebDataset does (name up to the first dot of the basename). */
const PY_READER = `
import sys, tarfile, json, hashlib, re
out = []
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if not m.isfile(): continue
        base, ext = re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$", m.name).groups()
        data = t.extractfile(m).read()
        if not out or out[-1]["__key__"] != base:
            out.append({"__key__": base})
        s = out[-1]
        if ext in s: raise SystemExit("duplicate member " + m.name)
        s[ext] = data.decode("utf8") if ext in ("txt", "json") else hashlib.sha256(data).hexdigest()
keys = [s["__key__"] for s in out]
if len(keys) != len(set(keys)): raise SystemExit("members of a pair are not consecutive")
print(json.dumps(out))
`;

function pythonSamples(tar: string): Array<Record<string, string>> {
  return JSON.parse(execFileSync(programPath('python3')!, ['-c', PY_READER, tar], { encoding: 'utf8' })) as Array<Record<string, string>>;
}

describe('WebDataset shards', () => {
  it.skipIf(!needs('python3'))('hold, per pair and consecutive, KEY.jpg, KEY.txt and KEY.json, read identically by Python tarfile and equal to the Parquet shard', async () => {
    const recs = makeRecords(23, 1);
    const d = join(dir, 'same');
    const tar = shardPath(d, 0, '', 'webdataset');
    const pq = shardPath(join(d, 'pq'), 0);
    await writeShard(tar, recs);
    await writeShard(pq, recs);
    const samples = pythonSamples(tar);
    const fromParquet: PairRecord[] = [];
    for await (const r of readShards(pq)) fromParquet.push(r);
    expect(samples.map((s) => s.__key__)).toEqual(fromParquet.map((r) => r.key));
    samples.forEach((s, i) => {
      const p = fromParquet[i]!;
      expect(Object.keys(s).sort()).toEqual(['__key__', 'jpg', 'json', 'txt']);
      expect(s.jpg).toBe(createHash('sha256').update(p.image).digest('hex'));
      expect(s.txt).toBe(p.caption);
      const json = JSON.parse(s.json!) as Record<string, unknown>;
      expect(json).toEqual({
        key: p.key, url: p.url, page_url: p.page_url, caption: p.caption, queries: p.queries, width: p.width, height: p.height,
        original_width: p.original_width, original_height: p.original_height, sha256: p.sha256,
        uid: p.extra!.uid, n: Number(p.extra!.n), score: p.extra!.score, ok: p.extra!.ok,
      });
    });
    // GNU tar agrees on the member list too
    const listed = execFileSync('tar', ['-tf', tar], { encoding: 'utf8' }).trim().split('\n');
    expect(listed.slice(0, 3)).toEqual([`${recs[0]!.key}.jpg`, `${recs[0]!.key}.txt`, `${recs[0]!.key}.json`]);
    expect(listed.length).toBe(3 * recs.length);
  });

  it('are read back by wit as the records written, images skipped unread when asked', async () => {
    const recs = makeRecords(15, 2);
    const tar = shardPath(join(dir, 'rt'), 3, 'job-a-', 'webdataset');
    const stats = await writeShard(tar, recs);
    expect(stats.count).toBe(15);
    expect((await readShardStats(tar))?.count).toBe(15);
    const back: PairRecord[] = [];
    for await (const r of readShardFile(tar)) back.push(r);
    expect(back.map((r) => ({ ...r, image: Buffer.from(r.image).toString('hex'), extra: { ...r.extra, n: String(r.extra?.n) } }))).toEqual(
      recs.map((r) => ({ ...r, similarity: null, image: Buffer.from(r.image).toString('hex'), extra: { ...r.extra, n: String(r.extra?.n) } })),
    );
    for await (const r of readShardFile(tar, { images: false })) expect(r.image.length).toBe(0);
    const info = await readShardInfo(tar);
    expect(info).toMatchObject({ format: 'webdataset', rows: 15, imageFormat: 'jpg' });
    expect(info.columns).toEqual(expect.arrayContaining(['key', 'caption', 'jpg', 'uid', 'sha256']));
    // a directory of WebDataset shards lists its tars, not the metadata Parquet beside them
    expect(await listShards(join(dir, 'rt'))).toEqual([tar]);
  });

  it('write the shard metadata beside the tar: every column but the image, pass-through columns typed as they came, and url-list status rows', async () => {
    const recs = makeRecords(4, 3);
    const tar = shardPath(join(dir, 'meta'), 0, '', 'webdataset');
    const status: StatusRow[] = [
      successRow(recs[0]!),
      { key: '000030099', url: 'https://example.org/404.jpg', caption: 'gone', status: 'http_4xx', error_message: 'HTTP 404', extra: { uid: 'failed-1', n: 7n, score: 0.5, ok: false } },
      ...recs.slice(1).map(successRow),
      { key: null, url: 'https://example.org/dup.jpg', caption: 'dup', status: 'duplicate', error_message: null, extra: { uid: 'dup-1', n: null, score: null, ok: null } },
    ];
    await writeShard(tar, recs, status);
    const conn = await (await DuckDBInstance.create(':memory:')).connect();
    const meta = metadataPathFor(tar);
    const types = await conn.runAndReadAll(`describe select * from read_parquet('${meta}')`);
    const typeMap = Object.fromEntries(types.getRowObjects().map((r) => [String(r.column_name), String(r.column_type)]));
    expect(typeMap).toEqual({
      key: 'VARCHAR', url: 'VARCHAR', page_url: 'VARCHAR', caption: 'VARCHAR', queries: 'VARCHAR[]', width: 'INTEGER', height: 'INTEGER',
      original_width: 'INTEGER', original_height: 'INTEGER', sha256: 'VARCHAR', uid: 'VARCHAR', n: 'BIGINT', score: 'DOUBLE', ok: 'BOOLEAN',
      status: 'VARCHAR', error_message: 'VARCHAR',
    });
    const rows = (await conn.runAndReadAll(`select uid, status, error_message, width, cast(n as varchar) as n from read_parquet('${meta}')`)).getRowObjectsJson();
    expect(rows.map((r) => [r.uid, r.status])).toEqual([
      [recs[0]!.extra!.uid, 'success'], ['failed-1', 'http_4xx'], ...recs.slice(1).map((r) => [r.extra!.uid, 'success']), ['dup-1', 'duplicate'],
    ]);
    expect(rows[1]).toMatchObject({ error_message: 'HTTP 404', width: null, n: '7' });
    expect(rows[0]).toMatchObject({ width: recs[0]!.width, n: String(recs[0]!.extra!.n) });
    // the tar holds only the pairs with images
    if (needs('python3')) expect(pythonSamples(tar).length).toBe(4);
  });

  it('Parquet shards put url-list status rows in status/NNNNN.parquet, never in the data file', async () => {
    const recs = makeRecords(3, 4);
    const pq = shardPath(join(dir, 'pqstatus'), 0);
    await writeShard(pq, recs, [...recs.map(successRow), { key: null, url: 'https://x.org/a.jpg', caption: 'a', status: 'timeout', error_message: 'slow' }]);
    const conn = await (await DuckDBInstance.create(':memory:')).connect();
    const rows = (await conn.runAndReadAll(`select status, count(*) as n from read_parquet('${statusPathFor(pq)}') group by status order by status`)).getRowObjectsJson();
    expect(rows).toEqual([{ status: 'success', n: '3' }, { status: 'timeout', n: '1' }]);
    const data = (await conn.runAndReadAll(`select count(*) as n from read_parquet('${pq}')`)).getRowObjectsJson();
    expect(data).toEqual([{ n: '3' }]);
    expect(await listShards(join(dir, 'pqstatus'))).toEqual([pq]);
  });

  it('a truncated tar is an InputError naming the file; a killed writer leaves no .tar', async () => {
    const tar = shardPath(join(dir, 'bad'), 0, '', 'webdataset');
    await writeShard(tar, makeRecords(10, 5));
    await truncate(tar, Math.floor((await stat(tar)).size / 2) + 100);
    const consume = async () => { for await (const _ of readShardFile(tar)) void _; };
    await expect(consume()).rejects.toThrow(InputError);
    await expect(consume()).rejects.toThrow(/00000\.tar: not a readable WebDataset shard/);

    const d = join(dir, 'killed');
    const mod = resolve('dist/src/shards/index.js');
    const script = `
      const { ShardWriter } = await import(${JSON.stringify(mod)});
      const w = await ShardWriter.open(${JSON.stringify(shardPath(d, 0, '', 'webdataset'))});
      const img = new Uint8Array(20000);
      for (let i = 0; ; i++) {
        await w.write({ key: 'k' + i, url: 'u', caption: 'c', queries: ['c'], image: img, width: 1, height: 1, original_width: 1, original_height: 1, sha256: 'x' });
        if (i === 2000) process.stdout.write('ready\\n');
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (b: Buffer) => { if (b.toString().includes('ready')) res(); });
      child.on('exit', (code) => rej(new Error(`writer exited early with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const names = await readdir(d);
    expect(names.some((n) => n.startsWith('.00000.tar.tmp-'))).toBe(true);
    expect(names.filter((n) => !n.startsWith('.'))).toEqual([]);
  });
});
