/**
 * Parquet url lists (img2dataset style `url` + `caption` columns), read with hyparquet one row group
 * at a time, so memory is bounded by the largest row group, not the file.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { parquetMetadataAsync, parquetReadObjects, snappyUncompress, type AsyncBuffer, type Compressors, type FileMetaData } from 'hyparquet';
import { decompressLz4, decompressLz4Raw, decompressZstd } from 'hyparquet-compressors';
import { InputError } from '../../util/errors.js';
import type { Candidate } from '../types.js';

import { inputError, isUrl, type OpenUrl } from './open.js';
import { checkColumns, columnsFor, listCandidate, requiredColumns, type ListOptions } from './lists.js';
import { fileAsyncBuffer } from '../../shards/reader.js';

/**
 * Codecs for hyparquet, each told the page's declared uncompressed size as its output limit, so a
 * page that inflates beyond its header (a decompression bomb) fails once that many bytes are out
 * instead of after inflating it all: gzip and brotli from node:zlib, snappy hyparquet's own, zstd
 * (DataComp's and pyarrow's common choice) and LZ4 from hyparquet-compressors (pure JS), each
 * into a buffer of that size.
 */
const COMPRESSORS: Compressors = {
  GZIP: (input, outputLength) => gunzipSync(input, { maxOutputLength: Math.max(1, outputLength) }),
  BROTLI: (input, outputLength) => brotliDecompressSync(input, { maxOutputLength: Math.max(1, outputLength) }),
  SNAPPY: (input, outputLength) => {
    const out = new Uint8Array(outputLength);
    snappyUncompress(input, out);
    return out;
  },
  ZSTD: (input, outputLength) => decompressZstd(input, new Uint8Array(outputLength)),
  LZ4: (input, outputLength) => decompressLz4(input, outputLength),
  LZ4_RAW: (input, outputLength) => decompressLz4Raw(input, outputLength),
};

/** Default of `maxPageBytes`: the largest uncompressed Parquet page read (README.md, crawl: "Limits"). */
export const DEFAULT_MAX_PAGE_BYTES = 256 * 1024 * 1024;

/**
 * `codecs` held to `maxPageBytes`: a page whose header declares more is refused before any
 * allocation, and a codec's output-limit error (the page inflates beyond its declared size) is
 * named as such.
 */
export function cappedCompressors(codecs: Compressors, maxPageBytes: number): Compressors {
  const capped: Compressors = {};
  for (const [codec, fn] of Object.entries(codecs) as [keyof Compressors, NonNullable<Compressors[keyof Compressors]>][]) {
    capped[codec] = (input, outputLength) => {
      if (outputLength > maxPageBytes) {
        throw new Error(`a ${codec} page declares ${outputLength} uncompressed bytes, over the limit of ${maxPageBytes} (--max-page-bytes)`);
      }
      try {
        return fn(input, outputLength);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e?.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
          throw new Error(`a ${codec} page inflates beyond its declared ${outputLength} bytes (a decompression bomb?)`, { cause: err });
        }
        throw err;
      }
    };
  }
  return capped;
}


/**
 * A local path for a Parquet input: the file itself, or for an http(s) url a copy downloaded through
 * `openUrl` into a temporary folder (Parquet needs random access), which the caller removes (`tmp`).
 * Throws InputError naming the input when it cannot be fetched; leaves nothing behind then.
 */
async function localCopy(input: string, opts: { openUrl?: OpenUrl; signal?: AbortSignal }): Promise<{ path: string; tmp: string | null }> {
  if (!isUrl(input)) return { path: input, tmp: null };
  if (!opts.openUrl) throw new InputError('crawl', input, 'reading an input file over http(s) needs a fetcher (openUrl)');
  const tmp = await mkdtemp(join(tmpdir(), 'wit-parquet-'));
  const path = join(tmp, 'input.parquet');
  try {
    const body = await opts.openUrl(input);
    const src = Symbol.asyncIterator in body ? Readable.from(body as AsyncIterable<Uint8Array>) : (body as NodeJS.ReadableStream);
    await pipeline(src, createWriteStream(path), { signal: opts.signal });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw inputError(input, err, 'cannot fetch');
  }
  return { path, tmp };
}

/**
 * Candidates of a Parquet url list, in row order, one row group in memory at a time. An http(s)
 * input is first downloaded through `openUrl` to a temporary file (Parquet needs random access),
 * removed afterwards. Throws InputError naming the file when it is not Parquet or lacks a column.
 */
export async function* readParquet(
  input: string,
  opts: ListOptions & { openUrl?: OpenUrl; maxPageBytes?: number },
): AsyncGenerator<Candidate> {
  const compressors = cappedCompressors(COMPRESSORS, opts.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES);
  const { path, tmp } = await localCopy(input, opts);
  let file: { buf: AsyncBuffer; close: () => Promise<void> };
  try {
    file = await fileAsyncBuffer(path);
  } catch (err) {
    if (tmp) await rm(tmp, { recursive: true, force: true });
    throw inputError(input, err);
  }
  try {
    let meta: FileMetaData;
    try {
      meta = await parquetMetadataAsync(file.buf);
    } catch (err) {
      throw new InputError('crawl', input, `not a readable Parquet file: ${(err as Error).message}`, { cause: err });
    }
    checkColumns(input, 'Parquet file', meta.schema.slice(1).map((s) => s.name), opts);
    const columns = requiredColumns(columnsFor(meta.schema.slice(1).map((s) => s.name), opts));
    let rowStart = 0;
    for (let g = 0; g < meta.row_groups.length; g++) {
      const rowEnd = rowStart + Number(meta.row_groups[g]!.num_rows);
      opts.signal?.throwIfAborted();
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({
          file: file.buf,
          metadata: meta,
          columns,
          rowStart,
          rowEnd,
          compressors,
        });
      } catch (err) {
        throw new InputError('crawl', input, `row group ${g}: cannot decode (${(err as Error).message})`, { cause: err });
      }
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r]!;
        const c = listCandidate((col) => row[col], input, `${input}: row ${rowStart + r}`, opts);
        if (c) yield c;
      }
      rowStart = rowEnd;
    }
  } finally {
    await file.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

/** Top-level schema elements of a Parquet url list (a url input is fetched to a temporary file first). */
/** Rows of a local Parquet file, from its footer. Throws InputError naming the file when it is not Parquet. */
export async function parquetRowCount(path: string): Promise<number> {
  let file: { buf: AsyncBuffer; close: () => Promise<void> };
  try {
    file = await fileAsyncBuffer(path);
  } catch (err) {
    throw inputError(path, err);
  }
  try {
    const meta = await parquetMetadataAsync(file.buf).catch((err: unknown) => {
      throw new InputError('crawl', path, `not a readable Parquet file: ${(err as Error).message}`, { cause: err });
    });
    return Number(meta.num_rows);
  } finally {
    await file.close();
  }
}

export async function parquetSchema(input: string, opts: { openUrl?: OpenUrl; signal?: AbortSignal }): Promise<Array<{ name: string; type?: string }>> {
  const { path, tmp } = await localCopy(input, opts);
  try {
    let file: { buf: AsyncBuffer; close: () => Promise<void> };
    try {
      file = await fileAsyncBuffer(path);
    } catch (err) {
      throw inputError(input, err);
    }
    try {
      const meta = await parquetMetadataAsync(file.buf).catch((err: unknown) => {
        throw new InputError('crawl', input, `not a readable Parquet file: ${(err as Error).message}`, { cause: err });
      });
      const out: Array<{ name: string; type?: string }> = [];
      const schema = meta.schema;
      const skip = (at: number): number => {
        let next = at + 1;
        for (let c = 0; c < (schema[at]!.num_children ?? 0); c++) next = skip(next);
        return next;
      };
      for (let i = 1; i < schema.length; i = skip(i)) out.push({ name: schema[i]!.name, type: schema[i]!.num_children ? undefined : schema[i]!.type });
      return out;
    } finally {
      await file.close();
    }
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}
