import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { IMAGE_FORMATS, RECORD_COLUMNS, type ExtraColumn, type ExtraKind, type ImageFormat, type PairRecord, type StatusRow } from './record.js';
import { InputError, UsageError } from '../util/errors.js';
import { readWebDatasetFile, webDatasetInfo } from './webdataset.js';
import { readShardStats } from './manifest.js';
import { formatOfShard, metadataPathFor, statsPathFor } from './writer.js';
import { filesShardInfo, readFilesShard } from './files.js';
import { openInputFile, readFully } from '../util/input.js';
import { limitCaption, MAX_CAPTION_CHARS } from '../util/caption.js';
import { DistinctCounter } from '../util/distinct.js';

/** Options for reading shards. */
export interface ShardReadOptions {
  /** Read the image bytes (default true); false skips the image column entirely (fast). */
  images?: boolean;
  /**
   * Told of each item of a shard that is not a pair and is left out (a tar member without its
   * image or caption), or that was cut (`caption_too_long`), with a reason (docs/ARCHITECTURE.md,
   * "Errors and dropped items").
   */
  onBadItem?: (reason: string, detail: string) => void;
}

/**
 * Expands files and directories into the list of shard data files, sorted by name. A directory
 * contributes its `*.tar` (WebDataset: the `.parquet` beside them are metadata) or, without tars,
 * its folder shards (img2dataset's `files` layout: a subfolder `NAME/` beside `NAME_stats.json` or
 * `NAME.parquet`, which is then its metadata), or else its `*.parquet`; temporary files start with
 * '.' and are never listed. A folder shard named directly is one shard. Throws UsageError for a
 * path that does not exist or holds no shards, InputError for an unfinished shard.
 */
export async function listShards(paths: string | readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const folders = new Map<string, { siblings: Set<string>; records: boolean }>();
  const siblingsOf = async (dir: string) => {
    if (!folders.has(dir)) {
      const siblings = new Set((await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')));
      folders.set(dir, { siblings, records: [...siblings].some((n) => n.endsWith('_stats.json')) });
    }
    return folders.get(dir)!;
  };
  for (const raw of typeof paths === 'string' ? [paths] : paths) {
    const p = raw.length > 1 ? raw.replace(/[\\/]+$/, '') : raw;
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new UsageError('shards', `no such file or directory`, { file: p });
    }
    if (st.isDirectory() && (await isFolderShard(p, await siblingsOf(dirname(p))))) {
      const f = await siblingsOf(dirname(p));
      refuseUnfinished(p, f.siblings, true);
      out.push(p);
    } else if (st.isDirectory()) {
      const entries = (await readdir(p, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
      const all = entries.map((e) => e.name);
      const siblings = new Set(all);
      const records = all.some((n) => n.endsWith('_stats.json'));
      const tars = all.filter((n) => n.endsWith('.tar'));
      // folder shards: a subfolder with its completion record or metadata beside it; with records
      // in the folder, also a shard-named subfolder without them (a stopped writer's: refused below)
      const dirs = tars.length ? [] : entries.filter((e) => e.isDirectory() && (siblings.has(`${e.name}_stats.json`) || siblings.has(`${e.name}.parquet`) || (records && /^[A-Za-z0-9_-]*\d{5}$/.test(e.name)))).map((e) => e.name);
      const names = (tars.length ? tars : dirs.length ? dirs : all.filter((n) => n.endsWith('.parquet'))).sort();
      if (!names.length) throw new UsageError('shards', `directory holds no shards (.parquet, WebDataset .tar, or img2dataset files folders)`, { file: p });
      for (const n of names) refuseUnfinished(join(p, n), siblings, records || dirs.length > 0);
      out.push(...names.map((n) => join(p, n)));
    } else {
      const f = await siblingsOf(dirname(p));
      if (/\.(parquet|tar)$/.test(p)) refuseUnfinished(p, f.siblings, f.records);
      out.push(p);
    }
  }
  return out;
}

/**
 * Whether a folder is one files shard rather than a folder of shards: it has its completion
 * record `NAME_stats.json` beside it, or its metadata `NAME.parquet` beside it while holding no
 * shards of its own.
 */
async function isFolderShard(dir: string, f: { siblings: Set<string> }): Promise<boolean> {
  const name = basename(dir);
  if (f.siblings.has(`${name}_stats.json`)) return true;
  if (!f.siblings.has(`${name}.parquet`)) return false;
  const inside = await readdir(dir).catch(() => [] as string[]);
  return !inside.some((n) => /\.(tar|parquet)$/.test(n) || n.endsWith('_stats.json'));
}

/**
 * A shard's completion record is `NNNNN_stats.json`, written before the data file gets its final
 * name (src/shards/writer.ts). In a folder whose shards carry these records (wit's, img2dataset's),
 * a data file (or files folder) without its own is a shard whose writer stopped (killed, disk full,
 * or an older wit that renamed first): never read as finished, whatever reads it
 * (docs/ARCHITECTURE.md, "Crash safety").
 */
function refuseUnfinished(file: string, siblings: ReadonlySet<string>, keepsRecords: boolean): void {
  if (!keepsRecords) return;
  const stats = basename(statsPathFor(file));
  if (siblings.has(stats)) return;
  throw new InputError('shards', file, `an unfinished shard: its completion record ${stats} is missing (the run writing it stopped); rerun that command to finish it, or move the file away`);
}

/**
 * The format a shard is read as: its name's (`formatOfShard`), except that a name without `.tar` or
 * `.parquet` that is not a folder is read as Parquet (a `shard.pq` file is a Parquet file that says
 * so when it is not one, not a folder that is missing).
 */
export async function shardFormatOnDisk(path: string): Promise<'parquet' | 'webdataset' | 'files'> {
  const format = formatOfShard(path);
  if (format !== 'files') return format;
  return (await stat(path).then((st) => st.isDirectory(), () => false)) ? 'files' : 'parquet';
}

/** A file as hyparquet's AsyncBuffer: reads only the ranges asked for. Close it when done. */
export async function fileAsyncBuffer(path: string): Promise<{ buf: AsyncBuffer; close: () => Promise<void> }> {
  // a regular file (src/util/input.ts): a device or FIFO named as a shard is refused, not read
  const { fh, size } = await openInputFile(path, { kind: 'shard', stage: 'shards' });
  const buf: AsyncBuffer = {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const e = end ?? size;
      const out = new Uint8Array(Math.max(0, e - start));
      await readFully(fh, out, 0, out.length, start); // in pieces: one read of 2 GiB aborts Node
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

/** Names of the top-level columns (a nested column's children are not columns of their own). */
function topLevelColumns(meta: FileMetaData): string[] {
  const out: string[] = [];
  const schema = meta.schema;
  let i = 1;
  const skip = (at: number): number => {
    let next = at + 1;
    for (let c = 0; c < (schema[at]!.num_children ?? 0); c++) next = skip(next);
    return next;
  };
  while (i < schema.length) {
    out.push(schema[i]!.name);
    i = skip(i);
  }
  return out;
}

function toRecord(row: Record<string, unknown>, fmt: ImageFormat | undefined, extras: readonly string[] = []): PairRecord {
  const img = fmt ? row[fmt] : undefined;
  const queries = row.queries;
  const rec: PairRecord = {
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
  if (extras.length) {
    rec.extra = {};
    for (const e of extras) {
      const v = row[e];
      rec.extra[e] = v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v ?? null;
    }
  }
  return rec;
}

/** Image format stored in a shard (its image column or members), or undefined when none. */
export async function shardImageFormat(path: string): Promise<ImageFormat | undefined> {
  const format = await shardFormatOnDisk(path);
  if (format === 'webdataset') return (await webDatasetInfo(path)).imageFormat;
  if (format === 'files') return (await filesShardInfo(path)).imageFormat;
  return imageColumnOf(await readShardMetadata(path));
}

/** What a shard holds, whatever its format: pairs, column names, image format. */
export interface ShardInfo {
  format: 'parquet' | 'webdataset' | 'files';
  rows: number;
  columns: string[];
  imageFormat?: ImageFormat;
}

/**
 * Pairs, columns and image format of one shard without reading images: a Parquet footer, or a
 * tar's headers or a files folder's listing (the pair count from its stats file when it has one).
 * InputError when unreadable.
 */
export async function readShardInfo(path: string): Promise<ShardInfo> {
  const format = await shardFormatOnDisk(path);
  if (format === 'files') return { format, ...(await filesShardInfo(path)) };
  if (format === 'webdataset') {
    const info = await webDatasetInfo(path);
    const stats = await readShardStats(path);
    return { format: 'webdataset', ...info, rows: typeof stats?.count === 'number' ? stats.count : info.rows };
  }
  const meta = await readShardMetadata(path);
  return { format: 'parquet', rows: Number(meta.num_rows), columns: meta.schema.slice(1).map((s) => s.name), imageFormat: imageColumnOf(meta) };
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

/**
 * Streams the records of one shard, a Parquet file, a WebDataset tar or a files folder (see readShards). A caption over
 * the one caption limit (src/util/caption.ts) is cut at a word and told to `onBadItem` as
 * `caption_too_long`: every command reading shards sees the same bounded caption.
 */
export async function* readShardFile(file: string, opts: ShardReadOptions = {}): AsyncGenerator<PairRecord> {
  const format = await shardFormatOnDisk(file);
  const records = format === 'webdataset' ? readWebDatasetFile(file, opts) : format === 'files' ? readFilesShard(file, opts) : readParquetShardFile(file, opts);
  for await (const rec of records) {
    if (rec.caption.length > MAX_CAPTION_CHARS) {
      const chars = rec.caption.length;
      rec.caption = limitCaption(rec.caption).text;
      opts.onBadItem?.('caption_too_long', `${file}: ${rec.key}: a caption of ${chars} characters cut to ${rec.caption.length}`);
    }
    yield rec;
  }
}

/** Streams the records of one Parquet shard, one row group at a time. */
export async function* readParquetShardFile(file: string, opts: ShardReadOptions = {}): AsyncGenerator<PairRecord> {
  const { buf, close } = await fileAsyncBuffer(file);
  try {
    let meta: FileMetaData;
    try {
      meta = await parquetMetadataAsync(buf);
    } catch (err) {
      throw new InputError('shards', file, `not a readable Parquet shard (truncated or corrupt?): ${(err as Error).message}`, { cause: err });
    }
    const fmt = imageColumnOf(meta);
    const top = topLevelColumns(meta);
    const known = new Set<string>([...RECORD_COLUMNS, ...IMAGE_FORMATS, 'status', 'error_message']);
    const extras = top.filter((n) => !known.has(n));
    const columns = top.filter((n) => RECORD_COLUMNS.includes(n) || extras.includes(n) || (n === fmt && opts.images !== false));
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
      for (const row of rows) yield toRecord(row, fmt, extras);
    }
  } finally {
    await close();
  }
}

/** Kind of a pass-through column from its Parquet schema element (BYTE_ARRAY and the rest: string). */
export function extraKindOf(el: { type?: string; converted_type?: string; logical_type?: { type: string } }): ExtraKind {
  switch (el.type) {
    case 'INT32':
      return 'int32';
    case 'INT64':
      return 'int64';
    case 'FLOAT':
      return 'float';
    case 'DOUBLE':
      return 'double';
    case 'BOOLEAN':
      return 'boolean';
    default:
      return 'string';
  }
}

/** Pass-through columns of a shard or metadata file: every top-level column wit does not own, typed. */
export function extraColumnsOf(meta: FileMetaData): ExtraColumn[] {
  const known = new Set<string>([...RECORD_COLUMNS, ...IMAGE_FORMATS, 'status', 'error_message']);
  const top = new Set(topLevelColumns(meta));
  return meta.schema.slice(1).filter((el) => top.has(el.name) && !known.has(el.name) && !el.num_children).map((el) => ({ name: el.name, kind: extraKindOf(el) }));
}

/**
 * Rows of a shard's metadata or status file (see statusColumns) as StatusRow, the record (without
 * image) filled for successes. Reads the whole file: metadata files are small (no images).
 */
export async function readStatusRows(file: string): Promise<{ rows: StatusRow[]; extras: ExtraColumn[] }> {
  const { buf, close } = await fileAsyncBuffer(file);
  try {
    let meta: FileMetaData;
    try {
      meta = await parquetMetadataAsync(buf);
    } catch (err) {
      throw new InputError('shards', file, `not a readable Parquet metadata file: ${(err as Error).message}`, { cause: err });
    }
    const extras = extraColumnsOf(meta);
    const objs = (await parquetReadObjects({ file: buf, metadata: meta })) as Record<string, unknown>[];
    const rows = objs.map((o): StatusRow => {
      const rec = toRecord(o, undefined, extras.map((e) => e.name));
      const status = String(o.status ?? 'success');
      return {
        key: o.key == null ? null : String(o.key),
        url: String(o.url ?? ''),
        caption: String(o.caption ?? ''),
        page_url: (o.page_url as string | null | undefined) ?? null,
        status,
        error_message: o.error_message == null ? null : String(o.error_message),
        record: status === 'success' ? rec : undefined,
        extra: rec.extra,
      };
    });
    return { rows, extras };
  } finally {
    await close();
  }
}

/**
 * Pass-through columns of a shard and their kinds: from the Parquet schema, or for a tar or files
 * folder from the typed metadata file beside it (else guessed from the first pair's `.json`).
 */
export async function readShardExtras(file: string): Promise<ExtraColumn[]> {
  if ((await shardFormatOnDisk(file)) === 'parquet') return extraColumnsOf(await readShardMetadata(file));
  const meta = metadataPathFor(file);
  if (await stat(meta).then(() => true, () => false)) return extraColumnsOf(await readShardMetadata(meta));
  for await (const r of readShardFile(file, { images: false })) {
    return Object.entries(r.extra ?? {}).map(([name, v]) => ({ name, kind: typeof v === 'number' ? 'double' : typeof v === 'boolean' ? 'boolean' : 'string' }));
  }
  return [];
}

/**
 * Distinct images (by sha256) among the pairs of shard files (README.md, "Coming from img2dataset"),
 * read without their image bytes. Throws what reading a shard throws.
 */
export async function countDistinctImages(files: readonly string[]): Promise<number> {
  const seen = new DistinctCounter();
  for (const f of files) for await (const rec of readShardFile(f, { images: false })) seen.add(rec.sha256);
  return seen.size;
}
