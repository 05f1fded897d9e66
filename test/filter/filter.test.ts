import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, type FilterOptions } from '../../src/filter/index.js';
import { readShards, readShardStats, readManifest, shardPath, readShardMetadata, type PairRecord } from '../../src/shards/index.js';
import { InputError, UsageError } from '../../src/util/errors.js';
import { hashScore, hashScorer, rec, writeShards } from './helpers.js';
import { renderFilterSummary } from '../../src/cli/commands/filter.js';

let dir: string;
let input: string;
let all: PairRecord[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-filter-'));
  input = join(dir, 'in');
  // 3 shards (the last one small), 1/10 of rows duplicates of an earlier image, some short captions.
  const shards: PairRecord[][] = [];
  all = [];
  for (let s = 0; s < 3; s++) {
    const rows: PairRecord[] = [];
    for (let i = 0; i < (s === 2 ? 37 : 150); i++) {
      const n = s * 1000 + i;
      const r = rec(`k${String(n).padStart(5, '0')}`, {
        caption: n % 13 === 0 ? 'tiny' : `a photo of thing number ${n}`,
        image: n % 10 === 9 ? new TextEncoder().encode(`img:${n - 9}`) : new TextEncoder().encode(`img:${n}`),
      });
      rows.push(r);
      all.push(r);
    }
    shards.push(rows);
  }
  await writeShards(input, shards);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readOut(out: string): Promise<PairRecord[]> {
  const rows: PairRecord[] = [];
  for await (const r of readShards(out)) rows.push(r);
  return rows;
}

/** What the screen should let through: caption >= 6 chars, first copy of each image among those. */
function expectedEligible(): PairRecord[] {
  const seen = new Set<string>();
  return all.filter((r) => {
    if (r.caption.length < 6) return false;
    if (seen.has(r.sha256)) return false;
    seen.add(r.sha256);
    return true;
  });
}

const scoreOf = (r: PairRecord, levels = 0) => hashScore(`${new TextDecoder().decode(r.image)}\u0000${r.caption}`, levels);

describe('filter with a scorer', () => {
  it('--min-similarity keeps pairs scoring >= X, writes their scores, stats per shard and a manifest', async () => {
    const out = join(dir, 'minsim');
    const scorer = hashScorer();
    const s = await filter({ shards: [input], out, scorer, minSimilarity: 0.2, minCaptionChars: 6, batchSize: 16 });
    const elig = expectedEligible();
    const want = elig.filter((r) => scoreOf(r) >= 0.2);
    const got = await readOut(out);
    expect(got.map((r) => r.key)).toEqual(want.map((r) => r.key));
    for (const r of got) expect(r.similarity).toBe(scoreOf(r));
    expect(s.input).toBe(all.length);
    expect(s.kept).toBe(want.length);
    expect(s.scored).toBe(elig.length);
    expect(scorer.pairs).toBe(elig.length); // only eligible pairs reach the model
    expect(s.dropped.caption_chars).toBe(all.filter((r) => r.caption.length < 6).length);
    expect(s.dropped.duplicate_image).toBe(all.length - s.dropped.caption_chars - elig.length);
    expect(s.dropped.low_similarity).toBe(elig.length - want.length);
    expect(s.histogram.total).toBe(elig.length);
    expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(elig.length);
    // one output shard per input shard, keys and images unchanged, per-shard stats
    expect((await readdir(out)).filter((n) => n.endsWith('.parquet'))).toEqual(['00000.parquet', '00001.parquet', '00002.parquet']);
    const st = await readShardStats(shardPath(out, 1));
    expect(st?.input_count).toBe(150);
    expect((st?.similarity_histogram as { total: number }).total).toBeGreaterThan(0);
    expect(Object.keys(st?.dropped as object)).toContain('low_similarity');
    const byKey = new Map(all.map((r) => [r.key, r]));
    for (const r of got) expect(Buffer.from(r.image).equals(Buffer.from(byKey.get(r.key)!.image))).toBe(true);
    const m = await readManifest(out);
    expect(m?.stage).toBe('filter');
    expect((m?.totals as { kept: number }).kept).toBe(want.length);
    expect((await readdir(out)).includes('.filter-work')).toBe(false);
  });

  it('--keep-fraction keeps exactly round(F*N), the top scores, ties broken by key', async () => {
    const out = join(dir, 'keep');
    // 8 score levels: hundreds of ties at the threshold
    const s = await filter({ shards: [input], out, scorer: hashScorer(8), keepFraction: 0.3, minCaptionChars: 6, batchSize: 32 });
    const elig = expectedEligible();
    const k = Math.round(0.3 * elig.length);
    const want = [...elig].sort((a, b) => scoreOf(b, 8) - scoreOf(a, 8) || (a.key < b.key ? -1 : 1)).slice(0, k);
    const got = await readOut(out);
    expect(got.length).toBe(k);
    expect(s.kept).toBe(k);
    expect(new Set(got.map((r) => r.key))).toEqual(new Set(want.map((r) => r.key)));
    expect(s.threshold).toBe(scoreOf(want[k - 1]!, 8));
    for (const r of got) expect(r.similarity).toBe(scoreOf(r, 8));
    // output keeps input order within shards
    expect(got.map((r) => r.key)).toEqual([...got.map((r) => r.key)].sort());
  });

  it('counts an undecodable image with its reason and goes on', async () => {
    const inp = join(dir, 'bad-in');
    const rows = Array.from({ length: 20 }, (_, i) => rec(`b${i}`, i === 7 ? { image: new TextEncoder().encode('bad bytes') } : {}));
    await writeShards(inp, [rows]);
    const logs: string[] = [];
    const s = await filter({ shards: [inp], out: join(dir, 'bad-out'), scorer: hashScorer(), minSimilarity: -1, batchSize: 8, onLog: (l) => logs.push(l) });
    expect(s.dropped.undecodable).toBe(1);
    expect(s.kept).toBe(19);
    expect(logs.some((l) => l.includes('b7'))).toBe(true);
  });

  it('passes an empty shard through as an empty, readable shard', async () => {
    const inp = join(dir, 'empty-in');
    await writeShards(inp, [[rec('e1')], [], [rec('e2')]]);
    const out = join(dir, 'empty-out');
    for (const keepFraction of [undefined, 1]) {
      const o = `${out}-${keepFraction}`;
      const s = await filter({ shards: [inp], out: o, scorer: hashScorer(), keepFraction, minSimilarity: keepFraction ? undefined : -1 });
      expect(s.kept).toBe(2);
      expect((await readShardStats(shardPath(o, 1)))?.count).toBe(0);
      expect((await readOut(o)).map((r) => r.key)).toEqual(['e1', 'e2']);
    }
  });

  it('a batch where every pair fails is a failure of the run, not of the data', async () => {
    const failing = async () => {
      throw new Error('backend exploded');
    };
    await expect(filter({ shards: [input], out: join(dir, 'fail'), scorer: failing, minSimilarity: 0 })).rejects.toThrow(/backend exploded/);
    expect((await readdir(join(dir, 'fail'))).filter((n) => n.endsWith('.parquet'))).toEqual([]);
  });
});

describe('filter without a model', () => {
  it('basic filters and dedup alone: exact counts, no similarity column', async () => {
    const inp = join(dir, 'basic-in');
    const img = (s: string) => new TextEncoder().encode(s);
    const rows = [
      rec('a', { caption: 'a red cat sitting', original_width: 640, original_height: 480 }), // keep
      rec('b', { caption: 'red cat', original_width: 640, original_height: 480 }), // 2 words
      rec('c', { caption: 'cat', original_width: 640, original_height: 480 }), // 3 chars
      rec('d', { caption: 'a small red cat', original_width: 150, original_height: 480 }), // side
      rec('e', { caption: 'a wide red cat', original_width: 2000, original_height: 600 }), // aspect 3.33
      rec('f', { caption: 'another red cat here', image: img('img:a'), original_width: 640, original_height: 480 }), // dup image of a
      rec('g', { caption: 'a red cat sitting', url: 'https://example.org/a.jpg', original_width: 640, original_height: 480 }), // dup url+caption of a
      rec('h', { caption: 'a red cat standing', url: 'https://example.org/a.jpg', original_width: 300, original_height: 900 }), // keep (aspect exactly 3)
    ];
    await writeShards(inp, [rows.slice(0, 5), rows.slice(5)], { imageFormat: 'png' });
    const out = join(dir, 'basic-out');
    const opts: FilterOptions = { shards: [inp], out, minCaptionWords: 3, minCaptionChars: 6, minImageSide: 200, maxAspect: 3 };
    const s = await filter(opts);
    expect(s.mode).toBe('basic');
    expect(s.kept).toBe(2);
    expect(s.dropped).toMatchObject({ caption_words: 1, caption_chars: 1, image_side: 1, aspect: 1, duplicate_image: 1, duplicate_url_caption: 1, low_similarity: 0 });
    const got = await readOut(out);
    expect(got.map((r) => r.key)).toEqual(['a', 'h']);
    expect(got.every((r) => r.similarity === null)).toBe(true);
    const meta = await readShardMetadata(shardPath(out, 1));
    expect(meta.schema.map((c) => c.name)).toContain('png');
    expect(meta.schema.map((c) => c.name)).not.toContain('similarity');
    // --no-dedup keeps the duplicates
    const s2 = await filter({ ...opts, out: join(dir, 'basic-out2'), dedup: false });
    expect(s2.kept).toBe(4);
  });
});

describe('resume', () => {
  for (const [mode, phase] of [['min-similarity', 'score'], ['keep-fraction', 'write'], ['keep-fraction', 'score']] as const) {
    it(`${mode}, interrupted in the ${phase} pass: rerun equals an uninterrupted run and skips finished work`, async () => {
      const base: Omit<FilterOptions, 'out'> = { shards: [input], minCaptionChars: 6, batchSize: 16, ...(mode === 'keep-fraction' ? { keepFraction: 0.4 } : { minSimilarity: 0 }) };
      const ref = await filter({ ...base, out: join(dir, `ref-${mode}`), scorer: hashScorer(8) });
      const out = join(dir, `resume-${mode}-${phase}`);
      const ac = new AbortController();
      await expect(
        filter({ ...base, out, scorer: hashScorer(8), signal: ac.signal, onProgress: (p) => p.phase === phase && p.shardsDone === 1 && ac.abort(new Error('stop here')) }),
      ).rejects.toThrow('stop here');
      const names = await readdir(out);
      // no half shard under a final name (pass 1 of keep-fraction writes none at all)
      expect(names.filter((n) => n.endsWith('.parquet'))).toEqual(mode === 'keep-fraction' && phase === 'score' ? [] : ['00000.parquet']);
      expect(names.some((n) => n.includes('.tmp'))).toBe(false);
      const scorer = hashScorer(8);
      const s = await filter({ ...base, out, scorer });
      const elig = expectedEligible();
      if (mode === 'keep-fraction' && phase === 'write') expect(scorer.pairs).toBe(0); // every shard was already scored
      else expect(scorer.pairs).toBe(elig.filter((r) => !r.key.startsWith('k00')).length); // shard 0 not scored again
      expect(s.shards.resumed).toBe(mode === 'keep-fraction' && phase === 'score' ? 0 : 1);
      expect({ ...s, duration: 0, pairs_per_second: 0, out: '', shards: null }).toEqual({ ...ref, duration: 0, pairs_per_second: 0, out: '', shards: null });
      expect((await readOut(out)).map((r) => [r.key, r.similarity])).toEqual((await readOut(join(dir, `ref-${mode}`))).map((r) => [r.key, r.similarity]));
      // a finished run reruns as a no-op
      const scorer2 = hashScorer(8);
      const again = await filter({ ...base, out, scorer: scorer2 });
      expect(again.shards.resumed).toBe(3);
      expect(scorer2.pairs).toBe(0);
      expect(again.threshold).toBe(ref.threshold);
      expect(again.kept).toBe(ref.kept);
    });
  }

  it('refuses an output directory holding a run with other options', async () => {
    const out = join(dir, 'minsim-other');
    await filter({ shards: [input], out, minCaptionChars: 6 });
    await expect(filter({ shards: [input], out, minCaptionChars: 7 })).rejects.toThrow(UsageError);
  });
});

describe('bad input', () => {
  it('gives clear errors', async () => {
    const out = join(dir, 'err');
    await expect(filter({ shards: [join(dir, 'nope')], out })).rejects.toThrow(UsageError);
    await mkdir(join(dir, 'notpq'), { recursive: true });
    await writeFile(join(dir, 'notpq', '00000.parquet'), 'this is not parquet at all, just text');
    await expect(filter({ shards: [join(dir, 'notpq')], out })).rejects.toThrow(InputError);
    await expect(filter({ shards: [input], out, scorer: hashScorer(), keepFraction: 0 })).rejects.toThrow(/keep-fraction must be in \(0, 1\]/);
    await expect(filter({ shards: [input], out, scorer: hashScorer(), keepFraction: 1.5 })).rejects.toThrow(UsageError);
    await expect(filter({ shards: [input], out, scorer: hashScorer(), keepFraction: 0.5, minSimilarity: 0.2 })).rejects.toThrow(UsageError);
    await expect(filter({ shards: [input], out, minSimilarity: 0.2 })).rejects.toThrow(/need a model/);
    await expect(filter({ shards: [input], out, model: join(dir, 'no-model'), minSimilarity: 0.2 })).rejects.toThrow(/model directory does not exist/);
    await expect(filter({ shards: [input], out: input })).rejects.toThrow(UsageError);
    expect(JSON.parse(await readFile(join(input, '00000_stats.json'), 'utf8')).count).toBe(150); // input untouched
  });
});

describe('distinct images (README.md, "Coming from img2dataset")', () => {
  it('counts images by sha256 beside pairs: in the summary, the text, each shard\u2019s stats, the manifest, and after a resume', async () => {
    const inp = join(dir, 'distinct-in');
    const enc = (s: string) => new TextEncoder().encode(s);
    // 12 pairs of 6 images: a logo under 5 captions, a map under 3, 4 images under one each;
    // shard 0 holds the logo's 5 and the map's 3, shard 1 the 4 unique (and the logo once more: 13 pairs)
    const s0 = [
      ...Array.from({ length: 5 }, (_, i) => rec(`d0${i}`, { image: enc('img:logo'), caption: `the logo, caption ${i}` })),
      ...Array.from({ length: 3 }, (_, i) => rec(`d1${i}`, { image: enc('img:map'), caption: i === 2 ? 'map' : `a map, caption ${i}` })),
    ];
    const s1 = [
      ...Array.from({ length: 4 }, (_, i) => rec(`d2${i}`, { image: enc(`img:one-${i}`), caption: i === 3 ? 'one' : `one image, number ${i}` })),
      rec('d30', { image: enc('img:logo'), caption: 'the logo once more' }),
    ];
    await writeShards(inp, [s0, s1]);
    const out = join(dir, 'distinct-out');
    // no dedup: every copy is a pair; the short captions ('map', 'one') drop a map copy and a unique image
    const opts = { shards: [inp], out, scorer: hashScorer(), minSimilarity: -1, minCaptionChars: 6, dedup: false };
    const s = await filter(opts);
    expect(s.input).toBe(13);
    expect(s.distinct_images_in).toBe(6);
    expect(s.kept).toBe(11);
    expect(s.distinct_images).toBe(5); // logo, map, 3 of the unique images
    expect(renderFilterSummary(s)).toMatch(/^filter: 13 pairs in, 11 kept \(84\.6%\): .*\ndistinct images: 6 in, 5 kept\n/);
    const st0 = await readShardStats(shardPath(out, 0));
    expect([st0?.input_count, st0?.distinct_images_in, st0?.count, st0?.distinct_images]).toEqual([8, 2, 7, 2]);
    const st1 = await readShardStats(shardPath(out, 1));
    expect([st1?.input_count, st1?.distinct_images_in, st1?.count, st1?.distinct_images]).toEqual([5, 5, 4, 4]);
    const totals = (await readManifest(out))?.totals as Record<string, unknown>;
    expect([totals.distinct_images_in, totals.distinct_images]).toEqual([6, 5]);
    // a finished run, rerun, and a run resumed after its second shard was lost count the same
    expect(await filter(opts)).toMatchObject({ distinct_images_in: 6, distinct_images: 5, shards: { resumed: 2 } });
    await rm(shardPath(out, 1));
    await rm(join(out, '00001_stats.json'));
    expect(await filter(opts)).toMatchObject({ input: 13, distinct_images_in: 6, kept: 11, distinct_images: 5, shards: { resumed: 1, written: 1 } });
  });
});

describe('refused and undecodable images (the image guard, src/util/image-guard.ts)', () => {
  it('counts an image the guard refuses as image_refused and a corrupt one as undecodable, through the real decoder', async () => {
    const sharp = (await import('sharp')).default;
    const { decodeRgb } = await import('../../src/train/preprocess.js');
    const { clipScorer } = await import('../../src/filter/index.js');
    const jpeg = async (c: string) => new Uint8Array(await sharp({ create: { width: 40, height: 30, channels: 3, background: c } }).jpeg().toBuffer());
    const good = await jpeg('#c04020');
    // a JPEG whose headers are fine (the guard reads its size) and whose scan is missing: libjpeg fails on it
    const sos = Buffer.from(good).indexOf(Buffer.from([0xff, 0xda]));
    const corrupt = new Uint8Array(Buffer.concat([Buffer.from(good.subarray(0, sos)), Buffer.from([0xff, 0xd9])]));
    const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="16000" height="16000"><rect width="16000" height="16000"/></svg>');
    // a PNG header declaring 100000 x 100000 pixels: over the pixel limit, refused before decoding
    const huge = new Uint8Array(Buffer.from('89504e470d0a1a0a0000000d49484452000186a0000186a008020000000000000049454e44ae426082', 'hex'));
    const rows = [rec('r0', { image: good }), rec('r1', { image: svg }), rec('r2', { image: corrupt }), rec('r3', { image: await jpeg('#2040c0') }), rec('r4', { image: huge })];
    const inp = join(dir, 'refused-in');
    await writeShards(inp, [rows]);
    const vec = (seed: number) => Float32Array.from({ length: 8 }, (_, i) => Math.sin(seed + i));
    const encoders = {
      imageSize: 16,
      decoder: { decode: (b: Uint8Array, size: number) => decodeRgb(b, size) },
      embedPixels: async (rgb: Uint8Array[]) => rgb.map((p) => vec(p[0]!)),
      embedImages: async () => { throw new Error('not used'); },
      embedTexts: async (t: string[]) => t.map((c) => vec(c.length)),
      dispose: () => undefined,
    };
    const logs: string[] = [];
    for (const batchSize of [8, 1]) {
      const s = await filter({ shards: [inp], out: join(dir, `refused-out-${batchSize}`), scorer: clipScorer(encoders), minSimilarity: -1, batchSize, onLog: (l) => logs.push(l) });
      expect([s.dropped.image_refused, s.dropped.undecodable, s.kept], `batch size ${batchSize}`).toEqual([2, 1, 2]);
      expect(s.steps.find((st) => st.step === 'decode')).toMatchObject({ pairs_in: 5, dropped: 3, pairs_out: 2 });
      const st = await readShardStats(shardPath(join(dir, `refused-out-${batchSize}`), 0));
      const why = st?.dropped_pairs as Record<string, [string, number | null]>;
      expect([why.r1?.[0], why.r2?.[0], why.r4?.[0]]).toEqual(['image_refused', 'undecodable', 'image_refused']);
    }
    expect(logs.find((l) => l.includes('r1'))).toMatch(/image refused: SVG/);
    expect(logs.find((l) => l.includes('r4'))).toMatch(/over the \d+ limit/);
  });

  it('a scorer whose batch call fails still tells the two apart, pair by pair', async () => {
    const { ImageRefusedError } = await import('../../src/util/image-guard.js');
    const inp = join(dir, 'refused-fallback-in');
    await writeShards(inp, [[rec('f0'), rec('f1', { image: new TextEncoder().encode('svg') }), rec('f2', { image: new TextEncoder().encode('bad') }), rec('f3')]]);
    const dec = new TextDecoder();
    const scorer = async (images: Uint8Array[]) => {
      for (const b of images) {
        if (dec.decode(b) === 'svg') throw new ImageRefusedError('not_image', 'SVG (a vector format, rendered at whatever size it declares)');
        if (dec.decode(b) === 'bad') throw new Error('VipsJpeg: Corrupt JPEG data');
      }
      return new Float32Array(images.length).fill(0.5);
    };
    const s = await filter({ shards: [inp], out: join(dir, 'refused-fallback-out'), scorer, minSimilarity: 0, batchSize: 4 });
    expect([s.dropped.image_refused, s.dropped.undecodable, s.kept]).toEqual([1, 1, 2]);
  });
});
