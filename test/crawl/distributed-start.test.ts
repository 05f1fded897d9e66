/**
 * A distributed coordinator that fails at start (issue 20: a wrong --caption-col) leaves nothing in
 * Redis or --out, so the corrected rerun is a new run that its workers finish; and a run found in
 * Redis under the same --run-id with other options is refused, naming the option. Real redis-server
 * on 127.0.0.1, images from a local HTTP server, coordinator and worker as `node bin/wit.cjs`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { needs } from '../helpers/needs.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { runCoordinator, runConfigOf } from '../../src/crawl/distributed/coordinator.js';
import { RunKeys } from '../../src/crawl/distributed/keys.js';
import type { CrawlOptions } from '../../src/crawl/options.js';
import { runWit } from './run-wit.js';

let redis: RedisServer;
let srv: TestServer;
let dir: string;
let list: string;
let client: Redis;

describe.skipIf(!needs('redis-server'))('distributed crawl: a failed start leaves no run behind', () => {
  beforeAll(async () => {
    redis = await startRedis();
    srv = await startTestServer();
    dir = await mkdtemp(join(tmpdir(), 'wit-dist-start-'));
    list = join(dir, 'list.csv');
    const rows = Array.from({ length: 5 }, (_, i) => `${srv.url(`/img/s${i}.jpg?w=40&h=30&seed=${i}`)},picture ${i},alt ${i}`);
    await writeFile(list, ['url,text,alt', ...rows].join('\n') + '\n');
    client = new Redis(redis.url);
    client.on('error', () => undefined);
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
    await srv?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a wrong --caption-col fails (exit 2) before Redis or --out are touched; the corrected run completes with its worker', async () => {
    const out = join(dir, 'out');
    const flags = (col: string) => ['crawl', '--input', list, '--out', out, '--caption-col', col, '--allow-private-network', '--image-size', '32', '--retries', '0', '--redis', redis.url];
    const bad = await runWit([...flags('caption'), '--role', 'coordinator']);
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toMatch(/list\.csv.*caption column \(--caption-col\) "caption"/);
    expect(await client.keys('wit:*')).toEqual([]);
    expect(existsSync(join(out, 'manifest.json'))).toBe(false);

    const [coord, worker] = await Promise.all([
      runWit([...flags('text'), '--role', 'coordinator', '--json'], { timeoutMs: 90_000 }),
      runWit([...flags('text'), '--role', 'worker', '--json'], { timeoutMs: 90_000 }),
    ]);
    expect(coord.code, coord.stderr).toBe(0);
    expect(worker.code, worker.stderr).toBe(0);
    expect(JSON.parse(coord.stdout)).toMatchObject({ candidates: 5, kept: 5 });
    expect((await readdir(out)).filter((n) => n.endsWith('.parquet'))).toHaveLength(1);
  });

  it('the run id covers the list columns; a run in Redis under the same --run-id with other options is refused by name', async () => {
    const base = { inputs: [list], out: join(dir, 'named'), captionCol: 'text', allowPrivateNetwork: true, imageSize: 32, retries: 0 } as CrawlOptions;
    expect(runConfigOf(base, 100).runId).not.toBe(runConfigOf({ ...base, captionCol: 'alt' }, 100).runId);
    expect(runConfigOf(base, 100).runId).not.toBe(runConfigOf({ ...base, outputFormat: 'webdataset' }, 100).runId);

    // a coordinator of run "named" with --caption-col text, stopped once the run is stored (no worker)
    const stop = new AbortController();
    const first = runCoordinator({ redisUrl: redis.url, crawl: base, runId: 'named', pollMs: 50, signal: stop.signal }).catch((e: unknown) => e);
    for (let i = 0; i < 200 && !(await client.exists(new RunKeys('named').config)); i++) await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    await first;
    expect(await client.exists(new RunKeys('named').config)).toBe(1);

    const late = new AbortController();
    const timer = setTimeout(() => late.abort(), 10_000);
    try {
      await expect(runCoordinator({ redisUrl: redis.url, crawl: { ...base, captionCol: 'alt' }, runId: 'named', pollMs: 50, signal: late.signal }))
        .rejects.toThrow(/run named in Redis was started with --caption-col = "text", this coordinator has "alt"/);
    } finally {
      clearTimeout(timer);
    }
  });
});
