import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../util/errors.js';
import { tempOwner } from '../util/output.js';

/**
 * The temporary score file of one input shard (the first pass of --keep-fraction): per row, in the
 * shard's row order, its outcome code (u8) and its score (f32, NaN when not scored). Keyed by row
 * position, so the second pass joins it back to the shard by reading in the same order.
 * Codes are RowCode values (screen.ts).
 * Layout: "WITS" | u32 rows | u8 codes[rows] | zero pad to 4 | f32 scores[rows], little-endian.
 * 5 bytes a row: 100M pairs take 500 MB of disk and never more than one shard's worth of memory.
 */
export interface ShardScores {
  codes: Uint8Array;
  scores: Float32Array;
}

const MAGIC = 0x53544957; // "WITS" read as little-endian u32

/** Writes a score file atomically (temp name, then rename), so a killed run never leaves half of one. */
export async function writeScoreFile(path: string, s: ShardScores): Promise<void> {
  const n = s.codes.length;
  if (s.scores.length !== n) throw new Error(`filter: score file rows differ: ${n} codes, ${s.scores.length} scores`);
  const pad = (4 - (n % 4)) % 4;
  const buf = Buffer.alloc(8 + n + pad + 4 * n);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(n, 4);
  buf.set(s.codes, 8);
  Buffer.from(s.scores.buffer, s.scores.byteOffset, s.scores.byteLength).copy(buf, 8 + n + pad);
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${tempOwner()}`);
  await writeFile(tmp, buf);
  await rename(tmp, path);
}

/** Reads a score file; undefined when it does not exist; InputError when it is damaged. */
export async function readScoreFile(path: string): Promise<ShardScores | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch {
    return undefined;
  }
  if (buf.length < 8 || buf.readUInt32LE(0) !== MAGIC) throw new InputError('filter', path, 'not a filter score file');
  const n = buf.readUInt32LE(4);
  const pad = (4 - (n % 4)) % 4;
  if (buf.length !== 8 + n + pad + 4 * n) throw new InputError('filter', path, `score file is truncated (${buf.length} bytes for ${n} rows)`);
  const codes = new Uint8Array(n);
  codes.set(buf.subarray(8, 8 + n));
  const scores = new Float32Array(n);
  new Uint8Array(scores.buffer).set(buf.subarray(8 + n + pad, 8 + n + pad + 4 * n));
  return { codes, scores };
}
