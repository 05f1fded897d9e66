/**
 * Wikimedia hourly pageview files (`pageviews-YYYYMMDD-HH0000.gz`, plain, .gz or .bz2): one line per
 * page, `domain_code page_title count_views total_response_size`, separated by single spaces.
 * As MetaCLIP: only the chosen domain codes count (`en` = English Wikipedia desktop; `en.m` is
 * mobile), titles with ':' (other namespaces, Special:…) are skipped, an hourly count under the
 * threshold is ignored, `_` becomes a space. Titles are otherwise kept as they appear (percent-escapes
 * are not decoded: MetaCLIP does not either, and such titles rarely pass the view threshold).
 * A title over MAX_TITLE_BYTES (MediaWiki's own limit is 255 bytes) is a bad line, as is a line over
 * MAX_LINE_CHARS, which is skipped without being held in memory (lines.ts).
 */
import { StringDecoder } from 'node:string_decoder';
import { openDecompressed, type Bz2Decoder } from './input.js';
import { resolveBz2Decoder } from './input.js';
import { LineSplitter } from './lines.js';

/** Longest title accepted, in UTF-8 bytes: 4x MediaWiki's limit of 255, so only garbage is refused. */
export const MAX_TITLE_BYTES = 1024;
/** Longest line read: a title of MAX_TITLE_BYTES plus the other three fields, with room to spare. */
export const MAX_LINE_CHARS = 2048;

export interface PageviewFileResult {
  /** Views per title (after `_` -> space) of the lines that passed the filters. */
  titles: Map<string, number>;
  lines: number;
  /** Lines of the selected domains that passed the filters. */
  kept: number;
  badLines: number;
  /** Up to 5 examples: "line N: reason". */
  badExamples: string[];
}

export interface PageviewParseOptions {
  domains: string[];
  minHourlyViews: number;
  bz2Decoder?: Bz2Decoder;
}

/**
 * Parses one pageview file. A line with the wrong number of fields or a non-numeric count is
 * counted as bad (with an example) and skipped. Throws DecodeError when the file cannot be decoded.
 */
export async function parsePageviewFile(file: string, opts: PageviewParseOptions): Promise<PageviewFileResult> {
  const domains = new Set(opts.domains);
  const titles = new Map<string, number>();
  const res: PageviewFileResult = { titles, lines: 0, kept: 0, badLines: 0, badExamples: [] };
  const bad = (line: string, reason: string) => {
    res.badLines++;
    if (res.badExamples.length < 5) res.badExamples.push(`line ${res.lines}: ${reason}: '${line.slice(0, 80)}'`);
  };
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
    if (!domains.has(domain)) return;
    const viewsText = line.slice(s2 + 1, s3);
    const views = /^\d+$/.test(viewsText) ? Number(viewsText) : NaN;
    if (!Number.isSafeInteger(views)) {
      bad(line, `views is not a count`);
      return;
    }
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
    if (raw.includes(':')) return;
    const title = raw.replace(/_/g, ' ').trim();
    if (title.length === 0) return;
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
  for await (const chunk of openDecompressed(file, { bz2Decoder: decoder })) lines.push(dec.write(chunk));
  lines.push(dec.end());
  lines.end();
  return res;
}
