/**
 * The one bounded way to read an input file (docs/ARCHITECTURE.md, "Reading inputs").
 *
 * - Regular files only: the file is opened (non-blocking, so a FIFO cannot hang the open) and its
 *   handle, not its path, is checked with fstat, so a device, FIFO, socket or folder is refused
 *   with one line naming the file, whatever name it was reached through.
 * - A size limit per kind of input (`INPUT_KINDS`), raised with the global flag
 *   `--max-input-size KIND=SIZE` that every command has (`setInputLimits`).
 * - Every decompressor (gzip, zstd, bzip2) is pulled chunk by chunk (backpressure: nothing is
 *   decoded before the consumer asks for it) and stops when its output passes the kind's limit.
 *   zstd is fzstd's streaming decoder fed one block at a time, with the window refused above
 *   `MAX_ZSTD_WINDOW` (see `zstdChunks`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants as fsc, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { PassThrough, Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { InputError, UsageError } from './errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Kinds of input and their default size limits (bytes on disk, and bytes once decompressed). */
export const INPUT_KINDS = {
  image: { limit: 64 * MiB, what: 'an image file (search --image)' },
  vocab: { limit: 64 * MiB, what: 'a tokenizer vocabulary or merges file' },
  config: { limit: 16 * MiB, what: 'a JSON file: model config, manifest, state' },
  labels: { limit: 64 * MiB, what: 'a labels file (eval --labels)' },
  weights: { limit: 4 * GiB - 1, what: 'model weights read whole (model.weights.bin)' },
  shard: { limit: Infinity, what: 'a Parquet or tar shard (read in pieces)' },
  checkpoint: { limit: Infinity, what: 'a safetensors checkpoint (read tensor by tensor)' },
  'tar-member': { limit: 256 * MiB, what: 'one member of a WebDataset tar or of a files shard folder' },
  'url-list': { limit: Infinity, what: 'a url list, WARC or WAT file (streamed)' },
  dump: { limit: Infinity, what: 'a Wikipedia dump, pageview or WordNet file (streamed)' },
  text: { limit: 256 * MiB, what: 'any other text file read whole' },
} as const satisfies Record<string, { limit: number; what: string }>;

export type InputKind = keyof typeof INPUT_KINDS;

/** The most one member may be raised to: one Buffer, read in pieces (Node's read takes < 2 GiB). */
const MAX_SETTABLE = 4 * GiB - 1;

const limits = new Map<InputKind, number>();

/** The size limit of a kind now (the default unless `setInputLimits` raised or lowered it). */
export function inputLimit(kind: InputKind): number {
  return limits.get(kind) ?? INPUT_KINDS[kind].limit;
}

/** Parses a size: bytes, or a number with K/M/G/T (powers of 1024, optional B or iB), or `none`. */
export function parseSize(text: string): number | undefined {
  const t = text.trim().toLowerCase().replace(/_/g, '');
  if (t === 'none' || t === 'unlimited' || t === 'inf') return Infinity;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/.exec(t);
  if (!m) return undefined;
  const mult = { '': 1, k: KiB, m: MiB, g: GiB, t: 1024 * GiB }[m[2] as '' | 'k' | 'm' | 'g' | 't'];
  const v = Math.floor(Number(m[1]) * mult);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/** Human size for messages: 64 MiB, 1.5 GiB, 900 bytes. */
export function formatSize(n: number): string {
  if (!Number.isFinite(n)) return 'unlimited';
  for (const [u, s] of [[GiB, 'GiB'], [MiB, 'MiB'], [KiB, 'KiB']] as const) if (n >= u) return `${+(n / u).toFixed(1)} ${s}`;
  return `${n} bytes`;
}

/**
 * Sets limits from `KIND=SIZE` specs (the `--max-input-size` flag) or an object; `reset` first
 * restores every default. Throws UsageError naming the bad spec.
 */
export function setInputLimits(specs: readonly string[] | Partial<Record<InputKind, number>>, opts: { stage?: string; reset?: boolean } = {}): void {
  const stage = opts.stage ?? 'cli';
  if (opts.reset) limits.clear();
  const entries: [string, number | undefined, string][] = Array.isArray(specs)
    ? (specs as readonly string[]).map((s) => {
        const eq = s.indexOf('=');
        return [eq < 0 ? s : s.slice(0, eq).trim(), eq < 0 ? undefined : parseSize(s.slice(eq + 1)), s];
      })
    : Object.entries(specs).map(([k, v]) => [k, v, `${k}=${v}`]);
  for (const [kind, size, spec] of entries) {
    if (!(kind in INPUT_KINDS)) throw new UsageError(stage, `--max-input-size '${spec}': unknown kind '${kind}' (kinds: ${Object.keys(INPUT_KINDS).join(', ')})`);
    if (size === undefined || !(size > 0)) throw new UsageError(stage, `--max-input-size '${spec}' expects KIND=SIZE, e.g. ${kind}=512MiB`);
    const k = kind as InputKind;
    const finite = Number.isFinite(INPUT_KINDS[k].limit);
    if (finite && size > MAX_SETTABLE) throw new UsageError(stage, `--max-input-size '${spec}': ${kind} is read into memory whole, at most ${formatSize(MAX_SETTABLE)}`);
    limits.set(k, size);
  }
}

/** One line of help for the global flag, listing the kinds and their limits now. */
export function inputLimitsHelp(): string {
  return `raise (or lower) an input size limit, KIND=SIZE, e.g. vocab=256MiB; kinds: ${Object.keys(INPUT_KINDS).map((k) => `${k} ${formatSize(inputLimit(k as InputKind))}`).join(', ')}`;
}

/** An input over its kind's limit, on disk or once decompressed; names the flag that raises it. */
export class InputTooLargeError extends InputError {
  constructor(stage: string, file: string, readonly kind: InputKind, detail: string) {
    super(stage, file, `${detail}, over the ${kind} limit of ${formatSize(inputLimit(kind))} (raise it with --max-input-size ${kind}=SIZE)`);
    this.name = 'InputTooLargeError';
  }
}

/** What a file-system entry is, for the refusal message. */
function notRegular(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'is a folder, not a file';
  if (st.isCharacterDevice()) return 'is a character device, not a regular file';
  if (st.isBlockDevice()) return 'is a block device, not a regular file';
  if (st.isFIFO()) return 'is a FIFO (named pipe), not a regular file';
  if (st.isSocket()) return 'is a socket, not a regular file';
  return 'is not a regular file';
}

/** Where a read is: the stage to name in errors, and the kind of input. */
export interface InputWhat {
  kind: InputKind;
  /** Library stage named by errors (the CLI shows the command instead). Default 'input'. */
  stage?: string;
  /** Refuse a symbolic link instead of following it (a member of a files shard folder: it stays inside). */
  noFollow?: boolean;
}

/** A Node open/fstat error as an InputError naming the file (missing, permission, folder). */
function openError(stage: string, file: string, err: unknown): InputError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a folder, not a file' : code === 'ENOTDIR' ? 'a part of the path is a file, not a folder' : code === 'ELOOP' ? 'too many symbolic links' : `cannot open: ${(err as Error).message}`;
  return new InputError(stage, file, why, { cause: err });
}

/**
 * Opens `file` for reading: a regular file (checked on the open handle) within its kind's limit.
 * Resolves to the handle and the size; the caller closes it. InputError (exit 2) otherwise.
 */
export async function openInputFile(file: string, what: InputWhat): Promise<{ fh: FileHandle; size: number }> {
  const stage = what.stage ?? 'input';
  let fh: FileHandle;
  try {
    fh = await open(file, fsc.O_RDONLY | fsc.O_NONBLOCK | (what.noFollow ? fsc.O_NOFOLLOW : 0));
  } catch (err) {
    if (what.noFollow && (err as NodeJS.ErrnoException)?.code === 'ELOOP') throw new InputError(stage, file, 'a symbolic link, not followed', { cause: err });
    throw openError(stage, file, err);
  }
  try {
    const st = await fh.stat();
    const bad = notRegular(st);
    if (bad) throw new InputError(stage, file, bad);
    if (st.size > inputLimit(what.kind)) throw new InputTooLargeError(stage, file, what.kind, `${formatSize(st.size)} (${st.size} bytes)`);
    return { fh, size: st.size };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/** The synchronous `openInputFile` (fd); the caller closes it. */
export function openInputFileSync(file: string, what: InputWhat): { fd: number; size: number } {
  const stage = what.stage ?? 'input';
  let fd: number;
  try {
    fd = openSync(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (err) {
    throw openError(stage, file, err);
  }
  try {
    const st = fstatSync(fd);
    const bad = notRegular(st);
    if (bad) throw new InputError(stage, file, bad);
    if (st.size > inputLimit(what.kind)) throw new InputTooLargeError(stage, file, what.kind, `${formatSize(st.size)} (${st.size} bytes)`);
    return { fd, size: st.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Largest single read: Node refuses (with a native assertion) reads of 2 GiB and more. */
const READ_PIECE = 64 * MiB;

/** Reads `len` bytes at `pos` into `buf` at `off` in pieces; resolves to the bytes read (fewer at EOF). */
export async function readFully(fh: FileHandle, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  let done = 0;
  while (done < len) {
    const { bytesRead } = await fh.read(buf, off + done, Math.min(READ_PIECE, len - done), pos + done);
    if (!bytesRead) break;
    done += bytesRead;
  }
  return done;
}

/** Options of {@link readInputFile}. */
export interface ReadInputOptions extends InputWhat {
  /** Decompress gzip, zstd or bzip2 found by magic bytes (the output held to the kind's limit too). */
  decompress?: boolean;
}

/**
 * A whole input file as bytes: a regular file within its kind's limit, read in pieces, stopping at
 * the size fstat gave (a file growing under the read cannot exceed it). With `decompress`, the
 * decompressed bytes, stopping with InputTooLargeError as soon as they pass the limit.
 */
export async function readInputFile(file: string, opts: ReadInputOptions): Promise<Buffer> {
  if (opts.decompress) {
    const parts: Buffer[] = [];
    try {
      for await (const c of openDecompressed(file, { kind: opts.kind, stage: opts.stage })) parts.push(c);
    } catch (err) {
      if (err instanceof DecodeError) throw new InputError(opts.stage ?? 'input', file, err.message, { cause: err });
      throw err;
    }
    return Buffer.concat(parts);
  }
  const { fh, size } = await openInputFile(file, opts);
  try {
    const buf = Buffer.allocUnsafe(size);
    const n = await readFully(fh, buf, 0, size, 0);
    return n === size ? buf : buf.subarray(0, n);
  } catch (err) {
    throw new InputError(opts.stage ?? 'input', file, `cannot read: ${(err as Error).message}`, { cause: err });
  } finally {
    await fh.close();
  }
}

/** The synchronous {@link readInputFile} (no decompression). */
export function readInputFileSync(file: string, opts: InputWhat): Buffer {
  const { fd, size } = openInputFileSync(file, opts);
  try {
    const buf = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buf, done, Math.min(READ_PIECE, size - done), done);
      if (!n) break;
      done += n;
    }
    return done === size ? buf : buf.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/**
 * Text out of the bytes of a text input: UTF-8, refused with InputError when it holds a NUL byte (a
 * binary file given where text belongs: weights as labels, an image as queries), or when it is still
 * compressed (the synchronous reader does not decompress).
 */
function textOf(buf: Buffer, file: string, what: InputWhat): string {
  const stage = what.stage ?? 'input';
  const packed = compressionOf(buf);
  if (packed !== 'none') throw new InputError(stage, file, `is ${packed}-compressed; give the text uncompressed`);
  const nul = buf.indexOf(0);
  if (nul >= 0) throw new InputError(stage, file, `binary data, not text (a NUL byte at byte ${nul})`);
  return buf.toString('utf8');
}

/** The synchronous {@link readInputText} (no decompression: a compressed file is refused). */
export function readInputTextSync(file: string, opts: InputWhat): string {
  return textOf(readInputFileSync(file, opts), file, opts);
}

/**
 * A whole text input file (UTF-8), see {@link readInputFile}. gzip, zstd and bzip2 found by their
 * magic bytes are decompressed (unless `decompress: false`), the output held to the kind's limit, so
 * that labels.txt.gz works and a gzip bomb stops at the limit; binary data is refused (see textOf).
 */
export async function readInputText(file: string, opts: ReadInputOptions): Promise<string> {
  const decompress = opts.decompress ?? true;
  return textOf(await readInputFile(file, { ...opts, decompress }), file, opts);
}

/** A whole JSON input file, parsed; InputError naming the file when it is not JSON. */
export async function readInputJson(file: string, opts: InputWhat = { kind: 'config' }): Promise<unknown> {
  const text = await readInputText(file, opts);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(opts.stage ?? 'input', file, `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------
// Decompression

/** Compression found by magic bytes. */
export type Compression = 'none' | 'gzip' | 'bzip2' | 'zstd';

/** Compression of the first bytes of a file or stream. */
export function compressionOf(b: Uint8Array): Compression {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  if (b.length >= 4 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[3]! >= 0x31 && b[3]! <= 0x39) return 'bzip2';
  return 'none';
}

/** Compression of a file from its first bytes (a regular file, or InputError). */
export function detectCompression(file: string, what: InputWhat = { kind: 'dump' }): Compression {
  const { fd } = openInputFileSync(file, what);
  try {
    const b = Buffer.alloc(4);
    const n = readSync(fd, b, 0, 4, 0);
    return compressionOf(b.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** Failure of a decoder, with how far it got. */
export class DecodeError extends Error {
  constructor(message: string, readonly outputBytes: number) {
    super(message);
    this.name = 'DecodeError';
  }
}

/** The output limit of a decoder: throws InputTooLargeError once more than `max` bytes came out. */
export interface OutputCap {
  file: string;
  stage: string;
  kind: InputKind;
  /** Default: the kind's limit. */
  max?: number;
}

function capCounter(cap: OutputCap | undefined): (n: number) => number {
  let out = 0;
  const max = cap ? cap.max ?? inputLimit(cap.kind) : Infinity;
  return (n: number) => {
    out += n;
    if (out > max) throw new InputTooLargeError(cap!.stage, cap!.file, cap!.kind, `decompresses to more than ${formatSize(max)}`);
    return out;
  };
}

/**
 * gzip (concatenated members too) through zlib, pulled: the source is read only as fast as the
 * consumer takes output. zlib's own errors pass through (they carry Z_ codes); the output is held
 * to `cap`.
 */
export async function* gunzipChunks(src: AsyncIterable<Uint8Array>, cap?: OutputCap, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const count = capCounter(cap);
  const gunzip = createGunzip({ chunkSize: 256 * KiB });
  const readable = Readable.from(src, { objectMode: false });
  pipeline(readable, gunzip, () => {
    // errors surface through the iteration of gunzip below
  });
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      signal?.throwIfAborted();
      count(chunk.length);
      yield chunk;
    }
  } finally {
    readable.destroy();
    gunzip.destroy();
  }
}

/** Largest zstd window accepted: zstd's own decoder default (`--memory` raises it there). */
export const MAX_ZSTD_WINDOW = 128 * MiB;
/** A zstd block never regenerates more than this (the format's Block_Maximum_Size). */
const ZSTD_BLOCK_MAX = 128 * KiB;

/** Thrown for zstd data this decoder refuses or cannot parse; `offset` is the compressed byte. */
export class ZstdFormatError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'ZstdFormatError';
  }
}

/** A queue of input chunks read by byte count (the zstd framing walk below). */
class ByteQueue {
  private parts: Uint8Array[] = [];
  private head = 0;
  length = 0;
  /** Compressed bytes taken so far. */
  taken = 0;
  push(c: Uint8Array): void {
    if (c.length) {
      this.parts.push(c);
      this.length += c.length;
    }
  }
  peek(i: number): number {
    let at = this.head + i;
    for (const p of this.parts) {
      if (at < p.length) return p[at]!;
      at -= p.length;
    }
    return -1;
  }
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const p = this.parts[0]!;
      const k = Math.min(n - done, p.length - this.head);
      out.set(p.subarray(this.head, this.head + k), done);
      done += k;
      this.head += k;
      if (this.head === p.length) {
        this.parts.shift();
        this.head = 0;
      }
    }
    this.length -= n;
    this.taken += n;
    return out;
  }
}

/**
 * zstd (concatenated and skippable frames too) through fzstd's streaming decoder, fed one block
 * at a time. fzstd decodes every whole block of a chunk in one call, so a chunk of tiny blocks
 * that each regenerate 128 KiB (a 122 KB file of them makes 4 GB) would come out at once; fed a
 * block at a time, at most one block's output waits for the consumer. The window (which fzstd
 * allocates, and shifts once per block) is refused above MAX_ZSTD_WINDOW, and the work of those
 * shifts is bounded by the output (a stream of empty blocks cannot spin for minutes).
 */
export async function* zstdChunks(src: AsyncIterable<Uint8Array>, cap?: OutputCap, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const count = capCounter(cap);
  const q = new ByteQueue();
  let out: Buffer[] = [];
  const dec = new ZstdDecompress((data) => {
    out.push(Buffer.from(data)); // a copy: the decoder reuses its window
  });
  const it = src[Symbol.asyncIterator]();
  let ended = false;
  /** Waits until `n` bytes are queued; false at the end of the input. */
  const need = async (n: number): Promise<boolean> => {
    while (q.length < n && !ended) {
      const r = await it.next();
      if (r.done) ended = true;
      else q.push(r.value);
    }
    return q.length >= n;
  };
  let window = 0;
  let shifted = 0;
  let produced = 0;
  const u32 = (i: number) => (q.peek(i) | (q.peek(i + 1) << 8) | (q.peek(i + 2) << 16)) + q.peek(i + 3) * 0x1000000;
  try {
    for (;;) {
      // a frame
      if (!(await need(4))) {
        if (q.length) throw new ZstdFormatError('the data ends inside a frame header', q.taken);
        break;
      }
      const magic = u32(0);
      if (magic >= 0x184d2a50 && magic <= 0x184d2a5f) {
        if (!(await need(8))) throw new ZstdFormatError('the data ends inside a skippable frame', q.taken);
        let skip = u32(4);
        q.take(8);
        while (skip > 0) {
          if (!(await need(1))) throw new ZstdFormatError('the data ends inside a skippable frame', q.taken);
          const k = Math.min(skip, q.length);
          q.take(k);
          skip -= k;
        }
        continue;
      }
      if (magic !== 0xfd2fb528) throw new ZstdFormatError('not zstd data (no frame magic)', q.taken);
      if (!(await need(5))) throw new ZstdFormatError('the data ends inside a frame header', q.taken);
      const fhd = q.peek(4);
      const single = (fhd >> 5) & 1;
      const checksum = (fhd >> 2) & 1;
      const dictBytes = [0, 1, 2, 4][fhd & 3]!;
      const fcsBytes = [single, 2, 4, 8][fhd >> 6]!;
      const headerBytes = 5 + (single ? 0 : 1) + dictBytes + fcsBytes;
      if (!(await need(headerBytes))) throw new ZstdFormatError('the data ends inside a frame header', q.taken);
      if (single) {
        let fcs = 0;
        for (let i = fcsBytes - 1; i >= 0; i--) fcs = fcs * 256 + q.peek(5 + dictBytes + i);
        window = fcsBytes === 2 ? fcs + 256 : fcs;
      } else {
        const wd = q.peek(5);
        const base = 2 ** (10 + (wd >> 3));
        window = base + (base / 8) * (wd & 7);
      }
      if (window > MAX_ZSTD_WINDOW) throw new ZstdFormatError(`a zstd frame needs a ${formatSize(window)} window, over the ${formatSize(MAX_ZSTD_WINDOW)} this decoder accepts`, q.taken);
      dec.push(q.take(headerBytes));
      // its blocks
      for (let last = false; !last;) {
        signal?.throwIfAborted();
        if (!(await need(3))) throw new ZstdFormatError('the data ends inside a block header', q.taken);
        const bh = q.peek(0) | (q.peek(1) << 8) | (q.peek(2) << 16);
        last = (bh & 1) === 1;
        const type = (bh >> 1) & 3;
        const size = bh >>> 3;
        if (type === 3) throw new ZstdFormatError('a reserved block type (corrupt data)', q.taken);
        if (size > ZSTD_BLOCK_MAX) throw new ZstdFormatError(`a block of ${size} bytes, over the format's 128 KiB (corrupt data)`, q.taken);
        const body = type === 1 ? 1 : size;
        const tail = last && checksum ? 4 : 0;
        if (!(await need(3 + body + tail))) throw new ZstdFormatError('the data ends inside a block', q.taken);
        // fzstd moves its whole window once per block: bound that work by what comes out
        shifted += window;
        if (shifted > 4 * GiB + 4096 * produced) throw new ZstdFormatError('too many tiny blocks for their output (a decompression bomb?)', q.taken);
        dec.push(q.take(3 + body + tail));
        if (out.length) {
          const ready = out;
          out = [];
          for (const c of ready) {
            produced = count(c.length);
            yield c;
          }
        }
      }
    }
    dec.push(new Uint8Array(0), true);
    for (const c of out) {
      count(c.length);
      yield c;
    }
  } finally {
    await it.return?.(undefined).catch(() => undefined);
  }
}

/** The bytes of an open file (a range of it), in chunks, with the compressed bytes read reported. */
function fileChunks(fh: FileHandle, opts: { start?: number; end?: number; onInput?: (bytes: number) => void }): Readable {
  const s = fh.createReadStream({ start: opts.start ?? 0, end: opts.end !== undefined ? opts.end - 1 : undefined, highWaterMark: 1 * MiB, autoClose: true });
  if (opts.onInput) {
    let n = 0;
    const cb = opts.onInput;
    s.on('data', (d: Buffer | string) => cb((n += d.length)));
  }
  return s;
}

/** How .bz2 input is decoded. 'auto' = lbzip2, else bzip2, else JS. */
export type Bz2Decoder = 'auto' | 'lbzip2' | 'bzip2' | 'js';

const toolCache = new Map<string, boolean>();
function onPath(name: string): boolean {
  let v = toolCache.get(name);
  if (v === undefined) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    v = r.status === 0 && r.stdout.trim().length > 0;
    toolCache.set(name, v);
  }
  return v;
}

/** The decoder 'auto' resolves to on this machine; throws Error when a named tool is missing. */
export function resolveBz2Decoder(pref: Bz2Decoder = 'auto'): 'lbzip2' | 'bzip2' | 'js' {
  if (pref === 'js') return 'js';
  if (pref === 'auto') return onPath('lbzip2') ? 'lbzip2' : onPath('bzip2') ? 'bzip2' : 'js';
  if (!onPath(pref)) throw new Error(`${pref} is not on PATH (apt-get install ${pref}), or use --bz2-decoder js`);
  return pref;
}

/** Options of {@link openDecompressed}. */
export interface OpenDecompressedOptions {
  /** Kind of input (its limit caps the file and the decompressed output). Default 'dump' (no limit). */
  kind?: InputKind;
  stage?: string;
  /** Output cap instead of the kind's limit. */
  maxOutput?: number;
  /** First byte of the compressed file to read (default 0). */
  start?: number;
  /** End (exclusive) of the range to read (default: end of file). */
  end?: number;
  /** Known compression (default: from the magic bytes). */
  compression?: Compression;
  bz2Decoder?: 'lbzip2' | 'bzip2' | 'js';
  /** Threads for lbzip2 (default 1). */
  threads?: number;
  /** Called with the number of compressed bytes read so far (for progress). */
  onInput?: (bytes: number) => void;
  signal?: AbortSignal;
}

/**
 * Yields the decompressed bytes of `file` (or of a byte range of it: a range of whole bz2 streams
 * of a multistream dump decodes on its own): plain, gzip, zstd or bzip2 by magic bytes. The file
 * is a regular file within its kind's limit (InputError), the output is held to that limit too
 * (InputTooLargeError), and nothing is decoded ahead of the consumer. Throws DecodeError when the
 * data is corrupt or truncated, naming how many bytes came out before the problem.
 */
export async function* openDecompressed(file: string, opts: OpenDecompressedOptions = {}): AsyncGenerator<Buffer> {
  const kind = opts.kind ?? 'dump';
  const stage = opts.stage ?? 'input';
  const { fh } = await openInputFile(file, { kind, stage });
  let compression = opts.compression;
  if (!compression) {
    try {
      const head = Buffer.alloc(4);
      const { bytesRead } = await fh.read(head, 0, 4, opts.start ?? 0);
      compression = compressionOf(head.subarray(0, bytesRead));
    } catch (err) {
      await fh.close();
      throw new InputError(stage, file, `cannot read: ${(err as Error).message}`, { cause: err });
    }
  }
  const cap: OutputCap = { file, stage, kind, max: opts.maxOutput };
  const raw = fileChunks(fh, opts);
  let out = 0;
  const counted = async function* (gen: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
    for await (const c of gen) {
      out += c.length;
      yield c;
    }
  };
  try {
    if (compression === 'none') {
      const count = capCounter(cap);
      for await (const chunk of raw) {
        opts.signal?.throwIfAborted();
        count((chunk as Buffer).length);
        yield chunk as Buffer;
      }
    } else if (compression === 'gzip') {
      try {
        yield* counted(gunzipChunks(raw, cap, opts.signal));
      } catch (err) {
        if (err instanceof InputError || (err as Error)?.name === 'AbortError') throw err;
        throw new DecodeError(`gzip data is corrupt or truncated (${(err as Error).message})`, out);
      }
    } else if (compression === 'zstd') {
      try {
        yield* counted(zstdChunks(raw, cap, opts.signal));
      } catch (err) {
        if (err instanceof InputError || (err as Error)?.name === 'AbortError') throw err;
        throw new DecodeError(`zstd data is corrupt, truncated or refused (${(err as Error).message})`, out);
      }
    } else {
      const decoder = opts.bz2Decoder ?? resolveBz2Decoder('auto');
      const gen = decoder === 'js' ? bunzip2InProcess(raw) : bunzip2WithProgram(decoder, raw, opts.threads);
      const count = capCounter(cap);
      for await (const c of gen) {
        count(c.length);
        yield c;
      }
    }
  } finally {
    raw.destroy();
    await fh.close().catch(() => undefined);
  }
}

/** bzip2 in JavaScript (unbzip2-stream), the fallback when no bzip2 program is installed. */
async function* bunzip2InProcess(raw: Readable): AsyncGenerator<Buffer> {
  let out = 0;
  const require = createRequire(import.meta.url);
  const unbzip2 = require('unbzip2-stream') as () => NodeJS.ReadWriteStream;
  const dec = unbzip2();
  const pt = new PassThrough({ highWaterMark: 1 * MiB });
  raw.on('error', (e) => pt.destroy(e));
  dec.on('error', (e: Error) => pt.destroy(e));
  raw.pipe(dec as unknown as NodeJS.WritableStream);
  (dec as unknown as Readable).pipe(pt);
  try {
    for await (const chunk of pt) {
      out += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
  } catch (err) {
    // the JS decoder reports running out of data as a TypeError deep inside
    const why = err instanceof TypeError ? 'the data ends or is damaged' : (err as Error).message;
    throw new DecodeError(`bzip2 data is corrupt or truncated (unbzip2-stream: ${why})`, out);
  } finally {
    raw.unpipe();
    (dec as unknown as Readable).destroy?.();
  }
}

/** bzip2 through lbzip2 (parallel) or bzip2 as a child process; its exit status tells corrupt data. */
async function* bunzip2WithProgram(decoder: string, raw: Readable, threads?: number): AsyncGenerator<Buffer> {
  let out = 0;
  const args = decoder === 'lbzip2' ? ['-d', '-c', '-n', String(Math.max(1, threads ?? 1))] : ['-d', '-c'];
  const child = spawn(decoder, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  let readError: Error | undefined;
  raw.on('error', (e) => {
    readError = e;
    child.kill();
  });
  child.stdin.on('error', () => { /* the decoder stopped reading: its exit status tells why */ });
  raw.pipe(child.stdin);
  let finished = false;
  try {
    for await (const chunk of child.stdout) {
      out += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    const r = await exited;
    finished = true;
    if (readError) throw readError;
    if (r.error) throw new DecodeError(`cannot run ${decoder}: ${r.error.message}`, out);
    if (r.code !== 0) {
      const msg = stderr.trim().replace(/\s+/g, ' ') || `exit ${r.code ?? r.signal}`;
      throw new DecodeError(`bzip2 data is corrupt or truncated (${decoder}: ${msg})`, out);
    }
  } finally {
    if (!finished) child.kill();
  }
}
