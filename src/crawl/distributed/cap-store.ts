import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RunKeys } from './keys.js';
import { WitError } from '../../util/errors.js';
import { checkOption } from '../../util/options.js';
import { crawlOptionsSchema } from '../options.js';
import type { CapStore } from '../balance.js';

/**
 * Shared per-query caps for a distributed crawl, exact across any number of workers.
 *
 * `caps` (a hash, query id -> pairs) counts the pairs of committed jobs plus the reservations of
 * attempts still running. Every reservation an attempt takes is also recorded in its own
 * `res:JOB` hash, so that:
 * - the next attempt of a job that died mid-way first rolls the dead attempt's reservations back
 *   (`begin`), then redoes the job from scratch: no counter keeps counting pairs never written;
 * - the job's commit (`commit`) turns its reservations into counted pairs and records its shards
 *   in one atomic step, so the shards and the counters agree whatever dies when.
 * Each call carries the attempt's token: a stale attempt (its job taken over after a stall) gets
 * `StaleAttemptError` on its next call and stops. Each call also carries a sequence number whose
 * result is remembered, so a command that ioredis resends after a reconnect is not applied twice.
 */

const BEGIN = `
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 1 then return 0 end
local res = redis.call('HGETALL', KEYS[2])
for i = 1, #res, 2 do
  local v = tonumber(res[i + 1])
  if v ~= 0 then
    local left = redis.call('HINCRBY', KEYS[1], res[i], -v)
    if left <= 0 then redis.call('HDEL', KEYS[1], res[i]) end
  end
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[4], ARGV[2])
return redis.call('HINCRBY', KEYS[6], ARGV[1], 1)
`;

const RESERVE = `
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return redis.error_reply('WITSTALE attempt no longer owns its job') end
local prev = redis.call('HGET', KEYS[3], ARGV[2])
if prev then return prev end
local cap = tonumber(ARGV[3])
local taken = {}
local dup = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local c = tonumber(redis.call('HGET', KEYS[1], id) or '0')
  if c < cap and not dup[id] then
    dup[id] = true
    redis.call('HINCRBY', KEYS[1], id, 1)
    redis.call('HINCRBY', KEYS[2], id, 1)
    taken[#taken + 1] = id
  end
end
local out = table.concat(taken, ',')
redis.call('HSET', KEYS[3], ARGV[2], out)
return out
`;

const RELEASE = `
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return redis.error_reply('WITSTALE attempt no longer owns its job') end
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then return 0 end
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local mine = tonumber(redis.call('HGET', KEYS[2], id) or '0')
  if mine > 0 then
    redis.call('HINCRBY', KEYS[2], id, -1)
    local left = redis.call('HINCRBY', KEYS[1], id, -1)
    if left <= 0 then redis.call('HDEL', KEYS[1], id) end
    n = n + 1
  end
end
redis.call('HSET', KEYS[3], ARGV[2], '')
return n
`;

/**
 * Commits a job: its result is recorded and the counters are set to what it wrote. Reservations
 * the pipeline never gave back (failures of its last blocks) are dropped here, so `caps` ends up
 * counting exactly the pairs in committed shards. ARGV: job, token, result, then id/count pairs.
 * Idempotent: the identical commit applied twice (a resend) answers 1 both times.
 */
const COMMIT = `
local prev = redis.call('HGET', KEYS[5], ARGV[1])
if prev then
  -- the same commit resent after a reconnect is a success, any other one is not
  if prev == ARGV[3] then return 1 end
  return 0
end
if redis.call('GET', KEYS[4]) ~= ARGV[2] then return redis.error_reply('WITSTALE attempt no longer owns its job') end
local kept = {}
for i = 4, #ARGV, 2 do kept[ARGV[i]] = tonumber(ARGV[i + 1]) end
local res = redis.call('HGETALL', KEYS[2])
local reserved = {}
for i = 1, #res, 2 do reserved[res[i]] = tonumber(res[i + 1]) end
for id, r in pairs(reserved) do
  local d = (kept[id] or 0) - r
  if d ~= 0 then
    local left = redis.call('HINCRBY', KEYS[1], id, d)
    if left <= 0 then redis.call('HDEL', KEYS[1], id) end
  end
end
for id, k in pairs(kept) do
  if not reserved[id] and k ~= 0 then redis.call('HINCRBY', KEYS[1], id, k) end
end
redis.call('HSET', KEYS[5], ARGV[1], ARGV[3])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('HDEL', KEYS[6], ARGV[1])
return 1
`;

/** Gives back everything an attempt reserved, when it gives its job up (an error; it will be redone). */
const ABANDON = `
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return 0 end
local res = redis.call('HGETALL', KEYS[2])
for i = 1, #res, 2 do
  local v = tonumber(res[i + 1])
  if v ~= 0 then
    local left = redis.call('HINCRBY', KEYS[1], res[i], -v)
    if left <= 0 then redis.call('HDEL', KEYS[1], res[i]) end
  end
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
return 1
`;

/** Adds a count-phase job's per-query matches to the run's sums, once per job. */
const ADD_COUNTS = `
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
for i = 3, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
`;

interface ScriptedRedis extends Redis {
  witBegin(...args: (string | number)[]): Promise<number>;
  witReserve(...args: (string | number)[]): Promise<string>;
  witRelease(...args: (string | number)[]): Promise<number>;
  witCommit(...args: (string | number)[]): Promise<number>;
  witAbandon(...args: (string | number)[]): Promise<number>;
  witAddCounts(...args: (string | number)[]): Promise<number>;
}

/**
 * Registers the run's Lua scripts on a connection (EVALSHA, falling back to EVAL after a server
 * restart emptied its script cache). Idempotent.
 */
export function withScripts(redis: Redis): ScriptedRedis {
  const r = redis as ScriptedRedis;
  if (typeof r.witBegin === 'function') return r;
  redis.defineCommand('witBegin', { numberOfKeys: 6, lua: BEGIN });
  redis.defineCommand('witReserve', { numberOfKeys: 4, lua: RESERVE });
  redis.defineCommand('witRelease', { numberOfKeys: 4, lua: RELEASE });
  redis.defineCommand('witCommit', { numberOfKeys: 6, lua: COMMIT });
  redis.defineCommand('witAbandon', { numberOfKeys: 4, lua: ABANDON });
  redis.defineCommand('witAddCounts', { numberOfKeys: 2, lua: ADD_COUNTS });
  return r;
}

/** The attempt was superseded: its job was taken over by another worker after a stall. */
export class StaleAttemptError extends WitError {
  constructor(job: string) {
    super('crawl', `job ${job}: this attempt lost its job to another worker (stalled); stopping it`);
    this.name = 'StaleAttemptError';
  }
}

function rethrow(err: unknown, job: string): never {
  if (err instanceof Error && err.message.includes('WITSTALE')) throw new StaleAttemptError(job);
  throw err;
}

/** Options of a {@link RedisCapStore}. */
export interface RedisCapStoreOptions {
  runId: string;
  /** Job whose attempt this store serves (its reservations are tracked under it). */
  job: string;
  /** Pairs allowed per query (`--cap`). */
  cap: number;
  /**
   * How long a query seen full is taken as full without asking Redis, ms (default 1000). Room comes
   * back only when a download fails, so this saves a round trip per candidate of a full query at the
   * cost of missing, for at most this long, a slot freed by another worker. 0 asks every time.
   */
  fullTtlMs?: number;
}

/**
 * A CapStore (see src/crawl/balance.ts) backed by Redis, for one attempt of one job.
 * Call `begin()` before the job's work and `commit()` after its shards are closed.
 */
export class RedisCapStore implements CapStore {
  private readonly redis: ScriptedRedis;
  private readonly keys: RunKeys;
  private readonly token = randomBytes(8).toString('hex');
  private seq = 0;
  private readonly fullUntil = new Map<number, number>();

  constructor(redis: Redis, private readonly opts: RedisCapStoreOptions) {
    checkOption('crawl', crawlOptionsSchema, 'cap', opts.cap);
    this.redis = withScripts(redis);
    this.keys = new RunKeys(opts.runId);
  }

  private jobKeys(): string[] {
    const k = this.keys;
    const j = this.opts.job;
    return [k.caps, k.reservations(j), k.sequence(j), k.owner(j)];
  }

  /**
   * Takes the job for this attempt: rolls back whatever an earlier attempt of the job reserved
   * and did not commit. Resolves to the attempt's number (1, 2, …), or 0 when the job is already
   * committed (nothing to do).
   */
  async begin(): Promise<number> {
    return this.redis.witBegin(...this.jobKeys(), this.keys.done, this.keys.attempts, this.opts.job, this.token);
  }

  /** Token of this attempt (progress heartbeats compare it with the job's owner). */
  get attemptToken(): string {
    return this.token;
  }

  /** Atomically takes one slot for each query id with room left; resolves to the ids taken. */
  async reserve(ids: readonly number[]): Promise<number[]> {
    if (!ids.length) return [];
    const ttl = this.opts.fullTtlMs ?? 1000;
    const now = Date.now();
    if (ttl > 0 && ids.every((id) => (this.fullUntil.get(id) ?? 0) > now)) return [];
    const seq = ++this.seq;
    let out: string;
    try {
      out = await this.redis.witReserve(...this.jobKeys(), this.token, seq, this.opts.cap, ...ids);
    } catch (err) {
      rethrow(err, this.opts.job);
    }
    const got = out ? out.split(',').map(Number) : [];
    if (ttl > 0 && got.length < ids.length) {
      const taken = new Set(got);
      for (const id of new Set(ids)) if (!taken.has(id)) this.fullUntil.set(id, now + ttl);
    }
    return got;
  }

  /** Gives back slots taken by `reserve` for a pair that was not written (failed download…). */
  async release(ids: readonly number[]): Promise<void> {
    if (!ids.length) return;
    const seq = ++this.seq;
    try {
      await this.redis.witRelease(...this.jobKeys(), this.token, seq, ...ids);
    } catch (err) {
      rethrow(err, this.opts.job);
    }
  }

  /** Pairs counted per query across the whole run (committed plus reserved). */
  async counts(): Promise<Map<number, number>> {
    return readCounts(this.redis, this.keys.caps);
  }

  /**
   * Commits the job: records `result` as the job's outcome and sets the run's counters to the
   * pairs it wrote (`kept`: query id -> pairs listing it), dropping its leftover reservations,
   * atomically. Resolves to false if the job was already committed.
   * Throws StaleAttemptError when another attempt owns the job now.
   */
  async commit(result: unknown, kept: ReadonlyMap<number, number> = new Map()): Promise<boolean> {
    const k = this.keys;
    const j = this.opts.job;
    const pairs: (string | number)[] = [];
    for (const [id, n] of kept) if (n) pairs.push(id, n);
    try {
      return (await this.redis.witCommit(...this.jobKeys(), k.done, k.progress, j, this.token, JSON.stringify(result), ...pairs)) === 1;
    } catch (err) {
      rethrow(err, j);
    }
  }

  /**
   * Gives the job up: returns every slot this attempt reserved, so the counters hold no pairs it
   * will not write. Resolves to false when the attempt no longer owned the job (nothing to undo).
   */
  async abandon(): Promise<boolean> {
    return (await this.redis.witAbandon(...this.jobKeys(), this.token)) === 1;
  }
}

/** A hash of query id -> count as a Map. */
export async function readCounts(redis: Redis, key: string): Promise<Map<number, number>> {
  const h = await redis.hgetall(key);
  const out = new Map<number, number>();
  for (const [id, v] of Object.entries(h)) {
    const n = Number(v);
    if (n) out.set(Number(id), n);
  }
  return out;
}

/**
 * Adds a count-phase job's matches per query to the run's sums, exactly once per job (a retry
 * of a job that already added its counts adds nothing). Resolves to false when already added.
 */
export async function addMatchCounts(redis: Redis, runId: string, job: string, counts: ReadonlyMap<number, number>, candidates: number): Promise<boolean> {
  const k = new RunKeys(runId);
  const args: (string | number)[] = [];
  for (const [id, n] of counts) if (n) args.push(id, n);
  return (await withScripts(redis).witAddCounts(k.matchCounts, k.counted, job, candidates, ...args)) === 1;
}
