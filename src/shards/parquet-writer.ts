import { open, type FileHandle } from 'node:fs/promises';
import { encodeStruct, i64, type ThriftStruct } from './thrift.js';
import type { ColumnDef } from './record.js';
import { VERSION } from '../util/version.js';

/**
 * A small, fast Parquet writer for the shard schema: PLAIN encoding, DATA_PAGE v1 pages,
 * uncompressed (images are already JPEG/WebP; text is a sliver of a shard), one page per
 * column chunk, row groups flushed as they fill. Image bytes are written straight from the
 * caller's buffers, so writing costs little more than the disk write itself.
 * Readable by DuckDB, pyarrow and hyparquet (see test/shards).
 */

// parquet.thrift enums
const TYPE = { BOOLEAN: 0, INT32: 1, INT64: 2, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
const REP = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const;
const CONVERTED_UTF8 = 0;
const CONVERTED_LIST = 3;
const ENC_PLAIN = 0;
const ENC_RLE = 3;
const CODEC_UNCOMPRESSED = 0;
const PAGE_DATA = 0;

interface Leaf {
  col: ColumnDef<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  path: string[];
  type: number;
  maxDef: number;
  maxRep: number;
}

const SCALAR_TYPE = { int32: TYPE.INT32, int64: TYPE.INT64, float: TYPE.FLOAT, double: TYPE.DOUBLE, boolean: TYPE.BOOLEAN } as const;

function leafOf<R>(col: ColumnDef<R>): Leaf {
  switch (col.kind) {
    case 'string':
    case 'binary':
      return { col, path: [col.name], type: TYPE.BYTE_ARRAY, maxDef: col.optional ? 1 : 0, maxRep: 0 };
    case 'int32':
    case 'int64':
    case 'float':
    case 'double':
    case 'boolean':
      return { col, path: [col.name], type: SCALAR_TYPE[col.kind], maxDef: col.optional ? 1 : 0, maxRep: 0 };
    case 'string_list':
      // optional group (LIST) { repeated group list { required binary element (UTF8) } }
      return { col, path: [col.name, 'list', 'element'], type: TYPE.BYTE_ARRAY, maxDef: col.optional ? 2 : 1, maxRep: 1 };
  }
}

function schemaElements<R>(cols: ColumnDef<R>[]): ThriftStruct[] {
  const out: ThriftStruct[] = [{ 4: 'schema', 5: cols.length }];
  for (const c of cols) {
    const rep = c.optional ? REP.OPTIONAL : REP.REQUIRED;
    if (c.kind === 'string') out.push({ 1: TYPE.BYTE_ARRAY, 3: rep, 4: c.name, 6: CONVERTED_UTF8, 10: { 1: {} } });
    else if (c.kind === 'binary') out.push({ 1: TYPE.BYTE_ARRAY, 3: rep, 4: c.name });
    else if (c.kind !== 'string_list') out.push({ 1: SCALAR_TYPE[c.kind], 3: rep, 4: c.name });
    else {
      out.push({ 3: rep, 4: c.name, 5: 1, 6: CONVERTED_LIST, 10: { 3: {} } });
      out.push({ 3: REP.REPEATED, 4: 'list', 5: 1 });
      out.push({ 1: TYPE.BYTE_ARRAY, 3: REP.REQUIRED, 4: 'element', 6: CONVERTED_UTF8, 10: { 1: {} } });
    }
  }
  return out;
}

/** RLE/bit-packed hybrid, RLE runs only, with the v1 4-byte length prefix. */
function encodeLevels(levels: Uint8Array, n: number, maxLevel: number): Buffer {
  const width = Math.ceil(Math.log2(maxLevel + 1));
  const valueBytes = Math.ceil(width / 8);
  const out = Buffer.allocUnsafe(4 + n * (5 + valueBytes) + 8);
  let pos = 4;
  let i = 0;
  while (i < n) {
    const v = levels[i]!;
    let j = i + 1;
    while (j < n && levels[j] === v) j++;
    let run = (j - i) * 2; // header: run length << 1, low bit 0 = RLE run
    while (run > 0x7f) {
      out[pos++] = (run & 0x7f) | 0x80;
      run = Math.floor(run / 128);
    }
    out[pos++] = run;
    out[pos++] = v; // valueBytes is 1 for every level width used here
    i = j;
  }
  out.writeUInt32LE(pos - 4, 0);
  return out.subarray(0, pos);
}

/**
 * Encodes one column chunk (one v1 data page) for `rows` rows; returns its buffers. One switch over
 * the physical types, kept together so each type's levels and PLAIN encoding read side by side.
 */
function encodeColumn(leaf: Leaf, values: unknown[]): { parts: Buffer[]; numValues: number; statistics: ThriftStruct } {
  const parts: Buffer[] = [];
  const n = values.length;
  let numValues = n;
  let levelsRep: Uint8Array | undefined;
  let levelsDef: Uint8Array | undefined;
  const present: unknown[] = [];
  if (leaf.maxRep > 0) {
    // string list: one level entry per element, or one for an empty/null list
    let count = 0;
    for (const v of values) count += Array.isArray(v) && v.length ? v.length : 1;
    levelsRep = new Uint8Array(count);
    levelsDef = new Uint8Array(count);
    let k = 0;
    for (const v of values) {
      if (v == null) { levelsDef[k++] = 0; continue; }
      const list = v as string[];
      if (!list.length) { levelsDef[k++] = leaf.maxDef - 1; continue; }
      for (let e = 0; e < list.length; e++) {
        levelsRep[k] = e === 0 ? 0 : 1;
        levelsDef[k++] = leaf.maxDef;
        present.push(list[e]);
      }
    }
    numValues = count;
  } else if (leaf.maxDef > 0) {
    levelsDef = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (values[i] == null) levelsDef[i] = 0;
      else { levelsDef[i] = 1; present.push(values[i]); }
    }
  } else {
    for (const v of values) present.push(v);
  }
  if (levelsRep) parts.push(encodeLevels(levelsRep, numValues, leaf.maxRep));
  if (levelsDef) parts.push(encodeLevels(levelsDef, numValues, leaf.maxDef));

  if (leaf.type === TYPE.INT32 || leaf.type === TYPE.FLOAT) {
    const b = Buffer.allocUnsafe(present.length * 4);
    for (let i = 0; i < present.length; i++) {
      const v = Number(present[i]);
      if (leaf.type === TYPE.INT32) b.writeInt32LE(v | 0, i * 4);
      else b.writeFloatLE(v, i * 4);
    }
    parts.push(b);
  } else if (leaf.type === TYPE.INT64 || leaf.type === TYPE.DOUBLE) {
    const b = Buffer.allocUnsafe(present.length * 8);
    for (let i = 0; i < present.length; i++) {
      const v = present[i];
      if (leaf.type === TYPE.INT64) b.writeBigInt64LE(typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v))), i * 8);
      else b.writeDoubleLE(Number(v), i * 8);
    }
    parts.push(b);
  } else if (leaf.type === TYPE.BOOLEAN) {
    // PLAIN booleans: bit-packed, least significant bit first
    const b = Buffer.alloc(Math.ceil(present.length / 8));
    for (let i = 0; i < present.length; i++) if (present[i]) b[i >> 3]! |= 1 << (i & 7);
    parts.push(b);
  } else {
    // BYTE_ARRAY: small values are packed into one buffer; big ones (images) are referenced as-is
    let packed: Buffer[] = [];
    let small = 0;
    const prefixes = Buffer.allocUnsafe(present.length * 4);
    for (let i = 0; i < present.length; i++) {
      const v = present[i];
      const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from((v as Uint8Array).buffer, (v as Uint8Array).byteOffset, (v as Uint8Array).byteLength);
      prefixes.writeUInt32LE(bytes.length, i * 4);
      const len = prefixes.subarray(i * 4, i * 4 + 4);
      if (bytes.length < 4096) {
        packed.push(len, bytes);
        small += 4 + bytes.length;
        if (small > 1 << 16) { parts.push(Buffer.concat(packed)); packed = []; small = 0; }
      } else {
        if (packed.length) { parts.push(Buffer.concat(packed)); packed = []; small = 0; }
        parts.push(len, bytes);
      }
    }
    if (packed.length) parts.push(Buffer.concat(packed));
  }
  return { parts, numValues, statistics: columnStatistics(leaf, present, numValues) };
}

/** Longest min/max value written to statistics (parquet-cpp's default): an image column gets only its null count. */
const MAX_STATISTICS_BYTES = 4096;

/**
 * A column chunk's Statistics as pyarrow (parquet-cpp) writes them, so that readers can skip row
 * groups: null_count always; min_value/max_value PLAIN-encoded in the type's sort order (signed for
 * numbers, unsigned bytes for strings and binary; NaN left out; a zero minimum written as -0 and a
 * zero maximum as +0, as the format asks), and the deprecated min/max too for the signed types.
 */
function columnStatistics(leaf: Leaf, present: readonly unknown[], numValues: number): ThriftStruct {
  const stats: ThriftStruct = { 3: i64(numValues - present.length) };
  let minB: Buffer | undefined;
  let maxB: Buffer | undefined;
  if (leaf.type === TYPE.BYTE_ARRAY) {
    let min: Buffer | undefined;
    let max: Buffer | undefined;
    for (const v of present) {
      const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from((v as Uint8Array).buffer, (v as Uint8Array).byteOffset, (v as Uint8Array).byteLength);
      if (b.length > MAX_STATISTICS_BYTES) return stats;
      if (!min || Buffer.compare(b, min) < 0) min = b;
      if (!max || Buffer.compare(b, max) > 0) max = b;
    }
    if (min && max) { stats[6] = Buffer.from(min); stats[5] = Buffer.from(max); }
    return stats;
  }
  if (leaf.type === TYPE.INT64) {
    let min: bigint | undefined;
    let max: bigint | undefined;
    for (const v of present) {
      const x = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
      if (min === undefined || x < min) min = x;
      if (max === undefined || x > max) max = x;
    }
    if (min === undefined || max === undefined) return stats;
    minB = Buffer.allocUnsafe(8); minB.writeBigInt64LE(min);
    maxB = Buffer.allocUnsafe(8); maxB.writeBigInt64LE(max);
  } else {
    let min = Infinity;
    let max = -Infinity;
    let any = false;
    for (const v of present) {
      const x = leaf.type === TYPE.INT32 ? Number(v) | 0 : leaf.type === TYPE.BOOLEAN ? (v ? 1 : 0) : Number(v);
      if (Number.isNaN(x)) continue;
      any = true;
      if (x < min) min = x;
      if (x > max) max = x;
    }
    if (!any) return stats;
    const width = leaf.type === TYPE.BOOLEAN ? 1 : leaf.type === TYPE.DOUBLE ? 8 : 4;
    const enc = (x: number): Buffer => {
      const b = Buffer.allocUnsafe(width);
      if (leaf.type === TYPE.BOOLEAN) b[0] = x;
      else if (leaf.type === TYPE.INT32) b.writeInt32LE(x);
      else if (leaf.type === TYPE.FLOAT) b.writeFloatLE(x);
      else b.writeDoubleLE(x);
      return b;
    };
    minB = enc(min === 0 && leaf.type !== TYPE.INT32 && leaf.type !== TYPE.BOOLEAN ? -0 : min);
    maxB = enc(max === 0 ? 0 : max);
  }
  stats[1] = maxB;
  stats[2] = minB;
  stats[5] = maxB;
  stats[6] = minB;
  return stats;
}

/** created_by of every file: the package and its version, in the `NAME version X` form readers parse. */
export const CREATED_BY = `wit-clip version ${VERSION}`;

/** Streams rows into one Parquet file; call `writeRowGroup` per group, then `finish`. */
export class ParquetFileWriter<R = import('./record.js').PairRecord> {
  private offset = 0;
  private numRows = 0;
  private rowGroups: ThriftStruct[] = [];
  private readonly leaves: Leaf[];

  private constructor(private readonly fh: FileHandle, private readonly cols: ColumnDef<R>[], private readonly kv: Record<string, string>) {
    this.leaves = cols.map(leafOf);
  }

  /** Creates (truncates) `path` and writes the magic. */
  static async create<R = import('./record.js').PairRecord>(path: string, cols: ColumnDef<R>[], kv: Record<string, string> = {}): Promise<ParquetFileWriter<R>> {
    const fh = await open(path, 'w');
    const w = new ParquetFileWriter<R>(fh, cols, kv);
    await w.write([Buffer.from('PAR1')]);
    return w;
  }

  private async write(parts: Buffer[]): Promise<void> {
    // writev in slices: the OS caps the number of buffers per call
    for (let i = 0; i < parts.length; i += 512) {
      const slice = parts.slice(i, i + 512);
      let len = 0;
      for (const p of slice) len += p.length;
      const { bytesWritten } = await this.fh.writev(slice);
      if (bytesWritten !== len) {
        // short write: finish the rest the slow way
        const rest = Buffer.concat(slice).subarray(bytesWritten);
        await this.fh.write(rest);
      }
      this.offset += len;
    }
  }

  /** Writes one row group of `rows` records. */
  async writeRowGroup(rows: readonly R[]): Promise<void> {
    if (!rows.length) return;
    const start = this.offset;
    const chunks: ThriftStruct[] = [];
    let totalBytes = 0;
    for (const leaf of this.leaves) {
      const values = rows.map(leaf.col.get);
      const { parts, numValues, statistics } = encodeColumn(leaf, values);
      let bodyLen = 0;
      for (const p of parts) bodyLen += p.length;
      const header = encodeStruct({
        1: PAGE_DATA,
        2: bodyLen,
        3: bodyLen,
        5: { 1: numValues, 2: ENC_PLAIN, 3: ENC_RLE, 4: ENC_RLE },
      });
      const pageOffset = this.offset;
      const chunkLen = header.length + bodyLen;
      await this.write([header, ...parts]);
      totalBytes += chunkLen;
      chunks.push({
        2: i64(pageOffset),
        3: {
          1: leaf.type,
          2: [ENC_PLAIN, ENC_RLE],
          3: leaf.path,
          4: CODEC_UNCOMPRESSED,
          5: i64(numValues),
          6: i64(chunkLen),
          7: i64(chunkLen),
          9: i64(pageOffset),
          12: statistics,
        },
      });
    }
    this.rowGroups.push({ 1: chunks, 2: i64(totalBytes), 3: i64(rows.length), 5: i64(start), 6: i64(this.offset - start) });
    this.numRows += rows.length;
  }

  /** Writes the footer, syncs and closes the file. */
  async finish(): Promise<{ rows: number; bytes: number }> {
    const kv = Object.entries(this.kv).map(([k, v]) => ({ 1: k, 2: v }));
    const meta = encodeStruct({
      1: 1,
      2: schemaElements(this.cols),
      3: i64(this.numRows),
      4: this.rowGroups,
      5: kv.length ? kv : undefined,
      6: CREATED_BY,
      // TypeDefinedOrder for every leaf: readers trust min_value/max_value only with a column order
      7: this.leaves.map(() => ({ 1: {} })),
    });
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(meta.length, 0);
    await this.write([meta, len, Buffer.from('PAR1')]);
    await this.fh.sync();
    await this.fh.close();
    return { rows: this.numRows, bytes: this.offset };
  }

  /** Closes without a footer (the caller deletes the file). */
  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}
