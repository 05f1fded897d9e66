import type { OptionsInput } from '../util/options.js';
import type { ScoreHistogram } from './histogram.js';
import type { FILTER_OPTIONS } from './options.js';
import type { DropReason, FilterStepCount } from './screen.js';
import type { Scorer } from './scorer.js';

/** Options of one filter run: the schema's (src/filter/options.ts) and the callbacks. */
export type FilterOptions = OptionsInput<typeof FILTER_OPTIONS> & {
  /** Scores pairs instead of a model (tests, and trainWithFilterRounds which holds the model already). */
  scorer?: Scorer;
  /** Progress callback, about once a second and at each shard's end. */
  onProgress?: (p: FilterProgress) => void;
  /** Called with a line for each notable event (a resumed shard, an undecodable image, …). */
  onLog?: (line: string) => void;
  /** Aborting stops after the current batch; finished shards stay, the shard in progress is discarded. */
  signal?: AbortSignal;
};

/** What onProgress receives. */
export interface FilterProgress {
  phase: 'score' | 'dedup' | 'write';
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

/** Which strategy a run used. */
export type FilterMode = 'min-similarity' | 'keep-fraction' | 'score-only' | 'basic';

/** The summary of a run (also the totals in manifest.json); snake_case like every command's. */
export interface FilterSummary {
  out: string;
  mode: FilterMode;
  input: number;
  /** Distinct images (by sha256) among the input pairs: one image under several captions counts once. */
  distinct_images_in: number;
  kept: number;
  /** Distinct images (by sha256) among the kept pairs. */
  distinct_images: number;
  /** Input rows that passed the screen (and semantic dedup) and were scored (the base of --keep-fraction). */
  scored: number;
  dropped: Record<DropReason, number>;
  /** The same drops as a waterfall, in the order the steps run (screen.ts FILTER_STEPS). */
  steps: FilterStepCount[];
  /** Similarity a pair needed: --min-similarity, or the k-th largest score for --keep-fraction. */
  threshold: number | null;
  keep_fraction: number | null;
  /** --dedup-semantic's cosine threshold, null when off. */
  dedup_semantic: number | null;
  /** Histogram of the scores of all scored pairs (kept or not). */
  histogram: ScoreHistogram;
  shards: { input: number; written: number; resumed: number };
  /** Pairs scored per second of wall time of the scoring pass (reading, decoding, encoders), 0 when nothing was scored in this run. */
  pairs_per_second: number;
  duration: number;
}
