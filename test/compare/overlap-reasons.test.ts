/**
 * compare's overlap check (src/compare/overlap.ts) hashes every pool image: one it cannot hash is kept
 * and counted by reason, `image_refused` when the image guard refused it (an SVG), `undecodable` when it
 * did not decode (a JPEG without its scan), as every decoder counts them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { checkOverlap } from '../../src/compare/overlap.js';
import { ShardWriter, shardPath } from '../../src/shards/index.js';
import { rec } from '../filter/helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-overlap-reasons-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the overlap check', () => {
  it('counts a refused pool image as image_refused and a corrupt one as undecodable', async () => {
    // patterned images (a solid colour's dHash is 0, whatever the colour): each seed its own hash
    const jpeg = async (seed: number) => {
      const px = Buffer.alloc(40 * 30 * 3);
      for (let i = 0; i < px.length; i++) px[i] = (Math.imul(i * 7 + seed * 131, 2654435761) >>> 24) & 0xff;
      return new Uint8Array(await sharp(px, { raw: { width: 40, height: 30, channels: 3 } }).jpeg().toBuffer());
    };
    const good = await jpeg(1);
    const corrupt = new Uint8Array(Buffer.concat([Buffer.from(good.subarray(0, Buffer.from(good).indexOf(Buffer.from([0xff, 0xda])))), Buffer.from([0xff, 0xd9])]));
    const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="16000" height="16000"><rect width="16000" height="16000"/></svg>');
    const write = async (d: string, images: Uint8Array[]) => {
      const w = await ShardWriter.open(shardPath(d, 0), { imageFormat: 'jpg' });
      for (const [i, image] of images.entries()) await w.write(rec(`r${i}`, { image }));
      await w.close();
      return [shardPath(d, 0)];
    };
    const pool = await write(join(dir, 'pool'), [good, svg, corrupt, await jpeg(2)]);
    const evalShards = await write(join(dir, 'eval'), [await jpeg(3)]);
    const r = await checkOverlap({ out: join(dir, 'out'), pool, poolPairs: 4, eval: evalShards, mode: 'remove', hamming: 0, log: () => undefined, progress: () => undefined });
    expect(r.report).toMatchObject({ pool_pairs: 4, image_refused: 1, undecodable: 1, removed: 0 });
    expect(r.pairs).toBe(4);
  });
});
