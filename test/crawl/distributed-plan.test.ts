import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planJobs, jobName } from '../../src/crawl/distributed/plan.js';
import { runConfigOf, removeOrphans } from '../../src/crawl/distributed/coordinator.js';
import { removeJobFiles } from '../../src/crawl/distributed/worker.js';
import { readSource } from '../../src/crawl/sources/index.js';
import { runDistributed } from '../../src/crawl/distributed/index.js';
import { UsageError } from '../../src/util/errors.js';
import type { Candidate } from '../../src/crawl/types.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-plan-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<Candidate>): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe('planJobs', () => {
  it('cuts url lists into chunk files that read back as the same candidates, one job per other input', async () => {
    const list = join(dir, 'list.csv');
    const rows = ['url,caption'];
    for (let i = 0; i < 23; i++) rows.push(`https://example.org/${i}.jpg,"a cat, number ${i}"`);
    rows.push('not a url,a dog');
    await writeFile(list, rows.join('\n') + '\n');
    let reads = 0;
    const opts = {
      runId: 'r1', inputs: ['/data/a.warc.gz', list, 'https://example.org/'], chunkRows: 10, planDir: join(dir, 'plan'),
      isUrlList: (i: string) => i.endsWith('.csv'),
      readList: (i: string, onBadItem: (r: string) => void) => { reads++; return readSource(i, { onBadItem: (r) => onBadItem(r) }); },
    };
    const plan = await planJobs(opts);
    expect(plan.jobs.map((j) => j.job)).toEqual(['i0000', 'i0001-c00000', 'i0001-c00001', 'i0001-c00002', 'i0002']);
    expect(plan.jobs[0]).toEqual({ job: 'i0000', input: '/data/a.warc.gz', source: '/data/a.warc.gz' });
    expect(plan.jobs.slice(1, 4).map((j) => j.chunk)).toEqual([
      { index: 0, firstRow: 0, rows: 10 }, { index: 1, firstRow: 10, rows: 10 }, { index: 2, firstRow: 20, rows: 3 },
    ]);
    expect(plan.listCandidates).toBe(23);
    expect(plan.badItems).toEqual({ bad_url: 1 });
    const whole = await collect(readSource(list));
    const chunks: Candidate[] = [];
    for (const j of plan.jobs.slice(1, 4)) {
      expect(j.inputFormat).toBe('jsonl');
      chunks.push(...(await collect(readSource(j.input, { format: 'jsonl' }))));
    }
    expect(chunks.map((c) => [c.url, c.caption])).toEqual(whole.map((c) => [c.url, c.caption]));
    // a restarted coordinator reuses the saved plan (same job names and files), without reading again
    const again = await planJobs(opts);
    expect(again).toEqual(plan);
    expect(reads).toBe(1);
    expect(JSON.parse(await readFile(join(dir, 'plan', 'plan.json'), 'utf8')).runId).toBe('r1');
  });

  it('names jobs by input and chunk', () => {
    expect(jobName(3)).toBe('i0003');
    expect(jobName(3, 12)).toBe('i0003-c00012');
  });
});

describe('run identity and job files', () => {
  it('derives the same run id from the same crawl, another from another', () => {
    const base = { queries: 'q.txt', inputs: ['a.jsonl'], out: 'out' };
    const a = runConfigOf(base, 100);
    expect(runConfigOf({ ...base, concurrency: 3 }, 5000).runId).toBe(a.runId);
    expect(runConfigOf({ ...base, cap: 5 }, 100).runId).not.toBe(a.runId);
    expect(runConfigOf({ ...base, out: 'out2' }, 100).runId).not.toBe(a.runId);
    expect(a.out.startsWith('/')).toBe(true);
    expect(a.inputs[0]!.startsWith('/')).toBe(true);
    expect(() => runConfigOf(base, 100, 'bad id!')).toThrow(/run id/);
  });

  it('refuses a bad role or Redis url with a usage error', async () => {
    const base = { queries: 'q.txt', inputs: ['a.jsonl'], out: 'out' };
    await expect(runDistributed({ ...base, redis: 'redis://127.0.0.1:1' }, 'boss')).rejects.toThrow(UsageError);
    await expect(runDistributed({ ...base, redis: 'http://127.0.0.1:1' }, 'worker')).rejects.toThrow(/--redis: expected redis:\/\/HOST:PORT/);
    await expect(runDistributed({ ...base, redis: 'not a url' }, 'coordinator')).rejects.toThrow(UsageError);
  });

  it('removes an earlier attempt\'s files and the orphans no committed job claims', async () => {
    const out = join(dir, 'files');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(out);
    const names = [
      'i0001-c00002-a1-00000.parquet', 'i0001-c00002-a1-00000_stats.json', '.i0001-c00002-a1-00001.parquet.tmp-77',
      'i0001-c00002-a2-00000.parquet', 'i0001-c00003-a1-00000.parquet', 'i0001-c00003-a1-00000_stats.json',
      'i0002-a1-00000.parquet', 'manifest.json', 'query_counts.tsv',
    ];
    for (const n of names) await writeFile(join(out, n), 'x');
    expect(await removeJobFiles(out, 'i0001-c00002', 'i0001-c00002-a2-')).toBe(3);
    const gone = await removeOrphans(out, new Set(['i0001-c00003-a1-00000.parquet']));
    expect(gone.sort()).toEqual(['i0001-c00002-a2-00000.parquet', 'i0002-a1-00000.parquet']);
    expect((await readdir(out)).sort()).toEqual(['i0001-c00003-a1-00000.parquet', 'i0001-c00003-a1-00000_stats.json', 'manifest.json', 'query_counts.tsv']);
    expect((await stat(join(out, 'manifest.json'))).isFile()).toBe(true);
  });

  it('files shards are folders: an attempt\'s folders (temporary or not) and an orphan folder go, a committed folder and its metadata stay', async () => {
    const out = join(dir, 'files-format');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(out);
    for (const d of ['i0001-c00002-a1-00000', '.i0001-c00002-a1-00001.tmp-77', 'i0001-c00003-a1-00000', 'i0002-a1-00000']) {
      await mkdir(join(out, d));
      await writeFile(join(out, d, 'k.jpg'), 'x');
    }
    for (const n of ['i0001-c00002-a1-00000.parquet', 'i0001-c00002-a1-00000_stats.json', 'i0001-c00003-a1-00000.parquet', 'i0001-c00003-a1-00000_stats.json', 'i0002-a1-00000.parquet', 'manifest.json']) await writeFile(join(out, n), 'x');
    expect(await removeJobFiles(out, 'i0001-c00002')).toBe(4);
    const gone = await removeOrphans(out, new Set(['i0001-c00003-a1-00000']));
    expect(gone.sort()).toEqual(['i0002-a1-00000', 'i0002-a1-00000.parquet']);
    expect((await readdir(out)).sort()).toEqual(['i0001-c00003-a1-00000', 'i0001-c00003-a1-00000.parquet', 'i0001-c00003-a1-00000_stats.json', 'manifest.json']);
  });
});
