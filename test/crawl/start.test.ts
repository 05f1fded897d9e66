import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { runWit } from './run-wit.js';

let srv: TestServer;
let dir: string;
let queries: string;
let good: string;

beforeAll(async () => {
  srv = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'wit-start-'));
  queries = join(dir, 'queries.txt');
  await writeFile(queries, 'wren\n');
  good = join(dir, 'good.csv');
  await writeFile(good, `url,caption\n${[0, 1, 2, 3].map((i) => `${srv.url(`/img/w${i}.jpg?w=20&h=20&seed=${i}`)},a wren ${i}`).join('\n')}\n`);
});
afterAll(async () => {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});

const crawlArgs = (input: string, out: string, ...more: string[]) => ['crawl', '--queries', queries, '--input', input, '--out', out, '--allow-private-network', '--image-size', '16', '--shard-size', '2', '--json', ...more];
const manifestOf = async (out: string) => JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { complete: boolean; inputs: string[] };

describe('a failed start does not poison the output folder', () => {
  it('writes nothing when an input is missing, and the corrected rerun just runs', async () => {
    const out = join(dir, 'missing');
    const bad = await runWit(crawlArgs(join(dir, 'no-such.csv'), out));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^wit crawl: .*no-such\.csv: no such file$/m);
    expect(await readdir(out).catch(() => 'absent')).toBe('absent');
    const fixed = await runWit(crawlArgs(good, out));
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(JSON.parse(fixed.stdout).kept).toBe(4);
  });

  it('takes a folder whose failed start left no finished shard as fresh, with or without --resume', async () => {
    const out = join(dir, 'badheader');
    const badList = join(dir, 'bad.csv');
    await writeFile(badList, 'link,text\nhttp://x/a.jpg,a wren\n');
    const bad = await runWit(crawlArgs(badList, out));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.csv: CSV header has no url column/);
    // the list's header is checked before anything is written: no manifest, nothing to poison
    await expect(manifestOf(out)).rejects.toMatchObject({ code: 'ENOENT' });
    const fixed = await runWit(crawlArgs(good, out));
    expect(fixed.code, fixed.stderr).toBe(0);
    expect((await manifestOf(out)).inputs).toEqual([good]);
    // the same with --resume and other inputs than the failed start's
    const out2 = join(dir, 'badheader-resume');
    expect((await runWit(crawlArgs(badList, out2))).code).toBe(2);
    const resumed = await runWit(crawlArgs(good, out2, '--resume'));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).kept).toBe(4);
  });

  it('a --resume that fails leaves a complete manifest complete', async () => {
    const out = join(dir, 'complete');
    const list = join(dir, 'changing.csv');
    await writeFile(list, await readFile(good, 'utf8'));
    const first = await runWit(crawlArgs(list, out));
    expect(first.code, first.stderr).toBe(0);
    expect((await manifestOf(out)).complete).toBe(true);
    await writeFile(list, 'link,text\nhttp://x/a.jpg,a wren\n'); // same path, now unreadable as a url list
    const again = await runWit(crawlArgs(list, out, '--resume'));
    expect(again.code).toBe(2);
    expect((await manifestOf(out)).complete).toBe(true);
    // a new run into a folder holding a finished crawl is still refused
    const refused = await runWit(crawlArgs(good, out));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already holds a crawl: use --resume/);
  });
});

describe('an unreachable Redis', () => {
  it('stops the coordinator and a worker after --redis-timeout with exit 1, naming the url', async () => {
    for (const role of ['coordinator', 'worker']) {
      const r = await runWit([...crawlArgs(good, join(dir, `redis-${role}`)), '--redis', 'redis://127.0.0.1:1', '--role', role, '--redis-timeout', '1'], { timeoutMs: 30_000 });
      expect(r.code, `${role}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1 within 1 s \(--redis-timeout\)/);
    }
  });
});
