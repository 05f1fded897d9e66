import { readdir, stat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { IMAGE_FORMATS, type ImageFormat, type PairRecord } from './record.js';
import { InputError, UsageError } from '../util/errors.js';

/** Options for reading shards. */
export interface ShardReadOptions {
  /** Read the image bytes (default true); false skips the image column entirely (fast). */
  images?: boolean;
}

/**
 * Expands files and directories into the list of shard files, sorted by name. Directories
 * contribute their `*.parquet` (temporary files start with '.' and are never listed).
 * Throws UsageError for a path that does not exist or holds no shards.
 */
export async function listShards(paths: string | readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of typeof paths === 'string' ? [paths] : paths) {
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new UsageError('shards', `no such file or directory`, { file: p });
    }
    if (st.isDirectory()) {
      const names = (await readdir(p)).filter((n) => n.endsWith('.parquet') && !n.startsWith('.')).sort();
      if (!names.length) throw new UsageError('shards', `directory holds no .parquet shards`, { file: p });
      out.push(...names.map((n) => join(p, n)));
    } else {
      out.push(p);
    }
  }
  return out;
}

/** A file as hyparquet's AsyncBuffer: reads only the ranges asked for. Close it when done. */
export async function fileAsyncBuffer(path: string): Promise<{ buf: AsyncBuffer; close: () => Promise<void> }> {
  const fh = await open(path, 'r');
  const size = (await fh.stat()).size;
  const buf: AsyncBuffer = {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const e = end ?? size;
      const out = new Uint8Array(Math.max(0, e - start));
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await fh.read(out, done, out.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out.buffer;
    },
  };
  return { buf, close: () => fh.close() };
}

/** Footer metadata of one shard; throws InputError naming the file when it is not valid Parquet. */
export async function readShardMetadata(path: string): Promise<FileMetaData> {
  const { buf, close } = await fileAsyncBuffer(path);
  try {
    return await parquetMetadataAsync(buf);
  } catch (err) {
    throw new InputError('shards', path, `not a readable Parquet shard (truncated or corrupt?): ${(err as Error).message}`, { cause: err });
  } finally {
    await close();
  }
}

function imageColumnOf(meta: FileMetaData): ImageFormat | undefined {
  const names = new Set(meta.schema.map((s) => s.name));
  return IMAGE_FORMATS.find((f) => names.has(f));
}

function toRecord(row: Record<string, unknown>, fmt: ImageFormat | undefined): PairRecord {
  const img = fmt ? row[fmt] : undefined;
  const queries = row.queries;
  return {
    key: String(row.key ?? ''),
    url: String(row.url ?? ''),
    page_url: (row.page_url as string | null | undefined) ?? null,
    caption: String(row.caption ?? ''),
    queries: Array.isArray(queries) ? queries.map(String) : [],
    image: img instanceof Uint8Array ? img : new Uint8Array(0),
    width: Number(row.width ?? 0),
    height: Number(row.height ?? 0),
    original_width: Number(row.original_width ?? 0),
    original_height: Number(row.original_height ?? 0),
    sha256: String(row.sha256 ?? ''),
    similarity: row.similarity == null ? null : Number(row.similarity),
  };
}

/** Image format stored in a shard (its image column), or undefined when none. */
export async function shardImageFormat(path: string): Promise<ImageFormat | undefined> {
  return imageColumnOf(await readShardMetadata(path));
}

/**
 * Streams the records of one or more shards (files or directories), one row group at a time,
 * so memory stays at about one row group. Yields PairRecord; throws InputError naming the file
 * when a shard is truncated or corrupt.
 */
export async function* readShards(paths: string | readonly string[], opts: ShardReadOptions = {}): AsyncGenerator<PairRecord> {
  const files = await listShards(paths);
  for (const file of files) yield* readShardFile(file, opts);
}

/** Streams the records of one shard file (see readShards). */
export async function* readShardFile(file: string, opts: ShardReadOptions = {}): AsyncGenerator<PairRecord> {
  const { buf, close } = await fileAsyncBuffer(file);
  try {
    let meta: FileMetaData;
    try {
      meta = await parquetMetadataAsync(buf);
    } catch (err) {
      throw new InputError('shards', file, `not a readable Parquet shard (truncated or corrupt?): ${(err as Error).message}`, { cause: err });
    }
    const fmt = imageColumnOf(meta);
    const top = meta.schema.slice(1).filter((_, i, arr) => i === 0 || true).map((s) => s.name);
    const wanted = new Set(['key', 'url', 'page_url', 'caption', 'queries', 'width', 'height', 'original_width', 'original_height', 'sha256', 'similarity']);
    if (opts.images !== false && fmt) wanted.add(fmt);
    const columns = top.filter((n) => wanted.has(n));
    let rowStart = 0;
    for (const rg of meta.row_groups) {
      const n = Number(rg.num_rows);
      let rows: Record<string, unknown>[];
      try {
        rows = (await parquetReadObjects({ file: buf, metadata: meta, rowStart, rowEnd: rowStart + n, columns, utf8: false })) as Record<string, unknown>[];
      } catch (err) {
        throw new InputError('shards', file, `cannot read rows ${rowStart}-${rowStart + n}: ${(err as Error).message}`, { cause: err });
      }
      rowStart += n;
      for (const row of rows) yield toRecord(row, fmt);
    }
  } finally {
    await close();
  }
}
