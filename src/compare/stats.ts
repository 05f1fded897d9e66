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
