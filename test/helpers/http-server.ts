/**
 * A local HTTP server on 127.0.0.1 for the crawl tests: pages with <img alt>, real images made
 * by sharp, robots.txt, X-Robots-Tag, error statuses with Retry-After, slow/stalled/truncated
 * bodies, redirect loops, a non-image served as image/jpeg, a decompression bomb, a huge body.
 */
import http from 'node:http';
import { deflateSync, crc32 } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export interface TestServer {
  origin: string;
  port: number;
  /** Absolute url of a path on this server (127.0.0.1). */
  url(path: string): string;
  /** Requests seen per path (without query string). */
  hits: Map<string, number>;
  /** Every request: path with query, time (ms) and user agent. */
  log: Array<{ path: string; at: number; ua: string | undefined }>;
  /** Replaces robots.txt (null: 404). */
  setRobots(text: string | null): void;
  /** Serves `html` at `path`. */
  setPage(path: string, html: string, headers?: Record<string, string>): void;
  /** Stops the server (open stalled responses are destroyed). */
  close(): Promise<void>;
}

const jpegCache = new Map<string, Buffer>();

/** A real w x h JPEG whose colour depends on `seed` (cached). */
export async function makeJpeg(w: number, h: number, seed = 0): Promise<Buffer> {
  const key = `${w}x${h}:${seed}`;
  let b = jpegCache.get(key);
  if (!b) {
    const r = (seed * 67) % 256, g = (seed * 131 + 80) % 256, bl = (seed * 29 + 160) % 256;
    // a gradient overlay so the JPEG is not trivially flat
    const grad = Buffer.from(`<svg width="${w}" height="${h}"><defs><linearGradient id="g"><stop offset="0" stop-color="#000" stop-opacity="0.6"/><stop offset="1" stop-color="#fff" stop-opacity="0.4"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/><circle cx="${w / 2}" cy="${h / 2}" r="${Math.min(w, h) / 3}" fill="rgb(${bl},${r},${g})"/></svg>`);
    b = await sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b: bl } } })
      .composite([{ input: grad }])
      .jpeg({ quality: 85 })
      .toBuffer();
    jpegCache.set(key, b);
  }
  return b;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

let bombCache: Buffer | undefined;
/** A valid 1-bit grayscale PNG of 20000 x 20000 pixels (400 Mpx) that is ~50 KB on the wire. */
export function makePngBomb(): Buffer {
  if (bombCache) return bombCache;
  const w = 20000, h = 20000;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // grayscale
  const raw = Buffer.alloc(h * (1 + w / 8)); // filter byte 0 + zero pixels per row
  const idat = deflateSync(raw, { level: 9 });
  bombCache = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
  return bombCache;
}

/**
 * Starts the server. Routes:
 * /robots.txt · /img/NAME.jpg?w=&h=&seed= · /status/CODE[?ra=SECONDS] · /flaky/ID?fail=N&status=S&ra=SEC (fails N times then an image)
 * /slow/NAME.jpg?ms= (headers after ms) · /stall.jpg (headers and a few bytes, then nothing) · /truncated.jpg
 * /loop/N (redirects forever) · /redirect?to=URL · /fake.jpg (HTML as image/jpeg) · /bomb.png · /huge.jpg (endless
 * chunked body) · /huge-cl.jpg (Content-Length 1 GB) · /xrt/DIRECTIVE/NAME.jpg (X-Robots-Tag) · pages set by setPage.
 */
export async function startTestServer(): Promise<TestServer> {
  let robots: string | null = 'User-agent: *\nDisallow: /private/\n';
  const pages = new Map<string, { html: string; headers: Record<string, string> }>();
  const hits = new Map<string, number>();
  const log: TestServer['log'] = [];
  const sockets = new Set<import('node:net').Socket>();

  const sendImage = async (res: http.ServerResponse, q: URLSearchParams, extra: Record<string, string> = {}) => {
    const body = await makeJpeg(Number(q.get('w') ?? 64), Number(q.get('h') ?? 48), Number(q.get('seed') ?? 0));
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length, ...extra });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const p = u.pathname;
    const q = u.searchParams;
    const n = (hits.get(p) ?? 0) + 1;
    hits.set(p, n);
    log.push({ path: `${p}${u.search}`, at: Date.now(), ua: req.headers['user-agent'] });
    const handle = async () => {
      if (p === '/robots.txt') {
        if (robots === null) { res.writeHead(404); res.end('no'); return; }
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(robots);
        return;
      }
      const page = pages.get(p);
      if (page) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...page.headers });
        res.end(page.html);
        return;
      }
      let m: RegExpExecArray | null;
      if (p.startsWith('/img/') || p.startsWith('/private/')) return sendImage(res, q);
      if ((m = /^\/status\/(\d+)$/.exec(p))) {
        const h: Record<string, string> = {};
        if (q.get('ra')) h['retry-after'] = q.get('ra')!;
        res.writeHead(Number(m[1]), h);
        res.end('status');
        return;
      }
      if (p.startsWith('/flaky/')) {
        if (n <= Number(q.get('fail') ?? 1)) {
          const h: Record<string, string> = {};
          if (q.get('ra')) h['retry-after'] = q.get('ra')!;
          res.writeHead(Number(q.get('status') ?? 503), h);
          res.end('try later');
          return;
        }
        return sendImage(res, q);
      }
      if (p.startsWith('/jitter/')) {
        // a random delay in [0, max) ms per request: downloads finish in a different order every run
        await new Promise((r) => setTimeout(r, Math.random() * Number(q.get('max') ?? 50)));
        return sendImage(res, q);
      }
      if (p.startsWith('/slow/')) {
        await new Promise((r) => setTimeout(r, Number(q.get('ms') ?? 500)));
        return sendImage(res, q);
      }
      if (p === '/stall.jpg') {
        const body = await makeJpeg(64, 48);
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
        res.write(body.subarray(0, 100));
        return; // never ends
      }
      if (p === '/truncated.jpg') {
        const body = await makeJpeg(64, 48);
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
        res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
        return;
      }
      if ((m = /^\/loop\/(\d+)$/.exec(p))) {
        res.writeHead(302, { location: `/loop/${Number(m[1]) + 1}` });
        res.end();
        return;
      }
      if (p === '/redirect') {
        res.writeHead(302, { location: q.get('to') ?? '/' });
        res.end();
        return;
      }
      if (p === '/fake.jpg') {
        const html = '<!doctype html><html><body>not an image</body></html>';
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': Buffer.byteLength(html) });
        res.end(html);
        return;
      }
      if (p === '/bomb.png') {
        const b = makePngBomb();
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': b.length });
        res.end(b);
        return;
      }
      if (p === '/huge.jpg') {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        const block = Buffer.alloc(64 * 1024, 7);
        const pump = () => {
          while (!res.destroyed && res.write(block));
          if (!res.destroyed) res.once('drain', pump);
        };
        res.on('close', () => undefined);
        pump();
        return;
      }
      if (p === '/huge-cl.jpg') {
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(1024 ** 3) });
        res.write(Buffer.alloc(1024));
        return;
      }
      if ((m = /^\/xrt\/([a-z]+)\//.exec(p))) return sendImage(res, q, { 'x-robots-tag': m[1]! });
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    };
    handle().catch((err) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    port,
    url: (path) => `${origin}${path}`,
    hits,
    log,
    setRobots: (t) => { robots = t; },
    setPage: (path, html, headers = {}) => { pages.set(path, { html, headers }); },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
