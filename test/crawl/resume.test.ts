import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { readShards } from '../../src/shards/index.js';
import { runWit, WIT } from './run-wit.js';

let srv: TestServer;
let dir: string;
let queries: string;
let input: string;

beforeAll(async () => {
  srv = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'wit-resume-'));
  queries = join(dir, 'queries.txt');
  await writeFile(queries, 'alpha\nbeta\ngamma\n');
  // 240 candidates: three queries, some pairs match two, 1 in 9 fails (404), a few duplicates;
  // cap 50 so that caps, cap_reached and releases of failed downloads all shape the result
  const lines: string[] = [];
  const names = ['alpha', 'beta', 'gamma'];
  for (let i = 0; i < 240; i++) {
    const q = names[i % 3]!;
    const caption = i % 7 === 0 ? `${q} and ${names[(i + 1) % 3]} ${i}` : `a ${q} picture ${i}`;
    const url = i % 9 === 4 ? srv.url(`/status/404?i=${i}`) : srv.url(`/slow/p${i}.jpg?ms=25&w=40&h=30&seed=${i}`);
    lines.push(JSON.stringify({ url, caption }));
    if (i % 50 === 10) lines.push(JSON.stringify({ url, caption }));
  }
  input = join(dir, 'list.jsonl');
  await writeFile(input, lines.join('\n') + '\n');
});
afterAll(async () => {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});

async function pairs(out: string): Promise<string[]> {
  const rows: string[] = [];
  for await (const r of readShards(out, { images: false })) rows.push(`${r.key} ${r.url} ${r.caption} [${r.queries.join(',')}] ${r.sha256}`);
  return rows.sort();
}

const args = (out: string) => ['crawl', '--queries', queries, '--input', input, '--out', out, '--allow-private-network', '--cap', '50', '--shard-size', '12', '--concurrency', '6', '--image-size', '24', '--retries', '0', '--json'];

describe('kill -9 then --resume', () => {
  it('gives the same pairs as an uninterrupted run', async () => {
    const full = join(dir, 'full');
    const a = await runWit(args(full));
    expect(a.code, a.stderr).toBe(0);
    const sa = JSON.parse(a.stdout);
    expect(sa.skipped.cap_reached).toBeGreaterThan(0);
    expect(sa.failed.http_4xx).toBeGreaterThan(0);

    const killed = join(dir, 'killed');
    // killed right after its third shard is finished (src/shards/writer.ts's test hook): a polling
    // test process on a loaded machine could miss the moment and see the run finish first
    const child = spawn(process.execPath, [WIT, ...args(killed)], { stdio: 'ignore', env: { ...process.env, WIT_TEST_KILL_AT: 'shards:closed-3' } });
    await new Promise((r) => child.on('close', r));
    expect(child.signalCode).toBe('SIGKILL');
    const left = await readdir(killed);
    const finishedBefore = left.filter((f) => f.endsWith('_stats.json')).length;
    expect(finishedBefore).toBeGreaterThanOrEqual(3);
    expect(finishedBefore).toBeLessThan(sa.shards); // really cut mid-run
    expect(JSON.parse(await readFile(join(killed, 'manifest.json'), 'utf8')).complete).toBe(false);

    const b = await runWit([...args(killed), '--resume']);
    expect(b.code, b.stderr).toBe(0);
    const sb = JSON.parse(b.stdout);
    expect(sb.resumed_shards).toBeGreaterThanOrEqual(3);
    expect(await pairs(killed)).toEqual(await pairs(full));
    for (const k of ['candidates', 'kept', 'failed', 'skipped', 'shards', 'admitted']) expect(sb[k], k).toEqual(sa[k]);
    expect(await readFile(join(killed, 'query_counts.tsv'), 'utf8')).toBe(await readFile(join(full, 'query_counts.tsv'), 'utf8'));
    expect((await readdir(killed)).filter((f) => f.startsWith('.'))).toEqual(['.wit-output.json']); // no temporary left, only the claim

    // a resume with different options is refused
    const c = await runWit([...args(killed).map((x) => (x === '50' ? '60' : x)), '--resume']);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/cap/);
  });
});
