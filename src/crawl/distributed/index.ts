/**
 * `wit crawl --redis URL --role coordinator|worker`: the crawl distributed through BullMQ on Redis
 * (README.md, "Distributed crawl").
 *
 * The coordinator splits the inputs into jobs (a WARC/WAT file or seed site per job, url lists in
 * chunks), enqueues them and waits, printing the whole run's progress; workers on any machines that
 * see the output directory take jobs and write shards named after the job and attempt
 * (`i0003-c00012-a1-00000.parquet`, written under a temporary name and renamed). Per-query caps are
 * Redis counters changed by Lua scripts (cap-store.ts): exact across workers, with each job's
 * reservations rolled back before a retry and committed atomically with its result, so a worker
 * killed mid-job loses and duplicates nothing. `--balance sample` runs a distributed count phase
 * (per-query match counts summed in Redis) before the crawl phase; the draw is seeded by the pair
 * key, so the pairs equal a one-process run's.
 */
import { runCoordinator, runConfigOf, type DistributedSummary } from './coordinator.js';
import { runWorker, type WorkerSummary } from './worker.js';
import { createJobEnv } from './env.js';
import { checkRedisUrl } from './connection.js';
import type { DistributedCrawlOptions } from '../options.js';
import type { JobEnvFactory, QueueJobData } from './types.js';
import { UsageError } from '../../util/errors.js';
import { resolveDistributedOptions } from '../options.js';

export { RedisCapStore, StaleAttemptError, addMatchCounts, readCounts } from './cap-store.js';
export { RedisPairDedupe, claimInFilter, readFilterStats, dropFilter } from './dedupe.js';
export { runCoordinator, runConfigOf, removeOrphans, type DistributedSummary, type CoordinatorOptions } from './coordinator.js';
export { runWorker, removeJobFiles, WORKER_LOCKS, type WorkerSummary, type WorkerOptions } from './worker.js';
export { planJobs, jobName, type JobSpec, type RunPlan } from './plan.js';
export { connectRedis, redisOptions, checkRedisUrl, waitForRedis } from './connection.js';
export { RunKeys, deriveRunId, queueName } from './keys.js';
export { createJobEnv, portableOptions } from './env.js';
export type { RunConfig, JobEnv, JobEnvFactory, JobResult, QueueJobData } from './types.js';

export type { DistributedCrawlOptions };

/** Hooks for embedding and tests. */
export interface DistributedHooks {
  /** Log lines (connection drops, retries, job failures). Default: the progress sink. */
  log?: (line: string) => void;
  /** Replaces how a worker builds a run's pipeline. */
  envFactory?: JobEnvFactory;
  /** Worker: called when a job attempt starts. */
  onJobStart?: (data: QueueJobData, attempt: number) => void;
}

/** A worker's summary in the shape the CLI prints. */
export interface WorkerRunSummary extends WorkerSummary {
  role: 'worker';
  run_id: string;
}

/**
 * Runs one role of a distributed crawl. The coordinator resolves with the run's summary once every
 * job is committed and the manifest written; a worker (given the same crawl options, which name the
 * run) resolves with what it did once the run is finished or `opts.signal` aborts.
 * Throws UsageError for a bad role, url or options; see runCoordinator/runWorker for the rest.
 */
export async function runDistributed(opts: DistributedCrawlOptions & { redis: string }, role: string, hooks: DistributedHooks = {}): Promise<DistributedSummary | WorkerRunSummary> {
  checkRedisUrl(opts.redis);
  const { chunkRows, workerConcurrency, redisTimeout } = resolveDistributedOptions(opts);
  const redisTimeoutMs = redisTimeout * 1000;
  const log = hooks.log ?? opts.onProgress;
  if (role === 'coordinator') {
    return runCoordinator({
      redisUrl: opts.redis, crawl: opts, chunkRows, runId: opts.runId, redisTimeoutMs,
      log, progress: opts.onProgress, signal: opts.signal,
    });
  }
  if (role === 'worker') {
    const runId = runConfigOf(opts, chunkRows, opts.runId).runId;
    log?.(`worker: waiting for jobs of run ${runId}`);
    const s = await runWorker({
      redisUrl: opts.redis, envFactory: hooks.envFactory ?? createJobEnv, runId, concurrency: workerConcurrency, redisTimeoutMs,
      signal: opts.signal, log, progress: opts.onProgress, onJobStart: hooks.onJobStart,
    });
    return { role: 'worker', run_id: runId, ...s };
  }
  throw new UsageError('crawl', `--role must be coordinator or worker, got '${role}'`);
}
