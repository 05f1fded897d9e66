import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sharp } from '../util/sharp.js';
import { emojiImage, type Emoji, type EmojiSet } from '../data/emoji.js';
import { ShardWriter, shardPath, writeManifest } from '../shards/index.js';

/** What writeHeldout made. */
export interface HeldoutSummary {
  dir: string;
  pairs: number;
  labels: string;
  set: EmojiSet;
}

/**
 * Writes the held-out evaluation set: one pair per emoji of `set` (a design the training crawl never
 * saw), stored as the crawl stores images (JPEG, `size` px), caption and query = the emoji's name,
 * plus `labels.txt` (the class names for zero-shot) and a manifest. The directory is replaced.
 */
export async function writeHeldout(dir: string, emoji: readonly Emoji[], opts: { /** Default twitter. */ set?: EmojiSet; size?: number } = {}): Promise<HeldoutSummary> {
  const set = opts.set ?? 'twitter';
  const size = opts.size ?? 64;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const w = await ShardWriter.open(shardPath(dir, 0), { imageFormat: 'jpg', metadata: { 'wit.stage': 'heldout', 'wit.emoji_set': set } });
  try {
    for (const e of emoji) {
      const png = await emojiImage(set, e.code, { size });
      const jpg = new Uint8Array(await sharp(png).jpeg({ quality: 95 }).toBuffer());
      await w.write({
        key: `${set}-${e.code}`,
        url: `npm:${set}/${e.code}`,
        page_url: null,
        caption: e.name,
        queries: [e.name],
        image: jpg,
        width: size,
        height: size,
        original_width: size,
        original_height: size,
        sha256: createHash('sha256').update(jpg).digest('hex'),
      });
    }
    await w.close({ stage: 'heldout', emoji_set: set });
  } catch (err) {
    await w.abort();
    throw err;
  }
  const labels = join(dir, 'labels.txt');
  await writeFile(labels, [...new Set(emoji.map((e) => e.name))].join('\n') + '\n');
  await writeManifest(dir, {
    stage: 'heldout',
    version: '0.1.0',
    created: new Date().toISOString(),
    options: { set, size },
    inputs: [`npm:${set}`],
    shards: ['00000.parquet'],
    totals: { count: emoji.length, classes: new Set(emoji.map((e) => e.name)).size },
  });
  return { dir, pairs: emoji.length, labels, set };
}
