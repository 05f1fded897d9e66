import { describe, expect, it } from 'vitest';
import {
  MemoryCapStore, keepChance, keepProbability, pairKey, sampleDraw, sampleKeep, sampledQueries,
} from '../../src/crawl/balance.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('pairKey', () => {
  it('is a stable 24-hex-digit id of (url, caption)', () => {
    const k = pairKey('http://a/x.jpg', 'a cat');
    expect(k).toMatch(/^[0-9a-f]{24}$/);
    expect(pairKey('http://a/x.jpg', 'a cat')).toBe(k);
    expect(pairKey('http://a/x.jpg', 'a dog')).not.toBe(k);
    // The separator keeps (url, caption) pairs apart that concatenate alike.
    expect(pairKey('http://a/x', '.jpg a cat')).not.toBe(pairKey('http://a/x.jpg', ' a cat'));
    // sha224 of "http://a/x.jpg\0a cat", computed independently.
    expect(k).toBe('01c96c553fb211e2a5e5c634');
  });
});

describe('MemoryCapStore', () => {
  it('gives each query at most cap slots and returns the ids that had room', async () => {
    const s = new MemoryCapStore(2);
    expect(await s.reserve([1, 2])).toEqual([1, 2]);
    expect(await s.reserve([1, 3])).toEqual([1, 3]);
    expect(await s.reserve([1, 2])).toEqual([2]); // 1 is full, 2 still has room
    expect(await s.reserve([1, 2])).toEqual([]); // cap_reached
    expect(await s.reserve([])).toEqual([]);
    expect(Object.fromEntries(await s.counts())).toEqual({ 1: 2, 2: 2, 3: 1 });
  });

  it('takes one slot for an id repeated in one call', async () => {
    const s = new MemoryCapStore(5);
    expect(await s.reserve([7, 7, 7])).toEqual([7]);
    expect((await s.counts()).get(7)).toBe(1);
  });

  it('release gives slots back so caps count written pairs only', async () => {
    const s = new MemoryCapStore(1);
    expect(await s.reserve([4])).toEqual([4]);
    expect(await s.reserve([4])).toEqual([]);
    await s.release([4]);
    expect(await s.reserve([4])).toEqual([4]);
    await s.release([9]); // never taken: no-op, never negative
    expect((await s.counts()).has(9)).toBe(false);
  });

  it('starts from initial counts (resume) and rejects a bad cap', async () => {
    const s = new MemoryCapStore(3, new Map([[1, 3], [2, 1]]));
    expect(await s.reserve([1, 2])).toEqual([2]);
    // the bound is the option schema's (--cap >= 1), the one place that decides it
    expect(() => new MemoryCapStore(-1)).toThrow(/crawl: --cap must be >= 1, got -1/);
    expect(() => new MemoryCapStore(1.5)).toThrow(/crawl: --cap expects an integer, got 1.5/);
    expect(() => new MemoryCapStore(0)).toThrow(/crawl: --cap must be >= 1, got 0/);
  });

  it('never lets a query over cap under concurrent reserve/release', async () => {
    const cap = 7;
    const s = new MemoryCapStore(cap);
    const r = rng(5);
    const written = new Map<number, number>();
    await Promise.all(Array.from({ length: 2000 }, async () => {
      const ids = [...new Set(Array.from({ length: 1 + Math.floor(r() * 4) }, () => Math.floor(r() * 30)))];
      const got = await s.reserve(ids);
      for (const id of got) expect(ids).toContain(id);
      await new Promise((res) => setTimeout(res, Math.floor(r() * 3)));
      if (r() < 0.3) await s.release(got); // failed download
      else for (const id of got) written.set(id, (written.get(id) ?? 0) + 1);
    }));
    const counts = await s.counts();
    for (const [id, n] of written) {
      expect(n).toBeLessThanOrEqual(cap);
      expect(counts.get(id)).toBe(n);
    }
  });
});

describe('sampling (MetaCLIP balancing)', () => {
  it('keepProbability is min(1, t/count), 1 for unseen queries', () => {
    expect(keepProbability(0, 100)).toBe(1);
    expect(keepProbability(100, 100)).toBe(1);
    expect(keepProbability(400, 100)).toBe(0.25);
  });

  it('is deterministic in seed and pair key, independent of call order', () => {
    const counts = new Map([[1, 1000], [2, 5000], [3, 20]]);
    const keys = Array.from({ length: 200 }, (_, i) => pairKey(`http://x/${i}.jpg`, `caption ${i}`));
    const first = keys.map((k) => sampledQueries([1, 2], counts, 100, 'seed', k));
    const again = [...keys].reverse().map((k) => sampledQueries([1, 2], counts, 100, 'seed', k)).reverse();
    expect(again).toEqual(first);
    const other = keys.map((k) => sampledQueries([1, 2], counts, 100, 'other seed', k));
    expect(other).not.toEqual(first);
    for (let i = 0; i < keys.length; i++) {
      expect(sampleKeep([1, 2], counts, 100, 'seed', keys[i]!)).toBe(first[i]!.length > 0);
      // A query under the threshold always keeps the pair and is always listed.
      expect(sampledQueries([1, 3], counts, 100, 'seed', keys[i]!)).toContain(3);
    }
  });

  it('accepts counts as an array and as a Map alike', () => {
    const arr = [0, 300, 900];
    const map = new Map([[1, 300], [2, 900]]);
    for (let i = 0; i < 100; i++) {
      const k = pairKey('u' + i, 'c');
      expect(sampledQueries([1, 2], arr, 100, 0, k)).toEqual(sampledQueries([1, 2], map, 100, 0, k));
    }
  });

  it('draws are uniform and independent across queries', () => {
    const n = 40_000;
    const bins = new Array(10).fill(0);
    let both = 0;
    for (let i = 0; i < n; i++) {
      const k = pairKey(`http://img/${i}`, 'c');
      const a = sampleDraw(1, k, 11);
      const b = sampleDraw(1, k, 12);
      if (!(a >= 0 && a < 1)) throw new Error(`draw out of range: ${a}`);
      bins[Math.floor(a * 10)]++;
      if (a < 0.5 && b < 0.5) both++;
    }
    // Each bin ~ 4000 +- 60 (sd); 5 sd bounds.
    for (const c of bins) expect(Math.abs(c - n / 10)).toBeLessThan(300);
    expect(Math.abs(both / n - 0.25)).toBeLessThan(0.015);
  });

  it('keeps pairs with probability 1 - prod(1 - min(1, t/count))', () => {
    const counts = new Map([[1, 400], [2, 1000], [3, 250]]);
    const t = 100;
    const cases: number[][] = [[1], [2], [1, 2], [1, 2, 3]];
    const n = 20_000;
    for (const ids of cases) {
      let kept = 0;
      const perQuery = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        const got = sampledQueries(ids, counts, t, 'metaclip', pairKey(`http://h/${i}.jpg`, ids.join(',')));
        if (got.length) kept++;
        for (const q of got) perQuery.set(q, (perQuery.get(q) ?? 0) + 1);
      }
      const p = keepChance(ids, counts, t);
      const sd = Math.sqrt((p * (1 - p)) / n);
      expect(Math.abs(kept / n - p)).toBeLessThan(5 * sd + 1e-9);
      // Each query is listed with its own probability t/count.
      for (const q of ids) {
        const pq = keepProbability(counts.get(q)!, t);
        expect(Math.abs((perQuery.get(q) ?? 0) / n - pq)).toBeLessThan(5 * Math.sqrt((pq * (1 - pq)) / n) + 1e-9);
      }
    }
    expect(keepChance([1, 2], counts, t)).toBeCloseTo(1 - 0.75 * 0.9, 12);
  });

  it('caps each query near t in expectation over a skewed corpus', () => {
    // 30,000 pairs of a head query (count 30,000), t = 1000: about 1000 kept.
    const counts = new Map([[0, 30_000]]);
    let kept = 0;
    for (let i = 0; i < 30_000; i++) if (sampleKeep([0], counts, 1000, 7, pairKey(`u${i}`, 'head'))) kept++;
    expect(Math.abs(kept - 1000)).toBeLessThan(5 * Math.sqrt(1000));
  });

  it('rejects a non-positive threshold', () => {
    expect(() => sampleKeep([1], [5], 0, 1, 'k')).toThrow(RangeError);
  });
});

describe('MemoryCapStore with many ids', () => {
  it('dedupes long id lists too', async () => {
    const s = new MemoryCapStore(1);
    const ids = Array.from({ length: 100 }, (_, i) => i % 40);
    expect(await s.reserve(ids)).toEqual([...Array(40).keys()]);
    expect(await s.reserve(ids)).toEqual([]);
  });
});
