/** Image encodings a shard may store; the image column is named after it, as img2dataset does. */
export type ImageFormat = 'jpg' | 'webp' | 'png';
export const IMAGE_FORMATS: readonly ImageFormat[] = ['jpg', 'webp', 'png'];

/**
 * One image–text pair: the single record type every stage reads and writes
 * (the shard schema below is built from it).
 */
export interface PairRecord {
  /** Stable id of the pair, unique in the corpus. */
  key: string;
  /** Image url. */
  url: string;
  /** Page the image was found on, when known. */
  page_url?: string | null;
  /** Alt text as found, whitespace normalised. */
  caption: string;
  /** Queries this pair matched (and counts toward). */
  queries: string[];
  /** Stored (resized, re-encoded) image bytes. */
  image: Uint8Array;
  /** Stored image size. */
  width: number;
  height: number;
  /** Image size as downloaded. */
  original_width: number;
  original_height: number;
  /**
   * Hex sha256 of the image bytes as downloaded (img2dataset's `compute_hash` and DataComp's
   * meaning), so a list's published hashes can be checked against it.
   */
  sha256: string;
  /** Cosine similarity set by `wit filter`. */
  similarity?: number | null;
  /** Input columns carried through (`wit crawl --save-additional-columns`), typed as they came. */
  extra?: Record<string, unknown>;
}

/**
 * Outcome of one input row of a url list, listed in its shard's metadata so users can retry
 * failures and join back by their own ids (img2dataset's `status` / `error_message`).
 */
export interface StatusRow {
  /** Key of the pair when the row was admitted (downloaded or tried), else null. */
  key: string | null;
  url: string;
  caption: string;
  page_url?: string | null;
  /** 'success' or the reason the row did not become a pair. */
  status: string;
  error_message: string | null;
  /** The pair's record (without its image) when status is 'success'. */
  record?: PairRecord;
  extra?: Record<string, unknown>;
}

/** Column kinds a pass-through input column may have (how the input typed it). */
export type ExtraKind = 'string' | 'int32' | 'int64' | 'float' | 'double' | 'boolean';

/** A pass-through input column: name and type. */
export interface ExtraColumn {
  name: string;
  kind: ExtraKind;
}

/** Column kinds the shard writer understands. */
export type ColumnKind = 'string' | 'binary' | 'int32' | 'int64' | 'float' | 'double' | 'boolean' | 'string_list';

/** One column of the shard schema. */
export interface ColumnDef<R = PairRecord> {
  name: string;
  kind: ColumnKind;
  optional: boolean;
  /** Reads the column's value from a row. */
  get: (r: R) => unknown;
}

/** Columns of a PairRecord, by name, that every wit shard has (the image column aside). */
export const RECORD_COLUMNS: readonly string[] = [
  'key', 'url', 'page_url', 'caption', 'queries', 'width', 'height', 'original_width', 'original_height', 'sha256', 'similarity',
];

/** Names a pass-through column may not take: wit's own columns, the image columns, the status columns. */
export const RESERVED_COLUMNS: ReadonlySet<string> = new Set([...RECORD_COLUMNS, ...IMAGE_FORMATS, 'status', 'error_message', 'image']);

/** Normalises a pass-through value to its declared kind (null when it does not fit). */
export function extraValue(kind: ExtraKind, v: unknown): unknown {
  if (v == null) return null;
  switch (kind) {
    case 'string':
      return typeof v === 'string' ? v : typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : typeof v === 'object' ? JSON.stringify(v, jsonSafe) : String(v);
    case 'int32':
    case 'float':
    case 'double': {
      const n = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      return Number.isNaN(n) ? null : n;
    }
    case 'int64': {
      try {
        if (typeof v === 'bigint') return v;
        if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : null;
        if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return BigInt(v.trim());
      } catch {
        return null;
      }
      return null;
    }
    case 'boolean':
      return typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : null;
  }
}

/** JSON.stringify replacer: bigints as numbers when exact, else as strings. */
export function jsonSafe(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  return v;
}

/**
 * The shard schema, derived from PairRecord: column order is the file's column order.
 * `similarity` is present only in filtered shards.
 */
export function shardColumns(imageFormat: ImageFormat, withSimilarity: boolean, extras: readonly ExtraColumn[] = []): ColumnDef[] {
  const cols: ColumnDef[] = [
    { name: 'key', kind: 'string', optional: false, get: (r) => r.key },
    { name: 'url', kind: 'string', optional: false, get: (r) => r.url },
    { name: 'page_url', kind: 'string', optional: true, get: (r) => r.page_url ?? null },
    { name: 'caption', kind: 'string', optional: false, get: (r) => r.caption },
    { name: 'queries', kind: 'string_list', optional: true, get: (r) => r.queries },
    { name: imageFormat, kind: 'binary', optional: false, get: (r) => r.image },
    { name: 'width', kind: 'int32', optional: false, get: (r) => r.width },
    { name: 'height', kind: 'int32', optional: false, get: (r) => r.height },
    { name: 'original_width', kind: 'int32', optional: false, get: (r) => r.original_width },
    { name: 'original_height', kind: 'int32', optional: false, get: (r) => r.original_height },
    { name: 'sha256', kind: 'string', optional: false, get: (r) => r.sha256 },
  ];
  if (withSimilarity) cols.push({ name: 'similarity', kind: 'float', optional: true, get: (r) => r.similarity ?? null });
  for (const e of extras) cols.push({ name: e.name, kind: e.kind, optional: true, get: (r) => extraValue(e.kind, r.extra?.[e.name]) });
  return cols;
}

/**
 * Columns of a shard's metadata file (WebDataset's `NNNNN.parquet`, and the url-list status
 * files): every column but the image, all optional, then `status` and `error_message`.
 */
export function statusColumns(withSimilarity: boolean, extras: readonly ExtraColumn[] = []): ColumnDef<StatusRow>[] {
  const rec = (f: (r: PairRecord) => unknown) => (s: StatusRow) => (s.record ? f(s.record) : null);
  const cols: ColumnDef<StatusRow>[] = [
    { name: 'key', kind: 'string', optional: true, get: (s) => s.key },
    { name: 'url', kind: 'string', optional: true, get: (s) => s.url },
    { name: 'page_url', kind: 'string', optional: true, get: (s) => s.page_url ?? null },
    { name: 'caption', kind: 'string', optional: true, get: (s) => s.caption },
    { name: 'queries', kind: 'string_list', optional: true, get: rec((r) => r.queries) },
    { name: 'width', kind: 'int32', optional: true, get: rec((r) => r.width) },
    { name: 'height', kind: 'int32', optional: true, get: rec((r) => r.height) },
    { name: 'original_width', kind: 'int32', optional: true, get: rec((r) => r.original_width) },
    { name: 'original_height', kind: 'int32', optional: true, get: rec((r) => r.original_height) },
    { name: 'sha256', kind: 'string', optional: true, get: rec((r) => r.sha256) },
  ];
  if (withSimilarity) cols.push({ name: 'similarity', kind: 'float', optional: true, get: rec((r) => r.similarity ?? null) });
  for (const e of extras) cols.push({ name: e.name, kind: e.kind, optional: true, get: (s) => extraValue(e.kind, (s.record?.extra ?? s.extra)?.[e.name]) });
  cols.push({ name: 'status', kind: 'string', optional: false, get: (s) => s.status });
  cols.push({ name: 'error_message', kind: 'string', optional: true, get: (s) => s.error_message });
  return cols;
}

/** The status row of a kept pair. */
export function successRow(r: PairRecord): StatusRow {
  return { key: r.key, url: r.url, caption: r.caption, page_url: r.page_url ?? null, status: 'success', error_message: null, record: r, extra: r.extra };
}
