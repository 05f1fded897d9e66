/**
 * A set of 128-bit digests (the first 16 bytes of a sha256) in one flat typed array with open
 * addressing: 16 bytes a slot at a load of at most 1/2, i.e. about 32 bytes an entry where a JS Set
 * of hex strings takes over 100. Dedup of 100M pairs keeps two of these: ~6 GB instead of ~20 GB.
 * Two different items share 128 bits with probability ~n^2 / 2^129: never, in practice.
 */
export class DigestSet {
  private slots: Uint32Array;
  private mask: number;
  private count = 0;
  private hasZero = false;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap *= 2;
    this.slots = new Uint32Array(cap * 4);
    this.mask = cap - 1;
  }

  /** Entries held. */
  get size(): number {
    return this.count + (this.hasZero ? 1 : 0);
  }

  /** True when the digest is in the set. */
  has(d: Uint8Array): boolean {
    return !this.probe(d, false);
  }

  /**
   * Adds a digest (at least 16 bytes; only the first 16 count). Returns true when it was new,
   * false when it was already in the set.
   */
  add(d: Uint8Array): boolean {
    return this.probe(d, true);
  }

  /** Looks the digest up; inserts it when absent and `insert`. Returns true when it was absent. */
  private probe(d: Uint8Array, insert: boolean): boolean {
    if (d.length < 16) throw new Error(`DigestSet: digest of ${d.length} bytes, need 16`);
    const a = (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0;
    const b = (d[4]! | (d[5]! << 8) | (d[6]! << 16) | (d[7]! << 24)) >>> 0;
    const c = (d[8]! | (d[9]! << 8) | (d[10]! << 16) | (d[11]! << 24)) >>> 0;
    const e = (d[12]! | (d[13]! << 8) | (d[14]! << 16) | (d[15]! << 24)) >>> 0;
    // All-zero slots mark empty ones, so the all-zero digest is kept aside.
    if ((a | b | c | e) === 0) {
      if (this.hasZero) return false;
      if (insert) this.hasZero = true;
      return true;
    }
    const s = this.slots;
    // The digest is already uniform: its first word is the hash.
    for (let i = a & this.mask; ; i = (i + 1) & this.mask) {
      const o = i * 4;
      if ((s[o]! | s[o + 1]! | s[o + 2]! | s[o + 3]!) === 0) {
        if (!insert) return true;
        s[o] = a;
        s[o + 1] = b;
        s[o + 2] = c;
        s[o + 3] = e;
        if (++this.count * 2 > this.mask + 1) this.grow();
        return true;
      }
      if (s[o] === a && s[o + 1] === b && s[o + 2] === c && s[o + 3] === e) return false;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    this.mask = this.slots.length / 4 - 1;
    const s = this.slots;
    for (let o = 0; o < old.length; o += 4) {
      if ((old[o]! | old[o + 1]! | old[o + 2]! | old[o + 3]!) === 0) continue;
      let i = old[o]! & this.mask;
      while ((s[i * 4]! | s[i * 4 + 1]! | s[i * 4 + 2]! | s[i * 4 + 3]!) !== 0) i = (i + 1) & this.mask;
      s.set(old.subarray(o, o + 4), i * 4);
    }
  }
}
