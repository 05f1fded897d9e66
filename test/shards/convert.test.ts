import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  metadataPathFor, readManifest, readShardStats, readShards, readStatusRows, shardPath, statusPathFor, ShardWriter, successRow, writeManifest,
  type PairRecord,
} from '../../src/shards/index.js';
import { runWit } from '../crawl/run-wit.js';
import { needs, programPath } from '../helpers/needs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-convert-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function recs(n: number, shard: number): PairRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const image = randomBytes(700 + i * 37);
    return {
      key: `${String(shard).padStart(5, '0')}${String(i).padStart(4, '0')}`, url: `https://e.org/${shard}/${i}.webp`, page_url: null,
      caption: `pair ${i} of shard ${shard}`, queries: ['pair'], image, width: 8, height: 9, original_width: 80, original_height: 90,
      sha256: createHash('sha256').update(image).digest('hex'), similarity: i / 10, extra: { uid: `uid-${shard}-${i}`, n: BigInt(i) },
    };
  });
}

const collect = async (d: string) => {
  const out: PairRecord[] = [];
  for await (const r of readShards(d)) out.push(r);
  return out;
};
const comparable = (r: PairRecord) => ({ ...r, image: createHash('sha256').update(r.image).digest('hex'), similarity: Number(r.similarity?.toFixed(5)), extra: { uid: r.extra?.uid, n: String(r.extra?.n) } });

describe('wit convert', () => {
  it('Parquet -> WebDataset -> Parquet keeps every pair, image byte, pass-through column, status row, stats and manifest', async () => {
    const src = join(dir, 'pq');
    const all: PairRecord[] = [];
    for (const s of [0, 1]) {
      const r = recs(6 + s, s);
      all.push(...r);
      const w = await ShardWriter.open(shardPath(src, s), { imageFormat: 'webp', withSimilarity: true, extras: [{ name: 'uid', kind: 'string' }, { name: 'n', kind: 'int64' }] });
      for (const x of r) await w.write(x);
      await w.close({ candidates: 10 + s, failed: { http_4xx: 1 } }, [...r.map(successRow), { key: null, url: 'https://e.org/gone.jpg', caption: 'gone', status: 'http_4xx', error_message: 'HTTP 404', extra: { uid: `lost-${s}`, n: null } }]);
    }
    await writeManifest(src, { stage: 'crawl', version: '0', created: 'now', options: { encode: 'webp' }, inputs: ['list.parquet'], shards: ['00000.parquet', '00001.parquet'], totals: { kept: all.length } });

    const wds = join(dir, 'wds');
    const r1 = await runWit(['convert', '--shards', src, '--output-format', 'webdataset', '--out', wds, '--json']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(JSON.parse(r1.stdout)).toMatchObject({ from: 'parquet', to: 'webdataset', shards: 2, pairs: all.length, skipped_shards: 0 });
    expect((await readdir(wds)).sort()).toEqual(['.wit-output.json', '00000.parquet', '00000.tar', '00000_stats.json', '00001.parquet', '00001.tar', '00001_stats.json', 'manifest.json']);
    // Python's tarfile sees the same image bytes (webp members, not re-encoded)
    // Python's tarfile is a second reader (skipped with a line, or a failure under CI, without python3)
    const listed = !needs('python3') ? undefined : execFileSync(programPath('python3')!, ['-c', `
import sys, tarfile, hashlib
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if m.name.endswith('.webp'): print(m.name[:-5], hashlib.sha256(t.extractfile(m).read()).hexdigest())
`, shardPath(wds, 0, '', 'webdataset')], { encoding: 'utf8' }).trim().split('\n');
    if (listed) expect(listed).toEqual(all.slice(0, 6).map((r) => `${r.key} ${createHash('sha256').update(r.image).digest('hex')}`));
    expect((await collect(wds)).map(comparable)).toEqual(all.map(comparable));
    const meta = await readStatusRows(metadataPathFor(shardPath(wds, 1, '', 'webdataset')));
    expect(meta.rows.map((r) => [r.extra?.uid, r.status])).toEqual([...all.slice(6).map((r) => [r.extra?.uid, 'success']), ['lost-1', 'http_4xx']]);
    expect(meta.extras).toEqual([{ name: 'uid', kind: 'string' }, { name: 'n', kind: 'int64' }]);
    expect(await readShardStats(shardPath(wds, 1, '', 'webdataset'))).toMatchObject({ count: 7, candidates: 11, failed: { http_4xx: 1 } });
    expect(await readManifest(wds)).toMatchObject({ stage: 'crawl', format: 'webdataset', shards: ['00000.tar', '00001.tar'], inputs: ['list.parquet'] });

    const back = join(dir, 'back');
    const r2 = await runWit(['convert', '--shards', wds, '--output-format', 'parquet', '--out', back]);
    expect(r2.code, r2.stderr).toBe(0);
    expect((await collect(back)).map(comparable)).toEqual(all.map(comparable));
    const status = await readStatusRows(statusPathFor(shardPath(back, 0)));
    expect(status.rows.at(-1)).toMatchObject({ status: 'http_4xx', error_message: 'HTTP 404', extra: { uid: 'lost-0' } });
    // a rerun finds every shard done
    const r3 = await runWit(['convert', '--shards', wds, '--output-format', 'parquet', '--out', back, '--json']);
    expect(JSON.parse(r3.stdout)).toMatchObject({ shards: 0, skipped_shards: 2, pairs: all.length });
    expect(JSON.parse(await readFile(join(back, 'manifest.json'), 'utf8'))).toMatchObject({ format: 'parquet', converted_from: { format: 'webdataset' } });
  });

  it('bad usage is exit 2 with one line naming the problem', async () => {
    const same = await runWit(['convert', '--shards', join(dir, 'wds'), '--output-format', 'webdataset', '--out', join(dir, 'x')]);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/convert: .*already holds webdataset shards/);
    const missing = await runWit(['convert', '--shards', join(dir, 'nope'), '--output-format', 'parquet', '--out', join(dir, 'y')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope: no such file or directory/);
    const badTo = await runWit(['convert', '--shards', join(dir, 'wds'), '--to', 'zip', '--out', join(dir, 'z')]);
    expect(badTo.code).toBe(2);
  });
});
