import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { listShards } from '../../src/shards/index.js';
import { BatchLoader, countRows, shuffledPairs } from '../../src/train/data.js';
import { ImageDecoder } from '../../src/train/decoder.js';
import { cropRect, decodeRgb, normalizeInto, sampleCrop, CLIP_MEAN, CLIP_STD } from '../../src/train/preprocess.js';
import { Rng } from '../../src/util/rng.js';
import { trainTokenizer } from '../../src/train/tokenizer.js';
import { writeShapeShards } from './synthetic-shards.js';

let dir: string;
let files: string[];
let pairs: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wit-data-'));
  const r = await writeShapeShards(dir, { perClass: 2, shards: 3 });
  files = await listShards(dir);
  pairs = r.pairs;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collect<T>(it: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) {
    out.push(x);
    if (out.length >= n) break;
  }
  return out;
}

describe('preprocessing', () => {
  test('any input becomes size² RGB: grey, alpha (flattened onto white), wide images centre-cropped', async () => {
    const grey = await sharp(Buffer.alloc(200, 128), { raw: { width: 20, height: 10, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const g = await decodeRgb(grey, 8);
    expect(g.length).toBe(8 * 8 * 3);
    expect([...g].every((v) => Math.abs(v - 128) <= 1)).toBe(true);
    const transparent = await sharp({ create: { width: 16, height: 16, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const rgb = await decodeRgb(transparent, 4);
    expect([...rgb].every((v) => v === 255)).toBe(true);
    // 40×20: the left quarter black. Short side to 8 gives 16×8; the centre 8 columns miss the black.
    const wide = Buffer.alloc(40 * 20 * 3, 255);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 10; x++) wide.fill(0, (y * 40 + x) * 3, (y * 40 + x) * 3 + 3);
    const centre = await decodeRgb(await sharp(wide, { raw: { width: 40, height: 20, channels: 3 } }).png().toBuffer(), 8);
    expect(Math.min(...centre)).toBeGreaterThan(200);
    await expect(decodeRgb(new TextEncoder().encode('not an image'), 8)).rejects.toThrow();
  });

  test('random resized crops stay inside the image; CLIP normalisation', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 200; i++) {
      const w = 1 + rng.below(100);
      const h = 1 + rng.below(100);
      const r = cropRect(sampleCrop(rng), w, h);
      expect(r.left).toBeGreaterThanOrEqual(0);
      expect(r.top).toBeGreaterThanOrEqual(0);
      expect(r.left + r.width).toBeLessThanOrEqual(w);
      expect(r.top + r.height).toBeLessThanOrEqual(h);
      expect(r.width * r.height).toBeGreaterThan(0);
    }
    const out = new Float32Array(3);
    normalizeInto(new Uint8Array([255, 0, 128]), out, 0);
    expect(out[0]).toBeCloseTo((1 - CLIP_MEAN[0]) / CLIP_STD[0], 5);
    expect(out[1]).toBeCloseTo(-CLIP_MEAN[1] / CLIP_STD[1], 5);
  });

  test('worker threads decode exactly as inline decoding', async () => {
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toBuffer();
    const crop = sampleCrop(new Rng(5));
    const pool = new ImageDecoder({ workers: 1 });
    const inline = new ImageDecoder({ workers: 0 });
    expect(pool.size).toBe(1);
    expect(await pool.decode(png, 16, crop)).toEqual(await inline.decode(png, 16, crop));
    expect(await pool.decode(png, 16)).toEqual(await inline.decode(png, 16));
    await expect(pool.decode(new Uint8Array([1, 2, 3]), 16)).rejects.toThrow();
    await pool.close();
    await inline.close();
  });
});

describe('shuffled stream', () => {
  test('each pass is a seeded permutation of all pairs; a start position resumes it exactly', async () => {
    expect(await countRows(files)).toBe(pairs);
    const keys = async (seed: number, n: number, start?: { epoch: number; index: number }) =>
      (await collect(shuffledPairs(files, seed, 5, start), n)).map((s) => `${s.epoch}:${s.record.key}`);
    const a = await keys(1, 2 * pairs);
    expect(await keys(1, 2 * pairs)).toEqual(a);
    const pass0 = a.slice(0, pairs).map((k) => k.split(':')[1]);
    expect(new Set(pass0).size).toBe(pairs);
    expect(a.slice(pairs).every((k) => k.startsWith('1:'))).toBe(true);
    expect(a.slice(pairs)).not.toEqual(a.slice(0, pairs).map((k) => k.replace(/^0/, '1'))); // reshuffled
    expect(await keys(2, pairs)).not.toEqual(a.slice(0, pairs));
    expect(await keys(1, pairs, { epoch: 0, index: 7 })).toEqual(a.slice(7, 7 + pairs));
  });

  test('batches: shapes, token rows, stream positions, and the same crops after a restart', async () => {
    const tokenizer = trainTokenizer(['a red circle'], { vocabSize: 520, contextLength: 8 });
    const decoder = new ImageDecoder({ workers: 1 });
    const opts = { files, batchSize: 5, imageSize: 16, tokenizer, decoder, seed: 4, shuffleBuffer: 6, augment: { scale: [0.5, 1] as [number, number], ratio: [0.75, 1.33] as [number, number] } };
    const loader = new BatchLoader(opts);
    const b1 = (await loader.next())!;
    const b2 = (await loader.next())!;
    await loader.close();
    expect(b1.n).toBe(5);
    expect(b1.images.length).toBe(5 * 16 * 16 * 3);
    expect(b1.ids.length).toBe(5 * 8);
    expect(b1.end).toEqual({ epoch: 0, index: 5 });
    expect(b2.end).toEqual({ epoch: 0, index: 10 });
    const again = new BatchLoader({ ...opts, start: b1.end });
    const b2again = (await again.next())!;
    await again.close();
    expect(b2again.images).toEqual(b2.images);
    expect(b2again.ids).toEqual(b2.ids);
    await decoder.close();
  });

  test('a batch never holds the same pair twice: batches end at a pass boundary', async () => {
    const tokenizer = trainTokenizer(['a red circle'], { vocabSize: 520, contextLength: 8 });
    const decoder = new ImageDecoder({ workers: 0 });
    // 7 does not divide the pairs: before, the batch across each pass boundary held pairs of both passes.
    expect(pairs % 7).not.toBe(0);
    const opts = { files, batchSize: 7, imageSize: 8, tokenizer, decoder, seed: 9, shuffleBuffer: 4 };
    const loader = new BatchLoader(opts);
    const seen: string[][] = [[], [], []];
    const ends: Array<{ epoch: number; index: number }> = [];
    for (;;) {
      const b = (await loader.next())!;
      expect(new Set(b.keys).size, `batch ending at ${JSON.stringify(b.end)}: ${b.keys.join(' ')}`).toBe(b.n);
      if (b.end.epoch > 2) break;
      seen[b.end.epoch]!.push(...b.keys);
      ends.push(b.end);
    }
    await loader.close();
    // Every pass still visits every pair once; its last batch is the short one.
    for (const pass of seen) expect(new Set(pass).size).toBe(pairs);
    expect(ends.filter((e) => e.index === pairs)).toHaveLength(3);
    // Resuming at a pass boundary continues exactly as the uninterrupted run.
    const boundary = ends.findIndex((e) => e.index === pairs);
    const resumed = new BatchLoader({ ...opts, start: ends[boundary]! });
    const next = (await resumed.next())!;
    await resumed.close();
    const straight = new BatchLoader(opts);
    for (let i = 0; i <= boundary; i++) await straight.next();
    expect(next.keys).toEqual((await straight.next())!.keys);
    await straight.close();
    await decoder.close();
  });

  test('crossPasses: every batch is full (samples = steps x batch exactly), never holds a pair twice, and resumes exactly anywhere', async () => {
    const tokenizer = trainTokenizer(['a red circle'], { vocabSize: 520, contextLength: 8 });
    const decoder = new ImageDecoder({ workers: 0 });
    expect(pairs % 7).not.toBe(0);
    const opts = { files, batchSize: 7, imageSize: 8, tokenizer, decoder, seed: 9, shuffleBuffer: 4, crossPasses: true };
    const loader = new BatchLoader(opts);
    const batches: { keys: string[]; end: { epoch: number; index: number } }[] = [];
    const steps = Math.ceil((3 * pairs) / 7) + 1;
    for (let i = 0; i < steps; i++) {
      const b = (await loader.next())!;
      expect(b.n + b.bad).toBe(7);
      expect(new Set(b.keys).size, `batch ending at ${JSON.stringify(b.end)}: ${b.keys.join(' ')}`).toBe(b.n);
      batches.push({ keys: b.keys, end: b.end });
    }
    await loader.close();
    // Some batch ran across a pass boundary (the reason for the mode), and every pass still holds every pair once.
    expect(batches.some((b, i) => i > 0 && b.end.epoch !== batches[i - 1]!.end.epoch && b.end.index > 0 && b.end.index < 7)).toBe(true);
    const flat = batches.flatMap((b) => b.keys);
    for (let pass = 0; pass < 3; pass++) expect(new Set(flat.slice(pass * pairs, (pass + 1) * pairs)).size).toBe(pairs);
    // Resuming after any batch, including one across a boundary, continues exactly as the uninterrupted run.
    for (const at of [2, Math.floor(pairs / 7), Math.floor(pairs / 7) + 1, Math.floor((2 * pairs) / 7) + 1]) {
      const resumed = new BatchLoader({ ...opts, start: batches[at]!.end });
      expect((await resumed.next())!.keys, `resumed after batch ${at}`).toEqual(batches[at + 1]!.keys);
      await resumed.close();
    }
    await decoder.close();
  });
});
