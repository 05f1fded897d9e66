/**
 * Opening an input (a local path, or an http(s) url through the caller's fetcher) as a stream of
 * decompressed bytes, and splitting bytes into lines, with errors that name the file.
 */
import { Readable } from 'node:stream';
import { InputError, UsageError, WitError, errorMessage } from '../../util/errors.js';
import { ZstdFormatError, gunzipChunks, openInputFile, zstdChunks, type OutputCap } from '../../util/input.js';

/** Opens an http(s) input file as a byte stream (the pipeline passes its safe fetcher). */
export type OpenUrl = (url: string) => Promise<NodeJS.ReadableStream | AsyncIterable<Uint8Array>>;

/** Options of {@link openBytes}. */
export interface OpenOptions {
  openUrl?: OpenUrl;
  signal?: AbortSignal;
}

/** True for http:// and https:// inputs. */
export function isUrl(input: string): boolean {
  return /^https?:\/\//i.test(input);
}

/** Name of an input without a trailing compression suffix and url query/fragment, lowercased. */
export function baseName(input: string): string {
  let name = input;
  if (isUrl(input)) {
    try {
      name = new URL(input).pathname;
    } catch {
      // keep as is
    }
  }
  return name.toLowerCase();
}

/**
 * The input ends before its framing says it should: a gzip member cut short, or a WARC record whose
 * declared Content-Length runs past the end of the file. `--on-truncated skip` counts it instead.
 */
export class TruncatedInputError extends InputError {
  constructor(input: string, readonly detail: string, opts: { cause?: unknown } = {}) {
    super('crawl', input, detail, opts);
    this.name = 'TruncatedInputError';
  }
}

/** Turns any error met while reading `input` into an InputError naming it (WitErrors pass through). */
export function inputError(input: string, err: unknown, what = 'cannot read', rawBytes?: number): WitError {
  if (err instanceof WitError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return new InputError('crawl', input, 'no such file', { cause: err });
  if (e?.code === 'EISDIR') return new InputError('crawl', input, 'is a directory, not a file', { cause: err });
  if (e?.code === 'EACCES') return new InputError('crawl', input, 'permission denied', { cause: err });
  if (e?.code === 'Z_BUF_ERROR' && /unexpected end of file/i.test(errorMessage(err))) {
    const where = rawBytes !== undefined ? ` after ${rawBytes} bytes` : '';
    return new TruncatedInputError(input, `truncated gzip data: the file ends${where} inside a gzip member`, { cause: err });
  }
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) {
    return new InputError('crawl', input, `corrupt or truncated gzip data (${errorMessage(err)})`, { cause: err });
  }
  if (e?.name === 'AbortError') return e as unknown as WitError;
  return new InputError('crawl', input, `${what}: ${errorMessage(err)}`, { cause: err });
}

async function openRaw(input: string, opts: OpenOptions): Promise<AsyncIterable<Uint8Array>> {
  if (isUrl(input)) {
    if (!opts.openUrl) throw new UsageError('crawl', 'reading an input file over http(s) needs a fetcher (openUrl)', { file: input });
    try {
      return toAsyncIterable(await opts.openUrl(input));
    } catch (err) {
      throw inputError(input, err, 'cannot fetch');
    }
  }
  // a regular file within the url-list limit (src/util/input.ts), else InputError naming it
  const { fh } = await openInputFile(input, { kind: 'url-list', stage: 'crawl' });
  return fh.createReadStream({ highWaterMark: 256 * 1024, autoClose: true });
}

function toAsyncIterable(s: NodeJS.ReadableStream | AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  if (Symbol.asyncIterator in s) return s as AsyncIterable<Uint8Array>;
  return Readable.from(s as NodeJS.ReadableStream) as AsyncIterable<Uint8Array>;
}

/** Zstandard frame magic (28 B5 2F FD, little-endian 0xFD2FB528). */
function isZstd(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd;
}

/**
 * Bytes of `input`, gunzipped on the fly when they start with the gzip magic (whatever the name),
 * concatenated gzip members included (.warc.gz), or zstd-decompressed when they start with the
 * zstd magic (.zst). Yields Buffers in order; throws InputError naming
 * the file for a missing/unreadable file or corrupt/truncated gzip, UsageError for an url without
 * `openUrl`, and the abort reason when `signal` fires.
 */
export async function* openBytes(input: string, opts: OpenOptions = {}): AsyncGenerator<Buffer> {
  const raw = await openRaw(input, opts);
  const it = raw[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  try {
    // Enough bytes to see the magic.
    while (head.length < 4) {
      const r = await it.next();
      if (r.done) break;
      head = Buffer.concat([head, Buffer.from(r.value)]);
    }
  } catch (err) {
    throw inputError(input, err);
  }
  const gz = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  let rawBytes = head.length;
  const rest: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const r = await it.next();
        if (!r.done) rawBytes += r.value.byteLength;
        return r;
      },
    }),
  };
  async function* all(): AsyncGenerator<Uint8Array> {
    if (head.length) yield head;
    yield* rest;
  }
  // the decompressed bytes are held to the url-list limit, pulled as the reader asks (src/util/input.ts)
  const cap: OutputCap = { file: input, stage: 'crawl', kind: 'url-list' };
  try {
    if (isZstd(head)) {
      yield* zstdChunks(all(), cap, opts.signal);
      return;
    }
    if (!gz) {
      for await (const chunk of all()) {
        opts.signal?.throwIfAborted();
        yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
      return;
    }
    yield* gunzipChunks(all(), cap, opts.signal);
  } catch (err) {
    if (opts.signal?.aborted && err === opts.signal.reason) throw err;
    if (err instanceof ZstdFormatError) throw new InputError('crawl', input, `corrupt or refused zstd data at compressed byte ${err.offset}: ${err.message}`, { cause: err });
    throw inputError(input, err, 'cannot read', rawBytes);
  } finally {
    // Closes the file (or the response) when the consumer stops early.
    await it.return?.().catch(() => undefined);
  }
}

/** One line of a text input: 1-based number and text without the line break (a trailing CR removed). */
export interface Line {
  no: number;
  text: string;
  /** True when the line was longer than the limit; `text` is then empty. */
  tooLong?: boolean;
}

/**
 * Lines of a byte stream decoded as UTF-8, each at most `maxBytes` long (longer lines are yielded
 * with `tooLong` and no text as soon as they pass the limit, then skipped to their end, so memory stays
 * bounded and a reader that stops at such a line reads no further). Throws what the byte stream throws.
 */
export async function* splitLines(bytes: AsyncIterable<Buffer>, maxBytes = 16 * 1024 * 1024): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let partLen = 0;
  let skipping = false;
  let no = 0;
  const emit = (buf: Buffer): Line => {
    no++;
    let end = buf.length;
    if (end > 0 && buf[end - 1] === 0x0d) end--;
    return { no, text: buf.toString('utf8', 0, end) };
  };
  for await (const chunk of bytes) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      if (skipping) {
        skipping = false; // the overlong line ends here; it was reported when it passed the limit
      } else if (partLen + (nl - start) > maxBytes) {
        parts = [];
        partLen = 0;
        no++;
        yield { no, text: '', tooLong: true };
      } else {
        const piece = chunk.subarray(start, nl);
        const line = partLen ? Buffer.concat([...parts, piece]) : piece;
        parts = [];
        partLen = 0;
        yield emit(line);
      }
      start = nl + 1;
    }
    if (start < chunk.length && !skipping) {
      const piece = chunk.subarray(start);
      if (partLen + piece.length > maxBytes) {
        // Reported now, not at the line's end: a reader that stops on it must not first read a 4 GiB line.
        skipping = true;
        parts = [];
        partLen = 0;
        no++;
        yield { no, text: '', tooLong: true };
      } else {
        // Copy: the chunk's memory may be reused by the producer.
        parts.push(Buffer.from(piece));
        partLen += piece.length;
      }
    }
  }
  if (!skipping && partLen > 0) {
    yield emit(Buffer.concat(parts));
  }
}
