import { createHash } from 'node:crypto';

/**
 * Redis key names of one distributed run. Every key carries the run id as a hash tag
 * (`wit:{RUN}:…`) so that a Redis Cluster puts all of a run's keys in one slot and the Lua
 * scripts, which touch several of them at once, stay legal there.
 */
export class RunKeys {
  readonly base: string;
  constructor(readonly runId: string) {
    this.base = `wit:{${runId}}:`;
  }
  /** Run configuration (JSON) written by the coordinator, read by workers. */
  get config(): string { return `${this.base}config`; }
  /** Per-query pairs counted so far (committed jobs plus reservations of running attempts). */
  get caps(): string { return `${this.base}caps`; }
  /** Per-query match counts summed by the count phase of `--balance sample`. */
  get matchCounts(): string { return `${this.base}match-counts`; }
  /** Count-phase jobs whose counts are already in `matchCounts` (job -> candidates). */
  get counted(): string { return `${this.base}counted`; }
  /** Crawl jobs committed: job -> result JSON (shards, stats, pairs per query). */
  get done(): string { return `${this.base}done`; }
  /** Attempts started per job: job -> n (names the attempt's shards). */
  get attempts(): string { return `${this.base}attempts`; }
  /** Set when the coordinator has written the run's manifest. */
  get finished(): string { return `${this.base}finished`; }
  /** Jobs that failed for good: job -> reason. */
  get failed(): string { return `${this.base}failed`; }
  /** Live progress of running attempts: job -> candidates handled so far. */
  get progress(): string { return `${this.base}progress`; }
  /** Reservations taken by the current attempt of a job: query -> count. */
  reservations(job: string): string { return `${this.base}res:${job}`; }
  /** Results of the current attempt's reserve/release calls by sequence number (resend safety). */
  sequence(job: string): string { return `${this.base}seq:${job}`; }
  /** Token of the attempt that owns a job right now. */
  owner(job: string): string { return `${this.base}owner:${job}`; }
}

/**
 * Deterministic run id for a crawl: the same output directory, inputs and balancing options give
 * the same id, so a restarted coordinator finds its run again. 12 hex digits.
 */
export function deriveRunId(parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 12);
}

/** BullMQ queue of a run (one per run, so a worker started for one run takes only its jobs). */
export function queueName(runId: string): string {
  return `wit-crawl-${runId}`;
}

/** Set of the runs in progress: workers started without a run serve all of them. */
export const ACTIVE_RUNS_KEY = 'wit:runs';
