import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { UsageError, WitError, errorMessage } from '../util/errors.js';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { BACKENDS } from './model.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';
import { Searcher } from './search.js';
import { IMAGE_TYPES, ShardImages } from './shard-images.js';

const STAGE = 'serve';

/** Options of `wit serve`, declared once (docs/ARCHITECTURE.md, "Options"). */
export const SERVE_OPTIONS = defineOptions({
  index: { type: 'string', required: true, metavar: 'INDEX', help: 'index directory written by wit embed' },
  shards: { type: 'string[]', metavar: 'DIR…', help: 'where the shards are now (default: the paths the index recorded); images come only from these' },
  port: { type: 'int', min: 0, max: 65535, default: 8765, help: 'port to listen on (0: any free port)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to bind (the page has no authentication: keep it local)' },
  k: { type: 'int', min: 1, max: 1000, default: 48, help: 'results per search' },
  model: { type: 'string', metavar: 'DIR', help: 'model to embed queries (default: the one the index was made with)' },
  backend: { type: 'string', choices: BACKENDS, default: 'auto', help: 'TensorFlow.js backend for the model' },
});

/** Options of {@link serve}. */
export type ServeOptions = OptionsInput<typeof SERVE_OPTIONS> & { onLog?: (line: string) => void };

/** A running search page. */
export interface SearchServer {
  url: string;
  port: number;
  /** Requests answered, by route. */
  requests: Map<string, number>;
  close(): Promise<void>;
}

/** Static assets: path -> [content type, body]. Nothing else is served from memory or disk. */
const ASSETS: Record<string, [string, string]> = {
  '/': ['text/html; charset=utf-8', PAGE_HTML],
  '/app.js': ['text/javascript; charset=utf-8', PAGE_JS],
  '/app.css': ['text/css; charset=utf-8', PAGE_CSS],
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

/**
 * Serves a search page over an index: a search box (text to image), a grid of results with caption,
 * url, queries and similarity, images read from the shards, and a click on a result that searches
 * its neighbours. Binds 127.0.0.1 by default. Resolves to the running server.
 * Throws UsageError for a missing or corrupt index, a model of another width, or a port in use (naming it).
 */
export async function serve(input: ServeOptions): Promise<SearchServer> {
  const opts = resolveOptions(STAGE, SERVE_OPTIONS, input);
  const searcher = await Searcher.open(opts.index, { model: opts.model, backend: opts.backend, stage: STAGE });
  try {
    const images = await ShardImages.open(searcher.index.meta.shards, opts.shards);
    if (!images.size) throw new UsageError(STAGE, `none of the index's shards are in ${opts.shards?.join(', ')}`);
    const requests = new Map<string, number>();
    const handler = route(searcher, images, opts.k);
    const server = createServer((req, res) => {
      handler(req, res, requests).catch((err: unknown) => {
        opts.onLog?.(`serve: ${req.url}: ${errorMessage(err)}`);
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    const port = await listen(server, opts.port, opts.host);
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    return {
      url: `http://${host}:${port}`,
      port,
      requests,
      async close() {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await searcher.close();
      },
    };
  } catch (err) {
    await searcher.close();
    throw err;
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new UsageError(STAGE, `port ${port} on ${host} is in use; give another --port`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new UsageError(STAGE, `cannot bind ${host}: not an address of this machine`));
      else reject(new WitError(STAGE, `cannot listen on ${host}:${port}: ${err.message}`));
    });
    server.listen(port, host, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

/** The request handler: assets, the two search APIs, and images by key; everything else is 404. */
function route(searcher: Searcher, images: ShardImages, k: number) {
  return async (req: IncomingMessage, res: ServerResponse, requests: Map<string, number>): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    // A path the URL parser had to normalise (dot segments, encoded dots) is refused outright.
    if ((req.url ?? '/').split('?')[0] !== path) return sendJson(res, 404, { error: 'not found' });
    const count = (name: string) => requests.set(name, (requests.get(name) ?? 0) + 1);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'only GET' });
    const asset = ASSETS[path];
    if (asset) {
      count(path);
      return send(res, 200, asset[0], asset[1]);
    }
    if (path === '/api/info') {
      count('info');
      const m = searcher.index.meta;
      return sendJson(res, 200, { rows: await searcher.index.count(), embed_dim: m.embed_dim, model: m.model, ann: m.ann?.kind ?? 'none' });
    }
    if (path === '/api/search') {
      count('search');
      const q = url.searchParams.get('q') ?? '';
      if (!q.trim()) return sendJson(res, 400, { error: 'empty query' });
      return sendJson(res, 200, { query: q, results: await searcher.byText(q, k) });
    }
    if (path === '/api/neighbours') {
      count('neighbours');
      const found = await searcher.neighbours(url.searchParams.get('key') ?? '', k);
      return found ? sendJson(res, 200, found) : sendJson(res, 404, { error: 'no such key' });
    }
    // /image/<key>: the key is looked up in the index, which names the shard and row; no path from
    // the request ever reaches the file system.
    const m = /^\/image\/([^/]+)$/.exec(path);
    if (m) {
      count('image');
      let key: string;
      try {
        key = decodeURIComponent(m[1]!);
      } catch {
        return sendJson(res, 400, { error: 'bad key' });
      }
      const pair = await searcher.index.byKey(key);
      const img = pair ? await images.read(pair.shard, pair.row) : undefined;
      if (!img) return sendJson(res, 404, { error: 'no image for this key' });
      return send(res, 200, IMAGE_TYPES[img.format], img.bytes);
    }
    count('not_found');
    return sendJson(res, 404, { error: 'not found' });
  };
}
