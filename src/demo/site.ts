import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { emojiImage, type Emoji, type EmojiSet } from '../data/emoji.js';
import { Rng } from '../util/rng.js';

/** What the demo website shows. */
export interface SiteOptions {
  /** Emoji shown on the site (each in every set of `sets`). */
  emoji: readonly Emoji[];
  /** Image sets served (default google and openmoji; the demo holds the third design out). */
  sets?: readonly EmojiSet[];
  /** Images per gallery page (default 12). */
  perPage?: number;
  /** Side of the served PNGs in pixels (default 72). */
  imageSize?: number;
  seed?: number;
  /** Head-heavy queries: this many emoji (the head) each appear `copies` more times per design, on trending pages (default none). */
  head?: { emoji: number; copies: number };
  /** Share of the gallery, category, archive and trending alt texts that name another emoji instead (default 0). */
  swappedRate?: number;
}

/**
 * The demo's pool properties (README.md, "The demo"): the head is 5 % of the emoji, each shown 16 more
 * times per design than the others (MetaCLIP measured such heads on Common Crawl), and 10 % of the
 * captioned images' alt texts name another emoji (LAION-style caption noise), besides the blog's noise.
 */
export const DEMO_POOL = { headShare: 0.05, headCopies: 16, swappedRate: 0.1 } as const;

/** An image the site serves, by path. */
export type SiteImage =
  | { kind: 'emoji'; set: EmojiSet; code: string; noai?: boolean }
  /** HTML served with an image content type: the crawler must find out from the bytes. */
  | { kind: 'fake' }
  /** Always answers this HTTP status. */
  | { kind: 'status'; status: number };

/** One `<img>` on a page, with why it is there. */
export interface SiteImg {
  src: string;
  alt?: string;
  /**
   * true: the alt names what the image shows; swapped: another emoji's name; junk: useless alt text
   * ("image", a file name); broken: the image fails (404, 500, not an image) or may not be fetched
   * (robots, noai); none: no usable alt (empty, missing, data: url).
   */
  kind: 'true' | 'swapped' | 'junk' | 'broken' | 'none';
  /** Code of the emoji the image shows, when it is one. */
  code?: string;
}

/** One HTML page of the site. */
export interface SitePage {
  path: string;
  title: string;
  images: SiteImg[];
  links: string[];
  /** Only in the WARC, not linked from the live site. */
  archived: boolean;
}

/** The whole site, deterministic for its options. */
export interface SitePlan {
  pages: Map<string, SitePage>;
  images: Map<string, SiteImage>;
  robotsTxt: string;
  /** Paths of the pages written to the WARC (not linked from the live site). */
  archivePaths: string[];
  imageSize: number;
}

const CAPTIONS: ((e: Emoji, set: string) => string)[] = [
  (e) => cap(e.name),
  (e) => `${e.name} emoji`,
  (e) => `${cap(e.name)} (${e.tags.filter((t) => t !== e.name).slice(0, 3).join(', ') || 'emoji'})`,
  (e, set) => `The ${e.name} emoji in the ${set === 'google' ? 'Google Noto' : set === 'twitter' ? 'Twitter Twemoji' : 'OpenMoji'} design`,
  (e) => `An illustration of a ${e.name}`,
  (e) => `${cap(e.name)}, ${e.category.replace(/-/g, ' ')}`,
];

const JUNK = ['image', 'photo', 'IMG_0042.jpg', 'DSC01234.JPG', 'click here', 'thumbnail', 'untitled-1.png', 'picture of the day'];

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

function chunk<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/**
 * Plans the demo website: gallery and category pages whose images carry their emoji's name (in
 * several phrasings, from the name and tags), a blog whose images carry noise (useless alt text,
 * another emoji's name, missing alt, data: urls, images that 404, fail with 500, are not images,
 * are robots-disallowed or marked `X-Robots-Tag: noai`), broken links, a robots.txt that disallows
 * /private/, and an /archive/ section reachable only through the WARC.
 */
export function planSite(opts: SiteOptions): SitePlan {
  const rng = new Rng(opts.seed ?? 3);
  const sets = opts.sets ?? ['google', 'openmoji'];
  const perPage = opts.perPage ?? 12;
  const images = new Map<string, SiteImage>();
  const emoji = [...opts.emoji];
  // Head and caption noise draw from their own streams: the rest of the site is the same with or without them.
  const noise = new Rng(`${opts.seed ?? 3}-noise`);
  const { gallery, byCategory, archive } = captionedImages(emoji, sets, images, rng);
  const trending = trendingImages(emoji, sets, images, opts.head, noise);
  if (opts.swappedRate) for (const img of [...gallery, ...[...byCategory.values()].flat(), ...archive, ...trending]) swapCaption(img, emoji, sets, opts.swappedRate, noise);
  const galleryPages = chunk(rng.shuffle(gallery), perPage).map((imgs, i) => ({ path: `/gallery/${i + 1}.html`, imgs }));
  const categoryPages = [...byCategory.entries()].flatMap(([cat, imgs]) =>
    chunk(imgs, perPage * 2).map((part, i) => ({ path: `/category/${slug(cat)}${i ? `-${i + 1}` : ''}.html`, title: cat.replace(/-/g, ' '), imgs: part })),
  );
  const archivePages = chunk(rng.shuffle(archive), perPage).map((imgs, i) => ({ path: `/archive/${i + 1}.html`, imgs }));
  const trendingPages = chunk(noise.shuffle(trending), perPage).map((imgs, i) => ({ path: `/trending/${i + 1}.html`, imgs }));
  // At least one page of each kind of breakage (i % 5), however small the site.
  const blogCount = Math.max(6, Math.ceil(emoji.length / 12));
  const blogPages = Array.from({ length: blogCount }, (_, i) => ({ path: `/blog/${i + 1}.html`, imgs: blogPost(i, emoji, sets, images, rng) }));

  const pages = new Map<string, SitePage>();
  const nav = ['/', '/about.html'];
  const linkTargets = [...galleryPages.map((p) => p.path), ...categoryPages.map((p) => p.path), ...blogPages.map((p) => p.path), ...trendingPages.map((p) => p.path)];
  const add = (path: string, title: string, imgs: SiteImg[], links: string[], archived = false) => pages.set(path, { path, title, images: imgs, links, archived });
  add('/', 'Emoji gallery', [], [...linkTargets, '/private/index.html', '/gallery/999.html', 'https://example.org/elsewhere', 'mailto:owner@example.org']);
  add('/about.html', 'About this site', [], ['/', '/gallery/1.html', '/no-such-page.html']);
  galleryPages.forEach((p, i) => add(p.path, `Gallery, page ${i + 1}`, p.imgs, [...nav, galleryPages[i + 1]?.path ?? '/gallery/1.html', galleryPages[i - 1]?.path ?? '/']));
  for (const p of categoryPages) add(p.path, `Category: ${p.title}`, p.imgs, [...nav, rng.pick(linkTargets)]);
  trendingPages.forEach((p, i) => add(p.path, `Trending, page ${i + 1}`, p.imgs, [...nav, trendingPages[i + 1]?.path ?? '/']));
  blogPages.forEach((p, i) => add(p.path, `Blog post ${i + 1}`, p.imgs, [...nav, blogPages[i + 1]?.path ?? '/blog/1.html', `/blog/${blogCount + 10 + i}.html`]));
  add('/private/index.html', 'Private', emoji.slice(0, 4).map((e) => ({ src: registerEmojiImage(images, sets[0]!, e.code), alt: cap(e.name), kind: 'broken' as const })), ['/']);
  archivePages.forEach((p, i) => add(p.path, `Archive, page ${i + 1}`, p.imgs, ['/', archivePages[i + 1]?.path ?? '/archive/1.html'], true));
  const robotsTxt = 'User-agent: *\nDisallow: /private/\n\nUser-agent: GPTBot\nDisallow: /\n';
  return { pages, images, robotsTxt, archivePaths: archivePages.map((p) => p.path), imageSize: opts.imageSize ?? 72 };
}

/** Registers the image of an emoji in a design; returns its path. */
function registerEmojiImage(images: Map<string, SiteImage>, set: EmojiSet, code: string): string {
  const path = `/img/${set}/${code}.png`;
  images.set(path, { kind: 'emoji', set, code });
  return path;
}

/**
 * Every (emoji, set) image appears twice with two different phrasings: once in a gallery, once
 * on its category page or (a quarter of them) on an archive page that only the WARC holds.
 */
function captionedImages(emoji: readonly Emoji[], sets: readonly EmojiSet[], images: Map<string, SiteImage>, rng: Rng) {
  const gallery: SiteImg[] = [];
  const byCategory = new Map<string, SiteImg[]>();
  const archive: SiteImg[] = [];
  for (const e of emoji) {
    for (const set of sets) {
      const src = registerEmojiImage(images, set, e.code);
      const [a, b] = rng.shuffle(CAPTIONS.map((_, i) => i)).slice(0, 2) as [number, number];
      gallery.push({ src, alt: CAPTIONS[a]!(e, set), kind: 'true', code: e.code });
      const second: SiteImg = { src, alt: CAPTIONS[b]!(e, set), kind: 'true', code: e.code };
      if (rng.chance(0.25)) archive.push(second);
      else {
        const list = byCategory.get(e.category) ?? [];
        list.push(second);
        byCategory.set(e.category, list);
      }
    }
  }
  return { gallery, byCategory, archive };
}

/**
 * The head of a head-heavy query distribution: the first `head.emoji` of a seeded shuffle, each shown
 * `head.copies` more times per design under its own image path (same picture), captioned in the
 * site's phrasings.
 */
function trendingImages(emoji: readonly Emoji[], sets: readonly EmojiSet[], images: Map<string, SiteImage>, head: SiteOptions['head'], rng: Rng): SiteImg[] {
  if (!head || head.emoji <= 0) return [];
  const out: SiteImg[] = [];
  for (const e of rng.shuffle([...emoji]).slice(0, head.emoji)) {
    for (const set of sets) {
      for (let k = 0; k < head.copies; k++) {
        const src = `/img/trending/${set}/${e.code}-${k + 1}.png`;
        images.set(src, { kind: 'emoji', set, code: e.code });
        out.push({ src, alt: CAPTIONS[k % CAPTIONS.length]!(e, set), kind: 'true', code: e.code });
      }
    }
  }
  return out;
}

/** With probability `rate`, the alt text names another emoji (in the site's phrasings): a wrong caption. */
function swapCaption(img: SiteImg, emoji: readonly Emoji[], sets: readonly EmojiSet[], rate: number, rng: Rng): void {
  if (!rng.chance(rate) || emoji.length < 2) return;
  let other = rng.pick(emoji);
  while (other.code === img.code) other = rng.pick(emoji);
  img.alt = rng.pick(CAPTIONS)(other, rng.pick(sets));
  img.kind = 'swapped';
}

/**
 * The images of blog post `i`: noise of every kind a real crawl meets (junk alt text, swapped names,
 * empty and missing alt, a data: URI) and one broken image of kind `i % 5`.
 */
function blogPost(i: number, emoji: readonly Emoji[], sets: readonly EmojiSet[], images: Map<string, SiteImage>, rng: Rng): SiteImg[] {
  const imgs: SiteImg[] = [];
  const e1 = rng.pick(emoji);
  const e2 = rng.pick(emoji.filter((x) => x.code !== e1.code).length ? emoji.filter((x) => x.code !== e1.code) : emoji);
  const set = rng.pick(sets);
  imgs.push({ src: registerEmojiImage(images, set, e1.code), alt: rng.pick(JUNK), kind: 'junk', code: e1.code });
  imgs.push({ src: registerEmojiImage(images, rng.pick(sets), e2.code), alt: cap(e1.name), kind: 'swapped', code: e2.code });
  imgs.push({ src: registerEmojiImage(images, rng.pick(sets), e1.code), alt: `${e2.name} emoji`, kind: 'swapped', code: e1.code });
  imgs.push({ src: registerEmojiImage(images, set, e2.code), alt: '', kind: 'none', code: e2.code });
  imgs.push({ src: registerEmojiImage(images, set, e2.code), kind: 'none', code: e2.code });
  imgs.push({ src: 'data:image/gif;base64,R0lGODlhAQABAAAAACw=', alt: cap(e1.name), kind: 'none' });
  imgs.push(brokenImage(i, set, rng.pick(emoji), images));
  return rng.shuffle(imgs);
}

/** A broken image of kind `i % 5`: dead link, fake image, noai, robots-disallowed, server error or missing. */
function brokenImage(i: number, set: EmojiSet, e3: Emoji, images: Map<string, SiteImage>): SiteImg {
  switch (i % 5) {
    case 0:
      return { src: `/img/${set}/dead-${i}.png`, alt: cap(e3.name), kind: 'broken' };
    case 1:
      images.set(`/img/fake/${i}.png`, { kind: 'fake' });
      return { src: `/img/fake/${i}.png`, alt: cap(e3.name), kind: 'broken' };
    case 2: {
      const p = `/img/noai/${set}/${e3.code}.png`;
      images.set(p, { kind: 'emoji', set, code: e3.code, noai: true });
      return { src: p, alt: cap(e3.name), kind: 'broken', code: e3.code };
    }
    case 3: {
      const p = `/private/img/${set}/${e3.code}.png`;
      images.set(p, { kind: 'emoji', set, code: e3.code });
      return { src: p, alt: cap(e3.name), kind: 'broken', code: e3.code };
    }
    default:
      if (i === 4) {
        images.set(`/img/error/${i}.png`, { kind: 'status', status: 500 });
        return { src: `/img/error/${i}.png`, alt: cap(e3.name), kind: 'broken' };
      }
      return { src: `/img/${set}/missing-${i}.png`, alt: `${e3.name} emoji`, kind: 'broken' };
  }
}

function attr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The HTML of one page (absolute paths, so the same bytes serve on any port). */
export function renderPage(page: SitePage): string {
  const figs = page.images.map((img) => {
    const alt = img.alt === undefined ? '' : ` alt="${attr(img.alt)}"`;
    return `<figure><img src="${attr(img.src)}"${alt} width="72" height="72" loading="lazy"></figure>`;
  });
  const links = page.links.map((l) => `<li><a href="${attr(l)}">${attr(l)}</a></li>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${attr(page.title)}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:auto}figure{display:inline-block;margin:4px}</style></head>
<body><h1>${attr(page.title)}</h1>
<main>${figs.join('\n')}</main>
<nav><ul>${links.join('')}</ul></nav>
<footer>Images: Noto Emoji (Apache-2.0), Twemoji (CC-BY 4.0), OpenMoji (CC BY-SA 4.0).</footer>
</body></html>
`;
}

/** A running demo site. */
export interface SiteServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  port: number;
  /** Requests served so far, by status. */
  requests: Map<number, number>;
  close(): Promise<void>;
}

/** A cache of rendered emoji PNGs shared by the server and the WARC writer. */
export class ImageCache {
  private readonly cache = new Map<string, Promise<Buffer>>();
  constructor(private readonly size: number) {}
  /** The PNG of one emoji in one set, rendered once. */
  get(set: EmojiSet, code: string): Promise<Buffer> {
    const k = `${set}/${code}`;
    let p = this.cache.get(k);
    if (!p) {
      p = emojiImage(set, code, { size: this.size });
      this.cache.set(k, p);
    }
    return p;
  }
}

/** What a path of the site answers: status, headers and body. */
export async function siteResponse(plan: SitePlan, cache: ImageCache, path: string): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const clean = path.split('?')[0]!.split('#')[0]!;
  if (clean === '/robots.txt') return { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from(plan.robotsTxt) };
  const page = plan.pages.get(clean === '/index.html' ? '/' : clean);
  if (page) return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: Buffer.from(renderPage(page)) };
  const img = plan.images.get(clean);
  if (img?.kind === 'emoji') {
    const headers: Record<string, string> = { 'content-type': 'image/png', 'cache-control': 'max-age=3600' };
    if (img.noai) headers['x-robots-tag'] = 'noai, noimageai';
    return { status: 200, headers, body: await cache.get(img.set, img.code) };
  }
  if (img?.kind === 'fake') return { status: 200, headers: { 'content-type': 'image/png' }, body: Buffer.from('<html><body>Not an image at all</body></html>') };
  if (img?.kind === 'status') return { status: img.status, headers: { 'content-type': 'text/plain' }, body: Buffer.from(`error ${img.status}\n`) };
  return { status: 404, headers: { 'content-type': 'text/html' }, body: Buffer.from('<!doctype html><title>Not found</title><h1>404 Not found</h1>') };
}

/**
 * Serves the site on 127.0.0.1 (`port` 0 picks a free one). The /archive/ pages are served too, so
 * that the images of WARC pages resolve, but nothing on the live site links to them.
 */
export async function serveSite(plan: SitePlan, opts: { port?: number; cache?: ImageCache } = {}): Promise<SiteServer> {
  const cache = opts.cache ?? new ImageCache(plan.imageSize);
  const requests = new Map<number, number>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    siteResponse(plan, cache, req.url ?? '/')
      .then(({ status, headers, body }) => {
        requests.set(status, (requests.get(status) ?? 0) + 1);
        res.writeHead(status, { ...headers, 'content-length': String(body.length) });
        res.end(req.method === 'HEAD' ? undefined : body);
      })
      .catch((err: unknown) => {
        requests.set(500, (requests.get(500) ?? 0) + 1);
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
