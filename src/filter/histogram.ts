/** Histogram of similarity scores as stored in stats and the manifest (fixed bins, so shards add up). */
export interface ScoreHistogram {
  /** Lower edge of the first bin. */
  min: number;
  /** Upper edge of the last bin (a score equal to it goes into the last bin). */
  max: number;
  /** counts[i] = scores in [min + i*w, min + (i+1)*w), w = (max - min) / counts.length. */
  counts: number[];
  /** Scores outside [min, max] (none for a cosine similarity), and NaN never counted. */
  below: number;
  above: number;
  total: number;
  /** Mean and extremes of the scores seen (null when none). */
  mean: number | null;
  lo: number | null;
  hi: number | null;
}

/** Cosine similarity lies in [-1, 1]; 40 bins of 0.05. */
export const HIST_MIN = -1;
export const HIST_MAX = 1;
export const HIST_BINS = 40;

/** Accumulates scores into a ScoreHistogram. */
export class Histogram {
  private readonly counts = new Array<number>(HIST_BINS).fill(0);
  private below = 0;
  private above = 0;
  private total = 0;
  private sum = 0;
  private lo = Infinity;
  private hi = -Infinity;

  add(x: number): void {
    if (Number.isNaN(x)) return;
    this.total++;
    this.sum += x;
    if (x < this.lo) this.lo = x;
    if (x > this.hi) this.hi = x;
    if (x < HIST_MIN) this.below++;
    else if (x > HIST_MAX) this.above++;
    else this.counts[Math.min(HIST_BINS - 1, Math.floor(((x - HIST_MIN) / (HIST_MAX - HIST_MIN)) * HIST_BINS))]!++;
  }

  /** Adds a histogram made with the same bins (e.g. a finished shard's, on resume). */
  merge(h: ScoreHistogram): void {
    if (h.counts.length !== HIST_BINS) return;
    h.counts.forEach((c, i) => (this.counts[i]! += c));
    this.below += h.below;
    this.above += h.above;
    this.total += h.total;
    if (h.mean !== null) this.sum += h.mean * h.total;
    if (h.lo !== null && h.lo < this.lo) this.lo = h.lo;
    if (h.hi !== null && h.hi > this.hi) this.hi = h.hi;
  }

  toJSON(): ScoreHistogram {
    return {
      min: HIST_MIN,
      max: HIST_MAX,
      counts: [...this.counts],
      below: this.below,
      above: this.above,
      total: this.total,
      mean: this.total ? this.sum / this.total : null,
      lo: this.total ? this.lo : null,
      hi: this.total ? this.hi : null,
    };
  }
}
