/**
 * Distinct images by sha256 (README.md, "Coming from img2dataset": `distinct_images` beside every count
 * of pairs). One image can be the picture of many pairs (a logo under eight captions); pairs say how
 * much text there is, distinct images how much there is to see.
 *
 * Exact: an open-addressing set of the first 64 bits of each digest (a chance of about n²/2⁶⁵ that two
 * different images share them: under 10⁻⁵ at 10 million images), 16 bytes per distinct image at most
 * (a BigUint64Array at load ≤ 0.5; it doubles as it fills).
 */
export class DistinctCounter {
  private slots = new BigUint64Array(1024);
  private n = 0;

  /** Distinct digests added so far. */
  get size(): number {
    return this.n;
  }

  /**
   * Adds one sha256 (64 hex digits, any case); true when it was not seen before. A digest that is not
   * hex (an empty one, from a shard that lacks it) counts nothing and returns false.
   */
  add(sha256: string): boolean {
    if (!/^[0-9a-fA-F]{16}/.test(sha256)) return false;
    // 0 marks an empty slot: the (1 in 2^64) digest whose prefix is 0 is stored as 1
    const key = BigInt(`0x${sha256.slice(0, 16)}`) || 1n;
    if (this.insert(key)) {
      this.n++;
      if (this.n * 2 > this.slots.length) this.grow();
      return true;
    }
    return false;
  }

  private insert(key: bigint): boolean {
    const mask = this.slots.length - 1;
    let i = Number(key & BigInt(mask));
    for (;;) {
      const v = this.slots[i]!;
      if (v === 0n) { this.slots[i] = key; return true; }
      if (v === key) return false;
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new BigUint64Array(old.length * 2);
    for (const v of old) if (v !== 0n) this.insert(v);
  }
}

/** Distinct sha256 values of a list (a summary of a few records, a test). */
export function countDistinct(digests: Iterable<string>): number {
  const c = new DistinctCounter();
  for (const d of digests) c.add(d);
  return c.size;
}
