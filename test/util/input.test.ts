/**
 * src/util/input.ts, the one bounded way to read an input file: regular files only, size limits per
 * kind, decompressors with an output cap that decode only what the consumer takes.
 */
import { describe, expect, it, beforeEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import {
  InputTooLargeError, openDecompressed, openInputFile, parseSize, readInputFile, readInputText, readInputTextSync, setInputLimits, zstdChunks, inputLimit,
} from '../../src/util/input.js';
import { zstdCompress } from '../helpers/url-lists.js';
import { zstdRleBomb } from '../helpers/bombs.js';

const dir = mkdtempSync(join(tmpdir(), 'wit-input-'));
const file = (name: string, data: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};
async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}
async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

beforeEach(() => setInputLimits({}, { reset: true }));

describe('openInputFile', () => {
  it('refuses a character device, a folder and a FIFO on the open handle, naming the file', async () => {
    await expect(openInputFile('/dev/zero', { kind: 'image' })).rejects.toThrow(/\/dev\/zero: is a character device, not a regular file/);
    await expect(openInputFile(dir, { kind: 'vocab' })).rejects.toThrow(/is a folder, not a file/);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // non-blocking open: a FIFO without a writer does not hang the open
    await expect(openInputFile(fifo, { kind: 'labels' })).rejects.toThrow(/is a FIFO/);
    await expect(openInputFile(join(dir, 'missing'), { kind: 'config' })).rejects.toThrow(/missing: no such file/);
  });

  it('refuses a file over its kind limit, naming the flag that raises it', async () => {
    const p = file('big.txt', Buffer.alloc(2048, 0x61));
    setInputLimits(['labels=1KiB']);
    const err = await readInputFile(p, { kind: 'labels' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputTooLargeError);
    expect((err as Error).message).toMatch(/big\.txt: 2 KiB \(2048 bytes\), over the labels limit of 1 KiB \(raise it with --max-input-size labels=SIZE\)/);
    setInputLimits(['labels=4KiB']);
    expect((await readInputFile(p, { kind: 'labels' })).length).toBe(2048);
  });

  it('parses sizes and refuses unknown kinds', () => {
    expect(parseSize('512MiB')).toBe(512 * 2 ** 20);
    expect(parseSize('2g')).toBe(2 * 2 ** 30);
    expect(parseSize('1000')).toBe(1000);
    expect(parseSize('none')).toBe(Infinity);
    expect(parseSize('-1')).toBeUndefined();
    expect(() => setInputLimits(['pictures=1MiB'])).toThrow(/unknown kind 'pictures'/);
    expect(() => setInputLimits(['vocab'])).toThrow(/expects KIND=SIZE/);
    expect(() => setInputLimits(['vocab=8GiB'])).toThrow(/read into memory whole/);
    setInputLimits(['url-list=10MiB']);
    expect(inputLimit('url-list')).toBe(10 * 2 ** 20);
  });
});

describe('decompression', () => {
  const text = Array.from({ length: 20000 }, (_, i) => `https://e.example/${i}.jpg\tcaption number ${i}`).join('\n');

  it('reads plain, gzip, zstd (real frames, concatenated, skippable) and bzip2 the same', async () => {
    const zst = zstdCompress(Buffer.from(text));
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3])]);
    const half = text.length >> 1;
    const twoFrames = Buffer.concat([zstdCompress(Buffer.from(text.slice(0, half))), skippable, zstdCompress(Buffer.from(text.slice(half)))]);
    const bz = execFileSync('bzip2', ['-c'], { input: text });
    for (const [name, data] of [['p.txt', text], ['g.gz', gzipSync(text)], ['z.zst', zst], ['zz.zst', twoFrames], ['b.bz2', bz]] as const) {
      const out = await collect(openDecompressed(file(name, data), { kind: 'url-list' }));
      expect(out.toString(), name).toBe(text);
    }
    // zstd read a byte at a time (every header and block split across chunks)
    async function* bytes(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < zst.length; i++) yield zst.subarray(i, i + 1);
    }
    expect((await collect(zstdChunks(bytes()))).toString()).toBe(text);
  });

  it('a zstd bomb (tiny RLE blocks, 122 KB -> 4 GB) decodes lazily and stops at the cap', async () => {
    const bomb = zstdRleBomb(30_000); // 30,000 blocks of 128 KiB each: 3.9 GB of output
    expect(bomb.length).toBeLessThan(130_000);
    // pulled one chunk at a time: only what was taken was decoded
    const it = zstdChunks(once(bomb))[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value!.length).toBeLessThanOrEqual(128 * 1024);
    await it.return(undefined);
    const p = file('bomb.zst', bomb);
    setInputLimits(['url-list=64MiB']);
    await expect(collect(openDecompressed(p, { kind: 'url-list' }))).rejects.toThrow(/bomb\.zst: decompresses to more than 64 MiB, over the url-list limit/);
  });

  it('refuses a zstd window over 128 MiB and a stream of empty blocks', async () => {
    // frame header: window descriptor exponent 20 -> 2^30 window
    const big = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3, 0x01, 0x00, 0x00]);
    await expect(collect(zstdChunks(once(big)))).rejects.toThrow(/1 GiB window, over the 128 MiB/);
    // 128 MiB window and 10,000 empty raw blocks: every block moves fzstd's window, nothing comes out
    const empty = Buffer.alloc(3 * 10000);
    const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3]), empty, Buffer.from([0x01, 0x00, 0x00])];
    await expect(collect(zstdChunks(once(Buffer.concat(parts))))).rejects.toThrow(/too many tiny blocks/);
  });

  it('a whole-file gzip bomb stops at the kind limit instead of inflating it all', async () => {
    const bomb = gzipSync(Buffer.alloc(80 * 2 ** 20)); // 80 MiB of zeros in ~80 KB
    const p = file('vocab.txt.gz', bomb);
    await expect(readInputFile(p, { kind: 'vocab', decompress: true })).rejects.toThrow(/vocab\.txt\.gz: decompresses to more than 64 MiB, over the vocab limit/);
    const ok = file('ok.gz', gzipSync('hello'));
    expect((await readInputFile(ok, { kind: 'vocab', decompress: true })).toString()).toBe('hello');
  });

  it('corrupt data is a DecodeError naming how far it got', async () => {
    const zst = zstdCompress(randomBytes(300_000));
    const p = file('cut.zst', zst.subarray(0, zst.length - 1000));
    await expect(collect(openDecompressed(p, { kind: 'url-list' }))).rejects.toThrow(/zstd data is corrupt, truncated or refused \(the data ends inside a block\)/);
  });
});

describe('text inputs', () => {
  it('a compressed text file (labels.txt.gz) is read decompressed, within the kind limit', async () => {
    const p = file('labels.txt.gz', gzipSync('cat\ndog\n'));
    expect(await readInputText(p, { kind: 'labels', stage: 'eval' })).toBe('cat\ndog\n');
    // before: the gzip bytes came back as garbled "text" and a bomb was used as 4 GB worth of labels
    const bomb = file('bomb-labels.txt.gz', gzipSync(Buffer.alloc(80 * 2 ** 20, 0x61)));
    await expect(readInputText(bomb, { kind: 'labels', stage: 'eval' })).rejects.toThrow(/bomb-labels\.txt\.gz: decompresses to more than 64 MiB/);
    // the synchronous reader does not decompress: it says so instead of returning bytes
    expect(() => readInputTextSync(p, { kind: 'text', stage: 'querygen' })).toThrow(/labels\.txt\.gz: is gzip-compressed; give the text uncompressed/);
  });

  it('binary data where text belongs is refused, naming the first NUL byte', async () => {
    const p = file('weights-as-labels.bin', Buffer.from([0x63, 0x61, 0x74, 0x0a, 0x00, 0x01, 0x02]));
    await expect(readInputText(p, { kind: 'labels', stage: 'eval' })).rejects.toThrow(/weights-as-labels\.bin: binary data, not text \(a NUL byte at byte 4\)/);
    expect(() => readInputTextSync(p, { kind: 'text' })).toThrow(/binary data, not text/);
  });

  it('corrupt compressed text is an InputError naming the file', async () => {
    const gz = gzipSync(randomBytes(10_000));
    const p = file('cut-labels.txt.gz', gz.subarray(0, gz.length - 100));
    await expect(readInputText(p, { kind: 'labels', stage: 'eval' })).rejects.toThrow(/eval: .*cut-labels\.txt\.gz/);
  });
});
