/**
 * Url lists as img2dataset users bring them, generated for tests: DataComp-style Parquet
 * (`uid,url,text`, zstd-compressed pages), LAION-style (`URL,TEXT`), in any codec.
 */
import { execFileSync } from 'node:child_process';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';

let zstdCli: boolean | undefined;

/**
 * Zstandard-compresses `data`: with Debian's `zstd` when installed (real entropy-coded blocks),
 * else as a valid frame of raw blocks (RFC 8878 §3.1.1.2), which every decoder must also accept.
 */
export function zstdCompress(data: Uint8Array): Buffer {
  if (zstdCli === undefined) {
    try {
      execFileSync('zstd', ['--version'], { stdio: 'ignore' });
      zstdCli = true;
    } catch {
      zstdCli = false;
    }
  }
  if (zstdCli) return execFileSync('zstd', ['-c', '-q', '-3'], { input: data, maxBuffer: 1 << 30 });
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])]; // magic, no FCS, window 2^17
  const max = 1 << 17;
  for (let off = 0; off === 0 || off < data.length; off += max) {
    const block = data.subarray(off, off + max);
    const last = off + max >= data.length ? 1 : 0;
    const header = last | (0 << 1) | (block.length << 3); // raw block
    parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]), Buffer.from(block));
  }
  return Buffer.concat(parts);
}

export type Codec = 'UNCOMPRESSED' | 'SNAPPY' | 'GZIP' | 'BROTLI' | 'ZSTD';

const COMPRESSORS = {
  GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)),
  BROTLI: (b: Uint8Array) => new Uint8Array(brotliCompressSync(b)),
  ZSTD: (b: Uint8Array) => new Uint8Array(zstdCompress(b)),
};

/** A Parquet file of the given columns (name -> values, typed by `types`) in `codec`. */
export function parquetList(columns: Record<string, unknown[]>, types: Record<string, string>, codec: Codec = 'SNAPPY', rowGroupSize = 1000): Uint8Array {
  const buf = parquetWriteBuffer({
    columnData: Object.entries(columns).map(([name, data]) => ({ name, data, type: types[name] ?? 'STRING' })) as never,
    rowGroupSize,
    codec,
    compressors: COMPRESSORS,
  } as never);
  return new Uint8Array(buf);
}

/** RFC 4180 cell. */
export function csvCell(s: string): string {
  return /[",\r\n\t]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A DataComp-style list: `uid` (hex string), `url`, `text`, and the sha256 the list publishes. */
export interface ListRow {
  uid: string;
  url: string;
  text: string;
  sha256?: string;
  /** Another column of the list (LAION's similarity, …). */
  sim?: string;
}

/** A CSV (or TSV) with the given header names mapped from row fields. */
export function delimitedList(rows: ListRow[], header: Record<string, keyof ListRow>, sep = ','): string {
  const names = Object.keys(header);
  const lines = [names.join(sep), ...rows.map((r) => names.map((n) => csvCell(String(r[header[n]!] ?? ''))).join(sep))];
  return lines.join('\n') + '\n';
}
