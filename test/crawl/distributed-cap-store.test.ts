import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { needs } from '../helpers/needs.js';
import { RedisCapStore, StaleAttemptError, addMatchCounts, readCounts, withScripts } from '../../src/crawl/distributed/cap-store.js';
import { RedisPairDedupe, claimInFilter, dropFilter, readFilterStats } from '../../src/crawl/distributed/dedupe.js';
import { dedupeKey as pairKey } from '../../src/crawl/dedupe.js';
import { RunKeys } from '../../src/crawl/distributed/keys.js';
import { connectRedis } from '../../src/crawl/distributed/connection.js';

let server: RedisServer;
const conns: Redis[] = [];
function conn(): Redis {
  const r = connectRedis(server.url);
  conns.push(r);
  return r;
}

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  for (const c of conns) c.disconnect();
  await server?.stop();
});

/** Deterministic pseudo-random ints. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// Without redis-server every test here is skipped (and vitest then runs no beforeAll/afterAll).
describe.skipIf(!needs('redis-server'))('RedisCapStore', () => {
  it('never lets a query exceed its cap under concurrent reservers on separate connections', async () => {
    const runId = 'caps1';
    const cap = 7;
    const queries = 20;
    const stores = await Promise.all(
      Array.from({ length: 8 }, async (_, j) => {
        const store = new RedisCapStore(conn(), { runId, job: `j${j}`, cap });
        expect(await store.begin()).toBe(1);
        return store;
      }),
    );
    // every job fires 60 reservations of 3 ids at once: demand is 10x the room
    const granted = await Promise.all(
      stores.map(async (store, j) => {
        const rand = rng(j + 1);
        const calls = Array.from({ length: 60 }, () => [0, 0, 0].map(() => Math.floor(rand() * queries)));
        return Promise.all(calls.map((ids) => store.reserve(ids)));
      }),
    );
    const keys = new RunKeys(runId);
    let counts = await readCounts(conn(), keys.caps);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: queries }, (_, i) => i));
    for (const n of counts.values()) expect(n).toBe(cap);
    // one pair in five "fails to download" and gives its slots back, concurrently too
    const expected = new Map<number, number>();
    await Promise.all(
      stores.map(async (store, j) => {
        const rand = rng(100 + j);
        const kept = new Map<number, number>();
        await Promise.all(
          granted[j]!.map(async (got) => {
            expect(new Set(got).size).toBe(got.length);
            if (rand() < 0.2) await store.release(got);
            else for (const id of got) kept.set(id, (kept.get(id) ?? 0) + 1);
          }),
        );
        for (const [id, n] of kept) expected.set(id, (expected.get(id) ?? 0) + n);
        expect(await store.commit({ job: j }, kept)).toBe(true);
      }),
    );
    counts = await readCounts(conn(), keys.caps);
    for (const [id, n] of [...expected]) if (!n) expected.delete(id);
    expect(counts).toEqual(expected);
  });

  it('rolls back a dead attempt, refuses the stale one, and commits once', async () => {
    const runId = 'caps2';
    const r = conn();
    const a = new RedisCapStore(r, { runId, job: 'x', cap: 2 });
    expect(await a.begin()).toBe(1);
    expect(await a.reserve([1, 2])).toEqual([1, 2]);
    expect(await a.reserve([1])).toEqual([1]);
    expect(await a.reserve([1, 3])).toEqual([3]);
    // attempt a "dies"; b takes the job over: a's slots are given back
    const b = new RedisCapStore(conn(), { runId, job: 'x', cap: 2 });
    expect(await b.begin()).toBe(2);
    expect(await b.counts()).toEqual(new Map());
    await expect(a.reserve([4])).rejects.toBeInstanceOf(StaleAttemptError);
    await expect(a.commit({})).rejects.toBeInstanceOf(StaleAttemptError);
    expect(await b.reserve([1, 1, 2])).toEqual([1, 2]);
    // another job shares the caps
    const other = new RedisCapStore(conn(), { runId, job: 'y', cap: 2 });
    expect(await other.begin()).toBe(1);
    expect(await other.reserve([1])).toEqual([1]);
    expect(await b.reserve([1])).toEqual([]);
    // b reserved 1 and 2 but wrote only the pair of query 1... and 2: commit sets what it wrote
    expect(await b.commit({ shards: ['s'] }, new Map([[1, 1], [2, 1]]))).toBe(true);
    const keys0 = new RunKeys(runId);
    const again = withScripts(r);
    // the very same commit resent (a reconnect) is a success; another attempt's is not
    expect(await again.witCommit(keys0.caps, keys0.reservations('x'), keys0.sequence('x'), keys0.owner('x'), keys0.done, keys0.progress, 'x', 'tok', JSON.stringify({ shards: ['s'] }))).toBe(1);
    expect(await b.commit({ shards: ['t'] }, new Map([[1, 1], [2, 1]]))).toBe(false);
    // a later attempt of a committed job has nothing to do, and rolls nothing back
    const c = new RedisCapStore(conn(), { runId, job: 'x', cap: 2 });
    expect(await c.begin()).toBe(0);
    expect(await b.counts()).toEqual(new Map([[1, 2], [2, 1]]));
    const keys = new RunKeys(runId);
    expect(JSON.parse((await r.hget(keys.done, 'x'))!)).toEqual({ shards: ['s'] });
    expect(await r.exists(keys.reservations('x'), keys.sequence('x'), keys.owner('x'))).toBe(0);
    // other dies; its retry rolls its slot back
    const other2 = new RedisCapStore(conn(), { runId, job: 'y', cap: 2 });
    expect(await other2.begin()).toBe(2);
    expect(await other2.counts()).toEqual(new Map([[1, 1], [2, 1]]));
    // a commit drops reservations of pairs that were not written (never released by the pipeline)
    expect(await other2.reserve([5, 6, 7])).toEqual([5, 6, 7]);
    expect(await other2.commit({}, new Map([[6, 1]]))).toBe(true);
    expect(await other2.counts()).toEqual(new Map([[1, 1], [2, 1], [6, 1]]));
  });

  it('takes a query seen full as full for fullTtlMs without asking Redis, then asks again', async () => {
    const runId = 'caps4';
    const a = new RedisCapStore(conn(), { runId, job: 'a', cap: 1, fullTtlMs: 300 });
    const b = new RedisCapStore(conn(), { runId, job: 'b', cap: 1 });
    const c = new RedisCapStore(conn(), { runId, job: 'c', cap: 1, fullTtlMs: 0 });
    for (const s of [a, b, c]) expect(await s.begin()).toBe(1);
    expect(await b.reserve([9, 9])).toEqual([9]);
    expect(await a.reserve([9])).toEqual([]);
    await b.release([9]); // b's download failed: the slot is free again
    expect(await a.reserve([9])).toEqual([]); // a still believes 9 is full (no round trip)
    expect(await c.reserve([9])).toEqual([9]); // c always asks
    await c.release([9]);
    await new Promise((r) => setTimeout(r, 350));
    expect(await a.reserve([9])).toEqual([9]);
  });

  it('applies a resent reserve or release once (same sequence number)', async () => {
    const runId = 'caps3';
    const r = withScripts(conn());
    const keys = new RunKeys(runId);
    const store = new RedisCapStore(r, { runId, job: 'z', cap: 5 });
    expect(await store.begin()).toBe(1);
    const token = await r.get(keys.owner('z'));
    const jk = [keys.caps, keys.reservations('z'), keys.sequence('z'), keys.owner('z')];
    expect(await r.witReserve(...jk, token!, 1, 5, 7, 8)).toBe('7,8');
    expect(await r.witReserve(...jk, token!, 1, 5, 7, 8)).toBe('7,8');
    expect(await r.witRelease(...jk, token!, 2, 7)).toBe(1);
    expect(await r.witRelease(...jk, token!, 2, 7)).toBe(0);
    expect(await readCounts(r, keys.caps)).toEqual(new Map([[8, 1]]));
  });

  it('adds a count-phase job once, and claims pairs for the first job', async () => {
    const r = conn();
    const counts = new Map([[1, 3], [2, 5]]);
    expect(await addMatchCounts(r, 'cnt', 'a', counts, 10)).toBe(true);
    expect(await addMatchCounts(r, 'cnt', 'a', counts, 10)).toBe(false);
    expect(await addMatchCounts(r, 'cnt', 'b', new Map([[2, 1]]), 4)).toBe(true);
    expect(await readCounts(r, new RunKeys('cnt').matchCounts)).toEqual(new Map([[1, 3], [2, 6]]));
    // a pair is the first job's; the same job redone finds its own pairs again
    const k = (s: string) => pairKey(`http://x/${s}.jpg`, s);
    const claim = async (job: string, keys: string[]) => (await claimInFilter(r, 'cnt', 'crawl', job, { capacity: 1024, errorRate: 0.01 }, keys)).seen.map((s) => !s);
    expect(await claim('a', [k('1'), k('2')])).toEqual([true, true]);
    expect(await claim('b', [k('2'), k('3')])).toEqual([false, true]);
    expect(await claim('a', [k('1'), k('2'), k('3')])).toEqual([true, true, false]);
  });

  it('keeps the run-wide duplicate filter under its error bound as it grows, across jobs', async () => {
    const r = conn();
    const settings = { capacity: 1024, errorRate: 0.01 };
    const jobs = [new RedisPairDedupe(r, 'grow', 'crawl', 'j1', settings), new RedisPairDedupe(r, 'grow', 'crawl', 'j2', settings)];
    const n = 40_000; // 40x the first level: six levels
    let falseDup = 0;
    const kept: string[] = [];
    for (let i = 0; i < n; i += 500) {
      const keys = Array.from({ length: 500 }, (_, j) => pairKey(`http://x/${i + j}.jpg`, 'a caption'));
      const seen = await jobs[(i / 500) % 2]!.seenMany(keys);
      falseDup += seen.filter(Boolean).length;
      keys.forEach((k, j) => { if (!seen[j] && j % 10 === 0) kept.push(k); });
    }
    // every key is new: whatever was answered "seen" is a false duplicate
    const stats = await readFilterStats(r, 'grow', 'crawl');
    expect(stats.levels).toBeGreaterThanOrEqual(5);
    // a job's own filter answers first (pairs twice within an attempt), so a few false duplicates never reach Redis
    expect(stats.keys + falseDup).toBe(n);
    expect(falseDup / n).toBeLessThan(0.01);
    // the estimate follows the measured count (both are about 0.3 % here)
    expect(Math.abs(stats.estimated_false_duplicates - falseDup)).toBeLessThan(Math.max(30, falseDup * 0.5));
    // pairs the jobs kept, asked by another job: all duplicates (no false negatives)
    const again = await new RedisPairDedupe(r, 'grow', 'crawl', 'j3', settings).seenMany(kept);
    expect(kept.length).toBeGreaterThan(3900);
    expect(again.filter((s) => !s).length).toBe(0);
    await jobs[0]!.forget();
    expect(await r.exists('wit:{grow}:claimed:crawl:j1')).toBe(0);
    await dropFilter(r, 'grow', 'crawl');
    expect(await r.keys('wit:{grow}:bloom*')).toEqual([]);
  });
});
