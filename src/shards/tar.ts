/**
 * POSIX ustar archives, the container of WebDataset shards: a streaming writer that sends each
 * member's header, the caller's bytes (never copied) and the padding to `writev` in large batches,
 * and a streaming reader that reads a file front to back and can skip members without reading
 * them. Only what WebDataset shards need: regular files; the reader also understands the PAX
 * ('x') and GNU long-name ('L') headers other writers emit for long names, and skips every other
 * entry type (directories, links, global headers). See README.md, "The shard format".
 */
import { open, type FileHandle } from 'node:fs/promises';
import { formatSize, inputLimit, openInputFile, readFully } from '../util/input.js';

/** Tar blocks are 512 bytes; every header and the padding of every body fill whole blocks. */
export const BLOCK = 512;
const ZERO = Buffer.alloc(BLOCK * 2);

/** Writes `value` as a NUL-terminated octal field of `len` bytes. */
function octal(buf: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new Error(`tar: value ${value} too large for a ${len}-byte field`);
  buf.write(s, off, len - 1, 'ascii');
  buf[off + len - 1] = 0;
}

/** Splits a member name into ustar's prefix (<=155 bytes) and name (<=100 bytes), or throws. */
function splitName(name: string): { prefix: string; name: string } {
  const bytes = Buffer.byteLength(name);
  if (bytes <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return { prefix, name: rest };
  }
  throw new Error(`tar: member name longer than ustar allows (${bytes} bytes): ${name.slice(0, 80)}…`);
}

/** The 512-byte ustar header of a regular file. `mtime` in seconds. */
export function ustarHeader(name: string, size: number, mtime = 0, mode = 0o644): Buffer {
  const h = Buffer.alloc(BLOCK);
  const parts = splitName(name);
  h.write(parts.name, 0, 100, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h[156] = 0x30; // '0': regular file
  h.write('ustar\u000000', 257, 8, 'binary'); // POSIX magic "ustar\0" and version "00"
  h.write(parts.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  octal(h, 148, 7, sum);
  h[155] = 0x20;
  return h;
}

/**
 * Streams members into a tar file. Buffers are queued and written with `writev` once
 * `flushBytes` are pending, so many small members cost few system calls; image bytes are
 * handed to the kernel from the caller's buffers. `finish` writes the end-of-archive blocks,
 * syncs and closes. Member times are fixed (`mtime`), so the same members give the same bytes.
 */
export class TarWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private offset = 0;

  private constructor(private readonly fh: FileHandle, private readonly mtime: number, private readonly flushBytes: number) {}

  /** Creates (truncates) `path`. */
  static async create(path: string, opts: { mtime?: number; flushBytes?: number } = {}): Promise<TarWriter> {
    return new TarWriter(await open(path, 'w'), opts.mtime ?? 0, opts.flushBytes ?? 8 * 1024 * 1024);
  }

  /** Bytes written or queued so far. */
  get bytes(): number {
    return this.offset + this.pendingBytes;
  }

  /** Queues one regular file; writes when enough is pending. */
  async add(name: string, data: Uint8Array): Promise<void> {
    this.queue(ustarHeader(name, data.byteLength, this.mtime));
    if (data.byteLength) this.queue(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const pad = (BLOCK - (data.byteLength % BLOCK)) % BLOCK;
    if (pad) this.queue(ZERO.subarray(0, pad));
    if (this.pendingBytes >= this.flushBytes) await this.flush();
  }

  private queue(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
  }

  private async flush(): Promise<void> {
    const parts = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    // writev in slices: the OS caps the number of buffers per call (IOV_MAX)
    for (let i = 0; i < parts.length; i += 512) {
      const slice = parts.slice(i, i + 512);
      let len = 0;
      for (const p of slice) len += p.length;
      let written = (await this.fh.writev(slice)).bytesWritten;
      if (written < len) {
        // short write: finish the rest the slow way
        const all = Buffer.concat(slice);
        while (written < len) written += (await this.fh.write(all, written, len - written)).bytesWritten;
      }
      this.offset += len;
    }
  }

  /** Writes the two zero blocks that end an archive, syncs and closes. Resolves to the file size. */
  async finish(): Promise<number> {
    this.queue(ZERO);
    await this.flush();
    await this.fh.sync();
    await this.fh.close();
    return this.offset;
  }

  /** Closes without finishing (the caller deletes the file). */
  async abort(): Promise<void> {
    this.pending = [];
    await this.fh.close().catch(() => undefined);
  }
}

/** How a tar ended: `withoutMarker` when the file stopped after a member, without the two zero blocks (a tar cut at a member's end looks like this). */
export interface TarEnd {
  withoutMarker?: boolean;
}

/** One member as read: its name and, unless skipped, its bytes. */
export interface TarMember {
  name: string;
  size: number;
  /** Absent when the caller asked to skip this member's body. */
  data?: Buffer;
}

function readOctal(h: Buffer, off: number, len: number): number {
  // GNU base-256 for big numbers: high bit of the first byte set
  if (h[off]! & 0x80) {
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + h[i]!;
    return v;
  }
  const s = h.toString('ascii', off, off + len).replace(/[\0 ]+.*$/s, '').trim();
  return !s ? 0 : /^[0-7]+$/.test(s) ? parseInt(s, 8) : NaN;
}

function cString(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

/** Thrown for a file that is not a tar or ends early; the caller names the file. */
export class TarFormatError extends Error {}

/** A member wanted but over the `tar-member` input limit (src/util/input.ts); the caller names the file. */
export class TarMemberTooLargeError extends TarFormatError {
  constructor(readonly member: string, readonly bytes: number, readonly offset: number) {
    super(`member ${JSON.stringify(member)} at byte ${offset} is ${formatSize(bytes)} (${bytes} bytes), over the tar-member limit of ${formatSize(inputLimit('tar-member'))} (raise it with --max-input-size tar-member=SIZE)`);
    this.name = 'TarMemberTooLargeError';
  }
}

/** Parses one header block; null for an all-zero block (end of archive). */
function parseHeader(h: Buffer, at: number): { name: string; size: number; type: string } | null {
  let zero = true;
  for (let i = 0; i < BLOCK; i++) if (h[i] !== 0) { zero = false; break; }
  if (zero) return null;
  const stored = readOctal(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  if (sum !== stored) throw new TarFormatError(`bad tar header checksum at byte ${at}`);
  let name = cString(h, 0, 100);
  if (h.toString('ascii', 257, 262) === 'ustar') {
    const prefix = cString(h, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]!);
  const size = readOctal(h, 124, 12);
  // a size field that is not a number (not octal digits) would make every later offset NaN
  if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError(`bad size field in the tar header of ${JSON.stringify(name)} at byte ${at}`);
  return { name, size, type };
}

/** The `path` record of a PAX extended header, if any. */
function paxPath(data: Buffer): string | undefined {
  let pos = 0;
  let path: string | undefined;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) break;
    const len = parseInt(data.toString('ascii', pos, sp), 10);
    if (!(len > 0)) break;
    const rec = data.toString('utf8', sp + 1, pos + len - 1);
    const eq = rec.indexOf('=');
    if (rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    pos += len;
  }
  return path;
}

/**
 * Streams the regular-file members of a tar file in order. `want(name)` decides whether a
 * member's bytes are read (false: skipped with a seek, never read). Reads in chunks of
 * `chunkBytes`, so memory is one chunk plus the largest member wanted, at most the `tar-member`
 * input limit (TarMemberTooLargeError; a 0-byte file is not a tar). Throws TarFormatError
 * for a corrupt header or a file that ends inside a member (truncated).
 */
export async function* readTar(path: string, want: (name: string) => boolean = () => true, chunkBytes = 4 * 1024 * 1024, end: TarEnd = {}): AsyncGenerator<TarMember> {
  // a regular file (src/util/input.ts, docs/ARCHITECTURE.md "Reading inputs"); members read in pieces
  const { fh, size } = await openInputFile(path, { kind: 'shard', stage: 'shards' });
  const maxMember = inputLimit('tar-member');
  try {
    if (size === 0) throw new TarFormatError('the file is empty (0 bytes), not a tar');
    let chunk = Buffer.alloc(0);
    let chunkStart = 0; // file offset of chunk[0]
    let pos = 0; // file offset of the next block
    /** Makes [pos, pos+n) available in `chunk`; returns its offset there. */
    const ensure = async (n: number): Promise<number> => {
      if (pos >= chunkStart && pos + n <= chunkStart + chunk.length) return pos - chunkStart;
      if (pos + n > size) throw new TarFormatError(`tar ends early (truncated at byte ${size}, needs ${pos + n})`);
      const len = Math.min(size - pos, Math.max(n, chunkBytes));
      const buf = Buffer.allocUnsafe(len);
      const done = await readFully(fh, buf, 0, len, pos);
      if (done < len) throw new TarFormatError(`tar ends early at byte ${pos + done}`);
      chunk = buf;
      chunkStart = pos;
      return 0;
    };
    let longName: string | undefined;
    for (;;) {
      if (pos + BLOCK > size) {
        if (pos === size) {
          // no end-of-archive blocks: accepted, as GNU tar does; the caller may tell a cut from it
          end.withoutMarker = true;
          return;
        }
        throw new TarFormatError(`tar ends early (truncated at byte ${size})`);
      }
      const at = await ensure(BLOCK);
      const head = parseHeader(chunk.subarray(at, at + BLOCK), pos);
      pos += BLOCK;
      if (!head) return;
      const padded = Math.ceil(head.size / BLOCK) * BLOCK;
      if (head.type === 'x' || head.type === 'L') {
        if (head.size > maxMember) throw new TarMemberTooLargeError(longName ?? head.name, head.size, pos - BLOCK);
        const off = await ensure(head.size);
        const body = chunk.subarray(off, off + head.size);
        longName = head.type === 'L' ? cString(body, 0, body.length) : paxPath(body) ?? longName;
        pos += padded;
        continue;
      }
      const name = longName ?? head.name;
      longName = undefined;
      if (head.type !== '0' && head.type !== '7') {
        pos += padded; // directories, links, global headers: not samples
        continue;
      }
      if (pos + head.size > size) throw new TarFormatError(`tar ends early inside ${name} (truncated at byte ${size})`);
      if (!want(name)) {
        pos += padded;
        yield { name, size: head.size };
        continue;
      }
      if (head.size > maxMember) throw new TarMemberTooLargeError(name, head.size, pos - BLOCK);
      const off = await ensure(head.size);
      // a copy when the member is small (the chunk is reused), else the chunk's own bytes
      const data = Buffer.from(chunk.subarray(off, off + head.size));
      pos += padded;
      yield { name, size: head.size, data };
    }
  } finally {
    await fh.close();
  }
}

/**
 * Splits a member name into WebDataset's key and extension: the key is everything up to the
 * first '.' of the last path component, the extension the rest (`a/b.c.d` -> `a/b`, `c.d`).
 */
export function splitKey(name: string): { key: string; ext: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  return dot < 0 ? { key: name, ext: '' } : { key: name.slice(0, dot), ext: name.slice(dot + 1) };
}
