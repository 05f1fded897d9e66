import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, readFile, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { runWit, WIT } from './run-wit.js';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

let srv: TestServer;
let dir: string;
let queries: string;

beforeAll(async () => {
  srv = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'wit-cli-'));
  queries = join(dir, 'queries.tsv');
  await writeFile(queries, 'query\tsource\tcount\ncat\twordnet\t10\nred fox\tbigram\t3\nowl\tunigram\t5\n');
  const imgs = (n: number, cap: string) => Array.from({ length: n }, (_, i) => `<img src="/img/${cap.replace(/ /g, '-')}-${i}.jpg?w=${60 + i}&h=50&seed=${i}" alt="a ${cap} number ${i}">`).join('');
  srv.setPage('/', `<html><body>${imgs(3, 'cat')}${imgs(2, 'red fox')}<img src="/status/404" alt="a lost cat"><img src="/fake.jpg" alt="fake owl"><img src="/img/x.jpg" alt="no query here"><a href="/more.html">more</a></body></html>`);
  srv.setPage('/more.html', `<html><body>${imgs(3, 'owl')}<img src="/img/cat-0.jpg?w=60&h=50&seed=0" alt="a cat number 0"></body></html>`);
});
afterAll(async () => {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});

describe('wit crawl (CLI)', () => {
  it('crawls a seed site into shards that DuckDB reads, with a summary that adds up', async () => {
    const out = join(dir, 'site');
    const r = await runWit(['crawl', '--queries', queries, '--input', srv.url('/'), '--out', out, '--allow-private-network', '--image-size', '32', '--shard-size', '4', '--timeout-ms', '2000', '--retries', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ candidates: 12, kept: 8, failed: { http_4xx: 1, not_image: 1 }, skipped: { no_match: 1, duplicate: 1 }, pages: { ok: 2 } });
    expect(s.kept + s.failed_total + s.skipped_total).toBe(s.candidates);
    const conn = await (await DuckDBInstance.create(':memory:')).connect();
    const rows = (await conn.runAndReadAll(`select key, caption, queries, width, height, octet_length(jpg) as n, sha256 from read_parquet('${out}/*.parquet') order by key`)).getRowObjectsJson();
    expect(rows.length).toBe(8);
    expect(new Set(rows.map((x) => x.key)).size).toBe(8);
    expect(rows.every((x) => Number(x.width) === 32 && Number(x.height) === 32 && Number(x.n) > 100)).toBe(true);
    const fox = rows.find((x) => String(x.caption).includes('red fox'))!;
    expect(fox.queries).toEqual(['red fox']);
    const counts = await readFile(join(out, 'query_counts.tsv'), 'utf8');
    expect(counts).toBe('query\tcount\ncat\t3\nowl\t3\nred fox\t2\n');
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ stage: 'crawl', complete: true });
    expect(manifest.shards.length).toBe(s.shards);
    const stats = (await readdir(out)).filter((n) => n.endsWith('_stats.json'));
    let candidates = 0;
    for (const f of stats) candidates += JSON.parse(await readFile(join(out, f), 'utf8')).candidates;
    expect(candidates).toBe(12);
    // the same run again without --resume is refused; with --resume it finds everything done
    const again = await runWit(['crawl', '--queries', queries, '--input', srv.url('/'), '--out', out, '--allow-private-network']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--resume/);
  });

  it('reads a url list served over http, and stops cleanly on SIGINT', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ url: srv.url(`/slow/l${i}.jpg?ms=200&seed=${i}`), caption: `an owl ${i}` }));
    srv.setPage('/list.jsonl', lines.join('\n') + '\n', { 'content-type': 'application/jsonl' });
    const out = join(dir, 'list');
    const child = spawn(process.execPath, [WIT, 'crawl', '--queries', queries, '--input', srv.url('/list.jsonl'), '--out', out, '--allow-private-network', '--shard-size', '5', '--concurrency', '2', '--image-size', '16'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    for (let i = 0; i < 2000; i++) {
      if ((await readdir(out).catch(() => [] as string[])).some((f) => f.endsWith('_stats.json'))) break;
      await sleep(10);
    }
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(/interrupted|SIGINT/);
    const names = await readdir(out);
    // no temporary file left; the one dotfile is the output claim
    expect(names.filter((n) => n.startsWith('.'))).toEqual(['.wit-output.json']);
    expect(names.filter((n) => n.endsWith('.parquet')).length).toBe(names.filter((n) => n.endsWith('_stats.json')).length);
    const done = await runWit(['crawl', '--queries', queries, '--input', srv.url('/list.jsonl'), '--out', out, '--allow-private-network', '--shard-size', '5', '--concurrency', '2', '--image-size', '16', '--resume', '--json']);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ candidates: 40, kept: 40, shards: 8 });
  });

  it('refuses loopback targets without --allow-private-network', async () => {
    const out = join(dir, 'ssrf');
    const r = await runWit(['crawl', '--queries', queries, '--input', `http://localhost:${srv.port}/`, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.candidates).toBe(0);
    expect(s.pages).toEqual({ blocked_address: 1 });
  });

  it('exits 2 on bad usage and bad input', async () => {
    const base = ['crawl', '--queries', queries, '--out', join(dir, 'bad')];
    const [noArgs, zero, mode, unknown, missing, noQueries, role] = await Promise.all([
      runWit(['crawl']),
      runWit([...base, '--input', srv.url('/'), '--concurrency', '0']),
      runWit([...base, '--input', srv.url('/'), '--resize-mode', 'stretch']),
      runWit([...base, '--input', 'data.unknown']),
      runWit([...base, '--input', join(dir, 'nope.jsonl')]),
      runWit(['crawl', '--queries', join(dir, 'no-queries.tsv'), '--out', join(dir, 'bad2'), '--input', srv.url('/')]),
      runWit([...base, '--input', srv.url('/'), '--role', 'worker']),
    ]);
    for (const r of [noArgs, zero, mode, unknown, missing, noQueries, role]) expect(r.code, r.stderr).toBe(2);
    expect(zero.stderr).toMatch(/--concurrency must be >= 1/);
    expect(missing.stderr).toMatch(/nope\.jsonl/);
    expect(noQueries.stderr).toMatch(/no-queries\.tsv/);
    const help = await runWit(['crawl', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--shard-size INT\s[^-]*\(default: 10000\)/);
  });
});
