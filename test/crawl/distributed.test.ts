/**
 * The distributed crawl end to end: redis-server on 127.0.0.1, images from a local HTTP server,
 * workers as real `node bin/wit.cjs crawl --redis … --role worker` processes (run `npm run build`
 * first; `npm test` does), compared with a one-process crawl of the same inputs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { needs } from '../helpers/needs.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { crawl, type CrawlOptions } from '../../src/crawl/index.js';
import { runCoordinator, type DistributedSummary } from '../../src/crawl/distributed/coordinator.js';
import { readCounts } from '../../src/crawl/distributed/cap-store.js';
import { RunKeys, queueName } from '../../src/crawl/distributed/keys.js';
import { Queue } from 'bullmq';
import { WitError } from '../../src/util/errors.js';
import { readShards, readManifest } from '../../src/shards/index.js';
import { makeWarc } from '../helpers/warc.js';
import { runWorker } from '../../src/crawl/distributed/worker.js';
import { createJobEnv } from '../../src/crawl/distributed/env.js';
import { QueryMatcher } from '../../src/crawl/match.js';
import { pairKey, sampledQueries } from '../../src/crawl/balance.js';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin', 'wit.cjs');
const QUERIES = ['cat', 'dog', 'bird', 'red fox', 'zebra', 'owl', 'heron'];
const CAP = 6;

let redis: RedisServer;
let srv: TestServer;
let dir: string;
let listFile: string;
let slowList: string;
let queriesFile: string;
const clients: Redis[] = [];

/**
 * 129 url-list rows: captions naming one or two queries (cat and dog far over the cap), rows that
 * match nothing, a pair of the rare "heron" (admitted, so its copies are duplicates, not cap_reached)
 * repeated inside a chunk and across chunks, and 404s that only the rare "zebra" query holds (so
 * failures never decide a cap).
 */
function rows(base: (i: number) => string): string {
  const out: string[] = [];
  const words = ['cat', 'dog', 'bird', 'red fox', 'owl'];
  for (let i = 0; i < 120; i++) {
    const a = words[i % words.length]!;
    const b = words[(i * 7 + 3) % words.length]!;
    const caption = i % 9 === 0 ? `a plain picture ${i}` : i % 4 === 0 ? `a ${a} with a ${b} ${i}` : `one ${a} number ${i}`;
    out.push(JSON.stringify({ url: base(i), caption }));
  }
  for (let i = 0; i < 4; i++) out.push(JSON.stringify({ url: srv.url(`/status/404?z=${i}`), caption: `zebra ${i}` }));
  out.push(JSON.stringify({ url: base(120), caption: 'a zebra and an owl' }));
  out.push(JSON.stringify({ url: 'not a url', caption: 'a cat' })); // a bad item, counted apart
  const heron = JSON.stringify({ url: base(121), caption: 'a grey heron' });
  out.splice(3, 0, heron);
  out.splice(10, 0, heron); // duplicate inside the first chunk
  out.push(heron); // duplicate across chunks
  return out.join('\n') + '\n';
}

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
  srv = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'wit-dist-'));
  queriesFile = join(dir, 'queries.txt');
  await writeFile(queriesFile, QUERIES.join('\n') + '\n');
  listFile = join(dir, 'list.jsonl');
  await writeFile(listFile, rows((i) => srv.url(`/img/p${i}.jpg?w=40&h=30&seed=${i}`)));
  slowList = join(dir, 'slow.jsonl');
  await writeFile(slowList, rows((i) => srv.url(`/slow/p${i}.jpg?ms=120&w=40&h=30&seed=${i}`)));
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis?.stop();
  await srv?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function options(input: string, out: string, balance: 'cap' | 'sample'): CrawlOptions {
  return {
    queries: queriesFile, inputs: [input], out, balance, cap: CAP, seed: '7', shardSize: 8,
    allowPrivateNetwork: true, imageSize: 32, timeoutMs: 30_000, retries: 0, concurrency: 8, // no image times out on a loaded machine
  };
}

/** The same crawl as CLI flags, for the worker processes. */
function flags(o: CrawlOptions, extra: string[] = []): string[] {
  return [
    'crawl', '--queries', String(o.queries), '--input', ...o.inputs, '--out', o.out, '--balance', o.balance!, '--cap', String(o.cap),
    '--seed', String(o.seed), '--shard-size', String(o.shardSize), '--allow-private-network', '--image-size', String(o.imageSize),
    '--timeout-ms', String(o.timeoutMs), '--retries', String(o.retries), '--concurrency', String(o.concurrency), ...extra,
  ];
}

interface Proc { child: ChildProcess; exit: Promise<number | null>; stderr: () => string }

function startWorker(o: CrawlOptions, extra: string[] = []): Proc {
  const child = spawn(process.execPath, [BIN, ...flags(o, extra), '--redis', redis.url, '--role', 'worker', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err = (err + d.toString()).slice(-8000); });
  child.stdout!.on('data', () => undefined);
  const exit = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return { child, exit, stderr: () => err };
}

interface Pair { url: string; caption: string; queries: string[] }

async function pairsOf(out: string): Promise<Pair[]> {
  const out2: Pair[] = [];
  for await (const r of readShards(out, { images: false })) out2.push({ url: r.url, caption: r.caption, queries: [...r.queries].sort() });
  return out2.sort((a, b) => (a.url + a.caption < b.url + b.caption ? -1 : 1));
}

function perQuery(pairs: Pair[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const p of pairs) for (const q of p.queries) c[q] = (c[q] ?? 0) + 1;
  return c;
}

/**
 * Waits until `n` workers hold a Redis connection (CLIENT LIST names them `wit-worker-…`): a worker process
 * takes seconds to start on a loaded machine, and a coordinator started first let one worker take every job.
 */
async function workersConnected(n: number): Promise<void> {
  const c = conn();
  const deadline = Date.now() + 540_000; // for the message only: under the test's 10-minute timeout, far above a loaded machine's start-up
  for (;;) {
    const list = (await c.call('CLIENT', 'LIST')) as string;
    const names = new Set([...list.matchAll(/name=(wit-worker-\S+)/g)].map((m) => m[1]));
    if (names.size >= n) return;
    // before: the names held a space, which Redis refuses, so CLIENT LIST showed every worker unnamed
    if (Date.now() > deadline) throw new Error(`${names.size} of ${n} workers named in CLIENT LIST after 9 minutes:\n${list}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs the coordinator in this process and two worker processes; resolves when all are done. */
async function distributed(o: CrawlOptions, during?: (workers: Proc[]) => Promise<void>): Promise<{ summary: DistributedSummary; workers: Proc[] }> {
  const workers = [startWorker(o), startWorker(o)];
  try {
    await workersConnected(workers.length);
    const coord = runCoordinator({ redisUrl: redis.url, crawl: o, chunkRows: 25, pollMs: 200 });
    const [summary] = await Promise.all([coord, during?.(workers)]);
    // each worker exits once the run is finished; a loaded machine may take long to get there (the test's timeout bounds it)
    const codes = await Promise.all(workers.map((w) => w.exit));
    for (let i = 0; i < workers.length; i++) {
      if (workers[i]!.child.signalCode === 'SIGKILL') continue;
      expect(codes[i], workers[i]!.stderr()).toBe(0);
    }
    return { summary: summary!, workers };
  } finally {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  }
}

function conn(): Redis {
  const c = new Redis(redis.url);
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

/** The pairs `--balance sample` keeps of `images` (every one matching two queries), computed from the input. */
function expectedSample(images: Array<{ url: string; caption: string }>, t: number, seed: string): Pair[] {
  const matcher = QueryMatcher.build(QUERIES);
  const ids = images.map((im) => matcher.match(im.caption));
  const counts = new Map<number, number>();
  for (const list of ids) for (const id of list) counts.set(id, (counts.get(id) ?? 0) + 1);
  const kept = images.flatMap((im, i) => {
    const q = sampledQueries(ids[i]!, counts, t, seed, pairKey(im.url, im.caption));
    return q.length ? [{ url: im.url, caption: im.caption, queries: q.map((id) => QUERIES[id]!).sort() }] : [];
  });
  expect(ids.every((l) => l.length === 2)).toBe(true);
  return kept.sort((a, b) => (a.url + a.caption < b.url + b.caption ? -1 : 1));
}

/** Checks what every distributed run must hold: no duplicate pair, caps kept and counted exactly. */
async function checkRun(out: string, summary: DistributedSummary, pairs: Pair[]): Promise<void> {
  const keys = pairs.map((p) => `${p.url}\n${p.caption}`);
  expect(new Set(keys).size).toBe(keys.length);
  const counts = perQuery(pairs);
  const caps = await readCounts(conn(), new RunKeys(summary.run_id).caps);
  expect(Object.fromEntries([...caps].map(([id, n]) => [QUERIES[id]!, n]))).toEqual(counts);
  const names = await readdir(out);
  expect(names.filter((n) => n.startsWith('.'))).toEqual([]); // no temp files, no chunk dir left
  const manifest = await readManifest(out);
  expect(manifest?.complete).toBe(true);
  expect([...(manifest!.shards as string[])].sort()).toEqual(names.filter((n) => n.endsWith('.parquet')).sort());
  expect(summary.kept).toBe(pairs.length);
  expect(summary.candidates).toBe(summary.kept + summary.failed_total + summary.skipped_total);
}

// Without redis-server every test here is skipped (and vitest then runs no beforeAll/afterAll).
describe.skipIf(!needs('redis-server'))('distributed crawl (BullMQ on Redis)', () => {
  let localCap: Pair[];
  let localSummary: Awaited<ReturnType<typeof crawl>>;

  beforeAll(async () => {
    const out = join(dir, 'local-cap');
    localSummary = await crawl(options(listFile, out, 'cap'));
    localCap = await pairsOf(out);
  });

  it('two worker processes give the same counts per query as one process under --balance cap', async () => {
    const o = options(listFile, join(dir, 'dist-cap'), 'cap');
    const { summary } = await distributed(o);
    const pairs = await pairsOf(o.out);
    await checkRun(o.out, summary, pairs);
    const counts = perQuery(pairs);
    expect(counts).toEqual(perQuery(localCap));
    for (const n of Object.values(counts)) expect(n).toBeLessThanOrEqual(CAP);
    expect(counts.cat).toBe(CAP);
    expect(summary.jobs).toBe(6);
    expect(summary.workers.length).toBe(2);
    expect(summary.candidates).toBe(localSummary.candidates);
    expect(summary.skipped.duplicate).toBe(2);
    expect(localSummary.skipped.duplicate).toBe(2);
    expect(summary.failed).toEqual(localSummary.failed);
    expect(summary.bad_items).toEqual({ bad_url: 1 });
    expect(summary.bad_items).toEqual(localSummary.bad_items);
    const qc = await readFile(join(o.out, 'query_counts.tsv'), 'utf8');
    expect(qc).toBe(await readFile(join(dir, 'local-cap', 'query_counts.tsv'), 'utf8'));
    // the same command again: the run is finished, nothing is redone
    const again = await runCoordinator({ redisUrl: redis.url, crawl: o, chunkRows: 25, pollMs: 100 });
    expect(again.kept).toBe(summary.kept);
    expect(again.run_id).toBe(summary.run_id);
    // another crawl into the same directory is refused (its orphan cleanup would touch these shards)
    await expect(runCoordinator({ redisUrl: redis.url, crawl: { ...o, cap: CAP + 1 }, chunkRows: 25 })).rejects.toThrow(/already holds another crawl/);
  });

  it('gives identical pairs to one process under --balance sample (count phase, then sample)', async () => {
    const lo = options(listFile, join(dir, 'local-sample'), 'sample');
    const local = await crawl(lo);
    const o = options(listFile, join(dir, 'dist-sample'), 'sample');
    const { summary } = await distributed(o);
    const pairs = await pairsOf(o.out);
    expect(pairs).toEqual(await pairsOf(lo.out));
    expect(summary.skipped).toEqual(local.skipped);
    expect(summary.skipped.not_sampled).toBeGreaterThan(0);
    await checkRun(o.out, summary, pairs);
  });

  it('takes over the job of a worker killed with SIGKILL: no pair lost or duplicated, no cap count leaked', async () => {
    const o = { ...options(slowList, join(dir, 'dist-kill'), 'cap'), cap: 15, concurrency: 1 };
    const local = await pairsOf((await crawl({ ...o, out: join(dir, 'local-kill'), concurrency: 8 })).out);
    const { summary } = await distributed(o, async (workers) => {
      // kill worker 0 while it is writing a shard (its temporary file is there)
      const pid = workers[0]!.child.pid;
      // waits on the file, however long a loaded machine takes to get there (the test's timeout bounds it)
      for (;;) {
        const names = await readdir(o.out).catch(() => [] as string[]);
        if (names.some((n) => n.startsWith('.') && n.includes(`.tmp-${pid}@`))) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      workers[0]!.child.kill('SIGKILL');
    });
    const pairs = await pairsOf(o.out);
    await checkRun(o.out, summary, pairs);
    expect(perQuery(pairs)).toEqual(perQuery(local));
    expect(summary.retried_attempts).toBeGreaterThanOrEqual(1);
  });

  it('runs WARC inputs one job per file, coordinator and workers from the CLI, same pairs as one process', async () => {
    const warcs: string[] = [];
    const words = ['cat', 'dog', 'bird', 'red fox', 'owl', 'zebra'];
    const images: Array<{ url: string; caption: string }> = [];
    for (let f = 0; f < 3; f++) {
      const pages = [0, 1].map((p) => {
        const imgs = Array.from({ length: 8 }, (_, k) => {
          const n = f * 100 + p * 10 + k;
          images.push({ url: srv.url(`/img/w${n}.jpg?w=36&h=36&seed=${n}`), caption: `a ${words[n % 6]} and a ${words[(n * 5 + 1) % 6]} in picture ${n}` });
          return `<img src="/img/w${n}.jpg?w=36&h=36&seed=${n}" alt="a ${words[n % 6]} and a ${words[(n * 5 + 1) % 6]} in picture ${n}">`;
        });
        return { url: srv.url(`/page/${f}-${p}.html`), body: `<html><body>${imgs.join('\n')}<img src="/img/x.jpg" alt=""></body></html>`, contentType: 'text/html' };
      });
      const file = join(dir, `crawl-${f}.warc.gz`);
      await writeFile(file, await makeWarc(pages, { gzip: true }));
      warcs.push(file);
    }
    const o: CrawlOptions = { ...options(warcs[0]!, join(dir, 'dist-warc'), 'sample'), inputs: warcs, cap: 3 };
    const local = await crawl({ ...o, out: join(dir, 'local-warc') });
    const workers = [startWorker(o), startWorker(o)];
    try {
      const coord = spawn(process.execPath, [BIN, ...flags(o), '--redis', redis.url, '--role', 'coordinator', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      coord.stdout!.on('data', (d) => { stdout += d.toString(); });
      coord.stderr!.on('data', (d) => { stderr = (stderr + d.toString()).slice(-8000); });
      const code = await new Promise<number | null>((res) => coord.on('exit', (c) => res(c)));
      expect(code, stderr).toBe(0);
      const summary = JSON.parse(stdout) as DistributedSummary;
      expect(summary.jobs).toBe(3);
      expect(summary.candidates).toBe(local.candidates);
      expect(summary.skipped).toEqual(local.skipped);
      const pairs = await pairsOf(o.out);
      expect(pairs).toEqual(await pairsOf(local.out));
      // Exactly the pairs MetaCLIP sampling keeps from the 48 images: the draw hashes the url, whose
      // port changes every run, so the count does (10 to 18 seen); 'more than 10' failed at 10.
      expect(pairs).toEqual(expectedSample(images, o.cap!, String(o.seed)));
      expect(summary.failed_total).toBe(0);
      await checkRun(o.out, summary, pairs);
      expect(await Promise.all(workers.map((w) => w.exit))).toEqual([0, 0]);
    } finally {
      for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }
  });

  it('stops with a clear error when a job\'s input is bad (failed for good, not retried forever)', async () => {
    const bad = join(dir, 'broken.warc');
    await writeFile(bad, 'this is not a WARC file\n'.repeat(20));
    const o = options(bad, join(dir, 'dist-bad'), 'cap');
    const ctl = new AbortController();
    const worker = runWorker({ redisUrl: redis.url, envFactory: createJobEnv, signal: ctl.signal });
    try {
      const err = await runCoordinator({ redisUrl: redis.url, crawl: o, pollMs: 100 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WitError);
      expect((err as WitError).message).toMatch(/i0000: .*broken\.warc/);
      expect((err as WitError).exitCode).toBe(2);
    } finally {
      ctl.abort();
      await worker;
    }
  });

  it('a coordinator stopped mid-run and started again picks the run up, adding no job twice', async () => {
    const o = { ...options(slowList, join(dir, 'dist-coord'), 'cap'), concurrency: 2 };
    const local = await pairsOf((await crawl({ ...o, out: join(dir, 'local-coord'), concurrency: 8 })).out);
    const workers = [startWorker(o), startWorker(o)];
    try {
      const ctl = new AbortController();
      const first = runCoordinator({ redisUrl: redis.url, crawl: o, chunkRows: 25, pollMs: 100, signal: ctl.signal });
      const c = conn();
      let runId = '';
      while (!runId) { // until a job is done, however long that takes here
        for (const r of await c.smembers('wit:runs')) if ((await c.hlen(new RunKeys(r).done)) >= 1) runId = r;
        await new Promise((r) => setTimeout(r, 25));
      }
      ctl.abort();
      await expect(first).rejects.toThrow(/coordinator stopped/);
      const doneAtStop = await c.hlen(new RunKeys(runId).done);
      expect(doneAtStop).toBeLessThan(6);
      const summary = await runCoordinator({ redisUrl: redis.url, crawl: o, chunkRows: 25, pollMs: 100 });
      expect(summary.run_id).toBe(runId);
      expect(summary.retried_attempts).toBe(0);
      const pairs = await pairsOf(o.out);
      await checkRun(o.out, summary, pairs);
      expect(perQuery(pairs)).toEqual(perQuery(local));
      // every job ran exactly once: the restart re-added nothing
      const q = new Queue(queueName(runId), { connection: { host: '127.0.0.1', port: redis.port } });
      expect(await q.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed')).toEqual({ completed: 6, failed: 0, waiting: 0, active: 0, delayed: 0 });
      await q.close();
      expect(await Promise.all(workers.map((w) => w.exit))).toEqual([0, 0]);
    } finally {
      for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }
  });

  it('redoes a run whose Redis state was lost (FLUSHALL) when the coordinator is run again', async () => {
    const o = { ...options(slowList, join(dir, 'dist-lost'), 'cap'), concurrency: 4 };
    const ctl = new AbortController();
    const worker = runWorker({ redisUrl: redis.url, envFactory: createJobEnv, signal: ctl.signal });
    try {
      const first = runCoordinator({ redisUrl: redis.url, crawl: o, chunkRows: 25, pollMs: 100 });
      first.catch(() => undefined);
      const c = conn();
      for (;;) { // until a job is done, however long that takes here
        const runs = await c.smembers('wit:runs');
        let done = 0;
        for (const r of runs) done += await c.hlen(new RunKeys(r).done);
        if (done >= 1) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      await c.flushall();
      await expect(first).rejects.toThrow(/Redis lost the state/);
      const summary = await runCoordinator({ redisUrl: redis.url, crawl: o, chunkRows: 25, pollMs: 100 });
      const pairs = await pairsOf(o.out);
      await checkRun(o.out, summary, pairs);
      expect(perQuery(pairs)).toEqual(perQuery(localCap));
    } finally {
      ctl.abort();
      await worker;
    }
  });

  it('waits out a Redis restart mid-run and completes it', async () => {
    const o = { ...options(slowList, join(dir, 'dist-restart'), 'sample'), concurrency: 2 };
    const local = await pairsOf((await crawl({ ...o, out: join(dir, 'local-restart'), concurrency: 8 })).out);
    let done = 0;
    const { summary } = await distributed(o, async () => {
      const c = conn();
      for (;;) { // until a job is done, however long that takes here
        const runs = await c.smembers('wit:runs');
        done = 0;
        for (const r of runs) done += await c.hlen(new RunKeys(r).done);
        if (done >= 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(done).toBeLessThan(6);
      await redis.shutdown();
      await new Promise((r) => setTimeout(r, 1500));
      await redis.restart();
    });
    const pairs = await pairsOf(o.out);
    expect(pairs).toEqual(local);
    await checkRun(o.out, summary, pairs);
  });
  it('--output-format webdataset: workers write tars (with their metadata) holding the same pairs as a local Parquet crawl', async () => {
    const o: CrawlOptions = { ...options(listFile, join(dir, 'dist-wds'), 'cap'), outputFormat: 'webdataset' };
    const workers = [startWorker(o, ['--output-format', 'webdataset']), startWorker(o, ['--output-format', 'webdataset'])];
    try {
      const summary = await runCoordinator({ redisUrl: redis.url, crawl: o, chunkRows: 25, pollMs: 200 });
      expect(await Promise.all(workers.map((w) => w.exit))).toEqual([0, 0]);
      const names = await readdir(o.out);
      const tars = names.filter((n) => n.endsWith('.tar')).sort();
      expect(tars.length).toBe(summary.shards);
      expect([...((await readManifest(o.out))!.shards as string[])].sort()).toEqual(tars);
      expect(summary.kept).toBe((await pairsOf(o.out)).length);
      for (const t of tars) expect(names).toContain(t.replace(/\.tar$/, '.parquet'));
      expect(names.filter((n) => n.startsWith('.'))).toEqual([]);
      expect(perQuery(await pairsOf(o.out))).toEqual(perQuery(localCap));
    } finally {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
  });
});
