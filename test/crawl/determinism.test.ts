import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { runWit } from './run-wit.js';

let srv: TestServer;
let dir: string;

beforeAll(async () => {
  srv = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'wit-determinism-'));
});
afterAll(async () => {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});

/** Every file of a crawl folder; stats and manifest without their times. */
async function contents(out: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const names = (await readdir(out, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && e.name !== '.wit-output.json') // the output claim (names the run, differs by design)
    .map((e) => relative(out, join(e.parentPath, e.name)))
    .sort();
  for (const name of names) {
    const bytes = await readFile(join(out, name));
    if (name.endsWith('_stats.json')) {
      const { start_time: _a, end_time: _b, duration: _c, ...rest } = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
      files.set(name, JSON.stringify(rest));
    } else if (name === 'manifest.json') {
      const m = JSON.parse(bytes.toString('utf8')) as { shards: string[]; complete: boolean; totals: Record<string, unknown> };
      files.set(name, JSON.stringify({ shards: m.shards, complete: m.complete, kept: m.totals.kept }));
    } else {
      files.set(name, bytes.toString('base64'));
    }
  }
  return files;
}

describe('two identical crawls', () => {
  it('write the same shard bytes although downloads finish in a different order', async () => {
    const queries = join(dir, 'queries.txt');
    await writeFile(queries, 'fox\nowl\n');
    const lines: string[] = [];
    for (let i = 0; i < 60; i++) {
      const caption = `a ${i % 2 ? 'fox' : 'owl'} number ${i}`;
      const url = i % 11 === 5 ? srv.url(`/status/404?i=${i}`) : srv.url(`/jitter/p${i}.jpg?max=40&w=${30 + (i % 7)}&h=24&seed=${i}`);
      lines.push(JSON.stringify({ url, caption }));
    }
    const input = join(dir, 'list.jsonl');
    await writeFile(input, lines.join('\n') + '\n');
    const args = (out: string) => ['crawl', '--queries', queries, '--input', input, '--out', out, '--allow-private-network', '--shard-size', '25', '--concurrency', '16', '--image-size', '16', '--retries', '0', '--json'];
    const a = await runWit(args(join(dir, 'a')));
    expect(a.code, a.stderr).toBe(0);
    const b = await runWit(args(join(dir, 'b')));
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(a.stdout).kept).toBe(55); // 60 less the five 404s
    const ca = await contents(join(dir, 'a'));
    const cb = await contents(join(dir, 'b'));
    expect([...ca.keys()]).toEqual(['00000.parquet', '00000_stats.json', '00001.parquet', '00001_stats.json', '00002.parquet', '00002_stats.json', 'manifest.json', 'query_counts.tsv', 'status/00000.parquet', 'status/00001.parquet', 'status/00002.parquet']);
    for (const [name, content] of ca) expect(cb.get(name), name).toBe(content);
  });
});
