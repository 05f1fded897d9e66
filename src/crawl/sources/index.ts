/**
 * The file inputs of `wit crawl`: WARC, WAT, and url lists (JSON Lines, CSV, TSV, Parquet), read as
 * streams of candidates. Live seed-site crawling ('seed') lives in src/crawl/site.ts.
 */
import { UsageError } from '../../util/errors.js';
import type { Candidate } from '../types.js';
import { CsvParser, checkColumns, csvHeader, extraColumnSpec, readDelimited, readJsonl, readTxt, type ListOptions } from './lists.js';
import { TruncatedInputError, baseName, isUrl, openBytes, type OpenUrl } from './open.js';
import { StringDecoder } from 'node:string_decoder';
import { InputError } from '../../util/errors.js';
import { extraKindOf } from '../../shards/reader.js';
import type { ExtraColumn, ExtraKind } from '../../shards/record.js';
import { MAX_RECORD_CHARS } from './lists.js';
import { splitLines } from './open.js';
import { parquetRowCount, parquetSchema, readParquet } from './parquet.js';
import { readWarc, readWat, type OnTruncated } from './warc.js';

export { isUrl, openBytes, splitLines, type OpenUrl } from './open.js';
export { CsvParser } from './lists.js';
export { toCandidate } from './candidate.js';
export type { OnTruncated } from './warc.js';

/** Kinds of `--input`. */
export type InputFormat = 'warc' | 'wat' | 'jsonl' | 'csv' | 'tsv' | 'txt' | 'parquet' | 'seed';

/** Every InputFormat, for `--input-format` choices. */
export const INPUT_FORMATS: readonly InputFormat[] = ['warc', 'wat', 'jsonl', 'csv', 'tsv', 'txt', 'parquet', 'seed'];

/** Url-list kinds (rows with columns; their outcomes are listed per row in the shards' metadata). */
export const LIST_FORMATS: ReadonlySet<InputFormat> = new Set<InputFormat>(['jsonl', 'csv', 'tsv', 'txt', 'parquet']);

const SUFFIXES: [RegExp, InputFormat][] = [
  [/\.wat(\.gz)?$/, 'wat'],
  [/\.warc(\.gz)?$/, 'warc'],
  [/\.(jsonl|ndjson)(\.gz|\.zst)?$/, 'jsonl'],
  [/\.csv(\.gz|\.zst)?$/, 'csv'],
  [/\.tsv(\.gz|\.zst)?$/, 'tsv'],
  [/\.txt(\.gz|\.zst)?$/, 'txt'],
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
    `cannot tell the kind of input ${JSON.stringify(input)} from its name (expected .warc[.gz], .wat[.gz], .jsonl, .csv, .tsv, .txt (each optionally .gz or .zst), .parquet or an http(s) seed url); give --input-format`,
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
  /** Url-list columns carried into the shards (`--save-additional-columns`). */
  extraColumns?: readonly string[];
  /** Url-list column with the expected sha256 of the image bytes (`--verify-hash-col`). */
  hashColumn?: string;
  /** Keep url-list rows with an empty caption (no queries: a plain downloader). */
  allowEmptyCaption?: boolean;
  /** Url lists: yield refused rows marked `refused` instead of reporting them to onBadItem (ListOptions). */
  keepRefused?: boolean;
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
  const list = listOptions(opts);
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
      yield* endAtCut(input, opts, readJsonl(input, open(), list));
      return;
    case 'csv':
      yield* endAtCut(input, opts, readDelimited(input, open(), ',', list));
      return;
    case 'tsv':
      yield* endAtCut(input, opts, readDelimited(input, open(), '\t', list));
      return;
    case 'txt':
      yield* endAtCut(input, opts, readTxt(input, open(), list));
      return;
    case 'parquet':
      yield* readParquet(input, { ...list, openUrl: opts.openUrl, maxPageBytes: opts.maxPageBytes });
      return;
  }
}

/**
 * A url list whose compressed stream is cut (the file ends inside a gzip member): with
 * `onTruncated: 'skip'` the lines before the cut are kept and one `truncated_record` is counted;
 * otherwise the TruncatedInputError stands (exit 2). The cut line itself is never yielded.
 */
async function* endAtCut(input: string, opts: SourceOptions, lines: AsyncGenerator<Candidate>): AsyncGenerator<Candidate> {
  try {
    yield* lines;
  } catch (err) {
    if (!(err instanceof TruncatedInputError) || opts.onTruncated !== 'skip') throw err;
    opts.onBadItem?.('truncated_record', `${input}: ${err.detail}`);
  }
}

function listOptions(opts: SourceOptions): ListOptions {
  return {
    urlColumn: opts.urlColumn ?? 'url',
    captionColumn: opts.captionColumn ?? 'caption',
    captionGiven: opts.captionColumn !== undefined,
    extraColumns: opts.extraColumns,
    hashColumn: opts.hashColumn,
    allowEmptyCaption: opts.allowEmptyCaption,
    keepRefused: opts.keepRefused,
    onBadItem: opts.onBadItem,
    signal: opts.signal,
  };
}

/** The header (column names, and types where the format has them) of a url list. */
export interface ListHeader {
  columns: string[];
  /** Types of the pass-through columns asked for, as the input types them. */
  extras: ExtraColumn[];
}

/** JSON value -> the column kind it suggests. */
function jsonKind(v: unknown): ExtraKind {
  return typeof v === 'number' ? (Number.isInteger(v) ? 'int64' : 'double') : typeof v === 'boolean' ? 'boolean' : 'string';
}

/**
 * Reads the header of a url-list input (CSV/TSV header row, the first JSON Lines object, the
 * Parquet schema; a .txt list has one column, the url) and checks that it has every column the
 * options name, before any download. Throws InputError naming the file, the missing column and
 * the columns present. Resolves to the columns and the pass-through columns' kinds.
 */
export async function inspectList(input: string, opts: SourceOptions = {}): Promise<ListHeader> {
  const format = detectInputFormat(input, opts.format);
  const list = listOptions(opts);
  const extrasAsked = opts.extraColumns ?? [];
  const open = () => openBytes(input, { openUrl: opts.openUrl, signal: opts.signal });
  let columns: string[] = [];
  let kindOf: (col: string) => ExtraKind = () => 'string';
  if (format === 'txt') {
    columns = [list.urlColumn];
    if (extrasAsked.length || list.hashColumn) checkColumns(input, 'plain url list (.txt: one url a line)', columns, { ...list, captionColumn: '' });
    return { columns, extras: [] };
  } else if (format === 'csv' || format === 'tsv') {
    const parser = new CsvParser(format === 'csv' ? ',' : '\t');
    const decoder = new StringDecoder('utf8');
    let header: string[] | undefined;
    for await (const chunk of open()) {
      const recs = parser.push(decoder.write(chunk));
      if (recs.length) { header = csvHeader(recs[0]!); break; }
    }
    if (!header) {
      const rest = [...parser.push(decoder.end()), ...parser.end()];
      if (!rest.length) throw new InputError('crawl', input, 'empty url list (no header row)');
      header = csvHeader(rest[0]!);
    }
    columns = header;
  } else if (format === 'jsonl') {
    let first: Record<string, unknown> | undefined;
    for await (const line of splitLines(open(), MAX_RECORD_CHARS)) {
      if (!line.text.trim()) continue;
      try {
        const v: unknown = JSON.parse(line.text.replace(/^\ufeff/, ''));
        if (v && typeof v === 'object' && !Array.isArray(v)) first = v as Record<string, unknown>;
      } catch {
        // a bad first line is counted when the list is read; the columns come from the next good one
        continue;
      }
      if (first) break;
    }
    if (!first) throw new InputError('crawl', input, 'no JSON object in the url list');
    const obj = first;
    columns = Object.keys(obj);
    kindOf = (col) => jsonKind(obj[col]);
  } else if (format === 'parquet') {
    const schema = await parquetSchema(input, opts);
    columns = schema.map((el) => el.name);
    const byName = new Map(schema.map((el) => [el.name, el]));
    kindOf = (col) => extraKindOf(byName.get(col) ?? {});
  } else {
    return { columns: [], extras: [] };
  }
  const kind = format === 'parquet' ? 'Parquet file' : format === 'jsonl' ? 'JSON Lines list (first object)' : `${format.toUpperCase()} header`;
  checkColumns(input, kind, columns, list);
  return { columns, extras: extrasAsked.map(extraColumnSpec).map(({ source, name }) => ({ name, kind: kindOf(source) })) };
}

/**
 * Rows of a local url list, for the crawl's total and ETA: a Parquet file's row count from its footer;
 * for the line formats the lines (less the CSV/TSV header), counted on the decompressed stream, which
 * a quoted newline inside a CSV field makes an over-count by one. Undefined for a url or another kind.
 * Throws what reading the file throws.
 */
export async function listRowCount(input: string, format: InputFormat, opts: { signal?: AbortSignal } = {}): Promise<number | undefined> {
  if (isUrl(input) || !LIST_FORMATS.has(format)) return undefined;
  if (format === 'parquet') return parquetRowCount(input);
  let lines = 0;
  let last = 0x0a;
  for await (const chunk of openBytes(input, { signal: opts.signal })) {
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) lines++;
    if (chunk.length) last = chunk[chunk.length - 1]!;
  }
  if (last !== 0x0a) lines++; // a last line without its newline
  return Math.max(0, format === 'csv' || format === 'tsv' ? lines - 1 : lines);
}
