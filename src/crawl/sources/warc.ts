/**
 * WARC and Common Crawl WAT inputs, parsed with warcio (webrecorder's WARC library).
 *
 * WARC: `response` (and `resource`) records whose payload is HTML give `<img>` candidates through
 * extract.ts, with the record's target uri as page url. WAT: `metadata` records hold Common Crawl's
 * JSON (Envelope → Payload-Metadata → HTTP-Response-Metadata → HTML-Metadata → Links[]), whose
 * `IMG@/src` links carry url, alt and title already extracted.
 */
import { WARCParser, type WARCRecord } from 'warcio';
import { InputError, WitError } from '../../util/errors.js';
import { charsetOf, extractImages } from '../extract.js';
import type { Candidate } from '../types.js';
import { toCandidate, type OnBadItem } from './candidate.js';
import { inputError } from './open.js';

/** Options of the WARC/WAT readers. */
export interface WarcOptions {
  useTitle?: boolean;
  onBadItem?: OnBadItem;
  signal?: AbortSignal;
  /** HTML beyond this many bytes of a record is not parsed. Default 8 MiB. */
  maxHtmlBytes?: number;
  /** WAT JSON records larger than this are skipped (bad_record). Default 16 MiB. */
  maxJsonBytes?: number;
}

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

/** Records of a WARC byte stream, with parse errors turned into InputErrors naming the file and record. */
async function* records(input: string, bytes: AsyncIterable<Uint8Array>, signal?: AbortSignal): AsyncGenerator<WARCRecord> {
  const parser = new WARCParser(bytes, { keepHeadersCase: false });
  let n = 0;
  for (;;) {
    let rec: WARCRecord | null;
    try {
      rec = await parser.parse();
    } catch (err) {
      if (err instanceof WitError || (signal?.aborted && err === signal.reason)) throw err;
      throw inputError(input, err, `WARC record ${n + 1} (offset ${parser.offset}): cannot parse`);
    }
    if (!rec) break;
    n++;
    const statusline = rec.warcHeaders.statusline ?? '';
    if (!statusline.startsWith('WARC/')) {
      throw new InputError('crawl', input, `record ${n} (offset ${parser.offset}): not a WARC record (first line ${JSON.stringify(statusline.slice(0, 60))})`);
    }
    signal?.throwIfAborted();
    yield rec;
  }
}

/**
 * Candidates of the HTML pages in a WARC stream, in record order. Non-HTML records and non-2xx
 * responses are passed over; a page with an unsupported Content-Encoding counts as
 * `unsupported_encoding`. Throws InputError naming the file for input that is not WARC or is
 * corrupt.
 */
export async function* readWarc(input: string, bytes: AsyncIterable<Uint8Array>, opts: WarcOptions = {}): AsyncGenerator<Candidate> {
  const maxHtml = opts.maxHtmlBytes ?? 8 * 1024 * 1024;
  for await (const rec of records(input, bytes, opts.signal)) {
    const type = rec.warcType;
    if (type !== 'response' && type !== 'resource') continue;
    // WARC 1.0 writers sometimes wrap the uri in <>, as WARC 1.1's grammar suggests.
    const pageUrl = (rec.warcTargetURI ?? '').trim().replace(/^<(.*)>$/, '$1');
    if (!/^https?:\/\//i.test(pageUrl)) continue;
    let contentType: string | null | undefined;
    if (type === 'response') {
      const http = rec.httpHeaders;
      if (!http) continue; // a non-HTTP response (dns:, ...)
      const status = Number(http.statusCode);
      if (!(status >= 200 && status < 300)) continue;
      contentType = http.headers.get('content-type');
      const enc = (http.headers.get('content-encoding') ?? '').trim().toLowerCase();
      if (enc && enc !== 'identity' && enc !== 'gzip' && enc !== 'x-gzip' && enc !== 'deflate') {
        opts.onBadItem?.('unsupported_encoding', `${input}: ${pageUrl}: Content-Encoding ${enc}`);
        continue;
      }
    } else {
      contentType = rec.warcContentType;
    }
    if (contentType && !HTML_TYPE_RE.test(contentType)) continue;
    let html: Buffer;
    try {
      ({ bytes: html } = await readBounded(rec, maxHtml));
    } catch (err) {
      if (err instanceof WitError) throw err;
      // A broken chunked/gzip body inside an intact record: that page only.
      opts.onBadItem?.('bad_record', `${input}: ${pageUrl}: ${(err as Error).message}`);
      continue;
    }
    if (!contentType && !/<(!doctype\s+html|html|head|body|img)\b/i.test(html.subarray(0, 2048).toString('latin1'))) continue;
    for (const img of extractImages(html, pageUrl, {
      useTitle: opts.useTitle,
      maxHtmlBytes: maxHtml,
      charset: charsetOf(contentType),
      onBadItem: opts.onBadItem,
    })) {
      yield { url: img.url, caption: img.caption, page_url: pageUrl, source: input };
    }
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
export async function* readWat(input: string, bytes: AsyncIterable<Uint8Array>, opts: WarcOptions = {}): AsyncGenerator<Candidate> {
  const maxJson = opts.maxJsonBytes ?? 16 * 1024 * 1024;
  let n = 0;
  for await (const rec of records(input, bytes, opts.signal)) {
    n++;
    if (rec.warcType !== 'metadata') continue;
    const ct = rec.warcContentType ?? '';
    if (ct && !/json/i.test(ct)) continue;
    const { bytes: body, more } = await readBounded(rec, maxJson);
    if (more) {
      opts.onBadItem?.('bad_record', `${input}: record ${n}: WAT JSON larger than ${maxJson} bytes`);
      continue;
    }
    let doc: Json | undefined;
    try {
      doc = obj(JSON.parse(body.toString('utf8')));
    } catch (err) {
      opts.onBadItem?.('bad_record', `${input}: record ${n}: invalid JSON (${(err as Error).message})`);
      continue;
    }
    const env = obj(doc?.Envelope);
    const warcMeta = obj(env?.['WARC-Header-Metadata']);
    if (!env || !warcMeta) {
      opts.onBadItem?.('bad_record', `${input}: record ${n}: no Envelope.WARC-Header-Metadata`);
      continue;
    }
    if (warcMeta['WARC-Type'] !== undefined && warcMeta['WARC-Type'] !== 'response') continue;
    const pageUrl = warcMeta['WARC-Target-URI'];
    if (typeof pageUrl !== 'string' || !/^https?:\/\//i.test(pageUrl)) continue;
    const html = obj(obj(obj(env['Payload-Metadata'])?.['HTTP-Response-Metadata'])?.['HTML-Metadata']);
    const links = html?.Links;
    if (!Array.isArray(links)) continue;
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
}
