/**
 * img2dataset's `files` output format, the third shard format (README.md, "The shard format"): a
 * folder of KEY.jpg/.txt/.json per shard, its metadata Parquet and completion record beside it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatOfShard, listShards, metadataPathFor, readShardExtras, readShardFile, readShardInfo, readShards, readShardStats, readStatusRows,
  shardFormatOnDisk, shardImageFormat, shardPath, statsPathFor, ShardWriter, countDistinctImages, type PairRecord,
} from '../../src/shards/index.js';
import { filesShardImage } from '../../src/shards/files.js';
import { webDatasetKey } from '../../src/shards/webdataset.js';
import { InputError, UsageError } from '../../src/util/errors.js';
import { sweepTemporaries } from '../../src/util/output.js';
import { setInputLimits } from '../../src/util/input.js';
import { killWriterMidShard } from '../helpers/kill-writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const EXTRAS = [{ name: 'uid', kind: 'string' as const }, { name: 'n', kind: 'int64' as const }];

function makeRecords(n: number, seed = 0): PairRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const image = randomBytes(i === 0 ? 0 : 100 + i * 37);
    return {
      key: `${String(seed).padStart(5, '0')}${String(i).padStart(4, '0')}`,
      url: `https://example.org/img/${i}.jpg`,
      page_url: i % 3 === 0 ? null : `https://example.org/page/${i}`,
      caption: `a cat 🐈 number ${i}\nsecond line`,
      queries: i % 4 === 0 ? [] : ['cat', `number ${i}`],
      image,
      width: 10 + i,
      height: 20 + i,
      original_width: 640,
      original_height: 480,
      sha256: createHash('sha256').update(image).digest('hex'),
      similarity: null,
      extra: { uid: `u${seed}-${i}`, n: BigInt(2) ** BigInt(40) + BigInt(i) },
    };
  });
}

async function writeShard(path: string, recs: PairRecord[]) {
  const w = await ShardWriter.open(path, { extras: EXTRAS, metadata: { 'wit.stage': 'test' } });
  for (const r of recs) await w.write(r);
  return w.close({ candidates: recs.length });
}

const comparable = (r: PairRecord) => ({ ...r, image: Buffer.from(r.image).toString('hex'), extra: { ...r.extra, n: String(r.extra?.n) } });

async function readAll(path: string, opts: Parameters<typeof readShardFile>[1] = {}): Promise<PairRecord[]> {
  const out: PairRecord[] = [];
  for await (const r of readShardFile(path, opts)) out.push(r);
  return out;
}

describe('files shards (img2dataset --output_format files)', () => {
  it('names: a folder NNNNN beside NNNNN.parquet and NNNNN_stats.json', () => {
    const p = shardPath('/o', 42, '', 'files');
    expect(p).toBe('/o/00042');
    expect(formatOfShard(p)).toBe('files');
    expect(formatOfShard('/o/00042/')).toBe('files');
    expect(formatOfShard('/o/00042.tar')).toBe('webdataset');
    expect(formatOfShard('/o/00042.parquet')).toBe('parquet');
    expect(statsPathFor(p)).toBe('/o/00042_stats.json');
    expect(statsPathFor('/o/00042/')).toBe('/o/00042_stats.json');
    expect(metadataPathFor(p)).toBe('/o/00042.parquet');
  });

  it('round trip: KEY.jpg/.txt/.json per pair, read back as written; metadata, stats and listing as img2dataset lays them out', async () => {
    const out = join(dir, 'rt');
    const recs = makeRecords(12, 1);
    // a key a folder could not hold as it is: encoded as a tar member's, the original kept in the .json
    recs[5] = { ...recs[5]!, key: '../escape.v1' };
    const shard = shardPath(out, 0, '', 'files');
    const stats = await writeShard(shard, recs);
    expect(stats).toMatchObject({ shard: '00000', count: 12, candidates: 12 });
    expect((await readdir(out)).sort()).toEqual(['00000', '00000.parquet', '00000_stats.json']);
    const members = (await readdir(shard)).sort();
    expect(members.length).toBe(36);
    expect(members).toContain(`${webDatasetKey('../escape.v1')}.json`);
    expect(members.every((n) => !n.includes('/'))).toBe(true);
    expect(readFileSync(join(shard, '000010001.txt'), 'utf8')).toBe(recs[1]!.caption);
    expect(JSON.parse(readFileSync(join(shard, '000010001.json'), 'utf8'))).toMatchObject({ key: '000010001', uid: 'u1-1', width: 11 });
    expect(readFileSync(join(shard, '000010003.jpg'))).toEqual(Buffer.from(recs[3]!.image));
    // keys in sorted order, whatever order the folder lists them in
    const want = [...recs].sort((a, b) => (webDatasetKey(a.key) < webDatasetKey(b.key) ? -1 : 1));
    expect((await readAll(shard)).map(comparable)).toEqual(want.map(comparable));
    for (const r of await readAll(shard, { images: false })) expect(r.image.length).toBe(0);
    expect(await readShardInfo(shard)).toMatchObject({ format: 'files', rows: 12, imageFormat: 'jpg' });
    expect((await readShardInfo(shard)).columns).toEqual(expect.arrayContaining(['key', 'caption', 'jpg', 'uid']));
    expect(await shardImageFormat(shard)).toBe('jpg');
    expect(await readShardExtras(shard)).toEqual(EXTRAS);
    expect(await countDistinctImages([shard])).toBe(12);
    expect((await readShardStats(shard))?.count).toBe(12);
    const meta = await readStatusRows(metadataPathFor(shard));
    expect(meta.rows.length).toBe(12);
    expect(meta.rows.every((r) => r.status === 'success')).toBe(true);
    // the directory lists its folder shard, not the metadata Parquet beside it; the folder named directly is one shard
    expect(await listShards(out)).toEqual([shard]);
    expect(await listShards(shard)).toEqual([shard]);
    expect(await listShards(`${shard}/`)).toEqual([shard]);
    let n = 0;
    for await (const _ of readShards(out)) n++;
    expect(n).toBe(12);
    // one image read by row, as wit search/serve show it
    expect(Buffer.from((await filesShardImage(shard, 3))!).toString('hex')).toBe(comparable(want[3]!).image);
    expect(await filesShardImage(shard, 12)).toBeUndefined();
  });

  it('a folder shard without its completion record is refused; status/ and other folders are never shards', async () => {
    const out = join(dir, 'unfinished');
    await writeShard(shardPath(out, 0, '', 'files'), makeRecords(3, 2));
    mkdirSync(join(out, 'status'));
    mkdirSync(join(out, 'notes'));
    expect(await listShards(out)).toEqual([join(out, '00000')]);
    // a copy under another shard name without its stats (a stopped writer's folder)
    cpSync(join(out, '00000'), join(out, '00001'), { recursive: true });
    await expect(listShards(out)).rejects.toThrow(InputError);
    await expect(listShards(out)).rejects.toThrow(/00001: an unfinished shard: its completion record 00001_stats\.json is missing/);
    // with its metadata beside it but no stats, named directly: refused too
    cpSync(metadataPathFor(join(out, '00000')), metadataPathFor(join(out, '00001')));
    await expect(listShards(join(out, '00001'))).rejects.toThrow(/an unfinished shard/);
    // a folder of folders that are no shards holds no shards
    const empty = join(dir, 'nothing');
    mkdirSync(join(empty, 'status'), { recursive: true });
    await expect(listShards(empty)).rejects.toThrow(UsageError);
  });

  it('bad members are counted, never followed: a symlink out of the folder, a FIFO, unpaired and duplicate members; dot-files ignored', async () => {
    const out = join(dir, 'hostile');
    const shard = shardPath(out, 0, '', 'files');
    const recs = makeRecords(4, 3);
    await writeShard(shard, recs);
    writeFileSync(join(dir, 'secret.txt'), 'outside the folder');
    symlinkSync(join(dir, 'secret.txt'), join(shard, 'zzlink.txt'));
    symlinkSync(join(dir, 'secret.txt'), join(shard, 'zzlink.jpg'));
    execFileSync('mkfifo', [join(shard, 'zzfifo.jpg')]);
    writeFileSync(join(shard, 'lonely.jpg'), 'x'); // an image without caption
    writeFileSync(join(shard, '000030001.png'), 'second image of a key');
    writeFileSync(join(shard, '.DS_Store'), 'ignored');
    const bad: [string, string][] = [];
    const back = await readAll(shard, { onBadItem: (r, d) => bad.push([r, d]) });
    expect(back.map((r) => r.key)).toEqual(recs.map((r) => r.key));
    expect(back.every((r) => !r.caption.includes('outside'))).toBe(true);
    expect(bad.map(([r]) => r).sort()).toEqual(['duplicate_member', 'irregular_member', 'irregular_member', 'irregular_member', 'unpaired_member']);
    expect(bad.find(([r]) => r === 'unpaired_member')![1]).toMatch(/lonely\.jpg: an image without a caption/);
    // a member swapped for a symlink after listing is refused on open (O_NOFOLLOW), not followed
    rmSync(join(shard, '000030002.txt'));
    symlinkSync(join(dir, 'secret.txt'), join(shard, '000030002.txt'));
    const back2 = await readAll(shard);
    expect(back2.find((r) => r.key === '000030002')?.caption ?? '').not.toContain('outside');
  });

  it('an image member over the tar-member limit is refused naming it, as in a tar', async () => {
    const shard = shardPath(join(dir, 'big'), 0, '', 'files');
    const recs = makeRecords(3, 4);
    recs[2] = { ...recs[2]!, image: randomBytes(5000) };
    await writeShard(shard, recs);
    setInputLimits({ 'tar-member': 1000 });
    try {
      await expect(readAll(shard)).rejects.toThrow(/000040002\.jpg: .*over the tar-member limit/);
      expect((await readAll(shard, { images: false })).length).toBe(3);
    } finally {
      setInputLimits({}, { reset: true });
    }
  });

  it('abort removes the temporary folder; a killed writer\'s temporary folder is swept and never listed', async () => {
    const out = join(dir, 'abort');
    const w = await ShardWriter.open(shardPath(out, 0, '', 'files'));
    for (const r of makeRecords(3, 5)) await w.write(r);
    expect((await readdir(out)).some((n) => n.startsWith('.00000.tmp-'))).toBe(true);
    await w.abort();
    expect(await readdir(out)).toEqual([]);

    const d = join(dir, 'killed');
    await killWriterMidShard(shardPath(d, 0, '', 'files'));
    const names = await readdir(d);
    const tmp = names.filter((n) => n.startsWith('.00000.tmp-'));
    expect(tmp.length).toBe(1);
    expect(names.filter((n) => !n.startsWith('.'))).toEqual([]);
    await expect(listShards(d)).rejects.toThrow(/holds no shards/);
    expect(await sweepTemporaries(d)).toEqual([join(d, tmp[0]!)]);
    expect(existsSync(join(d, tmp[0]!))).toBe(false);
  });

  it('closing over a folder already under the final name (another writer\'s, stopped) replaces it', async () => {
    const shard = shardPath(join(dir, 'over'), 0, '', 'files');
    mkdirSync(shard, { recursive: true });
    writeFileSync(join(shard, 'stale.jpg'), 'old');
    await writeShard(shard, makeRecords(2, 6));
    expect((await readdir(shard)).sort()).toEqual(['000060000.jpg', '000060000.json', '000060000.txt', '000060001.jpg', '000060001.json', '000060001.txt']);
    expect((await readdir(join(dir, 'over'))).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('a name without .tar or .parquet that is a file, not a folder, is read as Parquet (as before the files format)', async () => {
    const pq = shardPath(join(dir, 'plain'), 0);
    await writeShard(pq, makeRecords(3, 8));
    const bare = join(dir, 'plain', 'shard-without-extension');
    cpSync(pq, bare);
    expect(await shardFormatOnDisk(bare)).toBe('parquet');
    expect((await readAll(bare)).length).toBe(3);
    expect(await readShardInfo(bare)).toMatchObject({ format: 'parquet', rows: 3 });
    await expect(readAll(join(dir, 'plain', 'missing'))).rejects.toThrow(/missing: no such file/);
    expect(await shardFormatOnDisk(shardPath(join(dir, 'rt'), 0, '', 'files'))).toBe('files');
  });

  it('two pairs under one key are refused (a folder holds one file of each name)', async () => {
    const w = await ShardWriter.open(shardPath(join(dir, 'dupkey'), 0, '', 'files'));
    const [r] = makeRecords(1, 7);
    await w.write(r!);
    await expect(w.write(r!)).rejects.toThrow(/two pairs under the key "000070000"/);
    await w.abort();
  });
});
