/**
 * Streaming reader of MediaWiki XML export (`<mediawiki><siteinfo>…</siteinfo><page>…</page>…</mediawiki>`).
 *
 * A full XML parser is not needed and would cost most of the time budget: the export format is
 * machine-written, every `<` inside text is escaped as `&lt;`, so the tags that matter (`<page>`,
 * `</page>`, `<title>`, `<ns>`, `<redirect`, `<text`) can be found with indexOf. What the scanner does
 * check is the structure a truncated or damaged dump breaks: every `<page>` is closed before the next
 * one and before the end, each page has its title, namespace and text, nothing but whitespace sits
 * between pages, and the document is opened by `<mediawiki` and closed by `</mediawiki>` (checked by
 * the caller, which knows where a file starts and ends).
 */

/** One page as the counter needs it. */
export interface XmlPage {
  title: string;
  ns: number;
  redirect: boolean;
  /** Wikitext of the last revision, XML entities decoded. */
  text: string;
}

/** Thrown on malformed XML; `offset` is the byte offset in the decompressed stream being scanned. */
export class XmlFormatError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'XmlFormatError';
  }
}

/**
 * Decodes the five XML entities and numeric references (the only ones an export contains).
 * A hand loop: text is full of &lt;ref&gt; and &quot;, and a replace callback per match costs more
 * than the rest of the XML scan.
 */
export function decodeXmlEntities(s: string): string {
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let run = 0;
  while (amp >= 0) {
    const c = s.charCodeAt(amp + 1);
    let rep: string | undefined;
    let len = 0;
    if (c === 0x6c /* l */ && s.startsWith('lt;', amp + 1)) { rep = '<'; len = 4; }
    else if (c === 0x67 /* g */ && s.startsWith('gt;', amp + 1)) { rep = '>'; len = 4; }
    else if (c === 0x61 /* a */) {
      if (s.startsWith('amp;', amp + 1)) { rep = '&'; len = 5; }
      else if (s.startsWith('apos;', amp + 1)) { rep = "'"; len = 6; }
    } else if (c === 0x71 /* q */ && s.startsWith('quot;', amp + 1)) { rep = '"'; len = 6; }
    else if (c === 0x23 /* # */) {
      const semi = s.indexOf(';', amp + 2);
      if (semi > amp + 2 && semi - amp <= 10) {
        const body = s.slice(amp + 2, semi);
        const cp = body.charCodeAt(0) === 0x78 || body.charCodeAt(0) === 0x58 ? parseInt(body.slice(1), 16) : /^\d+$/.test(body) ? Number(body) : NaN;
        if (cp > 0 && cp <= 0x10ffff) { rep = String.fromCodePoint(cp); len = semi + 1 - amp; }
      }
    }
    if (rep !== undefined) {
      out += s.slice(run, amp) + rep;
      run = amp + len;
      amp = s.indexOf('&', run);
    } else amp = s.indexOf('&', amp + 1);
  }
  return run === 0 ? s : out + s.slice(run);
}

/** Wikipedia caps an article at 2 MB of wikitext; far past that the page is broken, not big. */
const MAX_PAGE = 256 << 20;
const MAX_GAP = 64 << 20;

function isBlank(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  }
  return true;
}

/**
 * Incremental page scanner: `push(text)` decoded text in order, `end()` at the end of the stream.
 * Calls `onPage` for every complete page. Throws XmlFormatError with the byte offset of the problem.
 */
export class PageScanner {
  private buf = '';
  /** Byte offset (in the scanned stream) of buf[0]. */
  private bufOffset: number;
  /** True once the `<mediawiki` opening tag has been seen. */
  sawHeader = false;
  /** True once `</mediawiki>` has been seen. */
  sawFooter = false;
  pages = 0;
  /**
   * Characters searched, joined or measured so far (a page parsed counts its length once): the work
   * of the scan, which tests bound by the input's size instead of timing it. Joining and rescanning
   * the buffer on every piece makes it input^2 / piece size.
   */
  work = 0;

  constructor(private readonly onPage: (page: XmlPage) => void, baseOffset = 0) {
    this.bufOffset = baseOffset;
  }

  /**
   * While the buffer ends inside a page (or before any page), what it waits for, and the pieces
   * pushed since: a new piece is searched on its own (with the few characters before it, in case
   * the tag straddles two pieces) and the buffer is only joined once the tag is there, so a page
   * of many pieces costs linear time (joining on every push, then searching the whole buffer
   * again, made one 100 MB page cost minutes).
   */
  private waitingFor: 'page' | 'close' | undefined;
  private parts: string[] = [];
  private partsChars = 0;

  /** Feeds the next piece of the stream. */
  push(text: string): void {
    if (this.waitingFor !== undefined) {
      const last = this.parts.length > 0 ? this.parts[this.parts.length - 1]! : this.buf;
      const probe = last.slice(-7) + text.slice(0, 8);
      this.work += probe.length + text.length;
      const found = (t: string) => t.includes('<page>') || (this.waitingFor === 'close' && t.includes('</page>'));
      if (!found(probe) && !found(text)) {
        this.parts.push(text);
        this.partsChars += text.length;
        const limit = this.waitingFor === 'page' ? MAX_GAP : MAX_PAGE;
        if (this.buf.length + this.partsChars <= limit) return;
        // over the limit: join and let scan report it
      }
      this.parts.push(text);
      this.work += this.partsChars + text.length;
      text = this.parts.join('');
      this.parts = [];
      this.partsChars = 0;
      this.waitingFor = undefined;
    }
    if (this.buf.length > 0) this.work += this.buf.length + text.length;
    this.buf = this.buf.length === 0 ? text : this.buf + text;
    this.scan(false);
  }

  /** Ends the stream: whatever is left must be whitespace or the closing `</mediawiki>`. */
  end(): void {
    if (this.parts.length > 0) {
      this.work += this.buf.length + this.partsChars;
      this.buf += this.parts.join('');
      this.parts = [];
      this.partsChars = 0;
    }
    this.waitingFor = undefined;
    this.scan(true);
  }

  private consume(upTo: number): void {
    if (upTo <= 0) return;
    this.work += upTo;
    this.bufOffset += Buffer.byteLength(this.buf.length === upTo ? this.buf : this.buf.slice(0, upTo));
    this.buf = this.buf.slice(upTo);
  }

  /** s.indexOf(needle, from), counting the characters it looked at. */
  private find(s: string, needle: string, from: number): number {
    const i = s.indexOf(needle, from);
    this.work += (i < 0 ? s.length : i + needle.length) - from;
    return i;
  }

  private byteOffsetAt(i: number): number {
    return this.bufOffset + Buffer.byteLength(this.buf.slice(0, i));
  }

  /** Checks what sits between pages: the header, the footer, or whitespace. */
  private checkGap(from: number, to: number): void {
    const s = this.buf;
    if (isBlank(s, from, to)) return;
    const gap = s.slice(from, to);
    if (this.sawFooter) throw new XmlFormatError(`content after </mediawiki>: '${snippet(gap)}'`, this.byteOffsetAt(from));
    const open = gap.indexOf('<mediawiki');
    const close = gap.indexOf('</mediawiki>');
    if (open >= 0 && !this.sawHeader && this.pages === 0) {
      this.sawHeader = true;
      const head = gap.slice(0, open);
      if (!/^\s*(<\?xml[^>]*\?>)?\s*$/.test(head)) throw new XmlFormatError(`unexpected content before <mediawiki>: '${snippet(head)}'`, this.byteOffsetAt(from));
      const siteEnd = gap.indexOf('</siteinfo>');
      const rest = siteEnd >= 0 ? gap.slice(siteEnd + 11) : gap.slice(gap.indexOf('>', open) + 1);
      if (close >= 0) {
        this.sawFooter = true;
        if (!/^\s*<\/mediawiki>\s*$/.test(rest)) throw new XmlFormatError(`unexpected content in the dump header: '${snippet(rest)}'`, this.byteOffsetAt(from));
      } else if (!isBlank(rest, 0, rest.length)) throw new XmlFormatError(`unexpected content in the dump header: '${snippet(rest)}'`, this.byteOffsetAt(from));
      return;
    }
    if (close >= 0 && isBlank(gap, 0, close) && isBlank(gap, close + 12, gap.length)) {
      this.sawFooter = true;
      return;
    }
    throw new XmlFormatError(`unexpected content between pages: '${snippet(gap)}'`, this.byteOffsetAt(from));
  }

  private scan(final: boolean): void {
    for (;;) {
      const s = this.buf;
      const start = this.find(s, '<page>', 0);
      if (start < 0) {
        if (!final) {
          // an export has only a small header outside pages; megabytes without one is not a dump
          if (s.length > MAX_GAP) throw new XmlFormatError(`no <page> in ${MAX_GAP >> 20} MB of data: not a MediaWiki export`, this.bufOffset);
          this.waitingFor = 'page';
          return;
        }
        this.checkGap(0, s.length);
        this.consume(s.length);
        return;
      }
      if (this.sawFooter && start >= 0) throw new XmlFormatError('<page> after </mediawiki>', this.byteOffsetAt(start));
      const stop = this.find(s, '</page>', start + 6);
      const nextOpen = this.find(s, '<page>', start + 6);
      if (nextOpen >= 0 && (stop < 0 || nextOpen < stop)) {
        throw new XmlFormatError('<page> not closed before the next <page>', this.byteOffsetAt(start));
      }
      if (stop < 0) {
        if (final) throw new XmlFormatError('truncated: <page> not closed before the end of the data', this.byteOffsetAt(start));
        if (s.length - start > MAX_PAGE) throw new XmlFormatError(`<page> not closed within ${MAX_PAGE >> 20} MB`, this.byteOffsetAt(start));
        if (start > 0) {
          this.checkGap(0, start);
          this.consume(start);
        }
        this.waitingFor = 'close';
        return;
      }
      this.checkGap(0, start);
      this.parsePage(s, start + 6, stop);
      this.pages++;
      this.consume(stop + 7);
    }
  }

  /** Parses the page whose content is s[from, to): every search stays inside the page. */
  private parsePage(s: string, from: number, to: number): void {
    const page = s.slice(from, to);
    this.work += to - from;
    const at = (i: number) => this.byteOffsetAt(from + i);
    const t0 = page.indexOf('<title>');
    const t1 = t0 >= 0 ? page.indexOf('</title>', t0) : -1;
    if (t1 < 0) throw new XmlFormatError('<page> without <title>', this.byteOffsetAt(from - 6));
    const title = decodeXmlEntities(page.slice(t0 + 7, t1));
    const n0 = page.indexOf('<ns>', t1);
    const n1 = n0 >= 0 ? page.indexOf('</ns>', n0) : -1;
    if (n1 < 0) throw new XmlFormatError(`page '${title}' without <ns>`, this.byteOffsetAt(from - 6));
    const ns = Number(page.slice(n0 + 4, n1));
    if (!Number.isInteger(ns)) throw new XmlFormatError(`page '${title}' has a bad <ns>: '${snippet(page.slice(n0 + 4, n1))}'`, at(n0));
    const redirect = page.indexOf('<redirect', n1) >= 0;
    // the last revision's text (pages-articles has one revision; histories have many)
    const x0 = page.lastIndexOf('<text');
    if (x0 < 0) throw new XmlFormatError(`page '${title}' without <text>`, this.byteOffsetAt(from - 6));
    const gt = page.indexOf('>', x0);
    if (gt < 0) throw new XmlFormatError(`page '${title}': unterminated <text> tag`, at(x0));
    let text = '';
    if (page.charCodeAt(gt - 1) !== 0x2f /* '/' self-closing: deleted or empty text */) {
      const x1 = page.indexOf('</text>', gt);
      if (x1 < 0) throw new XmlFormatError(`page '${title}': <text> not closed`, at(x0));
      text = decodeXmlEntities(page.slice(gt + 1, x1));
    }
    this.onPage({ title, ns, redirect, text });
  }
}

function snippet(s: string): string {
  const t = s.trim().replace(/\s+/g, ' ');
  return t.length > 60 ? `${t.slice(0, 60)}…` : t;
}
