import { describe, expect, it } from 'vitest';
import { keepCount, selectTop, sortableBits, isSelected } from '../../src/filter/select.js';
import { ELIGIBLE } from '../../src/filter/screen.js';
import type { ShardScores } from '../../src/filter/score-file.js';

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Random shards of scores; `levels` > 0 quantises scores to force many ties; some rows not eligible or NaN. */
function makeShards(nShards: number, rows: number, levels: number, seed: number): ShardScores[] {
  const rnd = lcg(seed);
  return Array.from({ length: nShards }, () => {
    const codes = new Uint8Array(rows);
    const scores = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      const u = rnd();
      codes[i] = u < 0.1 ? 3 : ELIGIBLE;
      const x = rnd() * 2 - 1;
      scores[i] = codes[i] ? NaN : u > 0.97 ? NaN : levels ? Math.round(x * levels) / levels : x;
      if (codes[i] === ELIGIBLE && Number.isNaN(scores[i]!)) codes[i] = 7; // undecodable
    }
    return { codes, scores };
  });
}

const keyOf = (s: number, r: number) => `k${String((r * 7919 + s * 104729) % 100003).padStart(6, '0')}-${s}-${r}`;

/** Reference: sort every candidate by (score desc, key asc) and take k. */
function bruteForce(shards: ShardScores[], fraction: number): Set<string> {
  const all: { s: number; r: number; v: number; key: string }[] = [];
  shards.forEach((sh, s) => sh.codes.forEach((c, r) => c === ELIGIBLE && !Number.isNaN(sh.scores[r]!) && all.push({ s, r, v: sh.scores[r]!, key: keyOf(s, r) })));
  all.sort((a, b) => b.v - a.v || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return new Set(all.slice(0, keepCount(fraction, all.length)).map((x) => `${x.s}:${x.r}`));
}

async function run(shards: ShardScores[], fraction: number) {
  const sel = await selectTop(shards.length, fraction, async (i) => shards[i]!, async (s, rows) => rows.map((r) => keyOf(s, r)));
  const kept = new Set<string>();
  shards.forEach((sh, s) => sh.scores.forEach((v, r) => sh.codes[r] === ELIGIBLE && isSelected(sel, s, r, v) && kept.add(`${s}:${r}`)));
  return { sel, kept };
}

describe('exact top-k selection', () => {
  it('orders float32 bit patterns like the floats', () => {
    const xs = [-1, -0.5, -1e-30, -0, 0, 1e-30, 0.28, 0.2800001, 1];
    for (let i = 1; i < xs.length; i++) expect(sortableBits(xs[i]!) > sortableBits(xs[i - 1]!) || Object.is(xs[i], 0)).toBe(true);
    expect(sortableBits(-0)).toBe(sortableBits(0));
  });

  it.each([
    [0.3, 0],
    [0.3, 20],
    [0.5, 3],
    [1, 0],
    [0.001, 5],
    [0.9999, 0],
  ])('keeps exactly round(F*N) rows, the same rows as a full sort (fraction %s, %s score levels)', async (fraction, levels) => {
    const shards = makeShards(5, 733, levels, 17 + levels);
    const { sel, kept } = await run(shards, fraction);
    const want = bruteForce(shards, fraction);
    expect(sel.k).toBe(Math.round(fraction * sel.candidates));
    expect(kept.size).toBe(sel.k);
    expect([...kept].sort()).toEqual([...want].sort());
    if (levels) expect(sel.ties).toBeGreaterThan(1);
  });

  it('keeps nothing when k rounds to 0, everything at fraction 1', async () => {
    const shards = makeShards(1, 3, 0, 1);
    expect((await run(shards, 0.01)).kept.size).toBe(0);
    const all = await run(shards, 1);
    expect(all.kept.size).toBe(all.sel.candidates);
  });
});
