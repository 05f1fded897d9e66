/**
 * Wikimedia hourly pageview files (`pageviews-YYYYMMDD-HH0000.gz`, plain, .gz or .bz2): one line per
 * page, `domain_code page_title count_views total_response_size`, separated by single spaces.
 * As MetaCLIP: only the chosen domain codes count (`en` = English Wikipedia desktop; `en.m` is
 * mobile), titles with ':' (other namespaces, Special:…) are skipped, and so are the front page and
 * `-` (isArticleTitle: no article, yet the most viewed lines of a file), an hourly count under the
 * threshold is ignored, `_` becomes a space. Titles are otherwise kept as they appear (percent-escapes
 * are not decoded: MetaCLIP does not either, and such titles rarely pass the view threshold).
 * A title over MAX_TITLE_BYTES (MediaWiki's own limit is 255 bytes) is a bad line, as is a line over
 * MAX_LINE_CHARS, which is skipped without being held in memory (lines.ts).
 */
import { StringDecoder } from 'node:string_decoder';
import { openDecompressed, type Bz2Decoder } from './input.js';
import { resolveBz2Decoder } from './input.js';
import { LineSplitter } from './lines.js';
import { InputError } from '../util/errors.js';

/** Longest title accepted, in UTF-8 bytes: 4x MediaWiki's limit of 255, so only garbage is refused. */
export const MAX_TITLE_BYTES = 1024;
/** Longest line read: a title of MAX_TITLE_BYTES plus the other three fields, with room to spare. */
export const MAX_LINE_CHARS = 2048;
/**
 * A file whose first PROBE_BYTES of text hold no well-formed pageview line is refused then, not read to
 * its end: a 4 GiB file of junk (or a gzip bomb of one endless line) stops after 16 MiB, not minutes.
 */
export const PROBE_BYTES = 16 * 2 ** 20;

export interface PageviewFileResult {
  /** Views per title (after `_` -> space) of the lines that passed the filters. */
  titles: Map<string, number>;
  lines: number;
  /** Lines of the selected domains that passed the filters. */
  kept: number;
  badLines: number;
  /** Up to 5 examples: "line N: reason". */
  badExamples: string[];
  /** Characters the line splitter searched or copied (LineSplitter.work): linear in the file's size. */
  splitWork: number;
  /** Lines of the selected domains over the threshold that name no article (isArticleTitle). */
  nonArticles: number;
}

/**
 * Front pages of the large Wikipedias whose title has no ':' (the others, `Wikipedia:Hauptseite`, are
 * in a namespace already): the most viewed page of a wiki, and no article (MetaCLIP's list is led by
 * `Main Page`, 773,843 views, otherwise).
 */
const FRONT_PAGES: ReadonlySet<string> = new Set(['Main_Page', 'Main_page', 'Pagina_principale', 'メインページ', 'Заглавная_страница', 'Hoofdpagina', 'Головна_сторінка', 'Strona_główna']);

/**
 * Whether a pageview title (as in the file: `_` for spaces, percent-escapes as given) names an
 * article: not `-` (the file's placeholder for a request without a title), not a front page, not a
 * page of another namespace (`Special:Search`, `File:…`, `Talk:…`, also with the colon escaped as
 * `%3A`), not empty.
 */
export function isArticleTitle(raw: string): boolean {
  if (raw === '-' || raw === '' || FRONT_PAGES.has(raw)) return false;
  return !raw.includes(':') && !/%3a/i.test(raw);
}

export interface PageviewParseOptions {
  domains: string[];
  minHourlyViews: number;
  bz2Decoder?: Bz2Decoder;
}

/**
 * Parses one pageview file. A line with the wrong number of fields or a non-numeric count is
 * counted as bad (with an example) and skipped. Throws DecodeError when the file cannot be decoded,
 * InputError when it is binary, empty, or holds no well-formed line (in its first PROBE_BYTES).
 */
export async function parsePageviewFile(file: string, opts: PageviewParseOptions): Promise<PageviewFileResult> {
  const domains = new Set(opts.domains);
  const titles = new Map<string, number>();
  const res: PageviewFileResult = { titles, lines: 0, kept: 0, badLines: 0, badExamples: [], splitWork: 0, nonArticles: 0 };
  const bad = (line: string, reason: string) => {
    res.badLines++;
    if (res.badExamples.length < 5) res.badExamples.push(`line ${res.lines}: ${reason}: '${line.slice(0, 80)}'`);
  };
  let wellFormed = 0;
  const take = (line: string) => {
    res.lines++;
    const s1 = line.indexOf(' ');
    const s2 = s1 < 0 ? -1 : line.indexOf(' ', s1 + 1);
    const s3 = s2 < 0 ? -1 : line.indexOf(' ', s2 + 1);
    if (s3 < 0 || line.indexOf(' ', s3 + 1) >= 0) {
      if (line.trim().length === 0) return; // blank lines (a trailing one) are not data
      bad(line, `expected 4 space-separated fields, got ${line.split(' ').length}`);
      return;
    }
    const domain = line.slice(0, s1);
    const viewsText = line.slice(s2 + 1, s3);
    const views = /^\d+$/.test(viewsText) ? Number(viewsText) : NaN;
    if (!domains.has(domain)) {
      if (Number.isSafeInteger(views)) wellFormed++;
      return;
    }
    if (!Number.isSafeInteger(views)) {
      bad(line, `views is not a count`);
      return;
    }
    wellFormed++;
    if (s2 === s1 + 1) {
      bad(line, 'empty title');
      return;
    }
    if (views < opts.minHourlyViews) return;
    const raw = line.slice(s1 + 1, s2);
    if (Buffer.byteLength(raw) > MAX_TITLE_BYTES) {
      bad(line, `title longer than ${MAX_TITLE_BYTES} bytes`);
      return;
    }
    const title = raw.replace(/_/g, ' ').trim();
    if (!isArticleTitle(raw) || title.length === 0) {
      res.nonArticles++;
      return;
    }
    res.kept++;
    titles.set(title, (titles.get(title) ?? 0) + views);
  };
  const lines = new LineSplitter(MAX_LINE_CHARS, {
    line: take,
    overlong: (head, chars) => {
      res.lines++;
      bad(head, `line of ${chars} characters, longer than ${MAX_LINE_CHARS}`);
    },
  });
  const dec = new StringDecoder('utf8');
  const decoder = resolveBz2Decoder(opts.bz2Decoder ?? 'auto');
  // Well-formed means four fields and a count, in any domain: a file of other wikis only is still one.
  const refuse = (why: string) => {
    const example = res.badExamples[0] ? `; ${res.badExamples[0]}` : '';
    return new InputError('querygen', file, `${why}; not a pageview file (expected 'domain title views bytes' lines)${example}`);
  };
  let bytes = 0;
  for await (const chunk of openDecompressed(file, { bz2Decoder: decoder, stage: 'querygen' })) {
    if (bytes < 65536) {
      const nul = chunk.subarray(0, 65536 - bytes).indexOf(0);
      if (nul >= 0) throw new InputError('querygen', file, `binary data, not a pageview file (a NUL byte at byte ${bytes + nul} of the text)`);
    }
    bytes += chunk.length;
    lines.push(dec.write(chunk));
    if (bytes > PROBE_BYTES && wellFormed === 0) throw refuse(`no well-formed line in the first ${PROBE_BYTES >> 20} MiB`);
  }
  lines.push(dec.end());
  lines.end();
  res.splitWork = lines.work;
  if (wellFormed === 0) throw refuse(res.lines === 0 ? 'empty: no lines' : `none of its ${res.lines} lines is well-formed`);
  return res;
}
