/**
 * The file inputs of `wit crawl`: WARC, WAT, and url lists (JSON Lines, CSV, TSV, Parquet), read as
 * streams of candidates. Live seed-site crawling ('seed') lives in src/crawl/site.ts.
 */
import { UsageError } from '../../util/errors.js';
import type { Candidate } from '../types.js';
import { readDelimited, readJsonl, type ListOptions } from './lists.js';
import { baseName, isUrl, openBytes, type OpenUrl } from './open.js';
import { readParquet } from './parquet.js';
import { readWarc, readWat, type OnTruncated } from './warc.js';

export { isUrl, openBytes, splitLines, type OpenUrl } from './open.js';
export { CsvParser } from './lists.js';
export { toCandidate } from './candidate.js';
export type { OnTruncated } from './warc.js';

/** Kinds of `--input`. */
export type InputFormat = 'warc' | 'wat' | 'jsonl' | 'csv' | 'tsv' | 'parquet' | 'seed';

/** Every InputFormat, for `--input-format` choices. */
export const INPUT_FORMATS: readonly InputFormat[] = ['warc', 'wat', 'jsonl', 'csv', 'tsv', 'parquet', 'seed'];

const SUFFIXES: [RegExp, InputFormat][] = [
  [/\.wat(\.gz)?$/, 'wat'],
  [/\.warc(\.gz)?$/, 'warc'],
  [/\.(jsonl|ndjson)(\.gz)?$/, 'jsonl'],
  [/\.csv(\.gz)?$/, 'csv'],
  [/\.tsv(\.gz)?$/, 'tsv'],
  [/\.parquet$/, 'parquet'],
];

/**
 * Detects the kind from the name (.warc/.warc.gz, .wat/.wat.gz, .jsonl(.gz), .csv(.gz), .tsv(.gz),
 * .parquet; http(s) urls without such an extension are 'seed'). Common Crawl's `.warc.wat.gz` is
 * 'wat'. `override` wins when given. Throws UsageError when the kind is unknown.
 */
export function detectInputFormat(input: string, override?: InputFormat): InputFormat {
  if (override !== undefined) {
    if (!INPUT_FORMATS.includes(override)) {
      throw new UsageError('crawl', `unknown --input-format ${JSON.stringify(override)} (one of ${INPUT_FORMATS.join(', ')})`);
    }
    return override;
  }
  const name = baseName(input);
  for (const [re, fmt] of SUFFIXES) if (re.test(name)) return fmt;
  if (isUrl(input)) return 'seed';
  throw new UsageError(
    'crawl',
    `cannot tell the kind of input ${JSON.stringify(input)} from its name (expected .warc[.gz], .wat[.gz], .jsonl[.gz], .csv[.gz], .tsv[.gz], .parquet or an http(s) seed url); give --input-format`,
  );
}

/** Options of {@link readSource}. */
export interface SourceOptions {
  /** Kind of the input; detected from the name when absent. */
  format?: InputFormat;
  /** Also take `<img title>` as a caption (WARC, WAT). */
  useTitle?: boolean;
  /** Column (or JSON field) of the image url in url lists. Default "url". */
  urlColumn?: string;
  /** Column (or JSON field) of the caption in url lists. Default "caption". */
  captionColumn?: string;
  /** Opens an http(s) input file as a byte stream (the pipeline passes its safe fetcher). */
  openUrl?: OpenUrl;
  /**
   * Per-source counters for bad items inside good input, with a detail naming file and line/record:
   * bad_record (unparsable line, row or WAT JSON), bad_url (missing, relative in a list, not
   * http(s)), empty_caption, long_caption, long_url, long_attribute (an `<img>` attribute over
   * 64 KiB), unsupported_encoding (a WARC page with a Content-Encoding other than gzip/deflate),
   * long_page (a WARC page parsed only up to maxHtmlBytes), too_many_images (a page whose images
   * past the per-page cap were dropped), truncated_record (with `onTruncated: 'skip'`).
   */
  onBadItem?: (reason: string, detail: string) => void;
  /** Stops reading; the iteration then throws the signal's reason. */
  signal?: AbortSignal;
  /** HTML bytes parsed per WARC record. Default 8 MiB. */
  maxHtmlBytes?: number;
  /** A WARC/WAT record (or gzip stream) cut by the end of the file: 'error' (default) or 'skip' (counted as truncated_record). */
  onTruncated?: OnTruncated;
  /** Largest uncompressed Parquet page, in bytes. Default 256 MiB. */
  maxPageBytes?: number;
}

/**
 * Streams the candidates of one file input (not 'seed'), in file order, memory bounded; gzip
 * decoded on the fly (by magic bytes, not only by name). Dedupe is NOT done here (the pipeline
 * dedupes). Throws InputError naming the file (and record/line) for unreadable input, UsageError
 * for a 'seed' input or an unknown kind.
 */
export async function* readSource(input: string, opts: SourceOptions = {}): AsyncGenerator<Candidate> {
  const format = detectInputFormat(input, opts.format);
  const list: ListOptions = {
    urlColumn: opts.urlColumn ?? 'url',
    captionColumn: opts.captionColumn ?? 'caption',
    onBadItem: opts.onBadItem,
    signal: opts.signal,
  };
  const open = () => openBytes(input, { openUrl: opts.openUrl, signal: opts.signal });
  switch (format) {
    case 'seed':
      throw new UsageError('crawl', `${input} is a seed url for a live crawl, not a file input`);
    case 'warc':
      yield* readWarc(input, open(), { useTitle: opts.useTitle, onBadItem: opts.onBadItem, signal: opts.signal, maxHtmlBytes: opts.maxHtmlBytes, onTruncated: opts.onTruncated });
      return;
    case 'wat':
      yield* readWat(input, open(), { useTitle: opts.useTitle, onBadItem: opts.onBadItem, signal: opts.signal, onTruncated: opts.onTruncated });
      return;
    case 'jsonl':
      yield* readJsonl(input, open(), list);
      return;
    case 'csv':
      yield* readDelimited(input, open(), ',', list);
      return;
    case 'tsv':
      yield* readDelimited(input, open(), '\t', list);
      return;
    case 'parquet':
      yield* readParquet(input, { ...list, openUrl: opts.openUrl, maxPageBytes: opts.maxPageBytes });
      return;
  }
}
