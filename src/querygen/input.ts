/**
 * Byte streams of the inputs, decompressed: plain, gzip (zlib) and bzip2.
 *
 * bzip2 is the expensive one (a full English Wikipedia is ~22 GB of it): Debian's `lbzip2` decodes
 * with all cores at ~30 MB/s each and `bzip2` at ~15-30 MB/s on one, against ~9 MB/s for the
 * pure-JavaScript unbzip2-stream, so a subprocess is used whenever one is on PATH and the JS decoder
 * is the fallback. The format is detected from the file's magic bytes, not its name.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { createRequire } from 'node:module';

/** How .bz2 input is decoded. 'auto' = lbzip2, else bzip2, else JS. */
export type Bz2Decoder = 'auto' | 'lbzip2' | 'bzip2' | 'js';

export type Compression = 'none' | 'gzip' | 'bzip2';

/** Compression of a file from its first bytes. Throws (ENOENT…) when it cannot be read. */
export function detectCompression(file: string): Compression {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    const n = readSync(fd, b, 0, 4, 0);
    if (n >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (n >= 4 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[3]! >= 0x31 && b[3]! <= 0x39) return 'bzip2';
    return 'none';
  } finally {
    closeSync(fd);
  }
}

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

/** Failure of a decoder, with how far it got. */
export class DecodeError extends Error {
  constructor(message: string, readonly outputBytes: number) {
    super(message);
    this.name = 'DecodeError';
  }
}

export interface OpenOptions {
  /** First byte of the compressed file to read (default 0). */
  start?: number;
  /** End (exclusive) of the range to read (default: end of file). */
  end?: number;
  compression?: Compression;
  bz2Decoder?: 'lbzip2' | 'bzip2' | 'js';
  /** Threads for lbzip2 (default 1). */
  threads?: number;
  /** Called with the number of compressed bytes read so far (for progress). */
  onInput?: (bytes: number) => void;
}

function rawStream(file: string, opts: OpenOptions): Readable {
  const s = createReadStream(file, {
    start: opts.start ?? 0,
    end: opts.end !== undefined ? opts.end - 1 : undefined,
    highWaterMark: 1 << 20,
  });
  if (opts.onInput) {
    let n = 0;
    const cb = opts.onInput;
    s.on('data', (d: Buffer | string) => cb((n += d.length)));
  }
  return s;
}

/**
 * Yields the decompressed bytes of `file` (or of a byte range of it: a range of whole bz2 streams
 * of a multistream dump decodes on its own). Throws DecodeError when the data is corrupt or
 * truncated, naming how many bytes came out before the problem.
 */
export async function* openDecompressed(file: string, opts: OpenOptions = {}): AsyncGenerator<Buffer> {
  const compression = opts.compression ?? detectCompression(file);
  if (compression === 'none') {
    for await (const chunk of rawStream(file, opts)) yield chunk as Buffer;
    return;
  }
  if (compression === 'gzip') {
    yield* gunzipStream(file, opts);
    return;
  }
  const decoder = opts.bz2Decoder ?? resolveBz2Decoder('auto');
  if (decoder === 'js') yield* bunzip2InProcess(file, opts);
  else yield* bunzip2WithProgram(decoder, file, opts);
}

/** gzip through zlib. */
async function* gunzipStream(file: string, opts: OpenOptions): AsyncGenerator<Buffer> {
  let out = 0;
  const gz = createGunzip();
  const raw = rawStream(file, opts);
  raw.on('error', (e) => gz.destroy(e));
  raw.pipe(gz);
  try {
    for await (const chunk of gz) {
      out += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
  } catch (err) {
    throw new DecodeError(`gzip data is corrupt or truncated (${(err as Error).message})`, out);
  } finally {
    raw.destroy();
  }
}

/** bzip2 in JavaScript (unbzip2-stream), the fallback when no bzip2 program is installed. */
async function* bunzip2InProcess(file: string, opts: OpenOptions): AsyncGenerator<Buffer> {
  let out = 0;
  const require = createRequire(import.meta.url);
  const unbzip2 = require('unbzip2-stream') as () => NodeJS.ReadWriteStream;
  const dec = unbzip2();
  const pt = new PassThrough({ highWaterMark: 1 << 20 });
  const raw = rawStream(file, opts);
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
    raw.destroy();
  }
}

/** bzip2 through lbzip2 (parallel) or bzip2 as a child process; its exit status tells corrupt data. */
async function* bunzip2WithProgram(decoder: string, file: string, opts: OpenOptions): AsyncGenerator<Buffer> {
  let out = 0;
  const args = decoder === 'lbzip2' ? ['-d', '-c', '-n', String(Math.max(1, opts.threads ?? 1))] : ['-d', '-c'];
  const child = spawn(decoder, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const raw = rawStream(file, opts);
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
    raw.destroy();
    if (!finished) child.kill();
  }
}
