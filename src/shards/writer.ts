import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ParquetFileWriter } from './parquet-writer.js';
import { shardColumns, statusColumns, type ExtraColumn, type ImageFormat, type PairRecord, type StatusRow } from './record.js';
import { WitError, withPath } from '../util/errors.js';
import { tempPathFor, writeJsonAtomic } from '../util/atomic.js';
import { tempOwner, testHook } from '../util/output.js';

/** Shards this process has finished, for the test hook `shards:closed-N` (a kill right after the Nth). */
let shardsClosed = 0;

/**
 * The three on-disk shard formats (README.md, "The shard format"): Parquet files, WebDataset tars,
 * and img2dataset's `files` layout (a folder of `KEY.jpg`/`.txt`/`.json` per shard).
 */
export type ShardFormat = 'parquet' | 'webdataset' | 'files';
export const SHARD_FORMATS: readonly ShardFormat[] = ['parquet', 'webdataset', 'files'];

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
  /** Key-value metadata stored in the Parquet footer (of the metadata file for WebDataset). */
  metadata?: Record<string, string>;
  /** Pass-through input columns (`--save-additional-columns`), after wit's own. */
  extras?: readonly ExtraColumn[];
}

/**
 * One shard being written, whatever its format: records go in, `close` makes it visible
 * atomically (data file, then metadata, then `NNNNN_stats.json`, the mark of a finished shard).
 */
export interface ShardSink {
  /** Final path of the data file (`NNNNN.parquet` or `NNNNN.tar`) or folder (`NNNNN`, files). */
  readonly path: string;
  /** Records written so far. */
  readonly count: number;
  write(rec: PairRecord): Promise<void>;
  /**
   * Finishes the shard. `status` (url-list inputs) lists every input row that fell in the shard
   * with its outcome: written to the shard's metadata file (WebDataset) or `status/NNNNN.parquet`
   * (Parquet, whose data files hold only pairs with images).
   */
  close(extraStats?: Record<string, unknown>, status?: readonly StatusRow[]): Promise<ShardStats>;
  /** Abandons the shard: its temporary files are deleted, nothing becomes visible. */
  abort(): Promise<void>;
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

/**
 * The error of a shard that cannot be created: a file-system error (a full disk, a read-only folder)
 * as one line naming the shard (src/cli/failure.ts), anything else as "cannot create shard". Every writer's.
 */
export function shardCreationError(err: unknown, path: string): unknown {
  if (typeof (err as NodeJS.ErrnoException)?.code === 'string') return withPath(err, path);
  return new WitError('shards', `cannot create shard: ${(err as Error).message}`, { file: path, cause: err });
}

/** The completion record of a shard that writing finishes now: the writer's counts and times, with what the stage adds. */
export function finishedShardStats(path: string, started: Date, extraStats: Record<string, unknown>, counts: { count: number; bytes: number; image_bytes: number }): ShardStats {
  const end = new Date();
  return {
    shard: basename(path),
    ...extraStats,
    ...counts,
    start_time: started.toISOString(),
    end_time: end.toISOString(),
    duration: (end.getTime() - started.getTime()) / 1000,
  };
}

/** Extension of a format's data files ('' for `files`, whose shards are folders). */
export function shardExtension(format: ShardFormat): 'parquet' | 'tar' | '' {
  return format === 'webdataset' ? 'tar' : format === 'files' ? '' : 'parquet';
}

/** A shard path without a trailing separator (`dir/00042/` names the folder shard `dir/00042`). */
function trimmed(path: string): string {
  return path.length > 1 ? path.replace(/[\\/]+$/, '') : path;
}

/**
 * The format of a shard, by its name: `.tar` WebDataset, `.parquet` Parquet, and a name with
 * neither (`dir/00042`, a folder) img2dataset's `files` layout.
 */
export function formatOfShard(file: string): ShardFormat {
  const f = trimmed(file);
  return f.endsWith('.tar') ? 'webdataset' : f.endsWith('.parquet') ? 'parquet' : 'files';
}

/** A shard's name without its format's extension: `00042` for `dir/00042.tar`, `dir/00042.parquet` or `dir/00042`. */
export function shardBaseName(file: string): string {
  return basename(trimmed(file)).replace(/\.(parquet|tar)$/, '');
}

/** The file (or folder) name of shard `base` in `format`: `00042.parquet`, `00042.tar`, `00042`. */
export function shardFileName(base: string, format: ShardFormat): string {
  const ext = shardExtension(format);
  return ext ? `${base}.${ext}` : base;
}

/** `dir/00042.parquet`, `dir/00042.tar` or (files) `dir/00042` (prefix, e.g. a job id, goes before the number). */
export function shardPath(dir: string, index: number, prefix = '', format: ShardFormat = 'parquet'): string {
  return join(dir, shardFileName(`${prefix}${String(index).padStart(5, '0')}`, format));
}

/** `dir/00042_stats.json` for `dir/00042.parquet`, `dir/00042.tar` or the folder `dir/00042`. */
export function statsPathFor(shardFile: string): string {
  const f = trimmed(shardFile);
  return /\.(parquet|tar)$/.test(f) ? f.replace(/\.(parquet|tar)$/, '_stats.json') : `${f}_stats.json`;
}

/**
 * The metadata file beside a WebDataset or files shard: `dir/00042.parquet` for `dir/00042.tar`
 * or the folder `dir/00042` (every column but the image, with status and error_message).
 */
export function metadataPathFor(shardFile: string): string {
  const f = trimmed(shardFile);
  return f.endsWith('.tar') ? f.replace(/\.tar$/, '.parquet') : f.endsWith('.parquet') ? f : `${f}.parquet`;
}

/** Where a Parquet shard's url-list status rows go: `dir/status/00042.parquet`. */
export function statusPathFor(parquetFile: string): string {
  return join(dirname(parquetFile), 'status', basename(parquetFile));
}

export { writeJsonAtomic };

/** Writes status rows (or, without them, nothing) to `path` atomically. */
export async function writeStatusFile(path: string, rows: readonly StatusRow[], opts: ShardWriterOptions): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const pq = await ParquetFileWriter.create<StatusRow>(tmp, statusColumns(opts.withSimilarity ?? false, opts.extras ?? []), opts.metadata);
  try {
    const size = opts.rowGroupSize ?? 1000;
    for (let i = 0; i < rows.length; i += size) await pq.writeRowGroup(rows.slice(i, i + size));
    await pq.finish();
    await rename(tmp, path);
  } catch (err) {
    await pq.abort();
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Opens a shard of the format its name says (`.parquet`, `.tar`, or no extension: a `files` folder). */
export async function openShardWriter(path: string, opts: ShardWriterOptions = {}): Promise<ShardSink> {
  try {
    const format = formatOfShard(path);
    if (format === 'webdataset') {
      const { WebDatasetShardWriter } = await import('./webdataset.js');
      return namingErrors(await WebDatasetShardWriter.open(path, opts));
    }
    if (format === 'files') {
      const { FilesShardWriter } = await import('./files.js');
      return namingErrors(await FilesShardWriter.open(trimmed(path), opts));
    }
    return namingErrors(await ParquetShardWriter.open(path, opts));
  } catch (err) {
    throw withPath(err, path);
  }
}

/**
 * The sink with its file named in every error of a write or close (a full disk fails a write on an
 * open file, whose error has no path): see withPath.
 */
function namingErrors(sink: ShardSink): ShardSink {
  const named = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    try {
      return await f(...a);
    } catch (err) {
      throw withPath(err, sink.path);
    }
  };
  return {
    get path() { return sink.path; },
    get count() { return sink.count; },
    write: named((rec: PairRecord) => sink.write(rec)),
    close: named((extraStats?: Record<string, unknown>, status?: readonly StatusRow[]) => sink.close(extraStats, status)),
    abort: () => sink.abort(),
  };
}

/** Opens shards of any format: `ShardWriter.open('00000.tar' | '00000.parquet' | '00000', …)`. */
export const ShardWriter = { open: openShardWriter };
/** A shard being written (any format). */
export type ShardWriter = ShardSink;

/**
 * Streams pair records into one shard. Rows are written under a hidden temporary name
 * (`.00042.parquet.tmp-PID`, which no reader lists); when the footer is written and synced,
 * `00042_stats.json` is written beside it and then the data file is renamed to its final name. A
 * shard is finished when both exist; a killed writer never leaves a data file without its stats.
 */
export class ParquetShardWriter implements ShardSink {
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
    private readonly opts: ShardWriterOptions,
  ) {}

  /** Opens a shard for writing at `path` (its directory is created). Throws WitError if it cannot. */
  static async open(path: string, opts: ShardWriterOptions = {}): Promise<ParquetShardWriter> {
    if (!path.endsWith('.parquet')) throw new WitError('shards', `shard name must end in .parquet`, { file: path });
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(dirname(path), `.${basename(path)}.tmp-${tempOwner()}`);
    const cols = shardColumns(opts.imageFormat ?? 'jpg', opts.withSimilarity ?? false, opts.extras ?? []);
    let pq: ParquetFileWriter;
    try {
      pq = await ParquetFileWriter.create(tmp, cols, opts.metadata);
    } catch (err) {
      throw shardCreationError(err, path);
    }
    return new ParquetShardWriter(path, tmp, pq, opts.rowGroupSize ?? 1000, opts.rowGroupBytes ?? 64 * 1024 * 1024, opts);
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
  async close(extraStats: Record<string, unknown> = {}, status?: readonly StatusRow[]): Promise<ShardStats> {
    if (this.closed) throw new WitError('shards', 'closed twice', { file: this.path });
    await this.flush();
    this.closed = true;
    const { bytes } = await this.pq.finish();
    if (status) await writeStatusFile(statusPathFor(this.path), status, this.opts);
    const stats = finishedShardStats(this.path, this.started, extraStats, { count: this.rows, bytes, image_bytes: this.imageBytes });
    // The completion record first, then the data file's final name: a data file under its final
    // name always has its stats (a stop in between leaves stats without data, which no reader lists).
    await writeJsonAtomic(statsPathFor(this.path), stats);
    testHook('shards:stats-written');
    await rename(this.tmpPath, this.path);
    testHook(`shards:closed-${++shardsClosed}`);
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
