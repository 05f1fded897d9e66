/**
 * Where the crawl's rows go: the one place it creates a shard writer (docs/ARCHITECTURE.md, "Crawl").
 * A change of output format (another shard format, extra columns) changes this file.
 */
import { ShardWriter, shardPath, type ExtraColumn, type ShardFormat } from '../shards/index.js';
import type { ImageEncoding } from './image-options.js';

/** What the crawl's shard output needs to know. */
export interface ShardOutputOptions {
  /** Stored image encoding (the image column's name, or the image members' extension). */
  encode: ImageEncoding;
  /** parquet (default) or webdataset (README.md, "The shard format"). */
  format?: ShardFormat;
  /** Url-list columns carried into the shards, typed (`--save-additional-columns`). */
  extras?: readonly ExtraColumn[];
  /** Footer metadata of every shard (stage, version, run). */
  metadata?: Record<string, string>;
}

/** File of shard `index` of a part (`${prefix}NNNNN.parquet` or `.tar` in `out`). */
export function crawlShardFile(out: string, index: number, prefix: string, format: ShardFormat = 'parquet'): string {
  return shardPath(out, index, prefix, format);
}

/** Opens the writer of one shard (written under a temporary name, renamed when closed). */
export function openCrawlShard(file: string, opts: ShardOutputOptions): Promise<ShardWriter> {
  return ShardWriter.open(file, { imageFormat: opts.encode, extras: opts.extras, metadata: opts.metadata });
}
