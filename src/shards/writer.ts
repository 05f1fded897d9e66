import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ParquetFileWriter } from './parquet-writer.js';
import { shardColumns, type ImageFormat, type PairRecord } from './record.js';
import { WitError } from '../util/errors.js';

/** Options of one shard file. */
export interface ShardWriterOptions {
  /** Image column name/encoding (default jpg). */
  imageFormat?: ImageFormat;
  /** Write the `similarity` column (filtered shards). */
  withSimilarity?: boolean;
  /** Rows per row group (default 1000); memory is bounded by about one row group. */
  rowGroupSize?: number;
  /** Also flush a row group once its image bytes reach this many bytes (default 64 MiB). */
  rowGroupBytes?: number;
  /** Key-value metadata stored in the Parquet footer. */
  metadata?: Record<string, string>;
}

/** Contents of `NNNNN_stats.json`: the writer's counts plus whatever the stage adds. */
export interface ShardStats {
  shard: string;
  count: number;
  bytes: number;
  start_time: string;
  end_time: string;
  duration: number;
  [extra: string]: unknown;
}

/** `dir/00042.parquet` (prefix, e.g. a job id, goes before the number). */
export function shardPath(dir: string, index: number, prefix = ''): string {
  return join(dir, `${prefix}${String(index).padStart(5, '0')}.parquet`);
}

/** `dir/00042_stats.json` for `dir/00042.parquet`. */
export function statsPathFor(shardFile: string): string {
  return shardFile.replace(/\.parquet$/, '_stats.json');
}

/** Writes JSON atomically (temp file + rename), so a crash never leaves half a file. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  await writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
  await rename(tmp, path);
}

/**
 * Streams pair records into one shard. Rows are written under a hidden temporary name
 * (`.00042.parquet.tmp-PID`, which no reader lists) and renamed to the final name only when
 * the footer is written and synced; then `00042_stats.json` is written beside it. A shard is
 * finished when both exist; a killed writer leaves only the temporary file.
 */
export class ShardWriter {
  private buffer: PairRecord[] = [];
  private bufferBytes = 0;
  private rows = 0;
  private imageBytes = 0;
  private readonly started = new Date();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly tmpPath: string,
    private readonly pq: ParquetFileWriter,
    private readonly rowGroupSize: number,
    private readonly rowGroupBytes: number,
  ) {}

  /** Opens a shard for writing at `path` (its directory is created). Throws WitError if it cannot. */
  static async open(path: string, opts: ShardWriterOptions = {}): Promise<ShardWriter> {
    if (!path.endsWith('.parquet')) throw new WitError('shards', `shard name must end in .parquet`, { file: path });
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
    const cols = shardColumns(opts.imageFormat ?? 'jpg', opts.withSimilarity ?? false);
    let pq: ParquetFileWriter;
    try {
      pq = await ParquetFileWriter.create(tmp, cols, opts.metadata);
    } catch (err) {
      throw new WitError('shards', `cannot create shard: ${(err as Error).message}`, { file: path, cause: err });
    }
    return new ShardWriter(path, tmp, pq, opts.rowGroupSize ?? 1000, opts.rowGroupBytes ?? 64 * 1024 * 1024);
  }

  /** Rows written (or buffered) so far. */
  get count(): number {
    return this.rows;
  }

  /** Adds one record; flushes a row group when it is full. */
  async write(rec: PairRecord): Promise<void> {
    if (this.closed) throw new WitError('shards', 'write after close', { file: this.path });
    this.buffer.push(rec);
    this.rows++;
    this.bufferBytes += rec.image.byteLength;
    this.imageBytes += rec.image.byteLength;
    if (this.buffer.length >= this.rowGroupSize || this.bufferBytes >= this.rowGroupBytes) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.buffer.length) return;
    const rows = this.buffer;
    this.buffer = [];
    this.bufferBytes = 0;
    await this.pq.writeRowGroup(rows);
  }

  /**
   * Finishes the shard: footer, fsync, rename to the final name, then the stats file
   * (writer counts merged with `extraStats`). Returns the stats written.
   */
  async close(extraStats: Record<string, unknown> = {}): Promise<ShardStats> {
    if (this.closed) throw new WitError('shards', 'closed twice', { file: this.path });
    await this.flush();
    this.closed = true;
    const { bytes } = await this.pq.finish();
    await rename(this.tmpPath, this.path);
    const end = new Date();
    const stats: ShardStats = {
      shard: basename(this.path),
      ...extraStats,
      count: this.rows,
      bytes,
      image_bytes: this.imageBytes,
      start_time: this.started.toISOString(),
      end_time: end.toISOString(),
      duration: (end.getTime() - this.started.getTime()) / 1000,
    };
    await writeJsonAtomic(statsPathFor(this.path), stats);
    return stats;
  }

  /** Abandons the shard: closes and deletes the temporary file. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pq.abort();
    await rm(this.tmpPath, { force: true });
  }
}
