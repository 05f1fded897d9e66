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

/**
 * Bytes per element of every dtype the format defines (the reference implementation's `Dtype`): the
 * layout of a file is checked with these, so that a file with integer buffers next to the weights
 * (OpenAI's `input_resolution`, I64) is a valid file whose weights wit reads.
 */
const FORMAT_DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

/** The reference implementation's limit on the header (MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

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
    if (!DTYPE_BYTES[e.dtype]) throw new InputError(STAGE, this.file, `tensor ${name} has dtype ${e.dtype}; wit reads weights of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    const bytes = Buffer.alloc(e.end - e.start);
    const { bytesRead } = await this.fh.read(bytes, 0, bytes.length, e.start);
    if (bytesRead !== bytes.length) throw new InputError(STAGE, this.file, `tensor ${name} is cut short (truncated file?)`);
    return toFloat32(bytes, e.dtype);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/**
 * Reads and checks the header as the format's reference implementation does (safetensors'
 * `Metadata::validate`): the length is at most 100 MB and within the file, the header is a JSON object
 * whose entries have a known dtype, a shape of non-negative integers and data_offsets [begin, end] of
 * non-negative integers with begin <= end and end - begin = elements × dtype size; sorted by offset the
 * tensors start at 0, follow each other without gap or overlap and end exactly at the end of the file.
 * Nothing is read or allocated beyond the header before all of this holds.
 */
async function readHeader(file: string, fh: FileHandle): Promise<{ entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> }> {
  const bad = (msg: string): never => {
    throw new InputError(STAGE, file, `not a valid safetensors file: ${msg}`);
  };
  const size = (await fh.stat()).size;
  if (size < 8) bad(`${size} bytes, shorter than the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  await fh.read(lenBuf, 0, 8, 0);
  const headerLen64 = lenBuf.readBigUInt64LE(0);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) bad(`header length ${headerLen64} is above the format's limit of ${MAX_HEADER_BYTES} bytes`);
  const headerLen = Number(headerLen64);
  if (headerLen < 2) bad(`header length ${headerLen} is too short for a JSON object`);
  if (8 + headerLen > size) bad(`header of ${headerLen} bytes runs past the end of the ${size}-byte file (truncated?)`);
  const headerBuf = Buffer.alloc(headerLen);
  await fh.read(headerBuf, 0, headerLen, 8);
  if (headerBuf[0] !== 0x7b) bad('header does not start with "{"');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBuf));
  } catch (err) {
    return bad(`header is not JSON (${(err as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) bad('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataSize = size - dataStart;
  let metadata: Record<string, string> = {};
  const layout: Array<{ name: string; dtype: string; shape: number[]; begin: number; end: number }> = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!raw || typeof raw !== 'object' || Array.isArray(raw) || !Object.values(raw).every((x) => typeof x === 'string')) bad('__metadata__ is not an object of strings');
      metadata = raw as Record<string, string>;
      continue;
    }
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!t || typeof t !== 'object' || typeof t.dtype !== 'string' || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets) || t.data_offsets.length !== 2) bad(`entry ${name} lacks dtype, shape or data_offsets`);
    const width = FORMAT_DTYPE_BYTES[t.dtype as string];
    if (!width) bad(`tensor ${name} has dtype ${JSON.stringify(t.dtype)}, which the format does not define`);
    const shape = t.shape as unknown[];
    if (!shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) bad(`tensor ${name} has a bad shape ${JSON.stringify(shape).slice(0, 80)}`);
    const [b, e] = t.data_offsets as unknown[];
    if (!Number.isSafeInteger(b) || !Number.isSafeInteger(e) || (b as number) < 0 || (e as number) < 0) bad(`tensor ${name}: data_offsets ${JSON.stringify(t.data_offsets)} are not two non-negative integers`);
    const [begin, end] = [b as number, e as number];
    if (begin > end) bad(`tensor ${name}: data_offsets [${begin}, ${end}] end before they begin`);
    let bytes = width!;
    for (const d of shape as number[]) bytes *= d;
    if (end - begin !== bytes) bad(`tensor ${name}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${t.dtype as string} ${JSON.stringify(shape)} needs ${bytes}`);
    layout.push({ name, dtype: t.dtype as string, shape: shape as number[], begin, end });
  }
  // Sorted by offset, tensors must tile the data section: no gap, no overlap, nothing after the last.
  layout.sort((x, y) => x.begin - y.begin || x.end - y.end);
  let at = 0;
  for (const t of layout) {
    if (t.begin < at) bad(`tensor ${t.name}: data_offsets [${t.begin}, ${t.end}] overlap the tensor before it, which ends at ${at}`);
    if (t.begin > at) bad(`tensor ${t.name}: data_offsets [${t.begin}, ${t.end}] leave a gap of ${t.begin - at} bytes after offset ${at}`);
    if (t.end > dataSize) throw new InputError(STAGE, file, `truncated: tensor ${t.name} ends at byte ${dataStart + t.end} but the file has ${size} bytes`);
    at = t.end;
  }
  if (at < dataSize) bad(`${dataSize - at} bytes after the last tensor (offset ${at}) belong to no tensor`);
  const entries = new Map<string, SafetensorsEntry>();
  for (const t of layout) entries.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, start: dataStart + t.begin, end: dataStart + t.end });
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
