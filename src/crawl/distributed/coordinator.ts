import { readdir, rm, rmdir, mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QueryMatcher } from '../match.js';
import { loadQueries } from '../queries.js';
import { admitsAll, createResources, listExtras, type CrawlSummary } from '../index.js';
import { resolveCrawlOptions, resolveDistributedOptions, type CrawlOptions, type ResolvedCrawlOptions } from '../options.js';
import { VERSION } from '../../util/version.js';
import { addReasons, checkOutcomes, newOutcomes, outcomeTotals } from '../../util/outcomes.js';
import { LIST_FORMATS, detectInputFormat, readSource, isUrl } from '../sources/index.js';
import { writeQueryCounts } from '../pipeline.js';
import { countDistinctImages, readManifest, writeManifest } from '../../shards/index.js';
import { connectRedis, waitForRedis, DEFAULT_REDIS_TIMEOUT_MS } from './connection.js';
import { dropFilter, readFilterStats } from './dedupe.js';
import { checkInputs, fingerprintName, hasFinishedShard, runFingerprint } from '../run-dir.js';
import { claimOutput } from '../../util/output.js';
import type { DedupeStats } from '../dedupe.js';
import { RunKeys, deriveRunId, queueName, ACTIVE_RUNS_KEY } from './keys.js';
import { planJobs, type JobSpec, type RunPlan } from './plan.js';
import { portableOptions } from './env.js';
import type { JobResult, QueueJobData, RunConfig } from './types.js';
import { UsageError, WitError } from '../../util/errors.js';
import { formatCount, formatDuration } from '../../util/progress.js';

/** Options of {@link runCoordinator}. */
export interface CoordinatorOptions {
  redisUrl: string;
  crawl: CrawlOptions;
  /** Candidates per url-list chunk (one job each). Default 10000. */
  chunkRows?: number;
  /** Run id; default derived from the output directory, inputs and balancing options. */
  runId?: string;
  log?: (line: string) => void;
  progress?: (line: string) => void;
  signal?: AbortSignal;
  /** How long to wait for Redis at start before giving up, ms (default 60 s, the --redis-timeout default). */
  redisTimeoutMs?: number;
  /** Poll interval of the run's state, ms (default 500). */
  pollMs?: number;
}

/** Summary of a distributed run: a crawl summary plus the run's bookkeeping. */
export interface DistributedSummary extends CrawlSummary {
  run_id: string;
  jobs: number;
  /** From the first job's start to the last job's commit, s (the crawl proper, without planning and startup). */
  work_seconds: number;
  /** Job attempts beyond the first (taken over after a stall or a failure). */
  retried_attempts: number;
  workers: string[];
}

/** The resolved settings that decide a run's pairs (they also name the run). */
export function runConfigOf(opts: CrawlOptions, chunkRows: number, runId?: string): RunConfig {
  const r = resolveCrawlOptions(opts);
  const out = resolvePath(r.out);
  const inputs = r.inputs.map((i) => (isUrl(i) ? i : resolvePath(i)));
  // no queries (url lists only): stays absent, so every worker admits every row too
  const options = portableOptions({ ...opts, inputs, out, queries: (r.queryList ?? (r.queries === undefined ? undefined : resolvePath(r.queries))) as string });
  // what workers started with the same flags can derive too (chunkRows is not: the saved plan holds it)
  const queries = r.queryList ?? (r.queries === undefined ? [] : resolvePath(r.queries));
  const identity = runIdentity(r, out, inputs, queries);
  const id = runId ?? deriveRunId(identity);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new UsageError('crawl', `run id must be 1-64 letters, digits, _ or -, got '${id}'`);
  return { runId: id, out, inputs, balance: r.balance, cap: r.cap, t: r.cap, seed: r.seed, chunkRows, options, identity, created: new Date().toISOString() };
}

/**
 * Every option that changes a run's jobs or pairs: the one-process crawl's resume fingerprint
 * (run-dir.ts) plus what decides how url lists are read and shards written. The run id is its hash,
 * so a corrected rerun (another --caption-col, say) is another run, never the old one resumed.
 */
function runIdentity(r: ResolvedCrawlOptions, out: string, inputs: string[], queries: string | string[]): Record<string, unknown> {
  const { queries_sha256: _q, inputs: _i, ...fingerprint } = runFingerprint(r, []);
  return {
    out, inputs, queries, ...fingerprint,
    urlCol: r.urlCol, captionCol: r.captionCol ?? 'caption', saveAdditionalColumns: r.saveAdditionalColumns, verifyHashCol: r.verifyHashCol ?? null,
    outputFormat: r.outputFormat, onTruncated: r.onTruncated, maxPixels: r.maxPixels ?? null, admitAll: admitsAll(r),
  };
}

/** Throws UsageError naming the first option in which the run stored in Redis differs from this one. */
function checkIdentity(stored: RunConfig, config: RunConfig): void {
  if (!stored.identity || !config.identity) return;
  for (const [k, v] of Object.entries(config.identity)) {
    if (JSON.stringify(stored.identity[k]) !== JSON.stringify(v)) {
      throw new UsageError('crawl', `run ${config.runId} in Redis was started with ${fingerprintName(k)} = ${JSON.stringify(stored.identity[k])}, this coordinator has ${JSON.stringify(v)}: use the run's options, or another --run-id`);
    }
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((res) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

function add(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + v;
}

/**
 * Shard and stats names of this run's jobs (`i0003-c00012-a1-00000.parquet`, a files shard's folder
 * `i0003-c00012-a1-00000`), temporary ones too.
 */
const JOB_FILE = /^\.?i\d{4}(-c\d{5})?-a\d+-\d{5}(\.parquet|\.tar|_stats\.json|\.tmp-|\.old-|$)/;

/**
 * Removes job files that no committed job claims: shards of attempts that died or were taken over
 * after they wrote. Resolves to the names removed.
 */
export async function removeOrphans(out: string, committed: ReadonlySet<string>): Promise<string[]> {
  const gone: string[] = [];
  for (const n of await readdir(out).catch(() => [] as string[])) {
    if (!JOB_FILE.test(n)) continue;
    // a WebDataset or files shard's metadata (.parquet) and stats belong to its .tar or folder
    const base = n.replace(/(_stats\.json|\.parquet|\.tar)$/, '');
    if (!n.startsWith('.') && (committed.has(`${base}.parquet`) || committed.has(`${base}.tar`) || committed.has(base))) continue;
    await rm(join(out, n), { recursive: true, force: true });
    gone.push(n);
  }
  return gone;
}

/**
 * Claims the output folder and Redis for this run, or finds it done: resolves to the summary of a
 * finished run, or undefined when the run is to be (re)started or resumed.
 */
async function claimRun(redis: Redis, keys: RunKeys, config: RunConfig, log: (line: string) => void): Promise<DistributedSummary | undefined> {
  const existing = await redis.get(keys.config);
  if (existing) checkIdentity(JSON.parse(existing) as RunConfig, config);
  if (!existing) {
    const before = await checkFreshOut(config.out, config.runId, log);
    if (before) return before;
  } else if (await redis.exists(keys.finished)) {
    const m = await readManifest(config.out).catch(() => undefined);
    if (m?.complete && m.run_id === config.runId) return m.totals as unknown as DistributedSummary;
  } else {
    log(`coordinator: resuming run ${config.runId}`);
  }
  await mkdir(config.out, { recursive: true });
  // the first coordinator's config is the run's: a restart keeps its creation time
  await redis.set(keys.config, existing ?? JSON.stringify(config), 'NX');
  if (!existing) {
    // claims the directory for this run (complete: false until the end), as a one-process crawl does
    await writeManifest(config.out, {
      stage: 'crawl', version: VERSION, created: config.created, options: config.options, inputs: config.inputs,
      shards: [], totals: {}, complete: false, run_id: config.runId,
    });
  }
  await redis.sadd(ACTIVE_RUNS_KEY, config.runId);
  return undefined;
}

/** A restarted coordinator gives jobs that failed for good another chance. */
async function retryFailedJobs(queue: Queue<QueueJobData>, redis: Redis, keys: RunKeys): Promise<void> {
  const failedBefore = await redis.hkeys(keys.failed);
  if (failedBefore.length) {
    await redis.del(keys.failed);
    for (const j of failedBefore) {
      for (const phase of ['count', 'crawl'] as const) {
        const job = await queue.getJob(`${keys.runId}.${phase}.${j}`);
        if (job && (await job.isFailed())) await job.retry().catch(() => undefined);
      }
    }
  }
}

/**
 * Marks the run finished. The duplicate filters are the big part: gone once the run is done; the rest
 * (config, results, counters) stays a week, so a rerun of this coordinator just reports the run.
 */
async function closeRun(redis: Redis, keys: RunKeys, planDir: string): Promise<void> {
  await redis.set(keys.finished, new Date().toISOString());
  await redis.srem(ACTIVE_RUNS_KEY, keys.runId);
  await dropFilter(redis, keys.runId, 'count');
  await dropFilter(redis, keys.runId, 'crawl');
  await redis.del(keys.progress);
  for (const k of [keys.config, keys.caps, keys.matchCounts, keys.counted, keys.done, keys.attempts, keys.finished]) await redis.expire(k, 7 * 24 * 3600);
  await rm(planDir, { recursive: true, force: true });
  await rmdir(dirname(planDir)).catch(() => undefined);
}

/**
 * The coordinator of a distributed crawl: splits the inputs into jobs, enqueues them (for
 * `--balance sample` a count phase, then the crawl), waits for the workers while reporting the
 * whole run's progress, and writes the run's manifest and query_counts.tsv when every job is
 * committed. Restartable: the run id, the plan and the job ids are deterministic, so a restarted
 * coordinator re-adds nothing that exists and picks the run up where it is. Throws UsageError for
 * bad options, InputError for an unreadable input, WitError when a job fails for good.
 */
export async function runCoordinator(opts: CoordinatorOptions): Promise<DistributedSummary> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  const { chunkRows } = resolveDistributedOptions({ chunkRows: opts.chunkRows });
  const config = runConfigOf(opts.crawl, chunkRows, opts.runId);
  const r = resolveCrawlOptions(opts.crawl);
  for (const i of config.inputs) detectInputFormat(i, r.inputFormat);
  await checkInputs(config.inputs);
  // every input checked (queries, list columns) before Redis or --out is touched: a failed start leaves no run behind
  await checkRunInputs(r, opts.signal);
  // refused before Redis is touched; the lock is held for the coordinator's life (docs/ARCHITECTURE.md, "Claiming an output")
  const claim = await claimOutput(config.out, { command: 'crawl' });
  try {
    const keys = new RunKeys(config.runId);
    const redis = connectRedis(opts.redisUrl, { log, name: 'wit-coordinator' });
    try {
      await waitForRedis(redis, opts.redisUrl, opts.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS, opts.signal);
    } catch (err) {
      redis.disconnect();
      throw err;
    }
    const queueConn = redis.duplicate();
    queueConn.on('error', () => undefined);
    const queue = new Queue<QueueJobData>(queueName(config.runId), { connection: queueConn });
    queue.on('error', () => undefined);
    let fetchRes: ReturnType<typeof createResources> | undefined;
    try {
      const done = await claimRun(redis, keys, config, log);
      if (done) return done;
      const planDir = join(config.out, '.wit-jobs', config.runId);
      // url lists given as http(s) urls are read through the crawl's safe fetcher
      fetchRes = config.inputs.some(isUrl) ? createResources(r) : undefined;
      const plan = await planJobs({
        runId: config.runId, inputs: config.inputs, chunkRows, planDir,
        isUrlList: (i) => LIST_FORMATS.has(detectInputFormat(i, r.inputFormat)),
        readList: (i, onBadItem) => readSource(i, {
          format: detectInputFormat(i, r.inputFormat), signal: opts.signal, onBadItem, maxPageBytes: r.maxPageBytes, openUrl: fetchRes ? (u) => fetchRes!.fetcher.openStream(u, opts.signal) : undefined,
          urlColumn: r.urlCol, captionColumn: r.captionCol, extraColumns: r.saveAdditionalColumns, hashColumn: r.verifyHashCol, allowEmptyCaption: admitsAll(r),
          // refused rows go into the chunks as given: the worker refuses, counts and lists them again
          keepRefused: true,
        }),
        columns: { url: r.urlCol, caption: r.captionCol ?? 'caption', hash: r.verifyHashCol },
        log: (l) => opts.progress?.(l),
      });
      log(`coordinator: run ${config.runId}: ${plan.jobs.length} jobs (${formatCount(plan.listCandidates)} url-list candidates in chunks of ${chunkRows})`);
      await retryFailedJobs(queue, redis, keys);
      if (config.balance === 'sample') {
        await enqueue(queue, redis, config.runId, plan.jobs, 'count', keys.counted);
        await waitPhase(redis, keys, plan, 'count', opts, t0);
      }
      await enqueue(queue, redis, config.runId, plan.jobs, 'crawl', keys.done);
      await waitPhase(redis, keys, plan, 'crawl', opts, t0);
      const summary = await finalize(redis, keys, config, plan, r.queryList ?? r.queries ?? [], !r.caseInsensitive, t0);
      await closeRun(redis, keys, planDir);
      return summary;
    } finally {
      await fetchRes?.close().catch(() => undefined);
      await queue.close().catch(() => undefined);
      queueConn.disconnect();
      redis.disconnect();
    }
  } finally {
    await claim.release();
  }
}

/** Reads the query list and every url list's header (InputError naming the file and column), as a worker will. */
async function checkRunInputs(r: ResolvedCrawlOptions, signal?: AbortSignal): Promise<void> {
  if (!admitsAll(r) && !r.queryList) {
    const queries = await loadQueries(r.queries!);
    if (!queries.length) throw new UsageError('crawl', 'the query list is empty', { file: r.queries });
  }
  const res = createResources(r);
  try {
    await listExtras(r, res, signal);
  } finally {
    await res.close();
  }
}

/**
 * A run starting afresh must not mix with (or, when removing orphans, delete) another crawl's files:
 * the output directory must hold no shards and no manifest, or be this run's own directory. Resolves
 * to the summary of this very run when it finished earlier and its Redis state has expired since;
 * when the run was under way and Redis lost its state, the run's files are removed to redo it.
 */
async function checkFreshOut(out: string, runId: string, log: (line: string) => void): Promise<DistributedSummary | undefined> {
  const names = await readdir(out).catch(() => [] as string[]);
  const m = await readManifest(out).catch(() => undefined);
  if (m?.run_id === runId) {
    if (m.complete) return m.totals as unknown as DistributedSummary;
    const gone = await removeOrphans(out, new Set());
    log(`coordinator: run ${runId} has no state in Redis: redoing it (${gone.length} files of the earlier start removed)`);
    return undefined;
  }
  // a folder without a finished shard is fresh, whatever a failed start left in it
  if (await hasFinishedShard(out, names)) {
    throw new UsageError('crawl', 'output directory already holds another crawl: choose a new --out', { file: out });
  }
  return undefined;
}

async function enqueue(queue: Queue<QueueJobData>, redis: Redis, runId: string, jobs: JobSpec[], phase: 'count' | 'crawl', doneKey: string): Promise<void> {
  const done = new Set(await redis.hkeys(doneKey));
  const todo = jobs.filter((j) => !done.has(j.job));
  // ids are deterministic: adding a job that is already queued, running or finished is a no-op
  for (let i = 0; i < todo.length; i += 500) {
    await queue.addBulk(todo.slice(i, i + 500).map((j) => ({
      name: phase,
      data: { runId, phase, job: j.job, input: j.input, inputFormat: j.inputFormat, source: j.source },
      opts: {
        jobId: `${runId}.${phase}.${j.job}`,
        attempts: 10,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { count: 10_000 },
        removeOnFail: false,
      },
    })));
  }
}

async function waitPhase(redis: Redis, keys: RunKeys, plan: RunPlan, phase: 'count' | 'crawl', opts: CoordinatorOptions, t0: number): Promise<void> {
  const total = plan.jobs.length;
  const doneKey = phase === 'count' ? keys.counted : keys.done;
  const results = new Map<string, number>();
  const pt = Date.now();
  let kept = 0;
  for (;;) {
    if (opts.signal?.aborted) {
      throw new WitError('crawl', `coordinator stopped: run ${keys.runId} goes on with its workers; rerun the same command to pick it up`);
    }
    const failed = Object.entries(await redis.hgetall(keys.failed));
    if (failed.length) {
      const [job, raw] = failed[0]!;
      let why = { message: raw, exitCode: 1 };
      try {
        why = JSON.parse(raw) as typeof why;
      } catch {
        // a plain message
      }
      throw new WitError('crawl', `${failed.length} job(s) failed for good, e.g. ${job}: ${why.message}; fix the cause and rerun the coordinator`, { exitCode: why.exitCode === 2 ? 2 : 1 });
    }
    if (!(await redis.exists(keys.config))) {
      throw new WitError('crawl', `Redis lost the state of run ${keys.runId} (restarted without its data?): rerun the coordinator to redo the run`);
    }
    const names = await redis.hkeys(doneKey);
    const fresh = names.filter((n) => !results.has(n));
    if (fresh.length) {
      const vals = await redis.hmget(doneKey, ...fresh);
      fresh.forEach((n, i) => {
        const v = vals[i] ?? '0';
        if (phase === 'count') results.set(n, Number(v));
        else {
          const res = JSON.parse(v) as JobResult;
          results.set(n, res.candidates);
          kept += res.kept;
        }
      });
    }
    let live = 0;
    for (const v of await redis.hvals(keys.progress)) live += Number(v) || 0;
    let cands = live;
    for (const v of results.values()) cands += v;
    const secs = (Date.now() - pt) / 1000;
    opts.progress?.(
      `${phase === 'count' ? 'count matches' : 'crawl'}: ${results.size}/${total} jobs · ${formatCount(cands)} candidates (${formatCount(cands / Math.max(secs, 1e-3))}/s)` +
        (phase === 'crawl' ? ` · ${formatCount(kept)} kept` : '') +
        ` · ${formatDuration((Date.now() - t0) / 1000)}`,
    );
    if (results.size >= total) return;
    await sleep(opts.pollMs ?? 500, opts.signal);
  }
}

/** The run-wide filter: its size and its estimated false duplicates. */
function dedupeSummary(redis: Redis, keys: RunKeys): Promise<DedupeStats> {
  return readFilterStats(redis, keys.runId, 'crawl');
}

/** The run's totals over its committed jobs, and where its shards are. */
function sumResults(results: JobResult[], plan: RunPlan) {
  const outcomes = newOutcomes();
  const pages: Record<string, number> = {};
  const badItems: Record<string, number> = { ...plan.badItems };
  const queryCounts = new Map<number, number>();
  const shards: string[] = [];
  const workers = new Set<string>();
  let retried = 0, firstStart = Infinity, lastEnd = 0, falseDuplicates = 0;
  for (const res of results) {
    outcomes.candidates += res.candidates;
    outcomes.matched += res.matched;
    outcomes.admitted += res.admitted;
    outcomes.kept += res.kept;
    addReasons(outcomes.failed, res.failed);
    addReasons(outcomes.skipped, res.skipped);
    addReasons(pages, res.pages);
    addReasons(badItems, res.badItems);
    for (const [id, n] of Object.entries(res.queryCounts)) queryCounts.set(Number(id), (queryCounts.get(Number(id)) ?? 0) + n);
    shards.push(...res.shards);
    workers.add(res.worker);
    retried += res.attempt - 1;
    falseDuplicates += res.estimatedFalseDuplicates ?? 0;
    firstStart = Math.min(firstStart, res.startedAt);
    lastEnd = Math.max(lastEnd, res.finishedAt);
  }
  shards.sort();
  return { outcomes, pages, badItems, queryCounts, shards, workers: [...workers].sort(), retried, falseDuplicates, workSeconds: lastEnd > firstStart ? (lastEnd - firstStart) / 1000 : 0 };
}

async function finalize(redis: Redis, keys: RunKeys, config: RunConfig, plan: RunPlan, queries: string | string[], caseSensitive: boolean, t0: number): Promise<DistributedSummary> {
  const raw = await redis.hgetall(keys.done);
  const results = plan.jobs.map((j) => {
    const v = raw[j.job];
    if (!v) throw new WitError('crawl', `job ${j.job} has no result`);
    return JSON.parse(v) as JobResult;
  });
  const sum = sumResults(results, plan);
  const { outcomes } = sum;
  checkOutcomes('crawl', outcomes);
  const removed = await removeOrphans(config.out, new Set(sum.shards));
  const list = Array.isArray(queries) ? queries : await loadQueries(queries);
  await writeQueryCounts(config.out, sum.queryCounts, QueryMatcher.build(list, { caseSensitive }));
  const seconds = (Date.now() - t0) / 1000;
  const perSec = (n: number) => n / Math.max(seconds, 1e-3);
  const summary: DistributedSummary = {
    out: config.out,
    inputs: config.inputs.length,
    ...outcomes,
    failed: outcomes.failed as Record<string, number>,
    skipped: outcomes.skipped as Record<string, number>,
    ...outcomeTotals(outcomes),
    shards: sum.shards.length,
    resumed_shards: 0,
    // the jobs' shards hold every kept pair once (orphans of retried attempts are removed above)
    // a distributed run's workers fetch every image (the WARC image index is the one-process crawl's)
    from_warc: 0,
    distinct_images: await countDistinctImages(sum.shards.map((f) => (isAbsolute(f) ? f : join(config.out, f)))),
    queries_with_pairs: [...sum.queryCounts.values()].filter((n) => n > 0).length,
    success_rate: outcomes.admitted ? outcomes.kept / outcomes.admitted : 0,
    seconds,
    candidates_per_sec: perSec(outcomes.candidates),
    images_per_sec: perSec(outcomes.kept),
    dedupe: await dedupeSummary(redis, keys),
    run_id: config.runId,
    jobs: plan.jobs.length,
    work_seconds: sum.workSeconds,
    retried_attempts: sum.retried,
    workers: sum.workers,
  };
  if (Object.keys(sum.pages).length) summary.pages = sum.pages;
  if (Object.keys(sum.badItems).length) summary.bad_items = sum.badItems;
  const shards = sum.shards;
  await writeManifest(config.out, {
    stage: 'crawl',
    version: VERSION,
    created: config.created,
    options: { ...config.options, balance: config.balance, cap: config.cap, seed: config.seed },
    inputs: config.inputs,
    shards,
    totals: { ...summary },
    complete: true,
    finished: new Date().toISOString(),
    run_id: config.runId,
    distributed: { jobs: plan.jobs.length, chunk_rows: config.chunkRows, orphans_removed: removed.length },
  });
  return summary;
}
