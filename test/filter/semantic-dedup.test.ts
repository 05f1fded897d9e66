import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emojiImage } from '../../src/data/emoji.js';
import { readShardStats, readShards, shardPath, type PairRecord } from '../../src/shards/index.js';
import { runWit } from '../crawl/run-wit.js';
import { pickEmoji } from '../helpers/emoji-shards.js';
import { writeRandomModel } from '../search/helpers.js';
import { rec, writeShards } from './helpers.js';

// A seeded, untrained vit-micro: its image embeddings of unrelated emoji reach cosine 0.9992 at most
// (two hands), while a re-encoded copy scores 1.0, a copy shifted by a pixel 0.99994 and a copy 3 %
// darker 0.99965: T = 0.9995 separates the planted near-duplicates from everything else.
const T = '0.9995';

let dir: string;
let shards: string;
let model: string;
let originals: PairRecord[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-semdedup-'));
  const emoji = await pickEmoji(40);
  model = join(dir, 'model');
  await writeRandomModel(model, emoji.map((e) => e.name));
  originals = [];
  for (const e of emoji) {
    const image = new Uint8Array(await emojiImage('google', e.code, { size: 48 }));
    originals.push(rec(`g-${e.code}`, { image, caption: e.name, url: `https://emoji.example/${e.code}.png`, width: 48, height: 48, original_width: 48, original_height: 48 }));
  }
  const copy = async (i: number, key: string, edit: (s: ReturnType<typeof sharp>) => ReturnType<typeof sharp>) =>
    rec(key, { image: new Uint8Array(await edit(sharp(originals[i]!.image)).png().toBuffer()), caption: `copy of ${originals[i]!.caption}`, url: `https://mirror.example/${key}.png` });
  const planted = [
    // Same pixels, other bytes (so exact dedup by sha256 misses it); its key sorts before the original's.
    await copy(0, 'a-copy', (s) => s.png({ compressionLevel: 1 })),
    await copy(1, 'z-darker', (s) => s.modulate({ brightness: 0.97 })),
    await copy(2, 'z-shifted', (s) => s.extend({ top: 1, left: 1, bottom: 0, right: 0, background: { r: 255, g: 255, b: 255, alpha: 0 } }).resize(48, 48)),
  ];
  shards = join(dir, 'shards');
  await writeShards(shards, [originals.slice(0, 20), [...originals.slice(20), ...planted]], { imageFormat: 'png' });
}, 600_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('wit filter --dedup-semantic', () => {
  it('drops the planted near-duplicates and nothing else; the earlier pair by key survives; stats list what each duplicates', async () => {
    const out = join(dir, 'out');
    const r = await runWit(['filter', '--model', model, '--shards', shards, '--out', out, '--dedup-semantic', T, '--json'], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { input: number; kept: number; dropped: Record<string, number>; dedup_semantic: number };
    expect(s.input).toBe(43);
    expect(s.dropped.near_duplicate).toBe(3);
    expect(s.kept).toBe(40);
    expect(s.dedup_semantic).toBe(Number(T));
    const kept = new Set<string>();
    for await (const row of readShards(out, { images: false })) kept.add(row.key);
    const [o0, o1, o2] = originals.map((o) => o.key);
    expect(kept.has('a-copy')).toBe(true);
    expect(kept.has(o0!)).toBe(false);
    expect([...kept].sort()).toEqual([...originals.slice(1).map((o) => o.key), 'a-copy'].sort());
    expect((await readShardStats(shardPath(out, 0)))?.near_duplicates).toEqual({ [o0!]: 'a-copy' });
    expect((await readShardStats(shardPath(out, 1)))?.near_duplicates).toEqual({ 'z-darker': o1, 'z-shifted': o2 });
    expect(await readdir(out)).not.toContain('.filter-work');

    const text = await runWit(['filter', '--model', model, '--shards', shards, '--out', out, '--dedup-semantic', T], { timeoutMs: 180_000 });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/3 near-duplicates/);
    expect(text.stdout).toMatch(/2 already done/);
  }, 600_000);

  it('a lower threshold also takes the closest unrelated pair; --dedup-semantic without a model is exit 2', async () => {
    const loose = await runWit(['filter', '--model', model, '--shards', shards, '--out', join(dir, 'loose'), '--dedup-semantic', '0.999', '--json'], { timeoutMs: 180_000 });
    expect(loose.code, loose.stderr).toBe(0);
    expect((JSON.parse(loose.stdout) as { dropped: { near_duplicate: number } }).dropped.near_duplicate).toBeGreaterThan(3);
    const none = await runWit(['filter', '--shards', shards, '--out', join(dir, 'nomodel'), '--dedup-semantic', T]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--dedup-semantic needs a model/);
  }, 600_000);
});
