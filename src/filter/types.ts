import type { ScoreHistogram } from './histogram.js';
import type { BasicFilterOptions, DropReason } from './screen.js';
import type { Backend, Scorer } from './scorer.js';

/** Options of one filter run (see DESIGN.md, "filter"). Validated on entry. */
export interface FilterOptions extends BasicFilterOptions {
  /** Input shard files or directories, read in the order given (directories in name order). */
  shards: string[];
  /** Output directory: one output shard per input shard, same number, plus manifest.json. */
  out: string;
  /** Format of the output shards; default: the format of the input (README.md, "The shard format"). */
  outputFormat?: 'parquet' | 'webdataset';
  /** Model directory written by `wit train`; needed to score (--min-similarity, --keep-fraction). */
  model?: string;
  /** Keep pairs whose similarity (as stored, float32) is >= this; in [-1, 1]. */
  minSimilarity?: number;
  /**
   * Keep exactly round(F * N) pairs with the highest similarity, N = pairs that passed the basic
   * filters and dedup and could be scored; in (0, 1]. Ties at the threshold go by ascending key.
   */
  keepFraction?: number;
  /** Exact dedup by image sha256 and by (url, caption), first occurrence in shard order wins (default true). */
  dedup?: boolean;
  /** Pairs per encoder call (default 64). */
  batchSize?: number;
  /** Batches in flight (default 2: the next one is read and decoded while one is encoded). */
  depth?: number;
  /** Backend for the model (default auto). */
  backend?: Backend;
  /** Scores pairs instead of a model (tests, and trainWithFilterRounds which holds the model already). */
  scorer?: Scorer;
  /** Progress callback, about once a second and at each shard's end. */
  onProgress?: (p: FilterProgress) => void;
  /** Called with a line for each notable event (a resumed shard, an undecodable image, …). */
  onLog?: (line: string) => void;
  /** Aborting stops after the current batch; finished shards stay, the shard in progress is discarded. */
  signal?: AbortSignal;
}

/** What onProgress receives. */
export interface FilterProgress {
  phase: 'score' | 'write';
  /** Input shards done in this phase, of `shards`. */
  shardsDone: number;
  shards: number;
  /** Rows read in this phase, of `rowsTotal` (all input rows). */
  rows: number;
  rowsTotal: number;
  scored: number;
  kept: number;
  /** Pairs scored per second of wall time in this run (0 before the first batch). */
  pairsPerSecond: number;
  elapsed: number;
}

/** The summary of a run (also the totals in manifest.json). */
export interface FilterSummary {
  out: string;
  mode: 'min-similarity' | 'keep-fraction' | 'score-only' | 'basic';
  input: number;
  kept: number;
  /** Input rows that passed the screen and were scored (the base of --keep-fraction). */
  scored: number;
  dropped: Record<DropReason, number>;
  /** Similarity a pair needed: --min-similarity, or the k-th largest score for --keep-fraction. */
  threshold: number | null;
  keepFraction: number | null;
  /** Histogram of the scores of all scored pairs (kept or not). */
  histogram: ScoreHistogram;
  shards: { input: number; written: number; resumed: number };
  /** Pairs scored per second of wall time of the scoring pass (reading, decoding, encoders), 0 when nothing was scored in this run. */
  pairsPerSecond: number;
  duration: number;
}
