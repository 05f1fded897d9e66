/**
 * WARC and Common Crawl WAT inputs, parsed with warcio (webrecorder's WARC library).
 *
 * WARC: `response` (and `resource`) records whose payload is HTML give `<img>` candidates through
 * extract.ts, with the record's target uri as page url. WAT: `metadata` records hold Common Crawl's
 * JSON (Envelope → Payload-Metadata → HTTP-Response-Metadata → HTML-Metadata → Links[]), whose
 * `IMG@/src` links carry url, alt and title already extracted.
 */
import type { WARCRecord } from 'warcio';
import { InputError, WitError } from '../../util/errors.js';
import { charsetOf, extractImages } from '../extract.js';
import type { Candidate } from '../types.js';
import { toCandidate, type OnBadItem } from './candidate.js';
import { TruncatedInputError, baseName, inputError } from './open.js';

/** warcio, imported by the first reader of a WARC, not with this module: a command that refuses its input never loads it. */
let warcio: typeof import('warcio') | undefined;

/** Options of the WARC/WAT readers. */
export interface WarcOptions {
  useTitle?: boolean;
  onBadItem?: OnBadItem;
  signal?: AbortSignal;
  /** HTML beyond this many bytes of a record is not parsed. Default 8 MiB. */
  maxHtmlBytes?: number;
  /** WAT JSON records larger than this are skipped (bad_record). Default 16 MiB. */
  maxJsonBytes?: number;
  /**
   * A record cut by the end of the file (or a cut gzip stream): 'error' (default) stops with an
   * InputError naming the file and offset; 'skip' counts a `truncated_record` and ends this input.
   */
  onTruncated?: OnTruncated;
}

/** What to do with a truncated record; see {@link WarcOptions.onTruncated}. */
export type OnTruncated = 'error' | 'skip';

const HTML_TYPE_RE = /^\s*(text\/html|application\/xhtml\+xml)\b/i;

/** Reads at most `limit` bytes of an async byte iterable; `more` tells whether bytes were left. */
async function readBounded(src: AsyncIterable<Uint8Array>, limit: number): Promise<{ bytes: Buffer; more: boolean }> {
  const parts: Buffer[] = [];
  let len = 0;
  for await (const chunk of src) {
    if (len + chunk.byteLength > limit) {
      parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, limit - len));
      return { bytes: Buffer.concat(parts, limit), more: true };
    }
    parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    len += chunk.byteLength;
  }
  return { bytes: Buffer.concat(parts, len), more: false };
}

/** One record of a WARC stream, numbered from 1, with the offset its first line starts at. */
interface NumberedRecord {
  rec: WARCRecord;
  n: number;
  offset: number;
}

/** A WARC byte stream that remembers whether it reached its end. */
function endAware(bytes: AsyncIterable<Uint8Array>): { bytes: AsyncIterable<Uint8Array>; ended: () => boolean } {
  let ended = false;
  const it = bytes[Symbol.asyncIterator]();
  return {
    ended: () => ended,
    bytes: {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          const r = await it.next();
          if (r.done) ended = true;
          return r;
        },
        return: async () => {
          await it.return?.();
          return { done: true as const, value: undefined };
        },
      }),
    },
  };
}

/**
 * Where a record stands once its reader is done with it: reads (and drops) what is left of its
 * block, and returns a description when the file ended before the block's declared Content-Length
 * (cut mid-payload, mid-HTTP-header, or right after the WARC header). warcio itself would spin
 * forever skipping such a record, and a consumer that stopped at the end of the bytes would take a
 * half page for a whole one. Idempotent.
 */
async function truncation(rec: WARCRecord): Promise<string | undefined> {
  const block = rec._reader;
  if (!(block instanceof (warcio ??= await import('warcio')).LimitReader)) return undefined;
  if (block.limit > 0) {
    for await (const chunk of block) void chunk;
  }
  if (block.limit <= 0) return undefined;
  const declared = rec.warcContentLength;
  return `declares Content-Length ${declared} but the file ends after ${declared - block.limit} bytes of it`;
}

/**
 * Ends the reading of a truncated input: an InputError naming the file and the record's offset, or
 * with `onTruncated: 'skip'` a counted `truncated_record` (the caller then stops: nothing follows a cut).
 */
function truncated(input: string, where: string, detail: string, opts: WarcOptions, cause?: unknown): void {
  if (opts.onTruncated === 'skip') {
    opts.onBadItem?.('truncated_record', `${input}: ${where}: ${detail}`);
    return;
  }
  throw new TruncatedInputError(input, `${where}: ${detail} (the file is truncated; --on-truncated skip counts such a record and goes on)`, { cause });
}

function describeRecord(input: string, n: number, offset: number): string {
  return `WARC record ${n} at offset ${offset}${/\.gz$/i.test(baseName(input)) ? ' (uncompressed)' : ''}`;
}

/**
 * Records of a WARC byte stream, with parse errors turned into InputErrors naming the file and
 * record. Each record is checked complete before the next is read (see {@link truncation}); a
 * truncated one ends the stream through {@link truncated}.
 */
async function* records(input: string, source: AsyncIterable<Uint8Array>, opts: WarcOptions): AsyncGenerator<NumberedRecord> {
  const { bytes, ended } = endAware(source);
  const { WARCParser } = (warcio ??= await import('warcio'));
  const parser = new WARCParser(bytes, { keepHeadersCase: false });
  let prev: NumberedRecord | undefined;
  for (let n = 1; ; n++) {
    if (prev) {
      const cut = await truncation(prev.rec);
      if (cut) return truncated(input, describeRecord(input, prev.n, prev.offset), cut, opts);
    }
    let rec: WARCRecord | null;
    try {
      rec = await parser.parse();
    } catch (err) {
      if (err instanceof WitError || (opts.signal?.aborted && err === opts.signal.reason)) throw err;
      throw inputError(input, err, `WARC record ${n} (offset ${parser.offset}): cannot parse`);
    }
    if (!rec) return;
    const where = describeRecord(input, n, parser.offset);
    const statusline = rec.warcHeaders.statusline ?? '';
    const length = rec.warcHeaders.headers.get('content-length');
    if (ended() && (!statusline.startsWith('WARC/') || length == null)) {
      // the file ends inside this record's WARC header
      return truncated(input, where, `the file ends inside the WARC header (${JSON.stringify(statusline.slice(0, 60))}${length == null ? ', no Content-Length' : ''})`, opts);
    }
    if (!statusline.startsWith('WARC/')) {
      throw new InputError('crawl', input, `${where}: not a WARC record (first line ${JSON.stringify(statusline.slice(0, 60))})`);
    }
    if (length == null || !/^\s*\d+\s*$/.test(length)) {
      throw new InputError('crawl', input, `${where}: no valid Content-Length header (${JSON.stringify(length)})`);
    }
    opts.signal?.throwIfAborted();
    prev = { rec, n, offset: parser.offset };
    yield prev;
  }
}

/**
 * Runs a reader over a WARC stream, turning a cut gzip stream into {@link truncated} (in 'skip'
 * mode a count; the consumer saw no part of the cut record, which was being read when gzip failed).
 */
async function* endAtCutGzip<T>(input: string, opts: WarcOptions, body: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    yield* body;
  } catch (err) {
    // in 'skip' mode truncated() throws nothing, so a TruncatedInputError here comes from gzip
    if (!(err instanceof TruncatedInputError) || opts.onTruncated !== 'skip') throw err;
    truncated(input, 'gzip stream', err.detail, opts, err);
  }
}

/**
 * Reads the page of a record whose content the reader uses, then makes sure the record was whole:
 * undefined (and the input ends) when it was truncated; `bad` for a broken chunked/gzip body inside
 * an intact record.
 */
async function readWhole(input: string, r: NumberedRecord, limit: number, opts: WarcOptions): Promise<{ bytes: Buffer; more: boolean } | { bad: string } | undefined> {
  let read: { bytes: Buffer; more: boolean } | { bad: string };
  try {
    read = await readBounded(r.rec, limit);
  } catch (err) {
    if (err instanceof WitError) throw err;
    read = { bad: (err as Error).message };
  }
  const cut = await truncation(r.rec);
  if (cut) {
    truncated(input, describeRecord(input, r.n, r.offset), cut, opts);
    return undefined;
  }
  return read;
}

/** Page url and Content-Type of a 2xx HTML response (or resource) record, else undefined. */
function htmlPage(input: string, rec: WARCRecord, opts: WarcOptions): { pageUrl: string; contentType: string | null | undefined } | undefined {
  const type = rec.warcType;
  if (type !== 'response' && type !== 'resource') return undefined;
  // WARC 1.0 writers sometimes wrap the uri in <>, as WARC 1.1's grammar suggests.
  const pageUrl = (rec.warcTargetURI ?? '').trim().replace(/^<(.*)>$/, '$1');
  if (!/^https?:\/\//i.test(pageUrl)) return undefined;
  let contentType: string | null | undefined;
  if (type === 'response') {
    const http = rec.httpHeaders;
    if (!http) return undefined; // a non-HTTP response (dns:, ...)
    const status = Number(http.statusCode);
    if (!(status >= 200 && status < 300)) return undefined;
    contentType = http.headers.get('content-type');
    const enc = (http.headers.get('content-encoding') ?? '').trim().toLowerCase();
    if (enc && enc !== 'identity' && enc !== 'gzip' && enc !== 'x-gzip' && enc !== 'deflate') {
      opts.onBadItem?.('unsupported_encoding', `${input}: ${pageUrl}: Content-Encoding ${enc}`);
      return undefined;
    }
  } else {
    contentType = rec.warcContentType;
  }
  if (contentType && !HTML_TYPE_RE.test(contentType)) return undefined;
  return { pageUrl, contentType };
}

/**
 * Candidates of the HTML pages in a WARC stream, in record order. Non-HTML records and non-2xx
 * responses are passed over; a page with an unsupported Content-Encoding counts as
 * `unsupported_encoding`. Throws InputError naming the file for input that is not WARC or is
 * corrupt.
 */
export function readWarc(input: string, bytes: AsyncIterable<Uint8Array>, opts: WarcOptions = {}): AsyncGenerator<Candidate> {
  return endAtCutGzip(input, opts, warcCandidates(input, bytes, opts));
}

async function* warcCandidates(input: string, bytes: AsyncIterable<Uint8Array>, opts: WarcOptions): AsyncGenerator<Candidate> {
  const maxHtml = opts.maxHtmlBytes ?? 8 * 1024 * 1024;
  for await (const r of records(input, bytes, opts)) {
    const page = htmlPage(input, r.rec, opts);
    if (!page) continue;
    const read = await readWhole(input, r, maxHtml, opts);
    if (!read) return;
    if ('bad' in read) {
      opts.onBadItem?.('bad_record', `${input}: ${page.pageUrl}: ${read.bad}`);
      continue;
    }
    const html = read.bytes;
    if (read.more) opts.onBadItem?.('long_page', `${input}: ${page.pageUrl}: only the first ${maxHtml} bytes parsed`);
    if (!page.contentType && !/<(!doctype\s+html|html|head|body|img)\b/i.test(html.subarray(0, 2048).toString('latin1'))) continue;
    for (const img of extractImages(html, page.pageUrl, {
      useTitle: opts.useTitle,
      maxHtmlBytes: maxHtml,
      charset: charsetOf(page.contentType),
      onBadItem: opts.onBadItem,
    })) {
      yield { url: img.url, caption: img.caption, page_url: page.pageUrl, source: input };
    }
  }
}

/** One image response a WARC holds: its url (the record's target uri), the HTTP body and headers. */
export interface WarcImage {
  url: string;
  body: Buffer;
  /** The stored response's X-Robots-Tag, if any (a dataset opt-out applies to the archived copy too). */
  xRobotsTag?: string;
}

/**
 * The 2xx `response` records of a WARC stream whose Content-Type is image/*, in record order, body
 * decoded (chunked, gzip) and at most `maxBytes` long (a longer one is passed over: the crawl fetches
 * it, and --max-bytes refuses it there as it would any). Throws as {@link readWarc} does.
 */
export function readWarcImages(input: string, bytes: AsyncIterable<Uint8Array>, opts: WarcOptions & { maxBytes: number }): AsyncGenerator<WarcImage> {
  return endAtCutGzip(input, opts, warcImages(input, bytes, opts));
}

async function* warcImages(input: string, bytes: AsyncIterable<Uint8Array>, opts: WarcOptions & { maxBytes: number }): AsyncGenerator<WarcImage> {
  for await (const r of records(input, bytes, opts)) {
    if (r.rec.warcType !== 'response') continue;
    const url = (r.rec.warcTargetURI ?? '').trim().replace(/^<(.*)>$/, '$1');
    const http = r.rec.httpHeaders;
    if (!/^https?:\/\//i.test(url) || !http) continue;
    const status = Number(http.statusCode);
    if (!(status >= 200 && status < 300) || !/^\s*image\//i.test(http.headers.get('content-type') ?? '')) continue;
    const read = await readWhole(input, r, opts.maxBytes, opts);
    if (!read) return;
    if ('bad' in read || read.more) continue;
    const xRobotsTag = http.headers.get('x-robots-tag') ?? undefined;
    yield { url, body: read.bytes, ...(xRobotsTag ? { xRobotsTag } : {}) };
  }
}

type Json = Record<string, unknown>;
function obj(v: unknown): Json | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

/**
 * Candidates of a Common Crawl WAT stream: for each `response` envelope, its `IMG@/src` links with
 * a non-empty `alt` (and `title` when `useTitle`), relative urls resolved against `Head.Base` or the
 * page url. Unparsable JSON counts as bad_record. Throws InputError naming the file for input that
 * is not WARC/WAT or is corrupt.
 */
export function readWat(input: string, bytes: AsyncIterable<Uint8Array>, opts: WarcOptions = {}): AsyncGenerator<Candidate> {
  return endAtCutGzip(input, opts, watCandidates(input, bytes, opts));
}

async function* watCandidates(input: string, bytes: AsyncIterable<Uint8Array>, opts: WarcOptions): AsyncGenerator<Candidate> {
  const maxJson = opts.maxJsonBytes ?? 16 * 1024 * 1024;
  for await (const r of records(input, bytes, opts)) {
    const { rec, n } = r;
    if (rec.warcType !== 'metadata') continue;
    const ct = rec.warcContentType ?? '';
    if (ct && !/json/i.test(ct)) continue;
    const read = await readWhole(input, r, maxJson, opts);
    if (!read) return;
    if ('bad' in read) {
      opts.onBadItem?.('bad_record', `${input}: record ${n}: ${read.bad}`);
      continue;
    }
    if (read.more) {
      opts.onBadItem?.('bad_record', `${input}: record ${n}: WAT JSON larger than ${maxJson} bytes`);
      continue;
    }
    let doc: Json | undefined;
    try {
      doc = obj(JSON.parse(read.bytes.toString('utf8')));
    } catch (err) {
      opts.onBadItem?.('bad_record', `${input}: record ${n}: invalid JSON (${(err as Error).message})`);
      continue;
    }
    yield* watLinks(input, n, doc, opts);
  }
}

/** Candidates of one WAT JSON document (see {@link readWat}). */
function* watLinks(input: string, n: number, doc: Json | undefined, opts: WarcOptions): Generator<Candidate> {
  const env = obj(doc?.Envelope);
  const warcMeta = obj(env?.['WARC-Header-Metadata']);
  if (!env || !warcMeta) {
    opts.onBadItem?.('bad_record', `${input}: record ${n}: no Envelope.WARC-Header-Metadata`);
    return;
  }
  if (warcMeta['WARC-Type'] !== undefined && warcMeta['WARC-Type'] !== 'response') return;
  const pageUrl = warcMeta['WARC-Target-URI'];
  if (typeof pageUrl !== 'string' || !/^https?:\/\//i.test(pageUrl)) return;
  const html = obj(obj(obj(env['Payload-Metadata'])?.['HTTP-Response-Metadata'])?.['HTML-Metadata']);
  const links = html?.Links;
  if (!Array.isArray(links)) return;
  let base = pageUrl;
  const baseHref = obj(html?.Head)?.Base;
  if (typeof baseHref === 'string' && baseHref.trim()) {
    try {
      const b = new URL(baseHref.trim(), pageUrl);
      if (b.protocol === 'http:' || b.protocol === 'https:') base = b.href;
    } catch {
      // a bad <base> is ignored, as browsers do
    }
  }
  for (const link of links) {
    const l = obj(link);
    if (!l || typeof l.path !== 'string' || !/^IMG@\/(src|data-src)$/i.test(l.path)) continue;
    const raw = typeof l.url === 'string' ? l.url.trim() : '';
    if (!raw || /^data:/i.test(raw)) continue;
    const texts: unknown[] = [l.alt];
    if (opts.useTitle && l.title !== l.alt) texts.push(l.title);
    for (const text of texts) {
      if (typeof text !== 'string' || !text.trim()) continue;
      const c = toCandidate(raw, text, input, `${input}: record ${n}`, opts.onBadItem, base);
      if (c) yield { ...c, page_url: pageUrl };
    }
  }
}
