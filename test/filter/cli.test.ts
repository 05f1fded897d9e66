import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rec, writeShards } from './helpers.js';
import { WIT as BIN } from '../crawl/run-wit.js';

// Drives the built CLI (`npm run build` first, as `npm test` does).
function wit(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'filter', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
let input: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-filter-cli-'));
  input = join(dir, 'in');
  const rows = Array.from({ length: 30 }, (_, i) => rec(`r${String(i).padStart(2, '0')}`, { caption: i % 3 === 0 ? 'cat' : `a red cat number ${i}`, image: new TextEncoder().encode(`img:${i % 10}`) }));
  await writeShards(input, [rows.slice(0, 20), rows.slice(20)]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('wit filter (CLI)', () => {
  it('runs basic filters and dedup without a model, prints a summary, --json', async () => {
    const r = wit('--shards', input, '--out', join(dir, 'out'), '--min-caption-words', '3', '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    // 30 rows: 10 with 1-word captions (i % 3 == 0); the 20 left cover all 10 images (i % 10) twice
    expect(s.input).toBe(30);
    expect(s.dropped.caption_words).toBe(10);
    expect(s.kept).toBe(10);
    expect(s.dropped.duplicate_image).toBe(10);
    // 30 pairs of 10 images (by sha256): the summary JSON says so
    expect([s.distinct_images_in, s.distinct_images]).toEqual([10, 10]);
    const text = wit('--shards', input, '--out', join(dir, 'out'), '--min-caption-words', '3');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/30 pairs in, 10 kept/);
    expect(text.stdout).toMatch(/\ndistinct images: 10 in, 10 kept\n/);
    expect(text.stdout).toMatch(/2 already done/); // rerun resumes
  });

  it('exits 2 on bad usage and bad input', async () => {
    await mkdir(join(dir, 'bad'), { recursive: true });
    await writeFile(join(dir, 'bad', '00000.parquet'), 'PAR1 nope');
    const cases: [string[], RegExp][] = [
      [['--shards', input], /--out is required/],
      [['--shards', join(dir, 'missing'), '--out', join(dir, 'o1')], /no such file/],
      [['--shards', join(dir, 'bad'), '--out', join(dir, 'o2')], /not a readable Parquet shard/],
      [['--shards', input, '--out', join(dir, 'o3'), '--model', join(dir, 'no-model'), '--keep-fraction', '0.3'], /model directory does not exist/],
      [['--shards', input, '--out', join(dir, 'o4'), '--model', dir, '--keep-fraction', '1.5'], /keep-fraction must be in \(0, 1\]/],
      [['--shards', input, '--out', join(dir, 'o9'), '--model', join(dir, 'bad'), '--keep-fraction', '0.5', '--backend', 'cpu'], /not a model directory/],
      [['--shards', input, '--out', join(dir, 'o5'), '--model', dir, '--keep-fraction', '0'], /keep-fraction must be in \(0, 1\]/],
      [['--shards', input, '--out', join(dir, 'o6'), '--min-similarity', '0.3'], /need a model/],
      [['--shards', input, '--out', join(dir, 'o7'), '--max-aspect', '0.5'], /max-aspect must be >= 1/],
      [['--shards', input, '--out', join(dir, 'o8'), '--batch-size', 'x'], /expects a number/],
    ];
    for (const [args, msg] of cases) {
      const r = wit(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(msg);
    }
  });
});
