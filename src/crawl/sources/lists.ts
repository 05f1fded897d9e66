/**
 * Url lists in img2dataset's formats: JSON Lines, CSV (RFC 4180: quoted fields with "" escapes and
 * embedded line breaks) and TSV (same quoting, tab separated), with a header naming the columns,
 * and plain text (one url a line, no caption). Columns are chosen by name (`--url-col`,
 * `--caption-col`); `--save-additional-columns` carries others into the shards.
 */
import { StringDecoder } from 'node:string_decoder';
import { InputError } from '../../util/errors.js';
import type { Candidate } from '../types.js';
import { toCandidate, type OnBadItem } from './candidate.js';
import { splitLines } from './open.js';

/** Longest record (line) of a url list; longer ones are counted as bad_record and skipped. */
export const MAX_RECORD_CHARS = 1024 * 1024;

/** Column names and callbacks for the url-list readers. */
export interface ListOptions {
  urlColumn: string;
  /** Column of the caption; '' for lists without one (rows then have an empty caption). */
  captionColumn: string;
  /** The caption column was named (`--caption-col`), not defaulted: it must exist. */
  captionGiven?: boolean;
  /** Input columns carried into the shards with each row: `NAME`, or `SRC:DEST` to store column SRC as DEST. */
  extraColumns?: readonly string[];
  /** Column holding the expected hex sha256 of the image bytes (`--verify-hash-col`). */
  hashColumn?: string;
  /** Keep rows whose caption is empty (a plain downloader, without queries). Default false. */
  allowEmptyCaption?: boolean;
  /**
   * Yield a row refused before it becomes a candidate (bad url, empty caption) as a Candidate with
   * `refused` set instead of reporting it to `onBadItem`: the reader of the stream counts it and lists
   * it in the status table. Default false.
   */
  keepRefused?: boolean;
  onBadItem?: OnBadItem;
  signal?: AbortSignal;
}

/**
 * One `--save-additional-columns` entry: `NAME` keeps the column's name, `SRC:DEST` stores input column
 * SRC as shard column DEST (LAION's `similarity` clashes with wit's own column of that name). A name
 * that itself contains ':' cannot be renamed; the last ':' splits.
 */
export function extraColumnSpec(entry: string): { source: string; name: string } {
  const i = entry.lastIndexOf(':');
  if (i <= 0 || i === entry.length - 1) return { source: entry, name: entry };
  return { source: entry.slice(0, i), name: entry.slice(i + 1) };
}

/**
 * The candidate of one url-list row (`get` reads a column by name); null when the row is bad, or
 * with `keepRefused` the row as given with `refused` set (see ListOptions).
 */
export function listCandidate(get: (column: string) => unknown, input: string, where: string, opts: ListOptions): Candidate | null {
  const caption = opts.captionColumn ? get(opts.captionColumn) : '';
  let refused: Candidate['refused'];
  const onBad = opts.keepRefused ? (reason: string, detail: string) => { refused = { reason, detail }; } : opts.onBadItem;
  let c = toCandidate(get(opts.urlColumn), caption, input, where, onBad, undefined, opts.allowEmptyCaption);
  if (!c && refused) c = { url: rawText(get(opts.urlColumn)), caption: rawText(caption), source: input, refused };
  if (!c) return null;
  const extra: Record<string, unknown> = {};
  for (const col of opts.extraColumns ?? []) {
    const { source, name } = extraColumnSpec(col);
    extra[name] = get(source) ?? null;
  }
  c.row = { extra };
  if (opts.hashColumn) {
    const h = get(opts.hashColumn);
    if (typeof h === 'string' && h.trim()) c.hash = h.trim().toLowerCase();
  }
  return c;
}

/** A refused row's field as text ('' for null or missing). */
function rawText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v !== 'object') return String(v);
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x)) ?? '';
  } catch {
    return String(v);
  }
}

/** Columns a url list must have: url, caption (unless none), pass-through and hash columns. */
export function requiredColumns(opts: ListOptions): string[] {
  const cols = [opts.urlColumn];
  if (opts.captionColumn) cols.push(opts.captionColumn);
  const extras = (opts.extraColumns ?? []).map((c) => extraColumnSpec(c).source);
  for (const c of [...extras, ...(opts.hashColumn ? [opts.hashColumn] : [])]) if (!cols.includes(c)) cols.push(c);
  return cols;
}

/**
 * The list options for a list with columns `present`: without queries (`allowEmptyCaption`), a list
 * with no column of the default caption name (`caption`, no --caption-col given) is read as img2dataset
 * reads one without --caption_col, every row without a caption; a caption column named must exist.
 */
export function columnsFor(present: readonly string[], opts: ListOptions): ListOptions {
  return opts.allowEmptyCaption && !opts.captionGiven && !present.includes(opts.captionColumn) ? { ...opts, captionColumn: '' } : opts;
}

/** Throws InputError naming the first column of `opts` that `present` lacks, and the columns present. */
export function checkColumns(input: string, kind: string, present: readonly string[], opts: ListOptions): void {
  const have = new Set(present);
  for (const col of requiredColumns(columnsFor(present, opts))) {
    if (have.has(col)) continue;
    const role = col === opts.urlColumn ? 'url column (--url-col)' : col === opts.captionColumn ? 'caption column (--caption-col)'
      : col === opts.hashColumn ? 'hash column (--verify-hash-col)' : 'column (--save-additional-columns)';
    const shown = present.slice(0, 30).join(', ') + (present.length > 30 ? `, … (${present.length} in all)` : '');
    throw new InputError('crawl', input, `${kind} has no ${role} "${col}" (columns: ${shown || 'none'})`);
  }
}

/** Candidates of a plain text list: one url a line, no caption (blank lines skipped). */
export async function* readTxt(input: string, bytes: AsyncIterable<Buffer>, opts: ListOptions): AsyncGenerator<Candidate> {
  for await (const line of splitLines(bytes, MAX_RECORD_CHARS)) {
    const where = `${input}:${line.no}`;
    if (line.tooLong) {
      opts.onBadItem?.('bad_record', `${where}: line longer than ${MAX_RECORD_CHARS} bytes`);
      continue;
    }
    const text = (line.no === 1 ? line.text.replace(/^\ufeff/, '') : line.text).trim();
    if (!text) continue;
    const c = listCandidate((col) => (col === opts.urlColumn ? text : undefined), input, where, { ...opts, captionColumn: '', allowEmptyCaption: true, extraColumns: [], hashColumn: undefined });
    if (c) yield c;
  }
}

/**
 * Candidates of a JSON Lines url list, one object a line with `urlColumn` and `captionColumn`
 * fields. Unparsable lines and lines that are not objects count as bad_record; bad urls and
 * empty captions as bad_url / empty_caption. Throws what reading the bytes throws.
 */
export async function* readJsonl(input: string, bytes: AsyncIterable<Buffer>, opts: ListOptions): AsyncGenerator<Candidate> {
  for await (const line of splitLines(bytes, MAX_RECORD_CHARS)) {
    const where = `${input}:${line.no}`;
    if (line.tooLong) {
      opts.onBadItem?.('bad_record', `${where}: line longer than ${MAX_RECORD_CHARS} bytes`);
      continue;
    }
    const text = line.no === 1 && line.text.charCodeAt(0) === 0xfeff ? line.text.slice(1) : line.text;
    if (!text.trim()) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      opts.onBadItem?.('bad_record', `${where}: invalid JSON (${(err as Error).message})`);
      continue;
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      opts.onBadItem?.('bad_record', `${where}: not a JSON object`);
      continue;
    }
    const rec = obj as Record<string, unknown>;
    const c = listCandidate((col) => rec[col], input, where, opts);
    if (c) yield c;
  }
}

/** A parsed CSV record: its fields and the line it starts on. */
export interface CsvRecord {
  fields: string[];
  line: number;
  /** Set when the record was longer than the limit (fields are then empty). */
  tooLong?: boolean;
  /**
   * Set when the input ended inside a quoted field: the record runs from `line` to this last line
   * and is not a row (its fields would merge every row after the quote into one value).
   */
  unterminatedTo?: number;
}

/**
 * Incremental RFC 4180 parser: feed text chunks, get complete records. Quotes only open a quoted
 * field at its start; `""` inside one is a quote; CR LF, LF and CR end records outside quotes. A
 * record over `maxChars` is reported once as `tooLong` and skipped up to the next line break, so an
 * unbalanced quote costs at most `maxChars` of input, not the rest of the file.
 */
export class CsvParser {
  private readonly delim: number;
  private readonly maxChars: number;
  private fields: string[] = [];
  private field = '';
  private inQuotes = false;
  private quoted = false;
  private afterQuote = false;
  private recordChars = 0;
  private skipping = false;
  private line = 1;
  private recordLine = 1;
  private lastWasCR = false;
  private fieldStarted = false;

  constructor(delimiter: string, maxChars = MAX_RECORD_CHARS) {
    this.delim = delimiter.charCodeAt(0);
    this.maxChars = maxChars;
  }

  /**
   * Records completed by `text`. One character-level state machine (RFC 4180 quotes, CR/LF, the
   * record limit) kept in one loop on purpose: it runs per character over multi-GB lists, and
   * splitting it per state would add a call per character (docs/ARCHITECTURE.md, "Shape").
   */
  push(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (this.lastWasCR) {
        this.lastWasCR = false;
        if (c === 0x0a) {
          i++;
          continue;
        }
      }
      if (this.skipping) {
        if (c === 0x0a || c === 0x0d) {
          this.skipping = false;
          this.lastWasCR = c === 0x0d;
          this.line++;
          this.reset();
        }
        i++;
        continue;
      }
      if (this.inQuotes) {
        // Fast path: copy up to the next quote.
        const q = text.indexOf('"', i);
        // Never copy past the record limit, so an unbalanced quote is caught where it overflows.
        const end = Math.min(q < 0 ? n : q, i + this.maxChars - this.recordChars + 1);
        if (end > i) {
          const piece = text.slice(i, end);
          for (let k = 0; k < piece.length; k++) if (piece.charCodeAt(k) === 0x0a) this.line++;
          this.field += piece;
          this.recordChars += piece.length;
          i = end;
          if (this.overflow(out)) continue;
          if (end !== q) continue;
        }
        // At a quote: closing, or the first of an escaped pair (decided by the next char).
        i++;
        this.inQuotes = false;
        this.afterQuote = true;
        continue;
      }
      if (this.afterQuote) {
        this.afterQuote = false;
        if (c === 0x22) {
          this.field += '"';
          this.inQuotes = true;
          this.recordChars++;
          i++;
          continue;
        }
      }
      if (c === this.delim) {
        this.endField();
        i++;
        continue;
      }
      if (c === 0x0a || c === 0x0d) {
        this.lastWasCR = c === 0x0d;
        this.endField();
        const rec: CsvRecord = { fields: this.fields, line: this.recordLine };
        this.line++;
        this.fields = [];
        this.recordChars = 0;
        this.recordLine = this.line;
        out.push(rec);
        i++;
        continue;
      }
      if (c === 0x22 && !this.fieldStarted) {
        this.inQuotes = true;
        this.quoted = true;
        this.fieldStarted = true;
        i++;
        continue;
      }
      // Unquoted run: copy up to the next special character.
      let j = i;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === this.delim || d === 0x0a || d === 0x0d) break;
        j++;
      }
      this.field += text.slice(i, j);
      this.recordChars += j - i;
      this.fieldStarted = true;
      i = j;
      this.overflow(out);
    }
    return out;
  }

  /**
   * The last record when the input does not end with a line break. An input that ends inside a
   * quoted field gives a record marked `unterminatedTo` (Python's csv in strict mode raises
   * "unexpected end of data" there; a lenient reader would merge every later row into one field).
   */
  end(): CsvRecord[] {
    if (this.skipping) return [];
    if (this.inQuotes) {
      const lastLine = this.line - (this.field.endsWith('\n') ? 1 : 0);
      const rec = { fields: [], line: this.recordLine, unterminatedTo: Math.max(this.recordLine, lastLine) };
      this.reset();
      return [rec];
    }
    if (this.fieldStarted || this.fields.length > 0) {
      this.endField();
      const rec = { fields: this.fields, line: this.recordLine };
      this.fields = [];
      return [rec];
    }
    return [];
  }

  private endField(): void {
    this.fields.push(this.field);
    this.field = '';
    this.quoted = false;
    this.inQuotes = false;
    this.afterQuote = false;
    this.fieldStarted = false;
  }

  private reset(): void {
    this.fields = [];
    this.field = '';
    this.quoted = false;
    this.inQuotes = false;
    this.afterQuote = false;
    this.fieldStarted = false;
    this.recordChars = 0;
    this.recordLine = this.line;
  }

  private overflow(out: CsvRecord[]): boolean {
    if (this.recordChars <= this.maxChars) return false;
    out.push({ fields: [], line: this.recordLine, tooLong: true });
    this.reset();
    this.skipping = true;
    return true;
  }
}

/** Column names of a CSV/TSV header record (BOM and surrounding spaces removed). */
export function csvHeader(rec: CsvRecord): string[] {
  return rec.fields.map((f, i) => (i === 0 ? f.replace(/^\ufeff/, '') : f).trim());
}

/**
 * Candidates of a CSV or TSV url list with a header row naming `urlColumn` and `captionColumn`.
 * Throws InputError naming the file when the header lacks a column; records with too few fields
 * count as bad_record, bad urls and empty captions as bad_url / empty_caption.
 */
export async function* readDelimited(
  input: string,
  bytes: AsyncIterable<Buffer>,
  delimiter: ',' | '\t',
  opts: ListOptions,
): AsyncGenerator<Candidate> {
  const parser = new CsvParser(delimiter);
  const decoder = new StringDecoder('utf8');
  const index = new Map<string, number>();
  let lastIdx = 0;
  let header: string[] | null = null;
  const handle = function* (recs: CsvRecord[]): Generator<Candidate> {
    for (const rec of recs) {
      const where = `${input}:${rec.line}`;
      if (rec.tooLong) {
        opts.onBadItem?.('bad_record', `${where}: record longer than ${MAX_RECORD_CHARS} characters`);
        continue;
      }
      if (rec.unterminatedTo !== undefined) {
        // every line the open quote swallowed is a row lost: one bad_record each, never one merged caption
        const lines = rec.unterminatedTo - rec.line + 1;
        const detail = `${where}: quoted field never closed (the file ends inside it): lines ${rec.line}-${rec.unterminatedTo} are unreadable`;
        for (let k = 0; k < lines; k++) opts.onBadItem?.('bad_record', detail);
        if (header === null) throw new InputError('crawl', input, `header row: quoted field never closed (the file ends inside it)`);
        continue;
      }
      if (header === null) {
        header = csvHeader(rec);
        checkColumns(input, `${delimiter === ',' ? 'CSV' : 'TSV'} header`, header, opts);
        opts = columnsFor(header, opts);
        for (const col of requiredColumns(opts)) index.set(col, header.indexOf(col));
        lastIdx = Math.max(...index.values());
        continue;
      }
      if (rec.fields.length === 1 && rec.fields[0] === '') continue; // blank line
      if (rec.fields.length <= lastIdx) {
        opts.onBadItem?.('bad_record', `${where}: ${rec.fields.length} fields, header has ${header.length}`);
        continue;
      }
      const fields = rec.fields;
      const c = listCandidate((col) => fields[index.get(col) ?? -1], input, where, opts);
      if (c) yield c;
    }
  };
  for await (const chunk of bytes) {
    yield* handle(parser.push(decoder.write(chunk)));
  }
  yield* handle(parser.push(decoder.end()));
  yield* handle(parser.end());
  if (header === null) throw new InputError('crawl', input, 'empty url list (no header row)');
}
