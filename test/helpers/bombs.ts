/** Small compressed files that decompress to a lot (decompression bombs), generated for tests and bench/input.ts. */

/**
 * A zstd frame of `blocks` RLE blocks, each regenerating 128 KiB of 'a' from 4 bytes: 30,000 blocks
 * are a 120 KB file that decompresses to 3.9 GB (window 128 KiB).
 */
export function zstdRleBomb(blocks: number): Buffer {
  const out = Buffer.alloc(6 + blocks * 4);
  out.set([0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3], 0); // magic, no checksum, window 2^17
  for (let i = 0; i < blocks; i++) {
    const last = i === blocks - 1 ? 1 : 0;
    const h = last | (1 << 1) | ((128 * 1024) << 3); // RLE block of 128 KiB
    out.set([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0x61], 6 + i * 4);
  }
  return out;
}
