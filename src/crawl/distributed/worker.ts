import { hostname } from 'node:os';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { countMatches, newCounters, processCandidates, type Balance, type CrawlCounters, type PartResult } from '../pipeline.js';
import { RedisCapStore, StaleAttemptError, addMatchCounts, readCounts } from './cap-store.js';
import { RedisPairDedupe } from './dedupe.js';
import { connectRedis, waitForRedis, DEFAULT_REDIS_TIMEOUT_MS } from './connection.js';
import { RunKeys, ACTIVE_RUNS_KEY, queueName } from './keys.js';
import type { JobEnv, JobEnvFactory, JobResult, QueueJobData, RunConfig, SourceTally } from './types.js';
import { WitError, errorMessage } from '../../util/errors.js';

/**
 * Lock and stall settings of the crawl queue. BullMQ's defaults (30 s lock, 30 s stall check) left a
 * killed worker's job idle for ~58 s; with these a job is taken over ~3-6 s after its worker dies.
 * A job that stalls more than once (a Redis restart, then a kill) must not be failed for it, hence
 * the raised `maxStalledCount`.
 */
export const WORKER_LOCKS = { lockDuration: 5000, stalledInterval: 1000, maxStalledCount: 50 } as const;

/** Options of {@link runWorker}. */
export interface WorkerOptions {
  redisUrl: string;
  /** Builds a run's pipeline from its config. */
  envFactory: JobEnvFactory;
  /** Jobs processed at once by this process (default 2, so one job's tail overlaps the next's start). */
  concurrency?: number;
  /** Serve only this run, and return once it is finished. Undefined: serve every run until stopped. */
  runId?: string;
  /** How long to wait for Redis at start before giving up, ms (default 60 s, the --redis-timeout default). */
  redisTimeoutMs?: number;
  /** Output directory override (when this machine mounts the shared output elsewhere). */
  out?: string;
  /** Stops the worker: running jobs are interrupted (their partial shards removed) and left to others. */
  signal?: AbortSignal;
  log?: (line: string) => void;
  progress?: (line: string) => void;
  /** Test hook: called with each job as it starts (after its attempt began). */
  onJobStart?: (data: QueueJobData, attempt: number) => void;
}

/** What a worker did. */
export interface WorkerSummary {
  worker: string;
  jobs: number;
  candidates: number;
  kept: number;
}

/** Removes every shard, stats and temporary file an attempt of `job` may have left in `out`. */
export async function removeJobFiles(out: string, job: string, exceptPrefix?: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(out);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    const bare = name.startsWith('.') ? name.slice(1) : name;
    if (!bare.startsWith(`${job}-a`)) continue;
    if (exceptPrefix && bare.startsWith(exceptPrefix)) continue;
    await rm(join(out, name), { recursive: true, force: true }); // a files shard is a folder
    n++;
  }
  return n;
}

/** The worker's bookkeeping of one run: its pipeline env and (sample mode) the run's match counts. */
interface RunState {
  env: Promise<{ config: RunConfig; env: JobEnv }>;
  matchCounts?: Promise<Map<number, number>>;
}

/** A crawl job attempt's live state, for its heartbeat. */
interface Attempt {
  data: QueueJobData;
  store: RedisCapStore;
  counters: CrawlCounters;
  ctl: AbortController;
  stale: boolean;
  committed: boolean;
}

/**
 * A crawl worker process: BullMQ workers for the runs in progress (one queue per run), the pipeline
 * env of each run, and the jobs running now. `runWorker` composes it.
 */
class CrawlWorker {
  readonly name = `${hostname()}:${process.pid}`;
  readonly summary: WorkerSummary = { worker: this.name, jobs: 0, candidates: 0, kept: 0 };
  readonly redis: Redis;
  private readonly log: (line: string) => void;
  private readonly runs = new Map<string, RunState>();
  private readonly live = new Map<string, AbortController>();
  private readonly workers = new Map<string, Worker<QueueJobData>>();
  private readonly connections = new Map<string, Redis>();
  private stopping = false;

  constructor(private readonly opts: WorkerOptions) {
    this.log = opts.log ?? (() => undefined);
    this.redis = connectRedis(opts.redisUrl, { log: this.log, name: `wit-worker ${this.name}` });
  }

  /** The run's config from Redis and the pipeline env built from it (once per run). */
  private envOf(runId: string): Promise<{ config: RunConfig; env: JobEnv }> {
    let state = this.runs.get(runId);
    if (!state) {
      const env = (async () => {
        const raw = await this.redis.get(new RunKeys(runId).config);
        if (!raw) throw new UnrecoverableError(`crawl: run ${runId} has no config in Redis`);
        const config = JSON.parse(raw) as RunConfig;
        if (this.opts.out) config.out = this.opts.out;
        return { config, env: await this.opts.envFactory(config) };
      })();
      env.catch(() => this.runs.delete(runId));
      state = { env };
      this.runs.set(runId, state);
    }
    return state.env;
  }

  /** Count phase of `--balance sample`: the job's matches per query over the run's distinct matched pairs. */
  private async countJob(data: QueueJobData, signal: AbortSignal): Promise<unknown> {
    const keys = new RunKeys(data.runId);
    if (await this.redis.hexists(keys.counted, data.job)) return { skipped: true };
    const { env } = await this.envOf(data.runId);
    const dedupe = new RedisPairDedupe(this.redis, data.runId, 'count', data.job, env.dedupe);
    let seen = 0;
    const beat = setInterval(() => {
      this.redis.hset(keys.progress, data.job, String(seen)).catch(() => undefined);
      this.opts.progress?.(`worker ${this.name}: counting job ${data.job}: ${seen} candidates`);
    }, 1000);
    try {
      const counts = await countMatches(env.read(data.input, data.inputFormat, signal, { pages: {}, badItems: {} }), env.matcher, (k) => dedupe.seenMany(k), signal, () => { seen++; });
      await addMatchCounts(this.redis, data.runId, data.job, counts, seen);
    } finally {
      clearInterval(beat);
    }
    await dedupe.forget();
    await this.redis.hdel(keys.progress, data.job);
    return { candidates: seen };
  }

  /** How a job balances: the run's Redis cap store, or the run's match counts (read once per run). */
  private async balanceOf(config: RunConfig, store: RedisCapStore): Promise<Balance> {
    if (config.balance === 'cap') return { mode: 'cap', cap: config.cap, store };
    const state = this.runs.get(config.runId)!;
    state.matchCounts ??= readCounts(this.redis, new RunKeys(config.runId).matchCounts);
    return { mode: 'sample', t: config.t, seed: config.seed, counts: await state.matchCounts };
  }

  /** Every second: live progress for the coordinator, and a check that this attempt still owns the job. */
  private heartbeat(attempt: Attempt): NodeJS.Timeout {
    const keys = new RunKeys(attempt.data.runId);
    const job = attempt.data.job;
    return setInterval(() => {
      this.redis
        .multi()
        .hset(keys.progress, job, String(attempt.counters.candidates))
        .get(keys.owner(job))
        .exec()
        .then((r) => {
          if (r && !r[1]?.[0] && r[1]?.[1] !== attempt.store.attemptToken && !attempt.committed) {
            attempt.stale = true;
            attempt.ctl.abort();
          }
        })
        .catch(() => undefined);
      this.opts.progress?.(`worker ${this.name}: job ${job} ${attempt.counters.candidates} candidates, ${attempt.counters.kept} kept`);
    }, 1000);
  }

  /** Crawl phase: one job's candidates through the pipeline into its attempt's shards, then the commit. */
  private async crawlJob(data: QueueJobData, signal: AbortSignal): Promise<unknown> {
    const started = Date.now();
    const { config, env } = await this.envOf(data.runId);
    const store = new RedisCapStore(this.redis, { runId: data.runId, job: data.job, cap: config.cap });
    const attemptNo = await store.begin();
    if (attemptNo === 0) return { skipped: true };
    this.opts.onJobStart?.(data, attemptNo);
    // a redone job starts from scratch: whatever earlier attempts wrote goes
    await removeJobFiles(config.out, data.job);
    const prefix = `${data.job}-a${attemptNo}-`;
    const attempt: Attempt = { data, store, counters: newCounters(), ctl: new AbortController(), stale: false, committed: false };
    const onAbort = () => attempt.ctl.abort();
    signal.addEventListener('abort', onAbort);
    const beat = this.heartbeat(attempt);
    const dedupe = new RedisPairDedupe(this.redis, data.runId, 'crawl', data.job, env.dedupe);
    try {
      const tally: SourceTally = { pages: {}, badItems: {} };
      const part = await processCandidates(env.read(data.input, data.inputFormat, attempt.ctl.signal, tally), {
        out: config.out, prefix, ...env.part, matcher: env.matcher, balance: await this.balanceOf(config, store), dedupe,
        resume: false, counters: attempt.counters, signal: attempt.ctl.signal,
      }, env.resources);
      if (part.interrupted || attempt.ctl.signal.aborted) {
        if (attempt.stale) throw new StaleAttemptError(data.job);
        throw new WitError('crawl', `job ${data.job} interrupted (worker stopping)`);
      }
      const result = jobResult(data, part, tally, attemptNo, this.name, started);
      attempt.committed = await store.commit(result, part.queryCounts);
      // committed meanwhile by another attempt: ours is surplus
      if (!attempt.committed) throw new StaleAttemptError(data.job);
      await dedupe.forget();
      this.summary.jobs++;
      this.summary.candidates += result.candidates;
      this.summary.kept += result.kept;
      return { kept: result.kept, shards: result.shards.length };
    } catch (err) {
      // whatever stopped this attempt, its files go; an attempt that still owns the job also gives
      // its reservations back now (the next attempt would, but the caps should not wait for it)
      await removeOwn(config.out, prefix).catch(() => undefined);
      if (!(err instanceof StaleAttemptError)) await store.abandon().catch(() => undefined);
      throw err;
    } finally {
      clearInterval(beat);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** BullMQ's processor: runs a job of either phase; a job whose input is bad fails for good. */
  readonly processor = async (job: Job<QueueJobData>, _token?: string, signal?: AbortSignal): Promise<unknown> => {
    const data = job.data;
    const ctl = new AbortController();
    this.live.set(job.id!, ctl);
    const sig = signal ? AbortSignal.any([signal, ctl.signal]) : ctl.signal;
    try {
      return data.phase === 'count' ? await this.countJob(data, sig) : await this.crawlJob(data, sig);
    } catch (err) {
      const why = JSON.stringify({ message: errorMessage(err), exitCode: err instanceof WitError ? err.exitCode : 1 });
      if (err instanceof WitError && err.exitCode === 2) {
        // bad input or options: retrying cannot help; the coordinator reports it and stops
        await this.redis.hset(new RunKeys(data.runId).failed, data.job, why);
        throw new UnrecoverableError(errorMessage(err));
      }
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) await this.redis.hset(new RunKeys(data.runId).failed, data.job, why);
      this.log(`job ${data.job}: ${errorMessage(err)}`);
      throw err;
    } finally {
      this.live.delete(job.id!);
    }
  };

  /** Starts serving a run's queue. */
  startRun(runId: string): void {
    if (this.workers.has(runId)) return;
    const connection = this.redis.duplicate();
    connection.on('error', () => undefined);
    this.connections.set(runId, connection);
    const worker = new Worker<QueueJobData>(queueName(runId), this.processor, {
      connection,
      concurrency: this.opts.concurrency ?? 2,
      ...WORKER_LOCKS,
    });
    worker.on('error', (err) => this.log(`worker: ${errorMessage(err)}`));
    // A failed lock renewal (Redis away for a moment) is not a takeover: the heartbeat, which
    // compares the job's owner token with this attempt's, stops an attempt that really lost its job.
    worker.on('lockRenewalFailed', (ids: string[]) => this.log(`worker: lock renewal failed for ${ids.join(', ')}`));
    this.workers.set(runId, worker);
    this.log(`worker ${this.name}: serving run ${runId}`);
  }

  /** Stops serving a run: its queue worker, connection and env. */
  async stopRun(runId: string): Promise<void> {
    const w = this.workers.get(runId);
    if (!w) return;
    this.workers.delete(runId);
    // a forced close leaves an interrupted job to the stall check: another worker takes it over
    await w.close(true).catch(() => undefined);
    // BullMQ leaves a connection it was given open
    this.connections.get(runId)?.disconnect();
    this.connections.delete(runId);
    const state = this.runs.get(runId);
    this.runs.delete(runId);
    await state?.env.then((x) => x.env.close()).catch(() => undefined);
  }

  /** Interrupts the running jobs (they are left to other workers). */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    for (const c of this.live.values()) c.abort();
  }

  /** Starts and stops serving runs as they appear and finish; true when `opts.runId` is finished. */
  async poll(): Promise<boolean> {
    const runs = this.opts.runId ? [this.opts.runId] : await this.redis.smembers(ACTIVE_RUNS_KEY);
    let finished = false;
    for (const runId of runs) {
      if (await this.redis.exists(new RunKeys(runId).finished)) {
        await this.stopRun(runId);
        if (this.opts.runId) finished = true;
      } else if (await this.redis.exists(new RunKeys(runId).config)) {
        this.startRun(runId);
      }
    }
    for (const runId of [...this.workers.keys()]) if (!runs.includes(runId)) await this.stopRun(runId);
    return finished;
  }

  /** Polls every 500 ms until the signal aborts or (with `runId`) the run is finished. */
  async serve(): Promise<void> {
    const signal = this.opts.signal;
    signal?.addEventListener('abort', () => this.stop());
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        signal?.addEventListener('abort', () => resolve());
        let busy = false;
        const tick = async (): Promise<void> => {
          if (busy || this.stopping) return;
          busy = true;
          try {
            if (await this.poll()) resolve();
          } catch (err) {
            this.log(`worker: ${errorMessage(err)}`);
          } finally {
            busy = false;
          }
        };
        timer = setInterval(() => void tick(), 500);
        void tick();
      });
    } finally {
      if (timer) clearInterval(timer);
    }
  }

  /** Stops everything and closes the connections. */
  async close(): Promise<void> {
    this.stop();
    for (const runId of [...this.workers.keys()]) await this.stopRun(runId);
    for (const state of this.runs.values()) await state.env.then((e) => e.env.close()).catch(() => undefined);
    this.redis.disconnect();
  }
}

/** The committed outcome of a job attempt. */
function jobResult(data: QueueJobData, part: PartResult, tally: SourceTally, attempt: number, worker: string, started: number): JobResult {
  return {
    job: data.job,
    source: data.source,
    shards: part.shards.map((f) => f.slice(f.lastIndexOf('/') + 1)),
    candidates: part.candidates,
    matched: part.matched,
    admitted: part.admitted,
    kept: part.kept,
    failed: part.failed as Record<string, number>,
    skipped: part.skipped as Record<string, number>,
    queryCounts: Object.fromEntries(part.queryCounts),
    pages: tally.pages,
    badItems: tally.badItems,
    estimatedFalseDuplicates: part.estimatedFalseDuplicates,
    attempt,
    worker,
    seconds: (Date.now() - started) / 1000,
    startedAt: started,
    finishedAt: Date.now(),
  };
}

/**
 * Runs a crawl worker: takes jobs of the crawl queue (any run, or `opts.runId` only) and processes
 * them, until `opts.signal` aborts or (with `runId`) the run is finished. Resolves with what it did.
 * Throws WitError (exit 1) naming the url when Redis cannot be reached within `opts.redisTimeoutMs`
 * at start; Redis outages later make it wait and retry. A job whose input is bad fails for good (the
 * coordinator reports it); other errors are retried by BullMQ.
 */
export async function runWorker(opts: WorkerOptions): Promise<WorkerSummary> {
  const worker = new CrawlWorker(opts);
  try {
    await waitForRedis(worker.redis, opts.redisUrl, opts.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS, opts.signal);
    await worker.serve();
  } finally {
    await worker.close();
  }
  return worker.summary;
}

/** Removes the files of one attempt (its prefix) only. */
async function removeOwn(out: string, prefix: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(out);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(prefix) || n.startsWith(`.${prefix}`)) await rm(join(out, n), { force: true });
}
