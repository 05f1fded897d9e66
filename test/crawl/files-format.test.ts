/**
 * img2dataset's `files` output format end to end on the real CLI: kill -9 mid-crawl and --resume
 * give the folders of an uninterrupted run; convert webdataset -> files -> parquet keeps every pair;
 * filter reads a files run and writes files; report finds the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { runWit, WIT } from './run-wit.js';
import { readShards, type PairRecord } from '../../src/shards/index.js';
import { needsOpenClip, openClipPython } from '../helpers/openclip.js';

let srv: TestServer;
let dir: string;
beforeAll(async () => {
  srv = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'wit-files-crawl-'));
});
afterAll(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every member of every folder shard of a run: `NNNNN/NAME` -> sha256. */
async function members(out: string): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const d of (await readdir(out)).filter((n) => /^\d{5}$/.test(n)).sort()) {
    for (const n of (await readdir(join(out, d))).sort()) m.set(`${d}/${n}`, sha(readFileSync(join(out, d, n))));
  }
  return m;
}

async function pairs(path: string): Promise<PairRecord[]> {
  const out: PairRecord[] = [];
  for await (const r of readShards(path)) out.push(r);
  return out;
}

describe('wit crawl --output-format files', () => {
  it('kill -9 mid-crawl, then --resume, gives the folders of an uninterrupted run; convert, filter and report read them', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ url: srv.url(`/slow/f${i}.jpg?ms=120&seed=${i}`), caption: `fox number ${i}`, uid: `f-${i}` }));
    const list = join(dir, 'slow.jsonl');
    writeFileSync(list, lines.join('\n') + '\n');
    const args = (out: string) => ['crawl', '--input', list, '--out', out, '--output-format', 'files', '--allow-private-network', '--image-size', '24',
      '--shard-size', '5', '--retries', '0', '--timeout-ms', '30000', '--save-additional-columns', 'uid', '--concurrency', '2', '--json'];
    const whole = join(dir, 'whole');
    const r = await runWit(args(whole));
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { open_clip_command: string; open_clip_note: string };
    expect(summary).toMatchObject({ candidates: 20, kept: 20, shards: 4 });
    // open_clip reads the folders through its csv loader: open_clip_train.csv beside them, one row a pair
    const csv = join(whole, 'open_clip_train.csv');
    expect(summary.open_clip_command).toBe(`python -m open_clip_train.main --dataset-type csv --train-data ${csv} --csv-separator , --csv-img-key filepath --csv-caption-key title --workers 1 --batch-size 20 --model ViT-B-32 --lr 5e-4 --wd 0.2 --epochs 100 --warmup 10`);
    expect(summary.open_clip_note).toMatch(/^open_clip_train\.csv lists each image by its absolute path/);
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('filepath,title');
    expect(rows.slice(1).map((l) => l.split(',')[1]).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `fox number ${i}`).sort());
    for (const l of rows.slice(1)) expect(readFileSync(l.split(',')[0]!).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    if (needsOpenClip()) {
      // open_clip_train's own argument parser and csv loader, on the printed command: one batch of images and tokens
      const py = [
        'import sys, shlex, open_clip',
        'from open_clip_train.params import parse_args',
        'from open_clip_train.data import get_csv_dataset',
        'args = parse_args(shlex.split(sys.argv[1])[3:])',
        'args.distributed = False',
        "data = get_csv_dataset(args, open_clip.image_transform(224, is_train=True), is_train=True, tokenizer=open_clip.get_tokenizer('ViT-B-32'))",
        'images, texts = next(iter(data.dataloader))',
        'print(data.dataloader.num_samples, data.dataloader.num_batches, tuple(images.shape), tuple(texts.shape))',
      ].join('\n');
      const out = execFileSync(openClipPython()!, ['-c', py, summary.open_clip_command], { encoding: 'utf8', timeout: 300_000 });
      expect(out.trim().split('\n').pop()).toBe('20 1 (20, 3, 224, 224) (20, 77)');
    }

    const killed = join(dir, 'killed');
    const child = spawn(process.execPath, [WIT, ...args(killed)], { stdio: 'ignore' });
    for (let i = 0; i < 3000; i++) {
      const names = await readdir(killed).catch(() => [] as string[]);
      // a finished folder (its record is written before its rename) and the next one being written
      if (names.some((n) => /^\d{5}$/.test(n)) && names.some((n) => /^\.\d{5}\.tmp-/.test(n))) break;
      await sleep(10);
    }
    child.kill('SIGKILL');
    await new Promise((res) => child.on('close', res));
    const left = await readdir(killed);
    // a temporary folder of the shard being written; every folder under its final name has its record
    expect(left.some((n) => /^\.\d{5}\.tmp-\d+(@[a-z0-9]+)?$/.test(n))).toBe(true);
    const folders = left.filter((n) => /^\d{5}$/.test(n));
    expect(folders.length).toBeGreaterThan(0);
    expect(folders.length).toBeLessThan(4);
    for (const f of folders) expect(left).toContain(`${f}_stats.json`);
    const resumed = await runWit([...args(killed), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ candidates: 20, kept: 20, shards: 4 });
    expect((await readdir(killed)).filter((n) => n.startsWith('.') && n !== '.wit-output.json')).toEqual([]);
    const want = await members(whole);
    expect(want.size).toBe(60);
    expect(await members(killed)).toEqual(want);

    // webdataset -> files -> parquet keeps every pair, bytes and columns
    const tars = join(dir, 'tars');
    expect((await runWit(['convert', '--shards', whole, '--output-format', 'webdataset', '--out', tars, '--json'])).code).toBe(0);
    const back = join(dir, 'files-again');
    const c1 = await runWit(['convert', '--shards', tars, '--output-format', 'files', '--out', back, '--json']);
    expect(c1.code, c1.stderr).toBe(0);
    expect(JSON.parse(c1.stdout)).toMatchObject({ from: 'webdataset', to: 'files', shards: 4, pairs: 20, distinct_images: 20 });
    expect(await members(back)).toEqual(want);
    const pq = join(dir, 'parquet');
    const c2 = await runWit(['convert', '--shards', back, '--output-format', 'parquet', '--out', pq, '--json']);
    expect(c2.code, c2.stderr).toBe(0);
    expect(JSON.parse(c2.stdout)).toMatchObject({ from: 'files', to: 'parquet', shards: 4, pairs: 20 });
    const a = await pairs(whole);
    const b = await pairs(pq);
    expect(b.map((p) => [p.key, p.caption, sha(p.image), p.extra?.uid])).toEqual(a.map((p) => [p.key, p.caption, sha(p.image), p.extra?.uid]));
    expect(a.map((p) => p.extra?.uid).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `f-${i}`).sort());

    // filter reads a files run and writes the format it reads
    const filtered = join(dir, 'filtered');
    const f = await runWit(['filter', '--shards', whole, '--out', filtered, '--min-caption-words', '3', '--json']);
    expect(f.code, f.stderr).toBe(0);
    expect((await readdir(filtered)).filter((n) => /^\d{5}$/.test(n)).length).toBe(4);
    expect((await pairs(filtered)).length).toBe(20);
    // and writes files from Parquet when asked
    const filtered2 = join(dir, 'filtered-files');
    const f2 = await runWit(['filter', '--shards', pq, '--out', filtered2, '--min-caption-words', '3', '--output-format', 'files', '--json']);
    expect(f2.code, f2.stderr).toBe(0);
    expect((await readdir(filtered2)).filter((n) => /^\d{5}(_stats\.json)?$/.test(n)).sort()).toEqual(['00000', '00000_stats.json', '00001', '00001_stats.json', '00002', '00002_stats.json', '00003', '00003_stats.json']);
    expect((await pairs(filtered2)).map((p) => sha(p.image)).sort()).toEqual(a.map((p) => sha(p.image)).sort());
    const rep = await runWit(['report', '--run', whole, '--out', join(dir, 'report.html'), '--json']);
    expect(rep.code, rep.stderr).toBe(0);
    expect((JSON.parse(rep.stdout) as { images: number }).images).toBeGreaterThan(0);
  }, 600_000);
});
