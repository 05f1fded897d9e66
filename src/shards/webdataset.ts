/**
 * WebDataset shards, img2dataset's layout, which open_clip reads (`--dataset-type webdataset`):
 * `NNNNN.tar` holding per pair, consecutive, `KEY.jpg` (or `.webp`/`.png`), `KEY.txt` (the
 * caption) and `KEY.json` (every other column); beside it `NNNNN.parquet`, the shard's metadata
 * (every column but the image, with `status` and `error_message`) and `NNNNN_stats.json`.
 * See README.md, "The shard format".
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { IMAGE_FORMATS, jsonSafe, successRow, type ImageFormat, type PairRecord, type StatusRow } from './record.js';
import { TarWriter, TarFormatError, TarMemberTooLargeError, readTar, splitKey } from './tar.js';
import { metadataPathFor, statsPathFor, writeJsonAtomic, writeStatusFile, type ShardSink, type ShardStats, type ShardWriterOptions } from './writer.js';
import { InputError, WitError } from '../util/errors.js';

/** The `.json` member of a pair: every column but the image and the caption's own file. */
export function sampleJson(rec: PairRecord, withSimilarity: boolean): string {
  const obj: Record<string, unknown> = {
    key: rec.key,
    url: rec.url,
    page_url: rec.page_url ?? null,
    caption: rec.caption,
    queries: rec.queries,
    width: rec.width,
    height: rec.height,
    original_width: rec.original_width,
    original_height: rec.original_height,
    sha256: rec.sha256,
  };
  if (withSimilarity) obj.similarity = rec.similarity ?? null;
  if (rec.extra) for (const [k, v] of Object.entries(rec.extra)) if (!(k in obj)) obj[k] = v ?? null;
  return JSON.stringify(obj, jsonSafe);
}

/**
 * Streams pairs into `NNNNN.tar` under a hidden temporary name, renamed when complete; then the
 * metadata file `NNNNN.parquet` (kept pairs, or every url-list row with its status), then
 * `NNNNN_stats.json`. A killed writer leaves only temporary files; memory holds the image-less
 * records of the shard for its metadata file (a few hundred bytes a pair).
 */
export class WebDatasetShardWriter implements ShardSink {
  private rows: PairRecord[] = [];
  private written = 0;
  private imageBytes = 0;
  private readonly started = new Date();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly tmpPath: string,
    private readonly tar: TarWriter,
    private readonly opts: ShardWriterOptions,
  ) {}

  /** Opens `path` (must end in .tar; its directory is created). Throws WitError if it cannot. */
  static async open(path: string, opts: ShardWriterOptions = {}): Promise<WebDatasetShardWriter> {
    if (!path.endsWith('.tar')) throw new WitError('shards', 'WebDataset shard name must end in .tar', { file: path });
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
    try {
      return new WebDatasetShardWriter(path, tmp, await TarWriter.create(tmp), opts);
    } catch (err) {
      throw new WitError('shards', `cannot create shard: ${(err as Error).message}`, { file: path, cause: err });
    }
  }

  get count(): number {
    return this.written;
  }

  async write(rec: PairRecord): Promise<void> {
    if (this.closed) throw new WitError('shards', 'write after close', { file: this.path });
    const fmt = this.opts.imageFormat ?? 'jpg';
    await this.tar.add(`${rec.key}.${fmt}`, rec.image);
    await this.tar.add(`${rec.key}.txt`, Buffer.from(rec.caption, 'utf8'));
    await this.tar.add(`${rec.key}.json`, Buffer.from(sampleJson(rec, this.opts.withSimilarity ?? false), 'utf8'));
    this.imageBytes += rec.image.byteLength;
    this.written++;
    this.rows.push({ ...rec, image: new Uint8Array(0) });
  }

  async close(extraStats: Record<string, unknown> = {}, status?: readonly StatusRow[]): Promise<ShardStats> {
    if (this.closed) throw new WitError('shards', 'closed twice', { file: this.path });
    this.closed = true;
    const bytes = await this.tar.finish();
    await rename(this.tmpPath, this.path);
    await writeStatusFile(metadataPathFor(this.path), status ?? this.rows.map(successRow), this.opts);
    const end = new Date();
    const stats: ShardStats = {
      shard: basename(this.path),
      ...extraStats,
      count: this.written,
      bytes,
      image_bytes: this.imageBytes,
      start_time: this.started.toISOString(),
      end_time: end.toISOString(),
      duration: (end.getTime() - this.started.getTime()) / 1000,
    };
    this.rows = [];
    await writeJsonAtomic(statsPathFor(this.path), stats);
    return stats;
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tar.abort();
    await rm(this.tmpPath, { force: true });
  }
}

const IMAGE_EXTS: ReadonlySet<string> = new Set([...IMAGE_FORMATS, 'jpeg']);
const KNOWN_JSON = new Set(['key', 'url', 'page_url', 'caption', 'queries', 'width', 'height', 'original_width', 'original_height', 'sha256', 'similarity', 'status', 'error_message']);

/** A pair's members gathered from the tar (by WebDataset's key rule). */
interface Sample {
  key: string;
  files: Map<string, Buffer | undefined>;
}

function toRecord(s: Sample): PairRecord {
  let image: Buffer | undefined;
  for (const [ext, data] of s.files) if (IMAGE_EXTS.has(ext.toLowerCase())) { image = data; break; }
  const jsonBytes = s.files.get('json');
  let meta: Record<string, unknown> = {};
  if (jsonBytes) {
    try {
      const parsed: unknown = JSON.parse(jsonBytes.toString('utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) meta = parsed as Record<string, unknown>;
    } catch {
      meta = {};
    }
  }
  const txt = s.files.get('txt');
  const extra: Record<string, unknown> = {};
  let hasExtra = false;
  for (const [k, v] of Object.entries(meta)) if (!KNOWN_JSON.has(k)) { extra[k] = v; hasExtra = true; }
  const num = (v: unknown) => (typeof v === 'number' ? v : Number(v ?? 0) || 0);
  const rec: PairRecord = {
    key: typeof meta.key === 'string' ? meta.key : basename(s.key),
    url: String(meta.url ?? ''),
    page_url: typeof meta.page_url === 'string' ? meta.page_url : null,
    caption: txt ? txt.toString('utf8') : String(meta.caption ?? ''),
    queries: Array.isArray(meta.queries) ? meta.queries.map(String) : [],
    image: image ?? new Uint8Array(0),
    width: num(meta.width),
    height: num(meta.height),
    original_width: num(meta.original_width),
    original_height: num(meta.original_height),
    sha256: String(meta.sha256 ?? ''),
    similarity: typeof meta.similarity === 'number' ? meta.similarity : null,
  };
  if (hasExtra) rec.extra = extra;
  return rec;
}

function wrapTarError(file: string, err: unknown): never {
  if (err instanceof TarMemberTooLargeError) throw new InputError('shards', file, err.message, { cause: err });
  if (err instanceof TarFormatError) throw new InputError('shards', file, `not a readable WebDataset shard (truncated or corrupt?): ${err.message}`, { cause: err });
  throw err;
}

/**
 * Streams the pairs of one WebDataset tar: members grouped by key as WebDataset does (consecutive
 * members sharing the name up to the first dot), in file order. With `images: false` the image
 * members are skipped unread. Throws InputError naming the file when the tar is truncated or corrupt.
 */
export async function* readWebDatasetFile(file: string, opts: { images?: boolean } = {}): AsyncGenerator<PairRecord> {
  const wantImages = opts.images !== false;
  const want = (name: string) => wantImages || !IMAGE_EXTS.has(splitKey(name).ext.toLowerCase());
  let cur: Sample | undefined;
  try {
    for await (const m of readTar(file, want)) {
      const { key, ext } = splitKey(m.name);
      if (!cur || cur.key !== key) {
        if (cur) yield toRecord(cur);
        cur = { key, files: new Map() };
      }
      cur.files.set(ext, m.data);
    }
  } catch (err) {
    wrapTarError(file, err);
  }
  if (cur) yield toRecord(cur);
}

/** What a WebDataset shard holds, from its headers and first `.json` (image bytes never read). */
export async function webDatasetInfo(file: string): Promise<{ rows: number; columns: string[]; imageFormat?: ImageFormat }> {
  let rows = 0;
  let last: string | undefined;
  let imageFormat: ImageFormat | undefined;
  let columns: string[] | undefined;
  try {
    for await (const m of readTar(file, (name) => columns === undefined && name.endsWith('.json'))) {
      const { key, ext } = splitKey(m.name);
      if (key !== last) { rows++; last = key; }
      const e = ext.toLowerCase();
      if (!imageFormat && IMAGE_EXTS.has(e)) imageFormat = e === 'jpeg' ? 'jpg' : (e as ImageFormat);
      if (m.data && columns === undefined) {
        try {
          columns = Object.keys(JSON.parse(m.data.toString('utf8')) as object);
        } catch {
          columns = [];
        }
      }
    }
  } catch (err) {
    wrapTarError(file, err);
  }
  const cols = new Set(columns ?? []);
  cols.add('key');
  cols.add('caption');
  if (imageFormat) cols.add(imageFormat);
  return { rows, columns: [...cols], imageFormat };
}
