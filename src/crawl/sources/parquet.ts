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
import { InputError } from '../../util/errors.js';
import type { Candidate } from '../types.js';
import { toCandidate } from './candidate.js';
import { inputError, isUrl, type OpenUrl } from './open.js';
import type { ListOptions } from './lists.js';
import { fileAsyncBuffer } from '../../shards/reader.js';

/**
 * Codecs for hyparquet, from node:zlib, each told the page's declared uncompressed size as its output
 * limit, so a page that inflates beyond its header (a decompression bomb) fails once that many bytes
 * are out instead of after inflating it all. Snappy is hyparquet's own, into a buffer of that size.
 */
const COMPRESSORS: Compressors = {
  GZIP: (input, outputLength) => gunzipSync(input, { maxOutputLength: Math.max(1, outputLength) }),
  BROTLI: (input, outputLength) => brotliDecompressSync(input, { maxOutputLength: Math.max(1, outputLength) }),
  SNAPPY: (input, outputLength) => {
    const out = new Uint8Array(outputLength);
    snappyUncompress(input, out);
    return out;
  },
  // Parquet's deprecated LZ4 and ZSTD are not in node:zlib (Node 20); such files fail with a clear error.
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
 * Candidates of a Parquet url list, in row order, one row group in memory at a time. An http(s)
 * input is first downloaded through `openUrl` to a temporary file (Parquet needs random access),
 * removed afterwards. Throws InputError naming the file when it is not Parquet or lacks a column.
 */
export async function* readParquet(
  input: string,
  opts: ListOptions & { openUrl?: OpenUrl; maxPageBytes?: number },
): AsyncGenerator<Candidate> {
  const compressors = cappedCompressors(COMPRESSORS, opts.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES);
  let path = input;
  let tmp: string | null = null;
  if (isUrl(input)) {
    if (!opts.openUrl) throw new InputError('crawl', input, 'reading an input file over http(s) needs a fetcher (openUrl)');
    tmp = await mkdtemp(join(tmpdir(), 'wit-parquet-'));
    path = join(tmp, 'input.parquet');
    try {
      const body = await opts.openUrl(input);
      const src = Symbol.asyncIterator in body ? Readable.from(body as AsyncIterable<Uint8Array>) : (body as NodeJS.ReadableStream);
      await pipeline(src, createWriteStream(path), { signal: opts.signal });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw inputError(input, err, 'cannot fetch');
    }
  }
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
    const names = new Set(meta.schema.slice(1).map((s) => s.name));
    for (const col of [opts.urlColumn, opts.captionColumn]) {
      if (!names.has(col)) {
        throw new InputError('crawl', input, `Parquet file has no column "${col}" (columns: ${[...names].slice(0, 20).join(', ')})`);
      }
    }
    let rowStart = 0;
    for (let g = 0; g < meta.row_groups.length; g++) {
      const rowEnd = rowStart + Number(meta.row_groups[g]!.num_rows);
      opts.signal?.throwIfAborted();
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({
          file: file.buf,
          metadata: meta,
          columns: [opts.urlColumn, opts.captionColumn],
          rowStart,
          rowEnd,
          compressors,
        });
      } catch (err) {
        throw new InputError('crawl', input, `row group ${g}: cannot decode (${(err as Error).message})`, { cause: err });
      }
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r]!;
        const c = toCandidate(row[opts.urlColumn], row[opts.captionColumn], input, `${input}: row ${rowStart + r}`, opts.onBadItem);
        if (c) yield c;
      }
      rowStart = rowEnd;
    }
  } finally {
    await file.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}
