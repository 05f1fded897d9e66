/**
 * Balancing of matched pairs over queries, the two ways of issue 4:
 * - `cap`: a hard per-query cap decided in input order (the CLIP paper's "up to 20,000 pairs per
 *   query"); a pair is kept while at least one of its queries has room and counts toward exactly those.
 * - `sample`: MetaCLIP's balancing; with per-query match counts from a first pass, a pair is kept with
 *   probability 1 - prod_q (1 - min(1, t / count_q)). Each query's draw is a hash of (seed, pair key,
 *   query id), so the decision does not depend on the order, the worker or the machine.
 */
import { createHash } from 'node:crypto';
import { checkOption } from '../util/options.js';
import { fmix32 } from '../util/rng.js';
import { crawlOptionsSchema } from './options.js';

/** Per-query slots; async so that a Redis-backed store can implement it later (distributed crawl). */
export interface CapStore {
  /** Atomically takes one slot for each id that still has room (count < cap); returns those ids (empty = cap_reached). */
  reserve(ids: readonly number[]): Promise<number[]>;
  /** Gives slots back (the pair failed to download), so caps count written pairs only. */
  release(ids: readonly number[]): Promise<void>;
  /** Slots currently taken per query id (ids never reserved are absent). */
  counts(): Promise<Map<number, number>>;
}

/**
 * In-process {@link CapStore}: a Map of counts. JavaScript runs one reserve at a time, so each call is
 * atomic with respect to the others.
 */
export class MemoryCapStore implements CapStore {
  private readonly cap: number;
  private readonly taken: Map<number, number>;

  /**
   * `cap`: most pairs per query, checked against the crawl's option schema (options.ts, the one place
   * that bounds --cap). `initial`: counts already taken, e.g. from the finished shards of a resumed run.
   * Throws UsageError for a cap the schema refuses.
   */
  constructor(cap: number, initial?: Map<number, number>) {
    this.cap = checkOption('crawl', crawlOptionsSchema, 'cap', cap);
    this.taken = new Map(initial ?? []);
  }

  /** See {@link CapStore.reserve}; duplicate ids in one call take one slot. */
  async reserve(ids: readonly number[]): Promise<number[]> {
    return this.reserveSync(ids);
  }

  /** Synchronous form of `reserve` for callers that decide in a tight loop. */
  reserveSync(ids: readonly number[]): number[] {
    const got: number[] = [];
    const seen = ids.length > 16 ? new Set<number>() : null;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k]!;
      if (seen) {
        if (seen.has(id)) continue;
        seen.add(id);
      } else if (k > 0 && ids.indexOf(id) < k) continue;
      const c = this.taken.get(id) ?? 0;
      if (c < this.cap) {
        this.taken.set(id, c + 1);
        got.push(id);
      }
    }
    return got;
  }

  /** See {@link CapStore.release}; releasing an id with no slot taken is a no-op. */
  async release(ids: readonly number[]): Promise<void> {
    for (const id of ids) {
      const c = this.taken.get(id) ?? 0;
      if (c <= 1) this.taken.delete(id);
      else this.taken.set(id, c - 1);
    }
  }

  /** A copy of the counts (ids with no slot taken are absent). */
  async counts(): Promise<Map<number, number>> {
    return new Map(this.taken);
  }
}

/**
 * Stable id of a pair: hex of sha224(url + '\0' + caption), first 24 characters (MetaCLIP dedups
 * urls by sha224(url)[:24]; the caption is part of the key because one image can carry several alts).
 */
export function pairKey(url: string, caption: string): string {
  return pairDigest(url, caption).slice(0, 24);
}

/** Full hex sha224 of a pair; its first 24 digits are the {@link pairKey}, its first 32 the dedupe key. */
export function pairDigest(url: string, caption: string): string {
  return createHash('sha224').update(url).update('\0').update(caption).digest('hex');
}

/** Per-query match counts from the first pass of `--balance sample`. */
export type QueryCounts = ArrayLike<number> | Map<number, number>;

function countOf(counts: QueryCounts, id: number): number {
  if (counts instanceof Map) return counts.get(id) ?? 0;
  return counts[id] ?? 0;
}

/**
 * Probability that query `id` keeps a pair: min(1, t / count). A query matched at most t times (or
 * never counted) keeps all its pairs, as MetaCLIP's `count[count < t] = t`.
 */
export function keepProbability(count: number, t: number): number {
  return count <= t ? 1 : t / count;
}

/** 64-bit seed state of one pair: sha256(seed \0 pairKey), cached for the last pair. */
let lastSeedKey = '';
let lastState: [number, number] = [0, 0];
function pairState(seed: string | number, key: string): [number, number] {
  const k = `${seed}\0${key}`;
  if (k !== lastSeedKey) {
    const d = createHash('sha256').update(k).digest();
    lastState = [d.readUInt32LE(0), d.readUInt32LE(4)];
    lastSeedKey = k;
  }
  return lastState;
}


/**
 * Uniform draw in [0, 1) of query `id` for one pair, from 53 bits that depend on (seed, pair key, id).
 * Exposed for tests.
 */
export function sampleDraw(seed: string | number, key: string, id: number): number {
  const [a, b] = pairState(seed, key);
  const hi = fmix32(a ^ fmix32(id ^ 0x9e3779b9)) >>> 5; // 27 bits
  const lo = fmix32(b ^ fmix32((id + 0x7f4a7c15) | 0)) >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

/**
 * MetaCLIP's per-query keep list under sampling: the ids among `queryIds` whose own draw passed
 * (draw < min(1, t / count)); what the `queries` column lists. Empty means not sampled.
 * Deterministic in (seed, pair key, ids, counts). Throws RangeError when t is not positive.
 */
export function sampledQueries(
  queryIds: readonly number[],
  counts: QueryCounts,
  t: number,
  seed: string | number,
  key: string,
): number[] {
  if (!(t > 0)) throw new RangeError(`crawl: sampling threshold t must be positive, got ${t}`);
  const kept: number[] = [];
  for (const id of queryIds) {
    const p = keepProbability(countOf(counts, id), t);
    if (p >= 1 || sampleDraw(seed, key, id) < p) kept.push(id);
  }
  return kept;
}

/**
 * MetaCLIP sampling: keep with prob 1 - prod(1 - min(1, t/count_q)); deterministic from seed + pair
 * key (true exactly when {@link sampledQueries} is non-empty). Throws RangeError when t is not positive.
 */
export function sampleKeep(
  queryIds: readonly number[],
  counts: QueryCounts,
  t: number,
  seed: string | number,
  key: string,
): boolean {
  return sampledQueries(queryIds, counts, t, seed, key).length > 0;
}

/**
 * Probability that {@link sampleKeep} keeps a pair matching `queryIds` (for reports and tests).
 */
export function keepChance(queryIds: readonly number[], counts: QueryCounts, t: number): number {
  let miss = 1;
  for (const id of queryIds) miss *= 1 - keepProbability(countOf(counts, id), t);
  return 1 - miss;
}
