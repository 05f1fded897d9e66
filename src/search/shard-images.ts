import { basename, dirname } from 'node:path';
import { parquetMetadataAsync, parquetReadObjects, type FileMetaData } from 'hyparquet';
import { fileAsyncBuffer, formatOfShard, listShards, readSetId, readShardFile, IMAGE_FORMATS, type ImageFormat } from '../shards/index.js';
import { filesShardImage } from '../shards/files.js';
import { UsageError } from '../util/errors.js';

/** readSetId with a cache per folder (many shards share one folder). */
export function cachedSetIds(): (dir: string) => Promise<string | undefined> {
  const cache = new Map<string, Promise<string | undefined>>();
  return (dir) => {
    let p = cache.get(dir);
    if (!p) cache.set(dir, (p = readSetId(dir)));
    return p;
  };
}

/** Content types of the image columns. */
export const IMAGE_TYPES: Record<ImageFormat, string> = { jpg: 'image/jpeg', webp: 'image/webp', png: 'image/png' };

/**
 * Reads single images out of the shards an index was made from, by (shard, row). Only shards the
 * index lists can be read: with `shardDirs` (the shards moved or copied elsewhere) a listed shard is
 * looked up there by its shard set and file name (docs/ARCHITECTURE.md, "Shard sets and pair
 * identity"), else at the path the index recorded. No other file is ever opened.
 */
export class ShardImages {
  private readonly meta = new Map<string, FileMetaData>();

  private constructor(private readonly allowed: Map<string, string>) {}

  /**
   * The reader for an index's shards (`index.shards`: the resolved paths the index lists;
   * `index.shard_sets`: their set ids). A shard the index recorded with a set id is found only in a
   * folder of that set (a folder whose manifest has another id holds another crawl's shards, however
   * its files are named). Throws UsageError when a shard without a set id (an index or crawl made
   * before set ids) has several candidates of its name in `shardDirs`: serving one of them could
   * serve another pair's image.
   */
  static async open(index: { shards: string[]; shard_sets?: Record<string, string> }, shardDirs?: string[], stage = 'serve'): Promise<ShardImages> {
    const allowed = new Map<string, string>();
    const sets = index.shard_sets ?? {};
    const setOf = cachedSetIds();
    if (shardDirs?.length) {
      const given: { file: string; set?: string }[] = [];
      for (const f of await listShards(shardDirs)) given.push({ file: f, set: await setOf(dirname(f)) });
      for (const s of index.shards) {
        const set = sets[s];
        const named = given.filter((g) => basename(g.file) === basename(s));
        // Same set: that file. Else a file matched by name only (the index or the folder has no set
        // id: made before set ids, or shards copied without their manifest), when nothing else of
        // that name could be meant.
        const exact = set ? named.find((g) => g.set === set) : undefined;
        if (exact) {
          allowed.set(s, exact.file);
          continue;
        }
        const loose = named.filter((g) => !g.set || !set);
        const rivals = index.shards.filter((o) => o !== s && basename(o) === basename(s));
        if (loose.length > 1 || (loose.length === 1 && rivals.length)) {
          throw new UsageError(stage, `several shards are named ${basename(s)} (${[s, ...rivals, ...loose.map((g) => g.file)].join(', ')}) and nothing tells their shard sets apart (no set id in the index or the folder's manifest.json); serve without --shards, keep each crawl's manifest.json beside its shards, or rebuild the index with wit embed`);
        }
        if (loose[0]) allowed.set(s, loose[0].file);
      }
    } else {
      for (const s of index.shards) {
        const set = sets[s];
        // A folder now holding another shard set (a new crawl into the same --out) is not this index's.
        const now = set ? await setOf(dirname(s)) : undefined;
        if (set && now && now !== set) continue;
        allowed.set(s, s);
      }
    }
    return new ShardImages(allowed);
  }

  /** Shards that can be read. */
  get size(): number {
    return this.allowed.size;
  }

  /** The image bytes and format of one row, or undefined when the shard is not readable here. */
  async read(shard: string, row: number): Promise<{ bytes: Uint8Array; format: ImageFormat } | undefined> {
    const file = this.allowed.get(shard);
    if (!file || !Number.isInteger(row) || row < 0) return undefined;
    const kind = formatOfShard(file);
    if (kind === 'files') {
      // one member read, by its place in the folder's sorted keys (the order the index was made in)
      const bytes = await filesShardImage(file, row);
      return bytes ? { bytes, format: sniffFormat(bytes) } : undefined;
    }
    if (kind !== 'parquet') return this.scan(file, row);
    const { buf, close } = await fileAsyncBuffer(file);
    try {
      let meta = this.meta.get(file);
      if (!meta) {
        meta = await parquetMetadataAsync(buf);
        if (this.meta.size > 256) this.meta.clear();
        this.meta.set(file, meta);
      }
      const names = new Set(meta.schema.map((s) => s.name));
      const format = IMAGE_FORMATS.find((f) => names.has(f));
      if (!format || row >= Number(meta.num_rows)) return undefined;
      const rows = (await parquetReadObjects({ file: buf, metadata: meta, rowStart: row, rowEnd: row + 1, columns: [format], utf8: false })) as Record<string, unknown>[];
      const bytes = rows[0]?.[format];
      return bytes instanceof Uint8Array ? { bytes, format } : undefined;
    } finally {
      await close();
    }
  }

  /** Other shard formats: read the shard up to the row. */
  private async scan(file: string, row: number): Promise<{ bytes: Uint8Array; format: ImageFormat } | undefined> {
    let i = 0;
    for await (const rec of readShardFile(file)) {
      if (i++ === row) return { bytes: rec.image, format: sniffFormat(rec.image) };
    }
    return undefined;
  }
}

/** Image format from the first bytes. */
function sniffFormat(b: Uint8Array): ImageFormat {
  if (b[0] === 0x89 && b[1] === 0x50) return 'png';
  if (b[0] === 0x52 && b[1] === 0x49 && b[8] === 0x57) return 'webp';
  return 'jpg';
}
