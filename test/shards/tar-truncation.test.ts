import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readShardFile } from '../../src/shards/index.js';
import { TarWriter } from '../../src/shards/tar.js';
import { InputError } from '../../src/util/errors.js';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, ...Array.from({ length: 60 }, (_, i) => i)]);
let dir: string;
let good: string;
/** Offsets of each member's header in `good`. */
const headers: Array<{ name: string; at: number; size: number }> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-tar-cut-'));
  good = join(dir, 'good.tar');
  const w = await TarWriter.create(good);
  for (const k of ['a', 'b']) {
    await w.add(`${k}.jpg`, JPEG);
    await w.add(`${k}.txt`, Buffer.from(`caption ${k}`));
  }
  await w.finish();
  const b = await readFile(good);
  for (let at = 0; at + 512 <= b.length;) {
    const name = b.toString('utf8', at, at + 100).replace(/\0.*$/s, '');
    if (!name) break;
    const size = parseInt(b.toString('ascii', at + 124, at + 136).replace(/[\0 ].*$/s, ''), 8);
    headers.push({ name, at, size });
    at += 512 + Math.ceil(size / 512) * 512;
  }
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The good tar with the size field of `member` replaced by `field` (12 bytes) and the checksum redone. */
async function withSizeField(member: string, field: Buffer): Promise<string> {
  const b = Buffer.from(await readFile(good));
  const h = headers.find((x) => x.name === member)!;
  field.copy(b, h.at + 124);
  b.fill(0x20, h.at + 148, h.at + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[h.at + i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, h.at + 148, 'ascii');
  const p = join(dir, `edited-${Math.random().toString(36).slice(2)}.tar`);
  await writeFile(p, b);
  return p;
}

async function readAll(file: string): Promise<{ keys: string[]; bad: string[] }> {
  const keys: string[] = [];
  const bad: string[] = [];
  for await (const r of readShardFile(file, { onBadItem: (reason) => bad.push(reason) })) keys.push(r.key);
  return { keys, bad };
}

describe('a tar whose members run past its end is truncated, never a shorter valid shard', () => {
  it('reads the untouched tar', async () => {
    expect(await readAll(good)).toEqual({ keys: ['a', 'b'], bad: [] });
  });

  it('a size field that is not octal digits is a bad header (was NaN offsets and a RangeError)', async () => {
    const p = await withSizeField('b.txt', Buffer.from('99999999999\0', 'ascii'));
    const err = await readAll(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/bad size field/);
  });

  it('a declared size past the end of the file is truncation', async () => {
    const p = await withSizeField('b.txt', Buffer.from(`${(1 << 20).toString(8).padStart(11, '0')}\0`, 'ascii'));
    await expect(readAll(p)).rejects.toThrow(/truncated/);
  });

  it('a file cut at a member boundary inside a sample (no end-of-archive blocks) is truncation, not an unpaired member', async () => {
    const b = await readFile(good);
    const txt = headers.find((x) => x.name === 'b.txt')!;
    const p = join(dir, 'cut.tar');
    await writeFile(p, b.subarray(0, txt.at)); // b.jpg whole, b.txt gone, no end blocks
    const err = await readAll(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/ends inside sample "b".*truncated/);
    // cut after a whole sample: a shorter tar without end blocks, accepted as GNU tar does
    const whole = join(dir, 'whole.tar');
    await writeFile(whole, b.subarray(0, headers.find((x) => x.name === 'b.jpg')!.at));
    expect(await readAll(whole)).toEqual({ keys: ['a'], bad: [] });
  });
});
