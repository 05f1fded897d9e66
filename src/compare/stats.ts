/**
 * The statistics of the compare table (docs/ARCHITECTURE.md, "compare"): mean and sample standard
 * deviation over seeds, and the paired t interval of a recipe's difference to raw: the per-seed
 * differences d_s = metric(recipe, s) - metric(raw, s), mean(d) ± t(0.975, n-1) · sd(d) / sqrt(n).
 * Pairing by seed removes the part of the seed noise the two cells share (same init, same order).
 */

/** Two-sided 95 % quantiles of Student's t, t(0.975, df) for df = 1 … 30. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** t(0.975, df): the table up to 30, then the Cornish-Fisher expansion around the normal's 1.96. */
export function tQuantile975(df: number): number {
  if (!(df >= 1)) return NaN;
  if (df <= 30) return T975[Math.floor(df) - 1]!;
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df);
}

/** Mean (NaN for none). */
export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Sample standard deviation (n - 1; 0 for one value, NaN for none). */
export function sd(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  if (xs.length === 1) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** A paired difference: mean of the per-seed differences and its 95 % t interval (null bounds with one seed). */
export interface PairedDiff {
  mean: number;
  lo: number | null;
  hi: number | null;
  /** Seeds both recipes have. */
  n: number;
}

/** Paired t interval of `a - b` over the seeds both have (maps seed -> value). */
export function pairedDiff(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): PairedDiff | null {
  const d: number[] = [];
  for (const [seed, x] of a) {
    const y = b.get(seed);
    if (y !== undefined) d.push(x - y);
  }
  if (!d.length) return null;
  const m = mean(d);
  if (d.length < 2) return { mean: m, lo: null, hi: null, n: d.length };
  const half = (tQuantile975(d.length - 1) * sd(d)) / Math.sqrt(d.length);
  return { mean: m, lo: m - half, hi: m + half, n: d.length };
}

/**
 * A paired bootstrap over seeds and eval items (docs/ARCHITECTURE.md, "compare"). `a` and `b` hold, per
 * common seed, one value per eval item (1/0 for a hit), in the same item order: item i is the same
 * image in every cell. Each draw resamples the seeds and, independently, the items, each with
 * replacement, and takes the mean difference over the drawn (seed, item) grid; so the interval holds
 * both the training noise (seeds) and the eval set's sampling (which images happen to be in it).
 * Deterministic: the draws come from `seed`. Returns the observed mean difference and the draws, sorted.
 */
export function bootstrapDraws(a: readonly (readonly number[])[], b: readonly (readonly number[])[], draws: number, seed: number): { mean: number; draws: Float64Array; seeds: number; items: number } {
  const S = Math.min(a.length, b.length);
  const n = S ? Math.min(...a.slice(0, S).map((r) => r.length), ...b.slice(0, S).map((r) => r.length)) : 0;
  if (!S || !n) return { mean: NaN, draws: new Float64Array(0), seeds: S, items: n };
  const d = Array.from({ length: S }, (_, s) => Float64Array.from({ length: n }, (_, i) => a[s]![i]! - b[s]![i]!));
  let total = 0;
  for (const row of d) for (const x of row) total += x;
  const observed = total / (S * n);
  const rng = new BootRng(seed);
  const counts = new Float64Array(n);
  const out = new Float64Array(draws);
  for (let k = 0; k < draws; k++) {
    counts.fill(0);
    for (let j = 0; j < n; j++) counts[rng.below(n)]!++;
    let sum = 0;
    for (let j = 0; j < S; j++) {
      const row = d[S === 1 ? 0 : rng.below(S)]!;
      let dot = 0;
      for (let i = 0; i < n; i++) dot += counts[i]! * row[i]!;
      sum += dot;
    }
    out[k] = sum / (S * n);
  }
  out.sort();
  return { mean: observed, draws: out, seeds: S, items: n };
}

/** mulberry32, as src/util/rng.ts (kept here so that the statistics have no dependency). */
class BootRng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  below(n: number): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  }
}

/** The (1 - alpha) percentile interval of sorted draws. */
export function percentileInterval(sorted: Float64Array, alpha: number): { lo: number; hi: number } {
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(p * sorted.length)))]!;
  return { lo: q(alpha / 2), hi: q(1 - alpha / 2) };
}

/**
 * Two-sided bootstrap p-value of "no difference": twice the smaller share of draws on either side of 0
 * (draws equal to 0 count on both sides), with the +1 of a finite sample so that it is never 0.
 */
export function bootstrapP(sorted: Float64Array): number {
  let le = 0;
  let ge = 0;
  for (const x of sorted) {
    if (x <= 0) le++;
    if (x >= 0) ge++;
  }
  return Math.min(1, (2 * (Math.min(le, ge) + 1)) / (sorted.length + 1));
}

/**
 * Holm's step-down correction: the adjusted p-values (same order as given), each max over the earlier
 * steps of min(1, (m - k) p_(k)), and the level each comparison is tested at (alpha / (m - k) for the
 * k-th smallest), so an interval at that level agrees with the adjusted p-value.
 */
export function holm(ps: readonly number[], alpha = 0.05): { adjusted: number[]; level: number[] } {
  const m = ps.length;
  const order = ps.map((p, i) => [p, i] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const adjusted = new Array<number>(m);
  const level = new Array<number>(m);
  let running = 0;
  order.forEach(([p, i], k) => {
    running = Math.max(running, Math.min(1, (m - k) * p));
    adjusted[i] = running;
    level[i] = alpha / (m - k);
  });
  return { adjusted, level };
}

/** A 32-bit seed from text (FNV-1a): the bootstrap seed of a comparison, whatever the table's order. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
