import type { Candidate } from '../types.js';
import type { QueryMatcher } from '../match.js';
import type { CrawlResources, PartOptions } from '../pipeline.js';
import type { FilterSettings } from './dedupe.js';

/** A distributed run's settings, written to Redis by the coordinator and read by every worker. */
export interface RunConfig {
  runId: string;
  /** Output directory (absolute; every worker must see it at this path or override it). */
  out: string;
  /** Inputs as the coordinator got them (absolute paths or urls). */
  inputs: string[];
  balance: 'cap' | 'sample';
  /** `--cap` (cap mode). */
  cap: number;
  /** MetaCLIP's t (sample mode). */
  t: number;
  seed: string;
  /** Rows per url-list chunk. */
  chunkRows: number;
  /** The crawl options (JSON-safe part) the workers build their pipeline from. */
  options: Record<string, unknown>;
  /**
   * Every option that changes the run's jobs or pairs (the run id is derived from it): a coordinator
   * finding the run in Redis with another identity refuses, naming the option.
   */
  identity?: Record<string, unknown>;
  created: string;
}

/** What a worker needs to run a job's pipeline, built once per run from its RunConfig. */
export interface JobEnv {
  matcher: QueryMatcher;
  resources: CrawlResources;
  /** Pipeline settings shared by the run's jobs. */
  part: Pick<PartOptions, 'shardSize' | 'image' | 'window' | 'metadata' | 'format' | 'extras' | 'admitAll'>;
  /** Candidates of an input (a file, url, or a chunk file) in order; bad items and pages are counted in `counters`. */
  read(input: string, inputFormat: string | undefined, signal: AbortSignal, counters: SourceTally): AsyncIterable<Candidate>;
  /** Settings of the run's duplicate filter. */
  dedupe: FilterSettings;
  /** Frees the env's resources (connections, pools). */
  close(): Promise<void>;
}

/** Items of a source that were not candidates: live-crawl pages and bad items, by outcome/reason. */
export interface SourceTally {
  pages: Record<string, number>;
  badItems: Record<string, number>;
}

/** Builds a {@link JobEnv} from a run's config (tests inject their own). */
export type JobEnvFactory = (config: RunConfig) => Promise<JobEnv>;

/** Outcome of one committed crawl job, stored in Redis (`done`) and summed by the coordinator. */
export interface JobResult {
  job: string;
  source: string;
  /** Shard file names (in the output dir) this job wrote. */
  shards: string[];
  candidates: number;
  matched: number;
  admitted: number;
  kept: number;
  failed: Record<string, number>;
  skipped: Record<string, number>;
  /** Pairs kept per query id. */
  queryCounts: Record<string, number>;
  /** Seed-site pages by outcome, and unusable items of the input by reason. */
  pages: Record<string, number>;
  badItems: Record<string, number>;
  /** Estimated false duplicates among the job's candidates (absent in results of older versions). */
  estimatedFalseDuplicates?: number;
  attempt: number;
  worker: string;
  seconds: number;
  /** When the committed attempt started and finished (epoch ms). */
  startedAt: number;
  finishedAt: number;
}

/** Data of a BullMQ job of the crawl queue. */
export interface QueueJobData {
  runId: string;
  phase: 'count' | 'crawl';
  job: string;
  input: string;
  inputFormat?: string;
  source: string;
}
