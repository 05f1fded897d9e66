import { basename } from 'node:path';
import { parquetMetadataAsync, parquetReadObjects, type FileMetaData } from 'hyparquet';
import { fileAsyncBuffer, listShards, readShardFile, IMAGE_FORMATS, type ImageFormat } from '../shards/index.js';

/** Content types of the image columns. */
export const IMAGE_TYPES: Record<ImageFormat, string> = { jpg: 'image/jpeg', webp: 'image/webp', png: 'image/png' };

/**
 * Reads single images out of the shards an index was made from, by (shard, row). Only shards the
 * index lists can be read: with `shardDirs` (the shards moved or copied elsewhere) a listed shard is
 * looked up there by its file name, else at the path the index recorded. No other file is ever opened.
 */
export class ShardImages {
  private readonly meta = new Map<string, FileMetaData>();

  private constructor(private readonly allowed: Map<string, string>) {}

  /** The reader for an index's shards (`indexShards`: the resolved paths the index lists). */
  static async open(indexShards: string[], shardDirs?: string[]): Promise<ShardImages> {
    const allowed = new Map<string, string>();
    if (shardDirs?.length) {
      const byName = new Map((await listShards(shardDirs)).map((f) => [basename(f), f]));
      for (const s of indexShards) {
        const f = byName.get(basename(s));
        if (f) allowed.set(s, f);
      }
    } else {
      for (const s of indexShards) allowed.set(s, s);
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
    if (!file.endsWith('.parquet')) return this.scan(file, row);
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
