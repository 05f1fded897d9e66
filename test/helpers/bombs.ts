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

/** A gzip file of `members` concatenated members of 64 MiB of zeros each (~64 KB a member). */
export async function gzipZerosBomb(members: number): Promise<Buffer> {
  const { gzipSync } = await import('node:zlib');
  const one = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
  return Buffer.concat(Array.from({ length: members }, () => one));
}

/**
 * A sparse tar whose one member, `name`, declares `bytes` bytes (zeros, never written to disk): the
 * file is as long as the header says, so only a reader that reads the member notices its size.
 */
export async function sparseTar(path: string, name: string, bytes: number, caption = 'a huge picture'): Promise<void> {
  const { openSync, writeSync, ftruncateSync, closeSync } = await import('node:fs');
  const header = (member: string, size: number) => {
    const h = Buffer.alloc(512);
    h.write(member, 0, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(size.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h[156] = 0x30;
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    return h;
  };
  // The caption member first (so the sample is a pair a reader wants), then the huge image.
  const key = name.replace(/\.[^.]*$/, '');
  const text = Buffer.from(caption);
  const fd = openSync(path, 'w');
  writeSync(fd, header(`${key}.txt`, text.length), 0, 512, 0);
  writeSync(fd, text, 0, text.length, 512);
  writeSync(fd, header(name, bytes), 0, 512, 1024);
  ftruncateSync(fd, 1536 + Math.ceil(bytes / 512) * 512 + 1024);
  closeSync(fd);
}
