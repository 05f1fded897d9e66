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
  /** Hex sha256 of `image`. */
  sha256: string;
  /** Cosine similarity set by `wit filter`. */
  similarity?: number | null;
}

/** Column kinds the shard writer understands. */
export type ColumnKind = 'string' | 'binary' | 'int32' | 'float' | 'string_list';

/** One column of the shard schema. */
export interface ColumnDef {
  name: string;
  kind: ColumnKind;
  optional: boolean;
  /** Reads the column's value from a record. */
  get: (r: PairRecord) => unknown;
}

/**
 * The shard schema, derived from PairRecord: column order is the file's column order.
 * `similarity` is present only in filtered shards.
 */
export function shardColumns(imageFormat: ImageFormat, withSimilarity: boolean): ColumnDef[] {
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
  return cols;
}
