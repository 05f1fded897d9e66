import { ELIGIBLE } from './screen.js';
import type { ShardScores } from './score-file.js';

/**
 * Exact top-k selection over scores spread across many shards, in bounded memory: a two-pass radix
 * select on the float32 bit patterns finds the k-th largest score exactly (pass 1: histogram of the
 * high 16 bits, pass 2: of the low 16 bits inside the one high bin that holds the k-th), then rows
 * tied at that score are kept by ascending key until k rows are kept. The result is exactly k rows,
 * the same on every run and for any shard order of equal scores.
 */

/** Float32 -> u32 whose unsigned order is the float order (NaN excluded by the callers). */
export function sortableBits(x: number): number {
  // -0 and +0 are the same similarity: one bit pattern, so they tie (and break ties by key).
  const f = new Float32Array([x === 0 ? 0 : x]);
  const u = new Uint32Array(f.buffer)[0]!;
  return (u & 0x80000000 ? ~u : u | 0x80000000) >>> 0;
}

/** Inverse of sortableBits. */
function floatOfBits(s: number): number {
  const u = (s & 0x80000000 ? s & 0x7fffffff : ~s) >>> 0;
  return new Float32Array(new Uint32Array([u]).buffer)[0]!;
}

/** Scores as the selection sees them: one ShardScores per input shard, loaded on demand. */
export type ScoreSource = (shard: number) => Promise<ShardScores>;

/** Keys of some rows of one shard, read on demand (only for rows tied at the threshold). */
export type KeySource = (shard: number, rows: number[]) => Promise<string[]>;

/** Which rows the top-k keeps. */
export interface Selection {
  /** Rows eligible for selection (passed the screen, scored). */
  candidates: number;
  /** Rows kept: min(k, candidates). */
  k: number;
  /** The k-th largest score (float32), null when k is 0. */
  threshold: number | null;
  /** Rows scoring exactly `threshold` that are kept, by shard -> row indices. */
  tiesKept: Map<number, Set<number>>;
  /** Rows scoring exactly `threshold` in all (kept or not). */
  ties: number;
}

function eachCandidate(s: ShardScores, fn: (row: number, bits: number) => void): void {
  const { codes, scores } = s;
  for (let i = 0; i < codes.length; i++) {
    if (codes[i] !== ELIGIBLE) continue;
    const v = scores[i]!;
    if (Number.isNaN(v)) continue;
    fn(i, sortableBits(v));
  }
}

/** Rows a fraction keeps of `candidates`: round(fraction * candidates), so the count is exact. */
export function keepCount(fraction: number, candidates: number): number {
  return Math.min(candidates, Math.max(0, Math.round(fraction * candidates)));
}

/**
 * Finds the top `fraction` of the eligible, scored rows over `shards` shards. Reads every score
 * source twice (three times when keys are needed to break ties). Yields the Selection.
 */
export async function selectTop(shards: number, fraction: number, scores: ScoreSource, keys: KeySource): Promise<Selection> {
  const high = new Float64Array(65536);
  let candidates = 0;
  for (let s = 0; s < shards; s++) {
    eachCandidate(await scores(s), (_, b) => {
      high[b >>> 16]!++;
      candidates++;
    });
  }
  const k = keepCount(fraction, candidates);
  if (k === 0) return { candidates, k, threshold: null, tiesKept: new Map(), ties: 0 };
  // Walk bins from the top until k is reached.
  let above = 0;
  let hb = 65535;
  for (; hb >= 0; hb--) {
    if (above + high[hb]! >= k) break;
    above += high[hb]!;
  }
  const low = new Float64Array(65536);
  for (let s = 0; s < shards; s++) {
    eachCandidate(await scores(s), (_, b) => {
      if (b >>> 16 === hb) low[b & 0xffff]!++;
    });
  }
  let lb = 65535;
  for (; lb >= 0; lb--) {
    if (above + low[lb]! >= k) break;
    above += low[lb]!;
  }
  const bits = ((hb << 16) | lb) >>> 0;
  const ties = low[lb]!;
  const needed = k - above; // rows at exactly the threshold to keep, 1..ties
  const tiesKept = new Map<number, Set<number>>();
  if (needed === ties) {
    // Every tied row is kept: no keys needed.
    for (let s = 0; s < shards; s++) {
      const set = new Set<number>();
      eachCandidate(await scores(s), (row, b) => {
        if (b === bits) set.add(row);
      });
      if (set.size) tiesKept.set(s, set);
    }
  } else {
    const tied: { shard: number; row: number; key: string }[] = [];
    for (let s = 0; s < shards; s++) {
      const rows: number[] = [];
      eachCandidate(await scores(s), (row, b) => {
        if (b === bits) rows.push(row);
      });
      if (!rows.length) continue;
      const ks = await keys(s, rows);
      rows.forEach((row, i) => tied.push({ shard: s, row, key: ks[i]! }));
    }
    // Ties by key (code-unit order, as JS compares strings), then by position for equal keys.
    tied.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.shard - b.shard || a.row - b.row));
    for (const t of tied.slice(0, needed)) {
      let set = tiesKept.get(t.shard);
      if (!set) tiesKept.set(t.shard, (set = new Set()));
      set.add(t.row);
    }
  }
  return { candidates, k, threshold: floatOfBits(bits), tiesKept, ties };
}

/** Whether row `row` of shard `shard` with `score` is kept by the selection. */
export function isSelected(sel: Selection, shard: number, row: number, score: number): boolean {
  if (sel.threshold === null || Number.isNaN(score)) return false;
  const b = sortableBits(score);
  const t = sortableBits(sel.threshold);
  if (b > t) return true;
  return b === t && (sel.tiesKept.get(shard)?.has(row) ?? false);
}
