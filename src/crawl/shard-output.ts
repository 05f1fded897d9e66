/**
 * Where the crawl's rows go: the one place it creates a shard writer (docs/ARCHITECTURE.md, "Crawl").
 * A change of output format (another shard format, extra columns) changes this file.
 */
import { ShardWriter, shardPath } from '../shards/index.js';
import type { ImageEncoding } from './image-options.js';

/** What the crawl's shard output needs to know. */
export interface ShardOutputOptions {
  /** Stored image encoding (the image column's name). */
  encode: ImageEncoding;
  /** Footer metadata of every shard (stage, version, run). */
  metadata?: Record<string, string>;
}

/** File of shard `index` of a part (`${prefix}NNNNN.parquet` in `out`). */
export function crawlShardFile(out: string, index: number, prefix: string): string {
  return shardPath(out, index, prefix);
}

/** Opens the writer of one shard (written under a temporary name, renamed when closed). */
export function openCrawlShard(file: string, opts: ShardOutputOptions): Promise<ShardWriter> {
  return ShardWriter.open(file, { imageFormat: opts.encode, metadata: opts.metadata });
}
