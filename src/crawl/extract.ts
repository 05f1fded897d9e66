/**
 * `<img>` candidates and links of an HTML page, with bounded work on hostile HTML.
 *
 * htmlparser2's Tokenizer is used directly, without its Parser: the Parser keeps the stack of open
 * elements with Array.unshift, which is quadratic on a million nested tags, and we need no tree,
 * only the attributes of `<img>`, `<base>`, `<a>` and `<meta>` tags. Input is capped at
 * `maxHtmlBytes`, attribute values are capped while they are assembled, and collection stops at
 * `maxImagesPerPage`, so time and memory are linear in the capped input size whatever the markup.
 */
import { Tokenizer, QuoteType, type TokenizerCallbacks } from 'htmlparser2';
import { normalizeWhitespace } from '../text/tokenize.js';

/** Options of {@link extractImages}. */
export interface ExtractOptions {
  /** Also take `title` as a caption (when it differs from `alt`). Default false. */
  useTitle?: boolean;
  /** Stop after this many `<img>` candidates. Default 5000. */
  maxImagesPerPage?: number;
  /** Parse only the first this many bytes (characters for a string). Default 8 MiB. */
  maxHtmlBytes?: number;
  /** Captions longer than this (after whitespace normalisation) are skipped. Default 4096. */
  maxCaptionChars?: number;
  /** Urls longer than this are skipped. Default 4096. */
  maxUrlChars?: number;
  /** Charset to decode a Buffer with (e.g. from Content-Type); sniffed from BOM and `<meta>` when absent. */
  charset?: string;
  /**
   * Called for each `<img>` that was skipped, with the reason (bad_url, long_caption, long_url,
   * long_attribute: an attribute over 64 KiB), and once for a page whose `<img>` past
   * `maxImagesPerPage` were dropped (too_many_images).
   */
  onBadItem?: (reason: string, detail: string) => void;
}

/** An image candidate of one page. */
export interface PageImage {
  url: string;
  caption: string;
}

/** Robots directives of a page's `<meta name="robots">` (and `<meta name="...bot">`) tags. */
export interface MetaRobots {
  noindex: boolean;
  nofollow: boolean;
  noimageindex: boolean;
  noai: boolean;
  noimageai: boolean;
}

/** Everything {@link extractPage} finds on a page. */
export interface PageInfo {
  images: PageImage[];
  /** Same-site links (fragment removed, deduplicated, `rel=nofollow` skipped), at most `maxLinks`. */
  links: string[];
  robots: MetaRobots;
  /** True when the page was cut at `maxHtmlBytes` or image collection stopped at `maxImagesPerPage`. */
  truncated: boolean;
}

const DEFAULT_MAX_IMAGES = 5000;
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_CAPTION = 4096;
const DEFAULT_MAX_URL = 4096;
const DEFAULT_MAX_LINKS = 1000;
/** Attributes we never need beyond this many characters (a caption or url limit is far smaller). */
const ATTR_CAP = 64 * 1024;
/** The only attributes kept (a tag with a million attributes must not become a million-key object). */
const KEPT_ATTRS = new Set([
  'src', 'alt', 'title', 'data-src', 'data-lazy-src', 'data-original', 'srcset', 'data-srcset',
  'href', 'rel', 'name', 'content',
]);

const META_CHARSET_RE = /<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.-]+)/i;

/**
 * Decodes HTML bytes: `charset` when given and known, else a BOM, else a `<meta charset>` /
 * `http-equiv` declaration in the first 4 KiB, else UTF-8 (invalid bytes become U+FFFD). Throws nothing.
 */
export function decodeHtml(bytes: Uint8Array, charset?: string): string {
  let label = charset?.trim().toLowerCase();
  if (!label) {
    if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) label = 'utf-8';
    else if (bytes[0] === 0xff && bytes[1] === 0xfe) label = 'utf-16le';
    else if (bytes[0] === 0xfe && bytes[1] === 0xff) label = 'utf-16be';
    else {
      const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString('latin1');
      label = META_CHARSET_RE.exec(head)?.[1]?.toLowerCase();
    }
  }
  try {
    return new TextDecoder(label || 'utf-8').decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

/** The charset parameter of a Content-Type header value, if any. */
export function charsetOf(contentType: string | null | undefined): string | undefined {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '');
  return m?.[1];
}

function resolveHttp(raw: string, base: URL | undefined): string | null {
  const s = raw.trim();
  if (!s || /^data:/i.test(s)) return null;
  try {
    const u = base ? new URL(s, base) : new URL(s);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    u.hash = '';
    return u.href;
  } catch {
    return null;
  }
}

/** First url of a srcset value ("a.jpg 1x, b.jpg 2x" -> "a.jpg"). */
function firstSrcsetUrl(srcset: string): string {
  const s = srcset.trim();
  const m = /^(\S+?)(?:,(?=\s)|\s|$)/.exec(s);
  return m ? m[1]!.replace(/,$/, '') : '';
}

function isLazyPlaceholder(src: string): boolean {
  return !src.trim() || /^data:/i.test(src.trim());
}

function sameSite(a: URL, b: URL): boolean {
  const strip = (h: string) => h.toLowerCase().replace(/^www\./, '');
  return a.protocol.startsWith('http') && strip(a.hostname) === strip(b.hostname);
}

interface RawImg {
  src: string;
  alt: string;
  title: string;
  overlong: boolean;
}

/** What one tokenizer pass over a page collects, before urls are resolved. */
interface RawPage {
  imgs: RawImg[];
  hrefs: string[];
  baseHref: string | null;
  robots: MetaRobots;
  /** Image collection reached `maxImages`. */
  imagesFull: boolean;
  /** At least one `<img>` came after the cap and was dropped. */
  imagesDropped: boolean;
}

/**
 * One pass of htmlparser2's Tokenizer over `text`, keeping only the attributes of `<img>`, `<base>`,
 * `<a>` and `<meta>` (each value capped at ATTR_CAP while it is assembled). Stops once nothing more
 * can be learnt: links full, and images full with one more `<img>` seen past the cap (so that the
 * page's dropped images are known and counted).
 * (Over 80 lines because the Tokenizer's callbacks share the per-tag state below as closures; what
 * each finished tag means is in `endTag`, `rawImg` and `readMetaRobots`.)
 */
function collectTags(text: string, maxImages: number, maxLinks: number): RawPage {
  const page: RawPage = {
    imgs: [], hrefs: [], baseHref: null, imagesFull: maxImages <= 0, imagesDropped: false,
    robots: { noindex: false, nofollow: false, noimageindex: false, noai: false, noimageai: false },
  };
  let linksFull = maxLinks <= 0;
  // Current tag state.
  let tag = '';
  let wanted = false;
  let attrs: Record<string, string> = {};
  let attrName = '';
  let attrValue = '';
  let attrOverlong = false;
  let tagOverlong = false;

  const stopWhenDone = (): void => {
    if (linksFull && page.imagesFull && (page.imagesDropped || maxImages <= 0)) tokenizer.pause();
  };
  const endTag = (): void => {
    if (tag === 'img') {
      page.imgs.push(rawImg(attrs, tagOverlong));
      if (page.imgs.length >= maxImages) {
        page.imagesFull = true;
        stopWhenDone();
      }
    } else if (tag === 'base') {
      if (page.baseHref === null && attrs.href) page.baseHref = attrs.href;
    } else if (tag === 'a') {
      const rel = (attrs.rel ?? '').toLowerCase();
      if (attrs.href && !/\bnofollow\b/.test(rel)) page.hrefs.push(attrs.href);
      // Keep a margin for duplicates and off-site links, bounded all the same.
      if (page.hrefs.length >= maxLinks * 4) {
        linksFull = true;
        stopWhenDone();
      }
    } else if (tag === 'meta') {
      readMetaRobots(attrs, page.robots);
    }
  };
  const tokenizer: Tokenizer = new Tokenizer({ decodeEntities: true }, {
    onopentagname(start, end) {
      tag = text.slice(start, Math.min(end, start + 16)).toLowerCase();
      if (tag === 'image') tag = 'img'; // as browsers parse it
      if (tag === 'img' && page.imagesFull && maxImages > 0 && !page.imagesDropped) {
        page.imagesDropped = true;
        stopWhenDone();
      }
      wanted = (tag === 'img' && !page.imagesFull) || tag === 'base' || (tag === 'a' && !linksFull) || tag === 'meta';
      attrs = {};
      tagOverlong = false;
    },
    onattribname(start, end) {
      attrName = wanted ? text.slice(start, Math.min(end, start + 64)).toLowerCase() : '';
      if (!KEPT_ATTRS.has(attrName)) attrName = '';
      attrValue = '';
      attrOverlong = false;
    },
    onattribdata(start, end) {
      if (!attrName || attrOverlong) return;
      if (attrValue.length + (end - start) > ATTR_CAP) {
        attrOverlong = true;
        return;
      }
      attrValue += text.slice(start, end);
    },
    onattribentity(codepoint) {
      if (!attrName || attrOverlong) return;
      attrValue += String.fromCodePoint(codepoint);
    },
    onattribend(_quote: QuoteType) {
      if (!wanted || !attrName) return;
      if (attrOverlong) tagOverlong = true;
      // The first occurrence of an attribute wins, as in browsers.
      if (!(attrName in attrs)) attrs[attrName] = attrOverlong ? '' : attrValue;
    },
    onopentagend() {
      if (!wanted) return;
      wanted = false;
      endTag();
    },
    onselfclosingtag() {
      this.onopentagend(0);
    },
    onclosetag() {},
    oncdata() {},
    oncomment() {},
    ondeclaration() {},
    onend() {},
    onprocessinginstruction() {},
    ontext() {},
    ontextentity() {},
  } satisfies TokenizerCallbacks);
  tokenizer.write(text);
  if (tokenizer.running) tokenizer.end();
  return page;
}

/** An `<img>` from its kept attributes; lazy-loading pages keep the real url in data-src / srcset. */
function rawImg(attrs: Record<string, string>, overlong: boolean): RawImg {
  const img: RawImg = { src: attrs.src ?? '', alt: attrs.alt ?? '', title: attrs.title ?? '', overlong };
  if (!overlong && isLazyPlaceholder(img.src)) {
    img.src = attrs['data-src'] || attrs['data-lazy-src'] || attrs['data-original'] ||
      firstSrcsetUrl(attrs.srcset || attrs['data-srcset'] || '') || img.src;
  }
  return img;
}

/** Applies a `<meta name="robots|googlebot|bingbot|ccbot" content="…">` tag to `robots`. */
function readMetaRobots(attrs: Record<string, string>, robots: MetaRobots): void {
  const name = (attrs.name ?? '').toLowerCase();
  if (name !== 'robots' && name !== 'googlebot' && name !== 'bingbot' && name !== 'ccbot') return;
  for (const d of (attrs.content ?? '').toLowerCase().split(/[\s,]+/)) {
    if (d === 'none') {
      robots.noindex = true;
      robots.nofollow = true;
    } else if (d in robots) robots[d as keyof MetaRobots] = true;
  }
}

/** The page's base url: its own url, overridden by a valid http(s) `<base href>`. */
function baseUrl(pageUrl: string, baseHref: string | null): URL | undefined {
  let base: URL | undefined;
  try {
    base = new URL(pageUrl);
  } catch {
    base = undefined;
  }
  if (baseHref !== null) {
    const b = resolveHttp(baseHref, base);
    if (b) base = new URL(b);
  }
  return base;
}

/** Candidates of the collected `<img>`, each skipped one reported to `onBadItem` with its reason. */
function pageImages(imgs: RawImg[], base: URL | undefined, pageUrl: string, opts: ExtractOptions): PageImage[] {
  const maxCaption = opts.maxCaptionChars ?? DEFAULT_MAX_CAPTION;
  const maxUrl = opts.maxUrlChars ?? DEFAULT_MAX_URL;
  const images: PageImage[] = [];
  for (const img of imgs) {
    if (img.overlong) {
      opts.onBadItem?.('long_attribute', pageUrl);
      continue;
    }
    const alt = normalizeWhitespace(img.alt);
    const title = opts.useTitle ? normalizeWhitespace(img.title) : '';
    if (!alt && !title) continue;
    if (!img.src.trim() || /^data:/i.test(img.src.trim())) continue;
    if (img.src.length > maxUrl) {
      opts.onBadItem?.('long_url', pageUrl);
      continue;
    }
    const url = resolveHttp(img.src, base);
    if (!url) {
      opts.onBadItem?.('bad_url', img.src.slice(0, 200));
      continue;
    }
    for (const caption of title && title !== alt ? [alt, title] : [alt]) {
      if (!caption) continue;
      if (caption.length > maxCaption) {
        opts.onBadItem?.('long_caption', url);
        continue;
      }
      images.push({ url, caption });
    }
  }
  return images;
}

/** Same-site links of the page, resolved, deduplicated, at most `maxLinks`. */
function pageLinks(hrefs: string[], base: URL | undefined, maxLinks: number, maxUrl: number): string[] {
  const links: string[] = [];
  if (!base || maxLinks <= 0) return links;
  const seen = new Set<string>();
  for (const href of hrefs) {
    if (href.length > maxUrl) continue;
    const url = resolveHttp(href, base);
    if (!url || seen.has(url)) continue;
    const u = new URL(url);
    if (!sameSite(u, base)) continue;
    seen.add(url);
    links.push(url);
    if (links.length >= maxLinks) break;
  }
  return links;
}

/**
 * Extracts images, links and meta robots of one HTML page in one pass (see {@link extractImages}
 * and {@link extractLinks}). Throws nothing on any input.
 */
export function extractPage(
  html: string | Uint8Array,
  pageUrl: string,
  opts: ExtractOptions & { maxLinks?: number } = {},
): PageInfo {
  const maxBytes = opts.maxHtmlBytes ?? DEFAULT_MAX_BYTES;
  const maxLinks = opts.maxLinks ?? DEFAULT_MAX_LINKS;
  const size = typeof html === 'string' ? html.length : html.byteLength;
  const cut = size > maxBytes;
  const text = typeof html === 'string'
    ? (cut ? html.slice(0, maxBytes) : html)
    : decodeHtml(cut ? html.subarray(0, maxBytes) : html, opts.charset);
  const raw = collectTags(text, opts.maxImagesPerPage ?? DEFAULT_MAX_IMAGES, maxLinks);
  if (raw.imagesDropped) opts.onBadItem?.('too_many_images', pageUrl);
  const base = baseUrl(pageUrl, raw.baseHref);
  return {
    images: pageImages(raw.imgs, base, pageUrl, opts),
    links: pageLinks(raw.hrefs, base, maxLinks, opts.maxUrlChars ?? DEFAULT_MAX_URL),
    robots: raw.robots,
    truncated: cut || (raw.imagesFull && (opts.maxImagesPerPage ?? DEFAULT_MAX_IMAGES) > 0),
  };
}

/**
 * `<img>` candidates of one HTML page (alt, optionally title; data-src/srcset fallback if no src;
 * relative urls resolved against the page url and `<base href>`; data: urls and empty alts skipped;
 * whitespace normalised). Bounded work on hostile HTML. Uses htmlparser2 (streaming, no DOM).
 * Returns them in page order; throws nothing.
 */
export function extractImages(
  html: string | Buffer | Uint8Array,
  pageUrl: string,
  opts: ExtractOptions = {},
): { url: string; caption: string }[] {
  return extractPage(html, pageUrl, { ...opts, maxLinks: 0 }).images;
}

/**
 * Same-site `<a href>` links of a page (for the live crawl): absolute http(s) urls on the page's
 * host (a leading `www.` ignored), fragments removed, deduplicated, `rel=nofollow` skipped, in page
 * order, at most `max` (default 1000). Throws nothing.
 */
export function extractLinks(
  html: string | Buffer | Uint8Array,
  pageUrl: string,
  opts: { max?: number; maxHtmlBytes?: number; charset?: string } = {},
): string[] {
  return extractPage(html, pageUrl, {
    maxLinks: opts.max ?? DEFAULT_MAX_LINKS,
    maxImagesPerPage: 0,
    maxHtmlBytes: opts.maxHtmlBytes,
    charset: opts.charset,
  }).links;
}
