import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { InputError } from '../util/errors.js';
import { renameIntoPlace, tempPathFor } from '../util/atomic.js';
import { openInputFile } from '../util/input.js';

/**
 * The safetensors format (docs/ARCHITECTURE.md, "Models in open_clip's format"): an 8-byte
 * little-endian header length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {…}}`, then the raw little-endian tensor bytes (offsets count from the end of the
 * header). Read tensor by tensor, so loading holds one tensor besides what the caller keeps.
 */

const STAGE = 'model';
const LITTLE_ENDIAN = endianness() === 'LE';

/** Bytes per element of the dtypes read here (all converted to float32). */
const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** One tensor of a safetensors header. */
export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range in the file (absolute). */
  start: number;
  end: number;
}

/** An open safetensors file: its header, and tensors read on demand as float32. */
export class SafetensorsReader {
  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    readonly entries: Map<string, SafetensorsEntry>,
    readonly metadata: Record<string, string>,
  ) {}

  /** Opens and checks the header; throws InputError naming the file when it is not a complete safetensors file. */
  static async open(file: string): Promise<SafetensorsReader> {
    // a regular file (src/util/input.ts); its tensors are read one by one, so no whole-file limit
    const { fh } = await openInputFile(file, { kind: 'checkpoint', stage: STAGE });
    try {
      const { entries, metadata } = await readHeader(file, fh);
      return new SafetensorsReader(file, fh, entries, metadata);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** The tensor `name` as float32 (fp16, bf16 and fp64 converted). */
  async read(name: string): Promise<Float32Array> {
    const e = this.entries.get(name);
    if (!e) throw new InputError(STAGE, this.file, `no tensor ${name}`);
    const bytes = Buffer.alloc(e.end - e.start);
    const { bytesRead } = await this.fh.read(bytes, 0, bytes.length, e.start);
    if (bytesRead !== bytes.length) throw new InputError(STAGE, this.file, `tensor ${name} is cut short (truncated file?)`);
    return toFloat32(bytes, e.dtype);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

async function readHeader(file: string, fh: FileHandle): Promise<{ entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> }> {
  const bad = (msg: string): never => {
    throw new InputError(STAGE, file, `not a valid safetensors file: ${msg}`);
  };
  const size = (await fh.stat()).size;
  if (size < 8) bad(`${size} bytes, shorter than the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  await fh.read(lenBuf, 0, 8, 0);
  const headerLen = Number(lenBuf.readBigUInt64LE(0));
  if (headerLen < 2 || headerLen > 100 * 1024 * 1024) bad(`header length ${headerLen} is implausible`);
  if (8 + headerLen > size) bad(`header of ${headerLen} bytes runs past the end of the ${size}-byte file (truncated?)`);
  const headerBuf = Buffer.alloc(headerLen);
  await fh.read(headerBuf, 0, headerLen, 8);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerBuf.toString('utf8'));
  } catch (err) {
    return bad(`header is not JSON (${(err as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) bad('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t?.dtype !== 'string' || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets) || t.data_offsets.length !== 2) bad(`entry ${name} lacks dtype, shape or data_offsets`);
    const width = DTYPE_BYTES[t.dtype as string];
    if (!width) bad(`tensor ${name} has dtype ${t.dtype as string}; supported: ${Object.keys(DTYPE_BYTES).join(', ')}`);
    const shape = t.shape as number[];
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) bad(`tensor ${name} has a bad shape ${JSON.stringify(shape)}`);
    const [b, e] = t.data_offsets as number[];
    const numel = shape.reduce((a, d) => a * d, 1);
    if (!Number.isInteger(b) || !Number.isInteger(e) || e - b !== numel * width!) bad(`tensor ${name}: offsets [${b}, ${e}] do not hold ${numel} ${t.dtype as string} values`);
    if (dataStart + e! > size) throw new InputError(STAGE, file, `truncated: tensor ${name} ends at byte ${dataStart + e!} but the file has ${size} bytes`);
    entries.set(name, { name, dtype: t.dtype as string, shape, start: dataStart + b!, end: dataStart + e! });
  }
  return { entries, metadata };
}

/** IEEE half -> float. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function toFloat32(bytes: Buffer, dtype: string): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / DTYPE_BYTES[dtype]!;
  const out = new Float32Array(n);
  if (dtype === 'F32' && LITTLE_ENDIAN) out.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
  else if (dtype === 'F32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  else if (dtype === 'F64') for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
  else if (dtype === 'F16') for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  else {
    // bfloat16 is the top half of a float32.
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u32[i] = view.getUint16(i * 2, true) << 16;
  }
  return out;
}

/** A tensor to write: its shape now, its data when the writer reaches it. */
export interface TensorToWrite {
  name: string;
  shape: number[];
  data: () => Float32Array | Promise<Float32Array>;
}

/**
 * Writes float32 tensors as safetensors, in the given order, one tensor in memory at a time; to a
 * temp file renamed into place, so a crash never leaves a complete-looking file.
 */
export async function writeSafetensors(file: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}): Promise<void> {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, d) => a * d, 1) * 4;
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const headerBuf = Buffer.from(json, 'utf8');
  const tmp = tempPathFor(file);
  const fh = await open(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(headerBuf.length));
    await fh.write(len);
    await fh.write(headerBuf);
    for (const t of tensors) {
      const data = await t.data();
      const want = t.shape.reduce((a, d) => a * d, 1);
      if (data.length !== want) throw new Error(`safetensors: tensor ${t.name} has ${data.length} values, shape [${t.shape}] needs ${want}`);
      let le: Buffer;
      if (LITTLE_ENDIAN) le = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      else {
        le = Buffer.alloc(data.length * 4);
        for (let i = 0; i < data.length; i++) le.writeFloatLE(data[i]!, i * 4);
      }
      await fh.write(le);
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await renameIntoPlace(tmp, file);
}

/** Size in bytes of a file, or -1 when missing. */
export async function fileSize(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => -1);
}
