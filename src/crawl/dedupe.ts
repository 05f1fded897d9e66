/**
 * Duplicate (url, caption) pairs, in bounded memory at any scale (docs/DESIGN-NOTES.md, "Duplicates").
 *
 * A scalable Bloom filter (Almeida et al., "Scalable Bloom Filters", 2007): a series of partitioned
 * Bloom filters. Level i holds `capacity * 2^i` keys with error p_i = P (1 - r) r^i, so the chance that
 * a new key is taken for a seen one stays under P = sum p_i whatever the number of keys; when a level
 * is full the next, twice as large and tighter, is added. Level i has k_i = ceil(log2(1 / p_i)) slices
 * of ceil(n_i / ln 2) bits each, one hash position per slice (half full at capacity, so p_i = 2^-k_i).
 * Positions come from four 32-bit words of the pair's sha224: slice j of level i takes
 * (h1 + j h2 + j^2 h3 + i h4) mod the slice size, exact in doubles. Triple rather than double hashing:
 * with double hashing two keys equal in (h1, h2) mod m collide in every slice, a floor of n / m^2
 * on the error that small levels feel; with triple hashing it is n / m^3.
 *
 * The crawl asks it only about admitted pairs (after matching and balancing), so its size follows the
 * pairs a run keeps, not the billions of candidates it reads. The same layout runs inside Redis for a
 * distributed crawl (distributed/cap-store.ts), where every worker checks one run-wide filter.
 */
import { pairDigest } from './balance.js';

/** Tightening ratio r of the levels' errors (0.9: slow tightening, the least memory at 10^9 keys). */
export const DEDUPE_TIGHTENING = 0.9;
/** A level's capacity stops doubling here (a slice then stays under 2^32 bits, a Redis string's limit). */
export const DEDUPE_MAX_LEVEL_CAPACITY = 2 ** 31;

/** Size of one level of the filter. */
export interface LevelLayout {
  /** Keys the level takes before the next level is added. */
  capacity: number;
  /** Slices (hash positions per key). */
  k: number;
  /** Bits per slice. */
  sliceBits: number;
}

/** Layout of level `i` of a filter with first capacity `capacity` and error bound `errorRate`. */
export function levelLayout(capacity: number, errorRate: number, i: number): LevelLayout {
  const cap = Math.min(capacity * 2 ** i, DEDUPE_MAX_LEVEL_CAPACITY);
  const p = errorRate * (1 - DEDUPE_TIGHTENING) * DEDUPE_TIGHTENING ** i;
  const k = Math.max(1, Math.ceil(Math.log2(1 / p)));
  return { capacity: cap, k, sliceBits: Math.ceil(cap / Math.LN2) };
}

/** What a filter holds and how often it is estimated to be wrong. */
export interface DedupeStats {
  /** Keys inserted (answered "new"). */
  keys: number;
  /** Keys answered "seen before". */
  duplicates: number;
  levels: number;
  /** Bytes of the filter's bit arrays. */
  bytes: number;
  /** Expected number of new keys wrongly answered "seen" so far (from the levels' fill). */
  estimated_false_duplicates: number;
  /** estimated_false_duplicates / (keys + estimated_false_duplicates): the chance a new pair was dropped. */
  estimated_false_duplicate_rate: number;
}

/** The estimated false-duplicate rate of a count of keys and expected false answers. */
export function falseDuplicateRate(keys: number, falseDuplicates: number): number {
  return keys + falseDuplicates > 0 ? falseDuplicates / (keys + falseDuplicates) : 0;
}

class Level {
  readonly slices: Uint32Array[];
  /** Bits set per slice (counted as they are set: exact, unlike an estimate from the key count). */
  readonly setBits: Float64Array;
  count = 0;
  constructor(readonly layout: LevelLayout) {
    this.slices = Array.from({ length: layout.k }, () => new Uint32Array(Math.ceil(layout.sliceBits / 32)));
    this.setBits = new Float64Array(layout.k);
  }
  /** Chance this level answers "present" for a key it does not hold: the product of its slices' fill. */
  falsePositive(): number {
    let p = 1;
    for (let j = 0; j < this.setBits.length; j++) p *= this.setBits[j]! / this.layout.sliceBits;
    return p;
  }
}

/**
 * A scalable Bloom filter over keys given as three 32-bit hash words. `add` answers whether the key
 * was (probably) present and inserts it if not: no false negatives; false positives under
 * `errorRate` at any size. Deterministic: the answers depend only on the keys and their order.
 */
export class ScalableBloom {
  private readonly levels: Level[] = [];
  private fp = 0;
  private sinceEstimate = 0;
  private keys = 0;
  private duplicates = 0;
  private expectedFalse = 0;

  /**
   * `capacity`: keys of the first level; `errorRate`: the bound P; `maxLevels`: stop growing after
   * this many levels (tests of an overfull filter; default unbounded).
   */
  constructor(readonly capacity = 2 ** 20, readonly errorRate = 0.01, private readonly maxLevels = Infinity) {
    if (!(capacity >= 1) || !(errorRate > 0 && errorRate < 1)) throw new RangeError(`dedupe filter: bad capacity ${capacity} or error rate ${errorRate}`);
    this.levels.push(new Level(levelLayout(capacity, errorRate, 0)));
  }

  /** True when the key was (probably) added before; otherwise adds it and returns false. */
  add(h1: number, h2: number, h3: number, h4: number): boolean {
    const levels = this.levels;
    for (let li = 0; li < levels.length; li++) {
      const level = levels[li]!;
      const bits = level.layout.sliceBits;
      const base = h1 + li * h4;
      let present = true;
      for (let j = 0; j < level.slices.length; j++) {
        const pos = (base + j * h2 + j * j * h3) % bits;
        if (!(level.slices[j]![pos >>> 5]! & (1 << (pos & 31)))) {
          present = false;
          break;
        }
      }
      if (present) {
        this.duplicates++;
        return true;
      }
    }
    let last = levels[levels.length - 1]!;
    if (last.count >= last.layout.capacity && levels.length < this.maxLevels) {
      last = new Level(levelLayout(this.capacity, this.errorRate, levels.length));
      levels.push(last);
      this.sinceEstimate = Infinity;
    }
    const li = levels.length - 1;
    const bits = last.layout.sliceBits;
    const base = h1 + li * h4;
    for (let j = 0; j < last.slices.length; j++) {
      const pos = (base + j * h2 + j * j * h3) % bits;
      const slice = last.slices[j]!;
      const mask = 1 << (pos & 31);
      if (!(slice[pos >>> 5]! & mask)) {
        slice[pos >>> 5]! |= mask;
        last.setBits[j]!++;
      }
    }
    last.count++;
    this.keys++;
    // a new key got "new" with chance 1 - fp, so each such answer stands for fp / (1 - fp) wrong ones
    if (++this.sinceEstimate >= 64) this.estimate();
    this.expectedFalse += this.fp / (1 - this.fp);
    return false;
  }

  private estimate(): void {
    let miss = 1;
    for (const level of this.levels) miss *= 1 - level.falsePositive();
    this.fp = Math.min(1 - miss, 0.999);
    this.sinceEstimate = 0;
  }

  /** Current chance that a new key is answered "present". */
  falsePositiveNow(): number {
    this.estimate();
    return this.fp;
  }

  stats(): DedupeStats {
    let bytes = 0;
    for (const level of this.levels) for (const s of level.slices) bytes += s.byteLength;
    return {
      keys: this.keys,
      duplicates: this.duplicates,
      levels: this.levels.length,
      bytes,
      estimated_false_duplicates: this.expectedFalse,
      estimated_false_duplicate_rate: falseDuplicateRate(this.keys, this.expectedFalse),
    };
  }
}

/** The dedupe key of a pair: 32 hex digits (128 bits) of its sha224. */
export function dedupeKey(url: string, caption: string): string {
  return pairDigest(url, caption).slice(0, 32);
}

/** The four hash words of a dedupe key. */
export function keyWords(key: string): [number, number, number, number] {
  return [parseInt(key.slice(0, 8), 16), parseInt(key.slice(8, 16), 16), parseInt(key.slice(16, 24), 16), parseInt(key.slice(24, 32), 16)];
}

/**
 * "Seen before?" over (url, caption) pairs. The pipeline asks it once per admitted pair (a distributed
 * run's implementation asks Redis, hence the promise).
 */
export interface PairDedupe {
  /** True when the pair (its {@link dedupeKey}) was seen before in this run; records it otherwise. */
  seen(key: string): boolean | Promise<boolean>;
  stats(): DedupeStats;
}

/** The in-process {@link PairDedupe}: one scalable Bloom filter. */
export class PairDeduper implements PairDedupe {
  private readonly bloom: ScalableBloom;
  constructor(capacity = 2 ** 20, errorRate = 0.01) {
    this.bloom = new ScalableBloom(capacity, errorRate);
  }
  seen(key: string): boolean {
    const [h1, h2, h3, h4] = keyWords(key);
    return this.bloom.add(h1, h2, h3, h4);
  }
  /** Convenience for callers holding the pair itself. */
  seenPair(url: string, caption: string): boolean {
    return this.seen(dedupeKey(url, caption));
  }
  stats(): DedupeStats {
    return this.bloom.stats();
  }
}
