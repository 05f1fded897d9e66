/**
 * Live crawl of seed sites: a polite breadth-first walk over one site's pages (same host only),
 * robots.txt obeyed for every page, Crawl-delay and the per-host delay honoured, yielding the
 * `<img alt>` candidates of each page in crawl order.
 */
import type { Candidate, FailureReason } from './types.js';
import { charsetOf, extractPage } from './extract.js';
import type { SafeFetcher } from './http/fetch.js';
import type { RobotsCache } from './http/robots.js';
import type { HostLimiter } from './http/host-limiter.js';

/** Options of a site crawl. */
export interface SiteCrawlOptions {
  /** Pages fetched at most per seed. Default 100. */
  maxPages?: number;
  /** Link depth from the seed (0 = the seed page only). Default 2. */
  maxDepth?: number;
  /** Also take `title` when `alt` is empty. */
  useTitle?: boolean;
  /** Images taken from one page at most. Default 1000. */
  maxImagesPerPage?: number;
  /** Largest page read, in bytes. Default 5 MiB. */
  maxHtmlBytes?: number;
  /** Links followed from one page at most. Default 1000. */
  maxLinksPerPage?: number;
  signal?: AbortSignal;
  /** Called for each item of a page that is dropped (long_attribute, long_url, long_caption, bad_url, long_page, too_many_images). */
  onBadItem?: (reason: string, detail: string) => void;
  /** Called once per page tried: 'ok' or why it was not used. */
  onPage?: (url: string, outcome: 'ok' | FailureReason | 'not_html') => void;
}

/** Network resources a site crawl uses (robots absent with --no-robots). */
export interface SiteResources {
  fetcher: SafeFetcher;
  robots?: RobotsCache;
  hosts: HostLimiter;
}

/** Url without its fragment: pages that differ only by #anchor are one page. */
function pageKey(u: URL): string {
  const c = new URL(u.href);
  c.hash = '';
  return c.href;
}

/**
 * Crawls `seed` breadth-first within its host and yields image candidates page by page.
 * Memory is bounded by `maxPages` (the visited set and the frontier never exceed it).
 * Per-page failures are reported through `onPage`, never thrown. Throws nothing for network
 * problems; stops early when `signal` aborts.
 */
export async function* crawlSite(seed: string, res: SiteResources, opts: SiteCrawlOptions = {}): AsyncGenerator<Candidate> {
  const maxPages = opts.maxPages ?? 100;
  const maxDepth = opts.maxDepth ?? 2;
  const maxHtmlBytes = opts.maxHtmlBytes ?? 5 * 1024 * 1024;
  const start = new URL(seed);
  const host = start.host;
  const seen = new Set<string>([pageKey(start)]);
  const frontier: Array<{ url: URL; depth: number }> = [{ url: start, depth: 0 }];
  let fetched = 0;
  while (frontier.length && fetched < maxPages) {
    if (opts.signal?.aborted) return;
    const { url, depth } = frontier.shift()!;
    fetched++;
    let crawlDelayMs = 0;
    if (res.robots) {
      const v = await res.robots.check(url, opts.signal);
      if (v.refused) {
        opts.onPage?.(url.href, v.refused);
        continue;
      }
      crawlDelayMs = v.crawlDelayMs;
    }
    const robots = res.robots;
    const r = await res.hosts.run(host, crawlDelayMs, () =>
      res.fetcher.fetch(url.href, {
        accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.1',
        maxBytes: maxHtmlBytes,
        signal: opts.signal,
        checkHop: robots ? async (u) => (u.href === url.href ? undefined : (await robots.check(u, opts.signal)).refused) : undefined,
      }),
    opts.signal).catch(() => undefined);
    if (!r) {
      opts.onPage?.(url.href, 'error');
      continue;
    }
    if (!r.ok) {
      opts.onPage?.(url.href, r.reason);
      continue;
    }
    const ct = (r.contentType ?? '').toLowerCase();
    if (ct && !ct.includes('html')) {
      opts.onPage?.(url.href, 'not_html');
      continue;
    }
    const pageUrl = r.finalUrl;
    const page = extractPage(r.body, pageUrl, {
      useTitle: opts.useTitle ?? false,
      maxImagesPerPage: opts.maxImagesPerPage ?? 1000,
      maxHtmlBytes,
      charset: charsetOf(r.contentType),
      maxLinks: depth < maxDepth ? opts.maxLinksPerPage ?? 1000 : 0,
      onBadItem: opts.onBadItem,
    });
    const m = page.robots;
    // <meta name="robots"> opt-outs count like X-Robots-Tag: no images from this page
    const optOut = m.noai || m.noimageai || m.noindex || m.noimageindex;
    opts.onPage?.(url.href, optOut ? 'noai' : 'ok');
    if (!optOut) {
      for (const img of page.images) yield { url: img.url, caption: img.caption, page_url: pageUrl, source: seed };
    }
    if (depth >= maxDepth || m.nofollow) continue;
    // links are followed only when the page stayed on the site (a redirect may have left it)
    if (new URL(pageUrl).host !== host) continue;
    for (const link of page.links) {
      if (seen.size >= maxPages) break;
      let lu: URL;
      try {
        lu = new URL(link);
      } catch {
        continue;
      }
      if (lu.host !== host || (lu.protocol !== 'http:' && lu.protocol !== 'https:')) continue;
      const k = pageKey(lu);
      if (seen.has(k)) continue;
      seen.add(k);
      frontier.push({ url: lu, depth: depth + 1 });
    }
  }
}
