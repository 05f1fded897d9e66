import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { SafeFetcher } from '../../src/crawl/http/fetch.js';
import { RobotsCache } from '../../src/crawl/http/robots.js';
import { HostLimiter } from '../../src/crawl/http/host-limiter.js';
import { QueryMatcher } from '../../src/crawl/match.js';
import { MemoryCapStore, pairKey, sampledQueries } from '../../src/crawl/balance.js';
import { PairDeduper, newCounters, processCandidates, countMatches, sumCounts, type CrawlResources, type PartOptions } from '../../src/crawl/pipeline.js';
import type { Candidate } from '../../src/crawl/types.js';
import { readShards, readShardStats } from '../../src/shards/index.js';

let srv: TestServer;
let res: CrawlResources;
let dir: string;
beforeAll(async () => {
  srv = await startTestServer();
  // 5 s: the stall case still times out (twice), and no image of the local server does on a loaded machine
  const fetcher = new SafeFetcher({ allowPrivateNetwork: true, timeoutMs: 5000, retries: 1, backoffMs: 10, maxBytes: 1024 * 1024 });
  res = { fetcher, robots: new RobotsCache(fetcher), hosts: new HostLimiter({ perHostConcurrency: 8 }), downloads: new PQueue({ concurrency: 16 }), images: new PQueue({ concurrency: 2 }) };
  dir = await mkdtemp(join(tmpdir(), 'wit-pipeline-'));
});
afterAll(async () => {
  await res.fetcher.close();
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});

async function* list(cands: Candidate[]): AsyncGenerator<Candidate> {
  for (const c of cands) yield c;
}

function partOpts(out: string, matcher: QueryMatcher, cap: number, extra: Partial<PartOptions> = {}): PartOptions {
  return {
    out, prefix: '', shardSize: 100, matcher, balance: { mode: 'cap', cap, store: new MemoryCapStore(cap) }, dedupe: new PairDeduper(),
    image: { imageSize: 32, resizeMode: 'center_crop', encode: 'jpg', quality: 80 }, resume: false, window: 32, counters: newCounters(), ...extra,
  };
}

describe('processCandidates', () => {
  it('ends every candidate in exactly one outcome with the right reason', async () => {
    const u = (p: string) => srv.url(p);
    const cands: Candidate[] = [
      { url: u('/img/ok1.jpg?w=64&h=64'), caption: 'a cat on a mat', source: 't' },
      { url: u('/img/ok1.jpg?w=64&h=64'), caption: 'a cat on a mat', source: 't' }, // duplicate
      { url: u('/img/ok2.jpg?w=80&h=40&seed=2'), caption: 'the cat again', source: 't' },
      { url: u('/img/none.jpg'), caption: 'nothing to see', source: 't' }, // no_match
      { url: 'data:image/png;base64,xx', caption: 'a cat inline', source: 't' }, // bad_url
      { url: u('/status/404'), caption: 'cat 404', source: 't' },
      { url: u('/status/500'), caption: 'cat 500', source: 't' },
      { url: u('/stall.jpg'), caption: 'cat stall', source: 't' },
      { url: u('/loop/0'), caption: 'cat loop', source: 't' },
      { url: u('/fake.jpg'), caption: 'cat fake', source: 't' },
      { url: u('/bomb.png'), caption: 'cat bomb', source: 't' },
      { url: u('/huge.jpg'), caption: 'cat huge', source: 't' },
      { url: u('/truncated.jpg'), caption: 'cat cut', source: 't' },
      { url: u('/private/a.jpg'), caption: 'cat private', source: 't' },
      { url: u('/xrt/noai/a.jpg'), caption: 'cat noai', source: 't' },
      { url: 'http://127.0.0.1:1/a.jpg', caption: 'cat refused', source: 't' },
    ];
    const matcher = QueryMatcher.build(['cat', 'mat'], { caseSensitive: true });
    const out = join(dir, 'reasons');
    const r = await processCandidates(list(cands), partOpts(out, matcher, 1000), res);
    expect(r.kept).toBe(2);
    expect(r.skipped).toEqual({ duplicate: 1, no_match: 1, bad_url: 1 });
    expect(r.failed).toEqual({ http_4xx: 1, http_5xx: 1, timeout: 1, redirects: 1, not_image: 1, too_large: 2, truncated: 1, robots: 1, noai: 1, connect: 1 });
    expect(r.candidates).toBe(cands.length);
    expect(r.kept + sumCounts(r.failed) + sumCounts(r.skipped)).toBe(r.candidates);
    const rows = [];
    for await (const rec of readShards(out, { images: true })) rows.push(rec);
    expect(rows.map((x) => x.caption).sort()).toEqual(['a cat on a mat', 'the cat again']);
    const first = rows.find((x) => x.caption === 'a cat on a mat')!;
    expect(first.queries).toEqual(['cat', 'mat']);
    expect([first.width, first.height, first.original_width]).toEqual([32, 32, 64]);
    const stats = await readShardStats(join(out, '00000.parquet'));
    expect(stats).toMatchObject({ count: 2, candidates: cands.length, admitted: 13, successes: 2 });
    expect(stats!.failed).toEqual(r.failed);
  });

  it('caps per query in input order, listing only queries with room, and releases failed downloads two shards later', async () => {
    const matcher = QueryMatcher.build(['red', 'blue'], { caseSensitive: true });
    const cands: Candidate[] = [];
    // shard size 2: block 0 = [red ok, red 404] ; block 1 = [red blue ok, blue ok] ; block 2 = [red ok, ...]
    cands.push({ url: srv.url('/img/c1.jpg?seed=1'), caption: 'red one', source: 't' });
    cands.push({ url: srv.url('/status/404?c=2'), caption: 'red two', source: 't' });
    cands.push({ url: srv.url('/img/c3.jpg?seed=3'), caption: 'red blue three', source: 't' });
    cands.push({ url: srv.url('/img/c4.jpg?seed=4'), caption: 'red four', source: 't' }); // red full (3 reserved? cap 3: 1,2,3 -> full) -> cap_reached
    cands.push({ url: srv.url('/img/c5.jpg?seed=5'), caption: 'blue five', source: 't' });
    cands.push({ url: srv.url('/img/c6.jpg?seed=6'), caption: 'red six', source: 't' }); // block 2 starts after block 0 released 'red two'
    cands.push({ url: srv.url('/img/c7.jpg?seed=7'), caption: 'blue seven', source: 't' }); // blue: 3, 5, 7 -> full at cap 3
    cands.push({ url: srv.url('/img/c8.jpg?seed=8'), caption: 'red blue eight', source: 't' }); // both full
    const out = join(dir, 'cap');
    const r = await processCandidates(list(cands), partOpts(out, matcher, 3, { shardSize: 2 }), res);
    const rows = [];
    for await (const rec of readShards(out, { images: false })) rows.push(rec);
    const byCaption = Object.fromEntries(rows.map((x) => [x.caption, x.queries]));
    expect(byCaption).toEqual({ 'red one': ['red'], 'red blue three': ['red', 'blue'], 'blue five': ['blue'], 'red six': ['red'], 'blue seven': ['blue'] });
    expect(r.skipped).toEqual({ cap_reached: 2 });
    expect(r.failed).toEqual({ http_4xx: 1 });
    expect(r.queryCounts.get(0)).toBe(3);
    expect(r.queryCounts.get(1)).toBe(3);
    expect((await readdir(out)).filter((n) => n.endsWith('.parquet')).sort()).toEqual(['00000.parquet', '00001.parquet', '00002.parquet', '00003.parquet']); // the last holds only the two cap_reached candidates
  });

  it('counts matches per query for --balance sample and samples deterministically', async () => {
    const matcher = QueryMatcher.build(['dog', 'rare'], { caseSensitive: true });
    const cands: Candidate[] = [];
    for (let i = 0; i < 40; i++) cands.push({ url: srv.url(`/img/s${i}.jpg?seed=${i}`), caption: i % 10 === 0 ? `rare dog ${i}` : `dog ${i}`, source: 't' });
    cands.push({ ...cands[0]! }); // duplicate is not counted twice
    const counts = await countMatches(list(cands), matcher, new PairDeduper());
    expect(counts.get(0)).toBe(40);
    expect(counts.get(1)).toBe(4);
    const run = async (name: string, order: Candidate[]) => {
      const out = join(dir, name);
      const r = await processCandidates(list(order), partOpts(out, matcher, 10, { balance: { mode: 'sample', t: 10, seed: '7', counts } }), res);
      const rows = [];
      for await (const rec of readShards(out, { images: false })) rows.push(`${rec.caption}|${rec.queries.join(',')}`);
      return { r, rows: rows.sort() };
    };
    const a = await run('sample-a', cands);
    const b = await run('sample-b', [...cands].reverse());
    expect(a.rows).toEqual(b.rows);
    // every 'rare' pair is kept (count 4 <= t), with 'rare' listed
    expect(a.rows.filter((x) => x.startsWith('rare')).length).toBe(4);
    expect(a.rows.filter((x) => x.startsWith('rare')).every((x) => x.split('|')[1]!.split(',').includes('rare'))).toBe(true);
    // exactly the pairs the draws drop (they hash the url, whose port changes every run)
    const dropped = cands.filter((c) => sampledQueries(matcher.match(c.caption), counts, 10, '7', pairKey(c.url, c.caption)).length === 0).length;
    expect(dropped).toBeGreaterThan(10);
    expect(a.r.skipped.not_sampled).toBe(dropped);
    expect(a.r.failed).toEqual({});
    expect(a.r.kept + sumCounts(a.r.failed) + sumCounts(a.r.skipped)).toBe(a.r.candidates);
  });

  it('discards the unfinished shard when stopped, never leaving half a shard', async () => {
    const matcher = QueryMatcher.build(['slow'], { caseSensitive: true });
    const cands: Candidate[] = [];
    for (let i = 0; i < 6; i++) cands.push({ url: srv.url(`/slow/s${i}.jpg?ms=300&seed=${i}`), caption: `slow ${i}`, source: 't' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const out = join(dir, 'abort');
    const r = await processCandidates(list(cands), partOpts(out, matcher, 100, { signal: ac.signal }), res);
    expect(r.interrupted).toBe(true);
    const names = await readdir(out).catch(() => [] as string[]);
    expect(names.filter((n) => n.endsWith('.parquet') || n.includes('.tmp-'))).toEqual([]);
  });
});

describe('progress line', () => {
  it('shows rates, success rate and the top failure reasons', async () => {
    const { progressLine } = await import('../../src/crawl/index.js');
    const c = { ...newCounters(), candidates: 2000, matched: 900, admitted: 800, kept: 600, done: 700, failed: { http_4xx: 60, timeout: 30, decode: 5, dns: 5 }, shards: 3 };
    const line = progressLine(c, 10);
    expect(line).toContain('200/s');
    expect(line).toContain('(60 img/s)');
    expect(line).toContain('ok 85.7%');
    expect(line).toContain('failed: http_4xx 60, timeout 30, ');
    expect(line).not.toContain('dns');
  });
});

describe('crawl()', () => {
  it('crawls a seed site in-process with --no-robots and --use-title, counting into an injected CapStore', async () => {
    const { crawl } = await import('../../src/crawl/index.js');
    srv.setPage('/t/', '<html><body><img src="/img/t1.jpg?seed=1" alt="a heron"><img src="/img/t2.jpg?seed=2" title="heron in flight"><a href="/private/p.html">p</a></body></html>');
    srv.setPage('/private/p.html', '<html><body><img src="/private/x.jpg" alt="hidden heron"></body></html>');
    const store = new MemoryCapStore(10);
    const out = join(dir, 'inproc');
    const s = await crawl({ queries: ['heron'], inputs: [srv.url('/t/')], out, allowPrivateNetwork: true, respectRobots: false, useTitle: true, capStore: store, imageSize: 16, shardSize: 2 });
    expect(s).toMatchObject({ candidates: 3, kept: 3, shards: 2, pages: { ok: 2 } });
    expect((await store.counts()).get(0)).toBe(3);
    expect(await readFile(join(out, 'query_counts.tsv'), 'utf8')).toBe('query\tcount\nheron\t3\n');
  });

  it('validates options with errors that name the option', async () => {
    const { crawl, resolveCrawlOptions } = await import('../../src/crawl/index.js');
    expect(() => resolveCrawlOptions({ queries: ['a'], inputs: [], out: dir })).toThrow(/--input is required/);
    expect(() => resolveCrawlOptions({ queries: ['a'], inputs: ['x.jsonl'], out: dir, shardSize: 0 })).toThrow(/shard-size/);
    expect(() => resolveCrawlOptions({ queries: ['a'], inputs: ['x.jsonl'], out: dir, maxAspect: 0.5 })).toThrow(/max-aspect/);
    await expect(crawl({ queries: [], inputs: ['x.jsonl'], out: join(dir, 'empty') })).rejects.toThrow(/query list is empty/);
  });
});
