import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { DigestSet } from '../../src/filter/digest-set.js';

describe('DigestSet', () => {
  it('agrees with a Set of hex strings through growth, with duplicates and the all-zero digest', () => {
    const ds = new DigestSet(4);
    const ref = new Set<string>();
    for (let i = 0; i < 20000; i++) {
      const d = createHash('sha256').update(String(i % 7919)).digest();
      expect(ds.has(d)).toBe(ref.has(d.toString('hex', 0, 16)));
      expect(ds.add(d)).toBe(!ref.has(d.toString('hex', 0, 16)));
      ref.add(d.toString('hex', 0, 16));
    }
    expect(ds.size).toBe(7919);
    const zero = new Uint8Array(32);
    expect([ds.has(zero), ds.add(zero), ds.add(zero), ds.has(zero), ds.size]).toEqual([false, true, false, true, 7920]);
    // only the first 16 bytes count
    const a = createHash('sha256').update('x').digest();
    const b = Buffer.from(a);
    b[20] = b[20]! ^ 1;
    expect([ds.add(a), ds.add(b)]).toEqual([true, false]);
    expect(() => ds.add(new Uint8Array(8))).toThrow(/16/);
  });
});
