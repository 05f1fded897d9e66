import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readShards, shardPath, splitKey, ShardWriter, TarWriter, webDatasetKey, webDatasetInfo, readWebDatasetFile, type PairRecord } from '../../src/shards/index.js';
import { runWit } from '../crawl/run-wit.js';
import { needs, programPath } from '../helpers/needs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Keys from untrusted inputs (url-list key/uid columns, other tools' shards). */
const HOSTILE = [
  ...Array.from({ length: 10 }, (_, i) => `photo.v0.00000000${i}`),
  '../../../etc/passwd',
  '/abs/key',
  'a/b',
  '..',
  '.hidden',
  'esc\u001b[2Jclear',
  'nul\u0000byte',
  'tab\tand\nnewline',
  '',
  'ünïcødé.ключ',
  'photo%2Ev0%2E000000001', // the encoded form of another key: must not collide with it
  'x'.repeat(300),
  `${'x'.repeat(299)}y`,
  '000000001',
];

function rec(key: string, i: number): PairRecord {
  const image = Buffer.from(`image ${i}`);
  return {
    key, url: `https://e.org/${i}.png`, page_url: null, caption: `caption ${i}`, queries: ['q'], image,
    width: 1, height: 1, original_width: 1, original_height: 1, sha256: createHash('sha256').update(image).digest('hex'),
  };
}

describe('keys in WebDataset tars', () => {
  it('webDatasetKey is safe, keeps plain keys and never maps two keys to one', () => {
    const out = HOSTILE.map(webDatasetKey);
    expect(new Set(out).size).toBe(HOSTILE.length);
    for (const k of out) {
      expect(k).toMatch(/^[A-Za-z0-9_%~-]{1,80}$/);
      expect(splitKey(`${k}.json`)).toEqual({ key: k, ext: 'json' });
    }
    expect(webDatasetKey('000000001')).toBe('000000001');
    expect(webDatasetKey('photo.v0.000000001')).toBe('photo%2Ev0%2E000000001');
    expect(webDatasetKey('photo.v0.000000001')).toBe(webDatasetKey('photo.v0.000000001'));
  });

  it('wit convert writes safe member names for dotted, slashed and traversal keys, and reading back gives every pair', async () => {
    const src = join(dir, 'parquet');
    const w = await ShardWriter.open(shardPath(src, 0), { imageFormat: 'png' });
    for (const [i, k] of HOSTILE.entries()) await w.write(rec(k, i));
    await w.close();
    const tars = join(dir, 'tars');
    const r = await runWit(['convert', '--shards', src, '--output-format', 'webdataset', '--out', tars, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pairs: HOSTILE.length, bad_items: {} });
    const tar = join(tars, '00000.tar');
    // Python's tarfile as a second reader of the member names.
    if (needs('python3')) {
      const names = JSON.parse(execFileSync(programPath('python3')!, ['-c', 'import sys, tarfile, json; print(json.dumps(tarfile.open(sys.argv[1]).getnames()))', tar], { encoding: 'utf8' })) as string[];
      expect(names.length).toBe(HOSTILE.length * 3);
      for (const n of names) {
        expect(n).toMatch(/^[A-Za-z0-9_%~-]+\.(png|txt|json)$/);
        expect(n).not.toMatch(/\.\.|\//);
      }
    }
    expect((await webDatasetInfo(tar)).rows).toBe(HOSTILE.length);
    const back: string[] = [];
    for await (const p of readShards(tars)) back.push(p.key);
    expect(back).toEqual(HOSTILE);
    // and back to Parquet: every pair, original keys
    const again = join(dir, 'again');
    const r2 = await runWit(['convert', '--shards', tars, '--output-format', 'parquet', '--out', again, '--json']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject({ pairs: HOSTILE.length });
    const keys: string[] = [];
    for await (const p of readShards(again)) keys.push(p.key);
    expect(keys).toEqual(HOSTILE);
  }, 600_000);

  it('members that make no pair are counted with a reason, not dropped silently', async () => {
    const hand = join(dir, 'hand');
    await mkdir(hand);
    const t = await TarWriter.create(join(hand, '00000.tar'));
    const add = (name: string, s: string) => t.add(name, Buffer.from(s));
    await add('a.png', 'img a');
    await add('a.txt', 'caption a');
    await add('b.txt', 'caption without an image');
    await add('c.png', 'img c');
    await add('c.json', JSON.stringify({ caption: 'caption c' }));
    await add('c.json', JSON.stringify({ caption: 'second json of c' }));
    await add('d.png', 'image without a caption');
    await t.finish();
    const bad: string[] = [];
    const got: string[] = [];
    for await (const p of readWebDatasetFile(join(hand, '00000.tar'), { onBadItem: (reason, detail) => bad.push(`${reason}: ${detail}`) })) got.push(p.caption);
    expect(got).toEqual(['caption a', 'caption c']);
    expect(bad).toHaveLength(3);
    expect(bad[0]).toMatch(/^unpaired_member: .*00000\.tar: b\.txt: no image member/);
    expect(bad[1]).toMatch(/^duplicate_member: .*c\.json/);
    expect(bad[2]).toMatch(/^unpaired_member: .*d\.png: an image without a caption/);
    expect((await webDatasetInfo(join(hand, '00000.tar'))).rows).toBe(2);
    const out = join(dir, 'hand-out');
    const r = await runWit(['convert', '--shards', hand, '--output-format', 'parquet', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pairs: 2, bad_items: { unpaired_member: 2, duplicate_member: 1 } });
    expect(r.stderr).toMatch(/unpaired_member: .*b\.txt/);
    expect((await readdir(out)).filter((n) => n.endsWith('.parquet'))).toEqual(['00000.parquet']);
  }, 600_000);
});
