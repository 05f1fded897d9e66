import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { UsageError, WitError, errorMessage } from '../util/errors.js';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { INFERENCE_OPTIONS } from '../train/backend/inference-options.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';
import { Searcher } from './search.js';
import { META_FILE } from './store.js';
import { IMAGE_TYPES, ShardImages } from './shard-images.js';
import { displayCaption, DISPLAY_CAPTION_CHARS } from '../util/caption.js';
import { sniffImage } from '../util/image-guard.js';

const STAGE = 'serve';
/** The text of the search that serve runs before it listens (see serve). */
const WARM_UP_QUERY = 'a photo';

/** Options of `wit serve`, declared once (docs/ARCHITECTURE.md, "Options"). */
export const SERVE_OPTIONS = defineOptions({
  index: { type: 'string', required: true, metavar: 'INDEX', help: 'index directory written by wit embed' },
  shards: { type: 'string[]', metavar: 'DIR…', help: 'where the shards are now (default: the paths the index recorded); images come only from these' },
  port: { type: 'int', min: 0, max: 65535, default: 8765, help: 'port to listen on (0: any free port)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to bind (the page has no authentication: keep it local)' },
  allowHost: { type: 'string[]', metavar: 'NAME', help: 'a Host name the page may be reached by besides the bound address, localhost, 127.0.0.1 and [::1] (repeatable; other Host headers get 403)' },
  k: { type: 'int', min: 1, max: 1000, default: 48, help: 'results per search' },
  model: { type: 'string', metavar: 'DIR', help: 'model to embed queries (default: the one the index was made with)' },
  ...INFERENCE_OPTIONS,
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
  const searcher = await Searcher.open(opts.index, { model: opts.model, backend: opts.backend, device: opts.device, threads: opts.threads, stage: STAGE });
  try {
    const live = await LiveIndex.open(searcher, opts.shards);
    if (!live.images.size) throw new UsageError(STAGE, `none of the index's shards are in ${opts.shards?.join(', ')}`);
    // One search before listening, by the path every user's search takes: a damaged index fails
    // here, at start, with the line wit search prints (exit 2) rather than as a 500 to each
    // request of a server that looks healthy; and the first user's query finds the model and the
    // table warm.
    await searcher.byText(WARM_UP_QUERY, opts.k);
    const requests = new Map<string, number>();
    const handler = route(live, opts.k);
    let hosts: Set<string> | undefined;
    const server = createServer((req, res) => {
      // Node keeps the first of several Host headers; a proxy in front may have used another one
      // (request smuggling, cache poisoning): more than one is a bad request, whatever they say.
      if (hostHeaderCount(req) !== 1) {
        requests.set('bad_host', (requests.get('bad_host') ?? 0) + 1);
        return sendJson(res, 400, { error: 'a request needs exactly one Host header' });
      }
      if (!hosts || !hosts.has(String(req.headers.host ?? '').toLowerCase())) {
        requests.set('forbidden_host', (requests.get('forbidden_host') ?? 0) + 1);
        return sendJson(res, 403, { error: 'this Host is not allowed (wit serve --allow-host NAME adds one)' });
      }
      handler(req, res, requests).catch((err: unknown) => {
        opts.onLog?.(`serve: ${req.url}: ${errorMessage(err)}`);
        if (res.headersSent) res.destroy();
        else if (live.rebuilding) sendJson(res, 503, { error: 'the index is being rebuilt; try again when wit embed has finished' });
        else sendJson(res, 500, { error: 'internal error' });
      });
    });
    const port = await listen(server, opts.port, opts.host);
    hosts = allowedHosts(opts.host, port, opts.allowHost ?? []);
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

/**
 * The Host header values the server answers (a DNS-rebinding page reaches the server under its own
 * name, which is refused): the bound address, localhost, 127.0.0.1 and [::1], and the `--allow-host`
 * names, each bare and with the port.
 */
export function allowedHosts(bound: string, port: number, extra: readonly string[]): Set<string> {
  const names = [bound, 'localhost', '127.0.0.1', '::1', ...extra].map((h) => h.trim().toLowerCase()).filter(Boolean);
  const out = new Set<string>();
  for (const n of names) {
    const bare = n.replace(/^\[(.*)\]$/, '$1');
    const h = bare.includes(':') ? `[${bare}]` : bare;
    out.add(h);
    out.add(`${h}:${port}`);
  }
  return out;
}

/**
 * The index a server answers from, reopened when `wit embed` rebuilds it under the server: each
 * request compares wit-index.json's identity (inode, size, mtime: one stat, which every write of it,
 * an atomic rename, changes) with the one opened, and reopens the index and its shard reader when
 * it differs. While the rebuild is unfinished the old index keeps answering when it still can.
 */
class LiveIndex {
  private stamp: string;
  private reopening?: Promise<void>;
  /** True while the index on disk differs from the one open and cannot be opened yet. */
  rebuilding = false;

  private constructor(readonly searcher: Searcher, public images: ShardImages, private readonly shardDirs: string[] | undefined, stamp: string) {
    this.stamp = stamp;
  }

  static async open(searcher: Searcher, shardDirs?: string[]): Promise<LiveIndex> {
    const stamp = await metaStamp(searcher.index.dir);
    return new LiveIndex(searcher, await ShardImages.open(searcher.index.meta, shardDirs), shardDirs, stamp);
  }

  /** Reopens the index when its file changed since it was opened (once, for concurrent requests). */
  async fresh(): Promise<void> {
    if (this.reopening) return this.reopening;
    const now = await metaStamp(this.searcher.index.dir);
    if (now === this.stamp) {
      this.rebuilding = false;
      return;
    }
    this.reopening = (async () => {
      try {
        await this.searcher.reopen();
        this.images = await ShardImages.open(this.searcher.index.meta, this.shardDirs);
        this.stamp = now;
        this.rebuilding = false;
      } catch {
        // Unfinished (a rebuild in progress) or unreadable: try again at the next request.
        this.rebuilding = true;
      } finally {
        this.reopening = undefined;
      }
    })();
    return this.reopening;
  }
}

async function metaStamp(dir: string): Promise<string> {
  const st = await stat(join(dir, META_FILE)).catch(() => undefined);
  return st ? `${st.ino}:${st.size}:${st.mtimeMs}` : 'missing';
}

/** How many Host headers a request carries (req.headers keeps only the first). */
export function hostHeaderCount(req: IncomingMessage): number {
  let n = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') n++;
  return n;
}

/** Hits as the page shows them: each caption within the display limit (src/util/caption.ts), with an ellipsis when cut. */
function shown<T extends { caption: string }>(hits: T[]): T[] {
  return hits.map((h) => (h.caption.length > DISPLAY_CAPTION_CHARS ? { ...h, caption: displayCaption(h.caption) } : h));
}

/** The request handler: assets, the two search APIs, and images by pair id; everything else is 404. */
function route(live: LiveIndex, k: number) {
  const answer = async <T>(work: () => Promise<T>): Promise<T> => {
    await live.fresh();
    try {
      return await work();
    } catch (err) {
      // The table's files may have been replaced between the check and the read: reopen and retry once.
      await live.fresh();
      return work();
    }
  };
  return async (req: IncomingMessage, res: ServerResponse, requests: Map<string, number>): Promise<void> => {
    const searcher = live.searcher;
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
      // No paths (the model's directory, the shards'): the page does not need them.
      const info = await answer(async () => ({ rows: await searcher.index.count(), m: searcher.index.meta }));
      return sendJson(res, 200, { rows: info.rows, embed_dim: info.m.embed_dim, ann: info.m.ann?.kind ?? 'none' });
    }
    if (path === '/api/search') {
      count('search');
      const q = url.searchParams.get('q') ?? '';
      if (!q.trim()) return sendJson(res, 400, { error: 'empty query' });
      return sendJson(res, 200, { query: q, results: shown(await answer(() => searcher.byText(q, k))) });
    }
    if (path === '/api/neighbours') {
      count('neighbours');
      const id = url.searchParams.get('id') ?? '';
      const found = await answer(() => searcher.neighbours(id, k));
      return found ? sendJson(res, 200, { pair: shown([found.pair])[0], results: shown(found.results) }) : sendJson(res, 404, { error: 'no such pair id' });
    }
    // /image/<id>: the pair id (shard number and row, SearchHit.id) is looked up in the index, which
    // names the shard file; no path from the request ever reaches the file system.
    const m = /^\/image\/(\d{1,9}-\d{1,10})$/.exec(path);
    if (m) {
      count('image');
      const img = await answer(async () => {
        const pair = searcher.index.pairOfId(m[1]!);
        return pair ? live.images.read(pair.shard, pair.row) : undefined;
      });
      if (!img) return sendJson(res, 404, { error: 'no image for this key' });
      // Only the raster formats the image guard accepts are served: never an SVG (script) from a shard.
      if (!sniffImage(img.bytes)) {
        count('image_refused');
        return sendJson(res, 404, { error: 'the image is not in an accepted raster format' });
      }
      return send(res, 200, IMAGE_TYPES[img.format], img.bytes);
    }
    count('not_found');
    return sendJson(res, 404, { error: 'not found' });
  };
}
