import { createHash } from 'node:crypto';
import { ShardWriter, shardPath, type PairRecord } from '../../src/shards/index.js';
import type { Scorer } from '../../src/filter/index.js';

/** sha256 hex of bytes. */
export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A hand-made record; the image is a few distinct bytes (not a decodable image). */
export function rec(key: string, over: Partial<PairRecord> = {}): PairRecord {
  const image = over.image ?? new TextEncoder().encode(`img:${key}`);
  return {
    key,
    url: `https://example.org/${key}.jpg`,
    page_url: null,
    caption: `a photo of thing ${key}`,
    queries: ['thing'],
    width: 256,
    height: 256,
    original_width: 512,
    original_height: 512,
    ...over,
    image,
    sha256: over.sha256 ?? sha256(image),
  };
}

/** Writes records into consecutive shards `dir/00000.parquet`, … (one array per shard). */
export async function writeShards(dir: string, shards: PairRecord[][], opts: { imageFormat?: 'jpg' | 'png' | 'webp'; rowGroupSize?: number } = {}): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < shards.length; i++) {
    const p = shardPath(dir, i);
    const w = await ShardWriter.open(p, { imageFormat: opts.imageFormat ?? 'jpg', rowGroupSize: opts.rowGroupSize ?? 50 });
    for (const r of shards[i]!) await w.write(r);
    await w.close();
    paths.push(p);
  }
  return paths;
}

/** Deterministic score in [-1, 1) of a string (FNV-1a), quantised to `levels` values to force ties when asked. */
export function hashScore(s: string, levels = 0): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const u = h / 2 ** 32;
  const q = levels > 0 ? Math.floor(u * levels) / levels : u;
  return Math.fround(q * 2 - 1);
}

/**
 * A deterministic scorer: the score of a pair is a hash of (image bytes, caption); images whose
 * bytes start with "bad" reject, as an undecodable image would. Counts calls and pairs.
 */
export function hashScorer(levels = 0): Scorer & { calls: number; pairs: number } {
  const dec = new TextDecoder();
  const f = (async (images: Uint8Array[], captions: string[]) => {
    f.calls++;
    const out = new Float32Array(images.length);
    for (let i = 0; i < images.length; i++) {
      const img = dec.decode(images[i]!);
      if (img.startsWith('bad')) throw new Error(`unsupported image format in pair ${i}`);
      out[i] = hashScore(`${img}\u0000${captions[i]}`, levels);
      f.pairs++;
    }
    await new Promise((r) => setImmediate(r));
    return out;
  }) as Scorer & { calls: number; pairs: number };
  f.calls = 0;
  f.pairs = 0;
  return f;
}

/** AUROC: probability that a random positive scores above a random negative (ties count half). */
export function auroc(pos: number[], neg: number[]): number {
  const all = [...pos.map((s) => ({ s, p: 1 })), ...neg.map((s) => ({ s, p: 0 }))].sort((a, b) => a.s - b.s);
  // Rank-sum (Mann-Whitney U) with average ranks for ties.
  let rankSumPos = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) j++;
    const avg = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k]!.p) rankSumPos += avg;
    i = j;
  }
  const u = rankSumPos - (pos.length * (pos.length + 1)) / 2;
  return u / (pos.length * neg.length);
}

/** Options of the noisy emoji shards. */
export interface NoisyEmojiOptions {
  /** Emoji per set (spread evenly over the list, so every category shows up). */
  count: number;
  /** Image sets; each emoji gives one pair per set (default google and twitter). */
  sets?: ('google' | 'twitter' | 'openmoji')[];
  /** Fraction of pairs whose caption is swapped with another's (default 0.3). */
  swapFraction?: number;
  seed?: number;
  /** Pairs per shard (default 200). */
  shardSize?: number;
  /** Image side in pixels (default 32). */
  size?: number;
}

/**
 * Real image–text pairs (emoji images with their names) where a known fraction of the captions
 * were swapped: the chosen pairs' captions are rotated among themselves, so every swapped pair
 * holds another emoji's name. Writes PNG shards and returns the records with the swapped keys.
 */
export async function writeNoisyEmojiShards(dir: string, o: NoisyEmojiOptions): Promise<{ records: PairRecord[]; swapped: Set<string>; files: string[] }> {
  const { commonEmoji, emojiImage } = await import('../../src/data/emoji.js');
  const sets = o.sets ?? ['google', 'twitter'];
  const list = await commonEmoji(sets, { flags: true });
  const step = list.length / o.count;
  const chosen = Array.from({ length: o.count }, (_, i) => list[Math.floor(i * step)]!);
  const records: PairRecord[] = [];
  for (const set of sets) {
    for (const e of chosen) {
      const image = new Uint8Array(await emojiImage(set, e.code, { size: o.size ?? 32 }));
      const key = `${set}-${e.code}`;
      records.push({
        key,
        url: `https://emoji.example/${set}/${e.code}.png`,
        page_url: null,
        caption: e.name,
        queries: [e.name],
        image,
        width: o.size ?? 32,
        height: o.size ?? 32,
        original_width: 64,
        original_height: 64,
        sha256: sha256(image),
      });
    }
  }
  // Seeded shuffle of positions; the first swapFraction of them have their captions rotated.
  let s = (o.seed ?? 1) >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const order = records.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const nSwap = Math.round((o.swapFraction ?? 0.3) * records.length);
  const picked = order.slice(0, nSwap);
  const captions = picked.map((i) => records[i]!.caption);
  const swapped = new Set<string>();
  picked.forEach((idx, j) => {
    const r = records[idx]!;
    // Rotate by one; skip over a same-name caption (the same emoji from the other set).
    let c = captions[(j + 1) % captions.length]!;
    for (let t = 2; c === r.caption && t < captions.length; t++) c = captions[(j + t) % captions.length]!;
    if (c === r.caption) return; // nothing else to swap with: stays a true pair
    r.caption = c;
    r.queries = [c];
    swapped.add(r.key);
  });
  // Shuffle the pair order so shards mix sets and categories.
  const shuffled = order.map((i) => records[i]!).sort((a, b) => hashScore(a.key) - hashScore(b.key));
  const size = o.shardSize ?? 200;
  const chunks: PairRecord[][] = [];
  for (let i = 0; i < shuffled.length; i += size) chunks.push(shuffled.slice(i, i + size));
  const files = await writeShards(dir, chunks, { imageFormat: 'png' });
  return { records: shuffled, swapped, files };
}
