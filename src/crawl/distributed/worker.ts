import { hostname } from 'node:os';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Candidate } from '../types.js';
import { countMatches, newCounters, processCandidates, PairDeduper, type Balance } from '../pipeline.js';
import { pairKey } from '../balance.js';
import { RedisCapStore, StaleAttemptError, addMatchCounts, claimPairs, readCounts } from './cap-store.js';
import { connectRedis } from './connection.js';
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
    await rm(join(out, name), { force: true });
    n++;
  }
  return n;
}

/**
 * Drops candidates another job of the run found first (the run-wide dedupe a single process gets
 * from its one filter), in batches of `batch`. `dups` counts them.
 */
async function* claimed(redis: Redis, runId: string, job: string, source: AsyncIterable<Candidate>, dups: { n: number }, batch = 256): AsyncGenerator<Candidate> {
  let buf: Candidate[] = [];
  const flush = async function* (): AsyncGenerator<Candidate> {
    const keys: string[] = [];
    const idx: number[] = [];
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i]!;
      // the pipeline counts a bad url as such: only pairs it could keep take part in the dedupe
      if (!/^https?:\/\//i.test(c.url)) continue;
      keys.push(pairKey(c.url, c.caption).slice(0, 16));
      idx.push(i);
    }
    const ok = await claimPairs(redis, runId, job, keys);
    const drop = new Set<number>();
    for (let k = 0; k < ok.length; k++) if (!ok[k]) drop.add(idx[k]!);
    for (let i = 0; i < buf.length; i++) {
      if (drop.has(i)) dups.n++;
      else yield buf[i]!;
    }
    buf = [];
  };
  for await (const c of source) {
    buf.push(c);
    if (buf.length >= batch) yield* flush();
  }
  if (buf.length) yield* flush();
}

/**
 * Runs a crawl worker: takes jobs of the crawl queue (any run, or `opts.runId` only) and processes
 * them, until `opts.signal` aborts or (with `runId`) the run is finished. Resolves with what it did.
 * Redis outages make it wait and retry; a job whose input is bad fails for good (the coordinator
 * reports it); other errors are retried by BullMQ.
 */
export async function runWorker(opts: WorkerOptions): Promise<WorkerSummary> {
  const name = `${hostname()}:${process.pid}`;
  const log = opts.log ?? (() => undefined);
  const redis = connectRedis(opts.redisUrl, { log, name: `wit-worker ${name}` });
  const envs = new Map<string, Promise<{ config: RunConfig; env: JobEnv }>>();
  const matchCounts = new Map<string, Promise<Map<number, number>>>();
  const summary: WorkerSummary = { worker: name, jobs: 0, candidates: 0, kept: 0 };
  const live = new Map<string, AbortController>();

  const envOf = (runId: string): Promise<{ config: RunConfig; env: JobEnv }> => {
    let p = envs.get(runId);
    if (!p) {
      p = (async () => {
        const raw = await redis.get(new RunKeys(runId).config);
        if (!raw) throw new UnrecoverableError(`crawl: run ${runId} has no config in Redis`);
        const config = JSON.parse(raw) as RunConfig;
        if (opts.out) config.out = opts.out;
        return { config, env: await opts.envFactory(config) };
      })();
      p.catch(() => envs.delete(runId));
      envs.set(runId, p);
    }
    return p;
  };

  const countJob = async (data: QueueJobData, signal: AbortSignal): Promise<unknown> => {
    const keys = new RunKeys(data.runId);
    if (await redis.hexists(keys.counted, data.job)) return { skipped: true };
    const { env } = await envOf(data.runId);
    const dups = { n: 0 };
    let seen = 0;
    const beat = setInterval(() => {
      redis.hset(keys.progress, data.job, String(seen + dups.n)).catch(() => undefined);
      opts.progress?.(`worker ${name}: counting job ${data.job}: ${seen + dups.n} candidates`);
    }, 1000);
    try {
      const counts = await countMatches(
        claimed(redis, data.runId, data.job, env.read(data.input, data.inputFormat, signal, { pages: {}, badItems: {} }), dups),
        env.matcher, new PairDeduper(24), signal, () => { seen++; },
      );
      await addMatchCounts(redis, data.runId, data.job, counts, seen + dups.n);
    } finally {
      clearInterval(beat);
    }
    await redis.hdel(keys.progress, data.job);
    return { candidates: seen + dups.n };
  };

  const crawlJob = async (data: QueueJobData, signal: AbortSignal): Promise<unknown> => {
    const keys = new RunKeys(data.runId);
    const started = Date.now();
    const { config, env } = await envOf(data.runId);
    const store = new RedisCapStore(redis, { runId: data.runId, job: data.job, cap: config.balance === 'cap' ? config.cap : 0 });
    const attempt = await store.begin();
    if (attempt === 0) return { skipped: true };
    opts.onJobStart?.(data, attempt);
    // a redone job starts from scratch: whatever earlier attempts wrote goes
    await removeJobFiles(config.out, data.job);
    const prefix = `${data.job}-a${attempt}-`;
    let balance: Balance;
    if (config.balance === 'cap') {
      balance = { mode: 'cap', cap: config.cap, store };
    } else {
      let mc = matchCounts.get(data.runId);
      if (!mc) {
        mc = readCounts(redis, keys.matchCounts);
        matchCounts.set(data.runId, mc);
      }
      balance = { mode: 'sample', t: config.t, seed: config.seed, counts: await mc };
    }
    const counters = newCounters();
    const tally: SourceTally = { pages: {}, badItems: {} };
    const dups = { n: 0 };
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    signal.addEventListener('abort', onAbort);
    // heartbeat: live progress for the coordinator, and a check that this attempt still owns the job
    let stale = false;
    let committed = false;
    const beat = setInterval(() => {
      redis
        .multi()
        .hset(keys.progress, data.job, String(counters.candidates + dups.n))
        .get(keys.owner(data.job))
        .exec()
        .then((r) => {
          if (r && !r[1]?.[0] && r[1]?.[1] !== store.attemptToken && !committed) {
            stale = true;
            ctl.abort();
          }
        })
        .catch(() => undefined);
      opts.progress?.(`worker ${name}: job ${data.job} ${counters.candidates + dups.n} candidates, ${counters.kept} kept`);
    }, 1000);
    try {
      const part = await processCandidates(
        claimed(redis, data.runId, data.job, env.read(data.input, data.inputFormat, ctl.signal, tally), dups),
        {
          out: config.out, prefix, ...env.part, matcher: env.matcher, balance, dedupe: new PairDeduper(24),
          resume: false, counters, signal: ctl.signal,
        },
        env.resources,
      );
      if (part.interrupted || ctl.signal.aborted) {
        if (stale) throw new StaleAttemptError(data.job);
        throw new WitError('crawl', `job ${data.job} interrupted (worker stopping)`);
      }
      const skipped = { ...(part.skipped as Record<string, number>) };
      if (dups.n) skipped.duplicate = (skipped.duplicate ?? 0) + dups.n;
      const result: JobResult = {
        job: data.job,
        source: data.source,
        shards: part.shards.map((f) => f.slice(f.lastIndexOf('/') + 1)),
        candidates: part.candidates + dups.n,
        matched: part.matched,
        admitted: part.admitted,
        kept: part.kept,
        failed: part.failed as Record<string, number>,
        skipped,
        queryCounts: Object.fromEntries(part.queryCounts),
        pages: tally.pages,
        badItems: tally.badItems,
        attempt,
        worker: name,
        seconds: (Date.now() - started) / 1000,
        startedAt: started,
        finishedAt: Date.now(),
      };
      committed = await store.commit(result, part.queryCounts);
      // committed meanwhile by another attempt: ours is surplus
      if (!committed) throw new StaleAttemptError(data.job);
      summary.jobs++;
      summary.candidates += result.candidates;
      summary.kept += result.kept;
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
  };

  const processor = async (job: Job<QueueJobData>, _token?: string, signal?: AbortSignal): Promise<unknown> => {
    const data = job.data;
    const ctl = new AbortController();
    live.set(job.id!, ctl);
    const sig = signal ? AbortSignal.any([signal, ctl.signal]) : ctl.signal;
    try {
      return data.phase === 'count' ? await countJob(data, sig) : await crawlJob(data, sig);
    } catch (err) {
      const why = JSON.stringify({ message: errorMessage(err), exitCode: err instanceof WitError ? err.exitCode : 1 });
      if (err instanceof WitError && err.exitCode === 2) {
        // bad input or options: retrying cannot help; the coordinator reports it and stops
        await redis.hset(new RunKeys(data.runId).failed, data.job, why);
        throw new UnrecoverableError(errorMessage(err));
      }
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) await redis.hset(new RunKeys(data.runId).failed, data.job, why);
      log(`job ${data.job}: ${errorMessage(err)}`);
      throw err;
    } finally {
      live.delete(job.id!);
    }
  };

  const workers = new Map<string, Worker<QueueJobData>>();
  const connections = new Map<string, Redis>();
  const startWorker = (runId: string): void => {
    if (workers.has(runId)) return;
    const connection = redis.duplicate();
    connection.on('error', () => undefined);
    connections.set(runId, connection);
    const worker = new Worker<QueueJobData>(queueName(runId), processor, {
      connection,
      concurrency: opts.concurrency ?? 2,
      ...WORKER_LOCKS,
    });
    worker.on('error', (err) => log(`worker: ${errorMessage(err)}`));
    // A failed lock renewal (Redis away for a moment) is not a takeover: the heartbeat, which
    // compares the job's owner token with this attempt's, stops an attempt that really lost its job.
    worker.on('lockRenewalFailed', (ids: string[]) => log(`worker: lock renewal failed for ${ids.join(', ')}`));
    workers.set(runId, worker);
    log(`worker ${name}: serving run ${runId}`);
  };
  const stopWorker = async (runId: string): Promise<void> => {
    const w = workers.get(runId);
    if (!w) return;
    workers.delete(runId);
    // a forced close leaves an interrupted job to the stall check: another worker takes it over
    await w.close(true).catch(() => undefined);
    // BullMQ leaves a connection it was given open
    connections.get(runId)?.disconnect();
    connections.delete(runId);
    const e = envs.get(runId);
    envs.delete(runId);
    matchCounts.delete(runId);
    await e?.then((x) => x.env.close()).catch(() => undefined);
  };

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const c of live.values()) c.abort();
  };
  opts.signal?.addEventListener('abort', stop);
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    if (opts.signal?.aborted) return resolve();
    opts.signal?.addEventListener('abort', () => resolve());
    let busy = false;
    const poll = async (): Promise<void> => {
      if (busy || stopping) return;
      busy = true;
      try {
        const runs = opts.runId ? [opts.runId] : await redis.smembers(ACTIVE_RUNS_KEY);
        for (const runId of runs) {
          if (await redis.exists(new RunKeys(runId).finished)) {
            await stopWorker(runId);
            if (opts.runId) resolve();
          } else if (await redis.exists(new RunKeys(runId).config)) {
            startWorker(runId);
          }
        }
        for (const runId of [...workers.keys()]) if (!runs.includes(runId)) await stopWorker(runId);
      } catch (err) {
        log(`worker: ${errorMessage(err)}`);
      } finally {
        busy = false;
      }
    };
    timer = setInterval(() => void poll(), 500);
    void poll();
  });
  try {
    await done;
  } finally {
    if (timer) clearInterval(timer);
    stop();
    for (const runId of [...workers.keys()]) await stopWorker(runId);
    for (const p of envs.values()) await p.then((e) => e.env.close()).catch(() => undefined);
    redis.disconnect();
  }
  return summary;
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
