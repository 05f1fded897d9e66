import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunWriter, RunReader, mergeRuns, mergeRunsBounded } from '../../src/querygen/runs.js';
import { NgramCounter } from '../../src/querygen/counter.js';

const dir = mkdtempSync(join(tmpdir(), 'wit-qg-runs-'));

function writeRun(path: string, entries: Map<string, number>): string {
  const w = new RunWriter(path);
  for (const k of [...entries.keys()].sort()) w.add(k, entries.get(k)!);
  w.close();
  return path;
}

describe('sorted runs', () => {
  it('round trip: unicode, long keys, shared prefixes, big counts', () => {
    const m = new Map<string, number>([['New York', 1], ['New Zealand', 2 ** 40], ['naïve café', 3], ['😀 x', 4], ['x'.repeat(100000), 5], ['', 6], ['Ünïcödé', 7]]);
    const p = writeRun(join(dir, 'a.run'), m);
    const r = new RunReader(p, 64 * 1024);
    const got = new Map<string, number>();
    while (r.next()) got.set(r.key, r.count);
    expect(got).toEqual(m);
  });

  it('k-way merge sums counts; bounded fan-in gives the same result and deletes its inputs', () => {
    const runs: Map<string, number>[] = [];
    const ref = new Map<string, number>();
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 9; i++) {
      const m = new Map<string, number>();
      for (let j = 0; j < 300; j++) {
        const k = `w${Math.floor(rnd() * 500)} ${String.fromCharCode(0x61 + Math.floor(rnd() * 26))}`;
        const c = 1 + Math.floor(rnd() * 5);
        m.set(k, (m.get(k) ?? 0) + c);
        ref.set(k, (ref.get(k) ?? 0) + c);
      }
      runs.push(m);
    }
    const paths = (tag: string) => runs.map((m, i) => writeRun(join(dir, `${tag}-${i}.run`), m));
    const a = new Map<string, number>();
    const keysA: string[] = [];
    mergeRuns(paths('flat'), (k, c) => { a.set(k, c); keysA.push(k); });
    expect(a).toEqual(ref);
    expect(keysA).toEqual([...keysA].sort());
    const b = new Map<string, number>();
    const n = mergeRunsBounded(paths('bounded'), (k, c) => b.set(k, c), 2, join(dir, 'tmp'));
    expect(n).toBe(ref.size);
    expect(b).toEqual(ref);
    expect(readdirSync(dir).filter((f) => f.startsWith('bounded') || f.startsWith('tmp'))).toEqual([]);
  });

  it('the counter spills sorted runs that sum to the exact counts, whatever the budget', () => {
    const text = Array.from({ length: 400 }, (_, i) => `alpha beta${i % 37} gamma, delta beta${i % 11} ${'é'.repeat(1 + (i % 3))}`).join('\n');
    const counts = (budget: number) => {
      const d = mkdtempSync(join(dir, 'c-'));
      const c = new NgramCounter({ dir: d, prefix: 'w0', partitions: 3, budgetBytes: budget });
      for (let i = 0; i < 5; i++) c.addText(text);
      c.spill();
      const uni = new Map<string, number>();
      const bi = new Map<string, number>();
      c.files.unigram.forEach((ps) => mergeRuns(ps, (k, n) => uni.set(k, n)));
      c.files.bigram.forEach((ps) => mergeRuns(ps, (k, n) => bi.set(k, n)));
      return { uni, bi, spills: c.spills, tokens: c.tokens };
    };
    const big = counts(1 << 30);
    const small = counts(1);
    expect(big.spills).toBe(1);
    expect(small.spills).toBe(5);
    expect(small.uni).toEqual(big.uni);
    expect(small.bi).toEqual(big.bi);
    expect(big.uni.get('alpha')).toBe(2000);
    expect(big.uni.get(',')).toBe(2000);
    expect(big.bi.get('alpha beta0')).toBe(5 * Math.ceil(400 / 37));
    expect(big.bi.has('gamma ,')).toBe(false); // no bigram with punctuation
    expect(big.bi.has(', delta')).toBe(false);
    expect(big.tokens).toBe(5 * 400 * 7);
  });
});
