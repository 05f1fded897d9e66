import { createHash } from 'node:crypto';
import { commonEmoji, emojiImage, type Emoji, type EmojiSet } from '../../src/data/emoji.js';
import { ShardWriter, shardPath, type PairRecord } from '../../src/shards/index.js';

/** Options for building emoji shards. */
export interface EmojiShardOptions {
  /** Image sets whose images go into the shards (each emoji once per set). */
  sets: EmojiSet[];
  /** Emoji to use (default: those common to google, twitter and openmoji, no flags or skin tones). */
  emoji?: Emoji[];
  /** Take every k-th of the list so that classes spread over all categories, up to `limit`. */
  limit?: number;
  /** Image side in pixels (default 64). */
  size?: number;
  /** Rows per shard file (default 1000). */
  perShard?: number;
  /** Caption of an emoji (default: its name). */
  caption?: (e: Emoji, set: EmojiSet) => string;
}

/** The emoji a learning test uses: common to all three sets, no flags or skin tones, spread evenly. */
export async function pickEmoji(limit?: number): Promise<Emoji[]> {
  const all = await commonEmoji(['google', 'twitter', 'openmoji'], { flags: false });
  // Names must be unique for zero-shot labels to be unambiguous.
  const seen = new Set<string>();
  const unique = all.filter((e) => !seen.has(e.name) && seen.add(e.name));
  if (!limit || limit >= unique.length) return unique;
  const step = unique.length / limit;
  return Array.from({ length: limit }, (_, i) => unique[Math.floor(i * step)]!);
}

/**
 * Writes shards of real emoji images (PNG) with their names as caption and query, via the real
 * ShardWriter. Returns the shard files and the emoji used.
 */
export async function writeEmojiShards(dir: string, opts: EmojiShardOptions): Promise<{ files: string[]; emoji: Emoji[]; pairs: number }> {
  const emoji = opts.emoji ?? (await pickEmoji(opts.limit));
  const size = opts.size ?? 64;
  const perShard = opts.perShard ?? 1000;
  const files: string[] = [];
  let writer: ShardWriter | undefined;
  let inShard = 0;
  let pairs = 0;
  for (const set of opts.sets) {
    for (const e of emoji) {
      if (!writer) {
        writer = await ShardWriter.open(shardPath(dir, files.length), { imageFormat: 'png' });
        inShard = 0;
      }
      const image = new Uint8Array(await emojiImage(set, e.code, { size }));
      const caption = opts.caption ? opts.caption(e, set) : e.name;
      const rec: PairRecord = {
        key: `${set}-${e.code}`,
        url: `https://example.invalid/emoji/${set}/${e.code}.png`,
        page_url: null,
        caption,
        queries: [e.name],
        image,
        width: size,
        height: size,
        original_width: size,
        original_height: size,
        sha256: createHash('sha256').update(image).digest('hex'),
      };
      await writer.write(rec);
      pairs++;
      if (++inShard >= perShard) {
        await writer.close();
        files.push(writer.path);
        writer = undefined;
      }
    }
  }
  if (writer) {
    await writer.close();
    files.push(writer.path);
  }
  return { files, emoji, pairs };
}
