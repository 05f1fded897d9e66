/**
 * WARC and WAT fixtures for tests, written with warcio's own writer (WARCRecord + WARCSerializer),
 * so they are real WARC/1.1 files (gzip: one member per record, as crawlers write them).
 */
import { WARCRecord, WARCSerializer } from 'warcio';

/** One HTTP response to archive. */
export interface WarcPage {
  url: string;
  /** Body bytes, or text (encoded as UTF-8). */
  body: string | Uint8Array;
  contentType?: string;
  status?: number;
  /** Extra HTTP headers. */
  headers?: Record<string, string>;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function toBytes(body: string | Uint8Array): Uint8Array {
  return typeof body === 'string' ? new TextEncoder().encode(body) : body;
}

/** Serialises records into one WARC file. */
async function serialize(records: WARCRecord[], gzip: boolean): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for (const r of records) parts.push(await WARCSerializer.serialize(r, { gzip }));
  return Buffer.concat(parts);
}

function warcinfo(filename: string): WARCRecord {
  return WARCRecord.createWARCInfo(
    { filename, warcVersion: 'WARC/1.1' },
    { software: 'wit tests (warcio.js)', format: 'WARC File Format 1.1' },
  );
}

/**
 * A WARC file (a warcinfo record, then for each page a request and a response record) as warcio
 * writes it; `gzip` compresses each record as its own member.
 */
export async function makeWarc(pages: WarcPage[], opts: { gzip?: boolean } = {}): Promise<Buffer> {
  const records: WARCRecord[] = [warcinfo('test.warc')];
  for (const p of pages) {
    const u = new URL(p.url);
    records.push(
      WARCRecord.create(
        {
          url: p.url,
          type: 'request',
          warcVersion: 'WARC/1.1',
          statusline: `GET ${u.pathname}${u.search} HTTP/1.1`,
          httpHeaders: { Host: u.host, 'User-Agent': 'wit-test' },
        },
        once(new Uint8Array()),
      ),
    );
    const status = p.status ?? 200;
    records.push(
      WARCRecord.create(
        {
          url: p.url,
          type: 'response',
          warcVersion: 'WARC/1.1',
          statusline: `HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Status'}`,
          httpHeaders: { 'Content-Type': p.contentType ?? 'text/html; charset=utf-8', ...(p.headers ?? {}) },
        },
        once(toBytes(p.body)),
      ),
    );
  }
  return serialize(records, opts.gzip ?? false);
}

/** An `<img>` link of a WAT page. */
export interface WatImage {
  url: string;
  alt?: string;
  title?: string;
}

/** One page of a WAT file. */
export interface WatPage {
  url: string;
  images: WatImage[];
  /** `<a href>` links (written as `A@/href`, which the reader must ignore). */
  links?: string[];
  base?: string;
  title?: string;
}

/**
 * The JSON of one WAT metadata record in Common Crawl's layout (Container, Envelope →
 * WARC-Header-Metadata, Payload-Metadata → HTTP-Response-Metadata → HTML-Metadata → Head, Links).
 */
export function watJson(page: WatPage, warcType: 'response' | 'request' | 'metadata' = 'response'): unknown {
  const warcHeader = {
    'WARC-Type': warcType,
    'WARC-Date': '2024-02-20T10:00:00Z',
    'WARC-Record-ID': '<urn:uuid:00000000-0000-0000-0000-000000000000>',
    'Content-Length': '12345',
    'Content-Type': `application/http; msgtype=${warcType}`,
    'WARC-Target-URI': page.url,
    'WARC-IP-Address': '93.184.216.34',
    'WARC-Identified-Payload-Type': 'text/html',
  };
  const container = {
    Filename: 'CC-MAIN-20240220000000-20240220030000-00000.warc.gz',
    Compressed: true,
    Offset: '1234',
    'Gzip-Metadata': { 'Deflate-Length': '5678', 'Header-Length': '10', 'Footer-Length': '8', 'Inflated-Length': '12345' },
  };
  if (warcType !== 'response') {
    return { Container: container, Envelope: { Format: 'WARC', 'WARC-Header-Length': '400', 'Actual-Content-Length': '300', 'WARC-Header-Metadata': warcHeader, 'Payload-Metadata': { 'Actual-Content-Type': `application/http; msgtype=${warcType}` } } };
  }
  const links: Record<string, string>[] = [];
  for (const href of page.links ?? []) links.push({ path: 'A@/href', url: href, text: 'link' });
  for (const img of page.images) {
    const l: Record<string, string> = { path: 'IMG@/src', url: img.url };
    if (img.alt !== undefined) l.alt = img.alt;
    if (img.title !== undefined) l.title = img.title;
    links.push(l);
  }
  const head: Record<string, unknown> = {
    Title: page.title ?? 'A page',
    Metas: [{ name: 'viewport', content: 'width=device-width' }],
    Link: [{ path: 'LINK@/href', url: '/style.css', rel: 'stylesheet' }],
  };
  if (page.base) head.Base = page.base;
  return {
    Container: container,
    Envelope: {
      Format: 'WARC',
      'WARC-Header-Length': '400',
      'Block-Digest': 'sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      'Actual-Content-Length': '12000',
      'WARC-Header-Metadata': warcHeader,
      'Payload-Metadata': {
        'Actual-Content-Type': 'application/http; msgtype=response',
        'HTTP-Response-Metadata': {
          'Headers-Length': '300',
          'Entity-Length': '11700',
          'Entity-Trailing-Slop-Length': '0',
          'Response-Message': { Status: '200', Version: 'HTTP/1.1', Reason: 'OK' },
          Headers: { 'Content-Type': 'text/html; charset=UTF-8', Server: 'nginx' },
          'HTML-Metadata': { Head: head, Links: links },
        },
      },
    },
  };
}

/**
 * A WAT file as Common Crawl publishes them: a warcinfo record, then per page the metadata records
 * describing its request (no HTML metadata) and its response (with `Links`). `extra` raw JSON
 * bodies (e.g. broken ones) are appended as further metadata records.
 */
export async function makeWat(pages: WatPage[], opts: { gzip?: boolean; extra?: string[] } = {}): Promise<Buffer> {
  const records: WARCRecord[] = [warcinfo('test.warc.wat.gz')];
  const meta = (url: string, body: string) =>
    WARCRecord.create(
      {
        url,
        type: 'metadata',
        warcVersion: 'WARC/1.0',
        warcHeaders: { 'Content-Type': 'application/json', 'WARC-Refers-To': '<urn:uuid:00000000-0000-0000-0000-000000000001>' },
      },
      once(new TextEncoder().encode(body)),
    );
  for (const p of pages) {
    records.push(meta(p.url, JSON.stringify(watJson(p, 'request'))));
    records.push(meta(p.url, JSON.stringify(watJson(p, 'response'))));
  }
  for (const body of opts.extra ?? []) records.push(meta('http://example.com/extra', body));
  return serialize(records, opts.gzip ?? false);
}
