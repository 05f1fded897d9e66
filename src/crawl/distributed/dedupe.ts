/**
 * The run-wide duplicate filter of a distributed crawl: the scalable Bloom filter of ../dedupe.ts,
 * kept in Redis so that every worker checks the same one (docs/DESIGN-NOTES.md, "Duplicates"). Level i, slice j is
 * the bitmap `wit:{RUN}:bloom:PHASE:i:j`; `wit:{RUN}:bloom:PHASE` holds the levels' sizes and counts.
 * All keys carry the run's hash tag, so a Redis Cluster keeps them in the run's one slot.
 *
 * A job that is redone (its worker died) must find its own pairs again, not take them for another
 * job's: each job's new pairs are also listed in a set of its own (`claimed:PHASE:JOB`, bounded by
 * one job's pairs, dropped at the job's commit), and a pair in that set is the job's to keep. So that
 * set does not let a pair through twice within one attempt, each attempt first asks a filter of its
 * own, in memory.
 */
import type { Redis } from 'ioredis';
import { RunKeys } from './keys.js';
import { DEDUPE_MAX_LEVEL_CAPACITY, DEDUPE_TIGHTENING, PairDeduper, falseDuplicateRate, type DedupeStats, type PairDedupe } from '../dedupe.js';

/** Which filter: the count pass of `--balance sample` (matched pairs) or the crawl (admitted pairs). */
export type DedupePhase = 'count' | 'crawl';

/**
 * KEYS[1]: the filter's meta hash; KEYS[2]: the job's claimed set. ARGV: bitmap key prefix, first
 * capacity, error bound, tightening, largest level capacity, then the dedupe keys (32 hex digits).
 * Returns one 1 (the job's to keep) or 0 (a duplicate) per key, then the false-positive chance the
 * filter had before the call, as text, estimated from each level's key count (1 - e^(-n/m))^k: exact
 * enough for a filter that grows before a level passes half full (the in-process filter counts bits).
 */
const CLAIM = `
local meta, claimed, prefix = KEYS[1], KEYS[2], ARGV[1]
local cap0, P, r, maxcap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local levels = tonumber(redis.call('HGET', meta, 'levels') or '0')
local lv = {}
local function open_level(i)
  local cap = math.min(cap0 * 2 ^ i, maxcap)
  local p = P * (1 - r) * r ^ i
  local k = math.max(1, math.ceil(math.log(1 / p) / math.log(2)))
  lv[i] = { cap = cap, k = k, m = math.ceil(cap / math.log(2)), n = tonumber(redis.call('HGET', meta, 'n' .. i) or '0') }
  redis.call('HSET', meta, 'k' .. i, k, 'm' .. i, lv[i].m)
end
if levels == 0 then levels = 1 end
for i = 0, levels - 1 do open_level(i) end
local miss = 1
for i = 0, levels - 1 do miss = miss * (1 - (1 - math.exp(-lv[i].n / lv[i].m)) ^ lv[i].k) end
local fp = math.min(1 - miss, 0.999)
local out, added, dups = {}, 0, 0
for a = 6, #ARGV do
  local key = ARGV[a]
  if redis.call('SISMEMBER', claimed, key) == 1 then
    out[#out + 1] = 1
  else
    local h1, h2, h3, h4 = tonumber(string.sub(key, 1, 8), 16), tonumber(string.sub(key, 9, 16), 16), tonumber(string.sub(key, 17, 24), 16), tonumber(string.sub(key, 25, 32), 16)
    local present = false
    for i = 0, levels - 1 do
      local all = true
      for j = 0, lv[i].k - 1 do
        if redis.call('GETBIT', prefix .. i .. ':' .. j, math.fmod(h1 + i * h4 + j * h2 + j * j * h3, lv[i].m)) == 0 then all = false break end
      end
      if all then present = true break end
    end
    if present then
      dups = dups + 1
      out[#out + 1] = 0
    else
      local last = levels - 1
      if lv[last].n >= lv[last].cap then
        open_level(levels)
        levels = levels + 1
        last = levels - 1
      end
      for j = 0, lv[last].k - 1 do
        redis.call('SETBIT', prefix .. last .. ':' .. j, math.fmod(h1 + last * h4 + j * h2 + j * j * h3, lv[last].m), 1)
      end
      lv[last].n = lv[last].n + 1
      redis.call('HSET', meta, 'n' .. last, lv[last].n)
      redis.call('SADD', claimed, key)
      added = added + 1
      out[#out + 1] = 1
    end
  end
end
redis.call('HSET', meta, 'levels', levels)
redis.call('HINCRBY', meta, 'keys', added)
redis.call('HINCRBY', meta, 'duplicates', dups)
redis.call('HINCRBYFLOAT', meta, 'false', added * fp / (1 - fp))
out[#out + 1] = tostring(fp)
return out
`;

interface ClaimRedis extends Redis {
  witBloomClaim(...args: (string | number)[]): Promise<(number | string)[]>;
}

function withClaim(redis: Redis): ClaimRedis {
  const r = redis as ClaimRedis;
  if (typeof r.witBloomClaim !== 'function') redis.defineCommand('witBloomClaim', { numberOfKeys: 2, lua: CLAIM });
  return r;
}

/** Key names of a run's filter of one phase. */
function filterKeys(runId: string, phase: DedupePhase) {
  const base = new RunKeys(runId).base;
  return { meta: `${base}bloom:${phase}`, bits: `${base}bloom:${phase}:`, claimed: (job: string) => `${base}claimed:${phase}:${job}` };
}

/** Settings of the filter (the crawl's --dedup-capacity and --dedup-error-rate). */
export interface FilterSettings {
  capacity: number;
  errorRate: number;
}

/**
 * Asks the run's filter about a batch of pair keys for `job`; resolves to one boolean per key (true:
 * seen before, by another job) and the filter's false-positive chance at the time.
 */
export async function claimInFilter(redis: Redis, runId: string, phase: DedupePhase, job: string, settings: FilterSettings, pairKeys: readonly string[]): Promise<{ seen: boolean[]; falsePositive: number }> {
  if (!pairKeys.length) return { seen: [], falsePositive: 0 };
  const k = filterKeys(runId, phase);
  const out = await withClaim(redis).witBloomClaim(k.meta, k.claimed(job), k.bits, settings.capacity, settings.errorRate, DEDUPE_TIGHTENING, DEDUPE_MAX_LEVEL_CAPACITY, ...pairKeys);
  const falsePositive = Number(out[out.length - 1]);
  return { seen: out.slice(0, -1).map((v) => Number(v) === 0), falsePositive };
}

/** First capacity of an attempt's own filter (it grows with the job). */
const ATTEMPT_FILTER_CAPACITY = 2 ** 14;

/**
 * A job attempt's {@link PairDedupe}: its own in-memory filter (pairs seen earlier in this attempt),
 * then the run's filter in Redis (one call per admitted pair, or per batch in the count pass).
 */
export class RedisPairDedupe implements PairDedupe {
  private readonly own: PairDeduper;
  private keys = 0;
  private duplicates = 0;
  private expectedFalse = 0;
  constructor(private readonly redis: Redis, private readonly runId: string, private readonly phase: DedupePhase, private readonly job: string, private readonly settings: FilterSettings) {
    // a tenth of the run's bound: the two filters' errors add up, and this one is small (one job's pairs)
    this.own = new PairDeduper(ATTEMPT_FILTER_CAPACITY, settings.errorRate / 10);
  }

  async seen(key: string): Promise<boolean> {
    return (await this.seenMany([key]))[0]!;
  }

  /** The batch form (the count pass): one answer per key, in order. */
  async seenMany(pairKeys: string[]): Promise<boolean[]> {
    const answers = pairKeys.map((k) => this.own.seen(k));
    const ask = pairKeys.filter((_, i) => !answers[i]);
    const { seen, falsePositive } = await claimInFilter(this.redis, this.runId, this.phase, this.job, this.settings, ask);
    let next = 0;
    for (let i = 0; i < answers.length; i++) {
      if (answers[i]) {
        this.duplicates++;
        continue;
      }
      answers[i] = seen[next++]!;
      if (answers[i]) this.duplicates++;
      else {
        this.keys++;
        this.expectedFalse += falsePositive / (1 - falsePositive);
      }
    }
    return answers;
  }

  /** What this attempt asked, with both filters' estimated false duplicates (the run's filter as a whole: {@link readFilterStats}). */
  stats(): DedupeStats {
    const expectedFalse = this.expectedFalse + this.own.stats().estimated_false_duplicates;
    return {
      keys: this.keys, duplicates: this.duplicates, levels: 0, bytes: this.own.stats().bytes,
      estimated_false_duplicates: expectedFalse, estimated_false_duplicate_rate: falseDuplicateRate(this.keys, expectedFalse),
    };
  }

  /** Drops the job's claimed set once its result is committed (a redo can no longer happen). */
  async forget(): Promise<void> {
    await this.redis.del(filterKeys(this.runId, this.phase).claimed(this.job));
  }
}

/** The run's filter as a whole: keys, levels, bytes and the estimated false duplicates. */
export async function readFilterStats(redis: Redis, runId: string, phase: DedupePhase): Promise<DedupeStats> {
  const meta = await redis.hgetall(filterKeys(runId, phase).meta);
  const levels = Number(meta.levels ?? 0);
  let bytes = 0;
  for (let i = 0; i < levels; i++) bytes += Number(meta[`k${i}`] ?? 0) * Math.ceil(Number(meta[`m${i}`] ?? 0) / 8);
  const keys = Number(meta.keys ?? 0);
  const expectedFalse = Number(meta.false ?? 0);
  return {
    keys, duplicates: Number(meta.duplicates ?? 0), levels, bytes,
    estimated_false_duplicates: expectedFalse, estimated_false_duplicate_rate: falseDuplicateRate(keys, expectedFalse),
  };
}

/** Deletes a run's filter of one phase (its bitmaps and meta) once the run is done. */
export async function dropFilter(redis: Redis, runId: string, phase: DedupePhase): Promise<void> {
  const k = filterKeys(runId, phase);
  const meta = await redis.hgetall(k.meta);
  const levels = Number(meta.levels ?? 0);
  for (let i = 0; i < levels; i++) {
    const slices = Number(meta[`k${i}`] ?? 0);
    const names = Array.from({ length: slices }, (_, j) => `${k.bits}${i}:${j}`);
    if (names.length) await redis.del(...names);
  }
  await redis.del(k.meta);
}
