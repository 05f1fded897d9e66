/**
 * Images a WARC input already holds (README.md, "crawl": `from_warc`). A WARC of pages often holds the
 * pages' images too, as `response` records; fetching them again costs the network (and, offline, fails
 * as blocked_address or dns). Before the crawl, a pass over each WARC input indexes its 2xx image
 * responses: the bytes go to a temporary folder (memory stays flat whatever the WARC's size), the
 * url to the index. An admitted candidate whose url the index holds takes those bytes, counted as
 * `from_warc`, with no request (robots.txt was the archiver's to obey when it fetched them; a stored
 * X-Robots-Tag opt-out is honoured); the others are fetched. `--refetch` skips the index: every
 * image is fetched.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWarcImages } from './sources/warc.js';
import { openBytes, type OpenUrl } from './sources/open.js';
import { robotToken, xRobotsOptOut } from './http/x-robots-tag.js';
import type { OnTruncated } from './sources/warc.js';

/** What indexing a WARC's images needs. */
export interface WarcImageIndexOptions {
  /** Largest image body kept (the crawl's --max-bytes). */
  maxBytes: number;
  /** With robots obeyed, a stored response whose X-Robots-Tag opts out is not used (nor, then, fetched). */
  respectRobots: boolean;
  userAgent: string;
  onTruncated?: OnTruncated;
  openUrl?: OpenUrl;
  signal?: AbortSignal;
}

/** The image responses of the run's WARC inputs, by url, their bytes in a temporary folder. */
export class WarcImageStore {
  private readonly paths = new Map<string, string>();
  private constructor(private readonly dir: string) {}

  /**
   * Indexes the image responses of `warcs` (the first response of a url wins, as a crawler's first
   * fetch would). Throws what reading a WARC throws (InputError naming the file).
   */
  static async build(warcs: readonly string[], opts: WarcImageIndexOptions): Promise<WarcImageStore> {
    const store = new WarcImageStore(await mkdtemp(join(tmpdir(), 'wit-warc-images-')));
    try {
      const token = robotToken(opts.userAgent);
      for (const input of warcs) {
        const bytes = openBytes(input, { openUrl: opts.openUrl, signal: opts.signal });
        for await (const img of readWarcImages(input, bytes, { maxBytes: opts.maxBytes, onTruncated: opts.onTruncated, signal: opts.signal })) {
          if (store.paths.has(img.url)) continue;
          if (opts.respectRobots && xRobotsOptOut(img.xRobotsTag, token)) continue;
          const path = join(store.dir, `${store.paths.size}.bin`);
          await writeFile(path, img.body);
          store.paths.set(img.url, path);
        }
      }
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /** Images indexed. */
  get size(): number {
    return this.paths.size;
  }

  /** The stored bytes of `url`, or undefined when no WARC input holds it. */
  async get(url: string): Promise<Buffer | undefined> {
    const path = this.paths.get(url);
    return path === undefined ? undefined : readFile(path);
  }

  /** Deletes the temporary folder. */
  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
