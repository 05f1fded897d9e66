/**
 * WebDataset shards, img2dataset's layout, which open_clip reads (`--dataset-type webdataset`):
 * `NNNNN.tar` holding per pair, consecutive, `KEY.jpg` (or `.webp`/`.png`), `KEY.txt` (the
 * caption) and `KEY.json` (every other column); beside it `NNNNN.parquet`, the shard's metadata
 * (every column but the image, with `status` and `error_message`) and `NNNNN_stats.json`.
 * See README.md, "The shard format".
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { IMAGE_FORMATS, jsonSafe, successRow, type ImageFormat, type PairRecord, type StatusRow } from './record.js';
import { TarWriter, TarFormatError, TarMemberTooLargeError, readTar, splitKey, type TarEnd } from './tar.js';
import { finishedShardStats, metadataPathFor, shardCreationError, statsPathFor, writeJsonAtomic, writeStatusFile, type ShardSink, type ShardStats, type ShardWriterOptions } from './writer.js';
import { InputError, WitError } from '../util/errors.js';
import { tempOwner, testHook } from '../util/output.js';

/** Characters a member key keeps as they are; every other one is percent-encoded. */
const KEY_SAFE = /^[A-Za-z0-9_-]$/;
/** Longest member key: ustar names hold 100 bytes, and the longest extension is `.webp` / `.json`. */
const MAX_MEMBER_KEY = 80;

/**
 * The member key a pair's key is written under in a tar (docs/ARCHITECTURE.md, "Shards"): the key
 * itself when it is made of letters, digits, `_` and `-` only (every key a crawl makes), else its
 * UTF-8 bytes outside that set percent-encoded (`photo.v0.1` -> `photo%2Ev0%2E1`, `../x` ->
 * `%2E%2E%2Fx`), so that no member name holds a `/`, a `..`, a control character or a second dot
 * (WebDataset splits a member name at its first dot: `photo.v0.1.jpg` would be key `photo`). Over
 * 80 characters, its first 56 and `%~` and 22 hex digits of its SHA-256. Deterministic and
 * collision-free: a key that needs no encoding holds no `%`, percent-encoding is one-to-one, and
 * `%~` never occurs in it. The original key stays in the pair's `.json` (`key`), which readers use.
 */
export function webDatasetKey(key: string): string {
  if (key.length && key.length <= MAX_MEMBER_KEY && [...key].every((c) => KEY_SAFE.test(c))) return key;
  if (!key.length) return '%';
  let out = '';
  for (const b of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && KEY_SAFE.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length <= MAX_MEMBER_KEY) return out;
  let head = out.slice(0, 56);
  const cut = head.lastIndexOf('%');
  if (cut > 53) head = head.slice(0, cut); // never split an escape
  return `${head}%~${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 22)}`;
}

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
 * Streams pairs into `NNNNN.tar` under a hidden temporary name; when complete, writes the metadata
 * file `NNNNN.parquet` (kept pairs, or every url-list row with its status), then `NNNNN_stats.json`,
 * then renames the tar to its final name. A killed writer never leaves a tar without its stats; memory holds the image-less
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
    const tmp = join(dirname(path), `.${basename(path)}.tmp-${tempOwner()}`);
    try {
      return new WebDatasetShardWriter(path, tmp, await TarWriter.create(tmp), opts);
    } catch (err) {
      throw shardCreationError(err, path);
    }
  }

  get count(): number {
    return this.written;
  }

  async write(rec: PairRecord): Promise<void> {
    if (this.closed) throw new WitError('shards', 'write after close', { file: this.path });
    const fmt = this.opts.imageFormat ?? 'jpg';
    const key = webDatasetKey(rec.key);
    await this.tar.add(`${key}.${fmt}`, rec.image);
    await this.tar.add(`${key}.txt`, Buffer.from(rec.caption, 'utf8'));
    await this.tar.add(`${key}.json`, Buffer.from(sampleJson(rec, this.opts.withSimilarity ?? false), 'utf8'));
    this.imageBytes += rec.image.byteLength;
    this.written++;
    this.rows.push({ ...rec, image: new Uint8Array(0) });
  }

  async close(extraStats: Record<string, unknown> = {}, status?: readonly StatusRow[]): Promise<ShardStats> {
    if (this.closed) throw new WitError('shards', 'closed twice', { file: this.path });
    this.closed = true;
    const bytes = await this.tar.finish();
    await writeStatusFile(metadataPathFor(this.path), status ?? this.rows.map(successRow), this.opts);
    const stats = finishedShardStats(this.path, this.started, extraStats, { count: this.written, bytes: bytes, image_bytes: this.imageBytes });
    this.rows = [];
    // Metadata and stats first, the tar's final name last: a stop (kill, full disk) never leaves a
    // tar under its final name without its completion record (docs/ARCHITECTURE.md, "Crash safety").
    await writeJsonAtomic(statsPathFor(this.path), stats);
    testHook('shards:stats-written');
    await rename(this.tmpPath, this.path);
    return stats;
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tar.abort();
    await rm(this.tmpPath, { force: true });
  }
}

/** Extensions of image members (any case), in a tar or a files folder. */
export const IMAGE_EXTS: ReadonlySet<string> = new Set([...IMAGE_FORMATS, 'jpeg']);
const KNOWN_JSON = new Set(['key', 'url', 'page_url', 'caption', 'queries', 'width', 'height', 'original_width', 'original_height', 'sha256', 'similarity', 'status', 'error_message']);

/** A pair's members gathered from a tar or a files folder (by WebDataset's key rule): extension -> bytes. */
export interface Sample {
  key: string;
  files: Map<string, Buffer | undefined>;
}

/**
 * The record of a sample, the one conversion of both member-based formats (WebDataset tars and
 * img2dataset's files folders): the image member, the `.txt` caption, the `.json` columns.
 */
export function sampleToRecord(s: Sample): PairRecord {
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
 * Reasons members do not make a pair (counted, never dropped silently); `irregular_member` is a
 * files folder's entry that is not a regular file (a symbolic link, a FIFO, a folder), never followed.
 */
export type TarBadItem = 'unpaired_member' | 'duplicate_member' | 'irregular_member';

/** Why a sample is not a pair (no image, or neither caption nor json), or undefined when it is one. */
export function unpairedReason(s: Sample): string | undefined {
  const exts = [...s.files.keys()];
  const image = exts.some((e) => IMAGE_EXTS.has(e.toLowerCase()));
  const caption = s.files.has('txt') || s.files.has('json');
  if (image && caption) return undefined;
  const members = exts.map((e) => `${s.key}.${e}`).join(', ');
  return `${members}: ${image ? 'an image without a caption (.txt or .json)' : 'no image member (.jpg, .webp, .png)'} under this key`;
}

/**
 * Streams the pairs of one WebDataset tar: members grouped by key as WebDataset does (consecutive
 * members sharing the name up to the first dot), in file order. With `images: false` the image
 * members are skipped unread. Members that do not make a pair (no image, no caption, a second
 * member of the same kind under one key) are reported to `onBadItem` with a reason and left out.
 * Throws InputError naming the file when the tar is truncated or corrupt.
 */
export async function* readWebDatasetFile(file: string, opts: { images?: boolean; onBadItem?: (reason: TarBadItem, detail: string) => void } = {}): AsyncGenerator<PairRecord> {
  const wantImages = opts.images !== false;
  const want = (name: string) => wantImages || !IMAGE_EXTS.has(splitKey(name).ext.toLowerCase());
  let cur: Sample | undefined;
  const end: TarEnd = {};
  const finish = (s: Sample): PairRecord | undefined => {
    const why = unpairedReason(s);
    if (!why) return sampleToRecord(s);
    opts.onBadItem?.('unpaired_member', `${file}: ${why}`);
    return undefined;
  };
  try {
    for await (const m of readTar(file, want, undefined, end)) {
      const { key, ext } = splitKey(m.name);
      if (!cur || cur.key !== key) {
        const done = cur && finish(cur);
        if (done) yield done;
        cur = { key, files: new Map() };
      }
      if (cur.files.has(ext)) {
        opts.onBadItem?.('duplicate_member', `${file}: ${m.name}: a second member of this name, left out`);
        continue;
      }
      cur.files.set(ext, m.data);
    }
  } catch (err) {
    wrapTarError(file, err);
  }
  // A file that stops after a member, without the end-of-archive blocks every tar writer adds, in
  // the middle of a sample, was cut: truncation (exit 2), not an unpaired member to count.
  if (cur && end.withoutMarker && unpairedReason(cur)) {
    throw new InputError('shards', file, `not a readable WebDataset shard (truncated or corrupt?): the tar ends inside sample ${JSON.stringify(cur.key)}, without its end-of-archive blocks (truncated?)`);
  }
  const last = cur && finish(cur);
  if (last) yield last;
}

/** What a WebDataset shard holds, from its headers and first `.json` (image bytes never read). */
export async function webDatasetInfo(file: string): Promise<{ rows: number; columns: string[]; imageFormat?: ImageFormat }> {
  let rows = 0;
  let last: string | undefined;
  let imageFormat: ImageFormat | undefined;
  let columns: string[] | undefined;
  let sample: Sample | undefined;
  try {
    for await (const m of readTar(file, (name) => columns === undefined && name.endsWith('.json'))) {
      const { key, ext } = splitKey(m.name);
      if (key !== last) {
        if (sample && !unpairedReason(sample)) rows++;
        sample = { key, files: new Map() };
        last = key;
      }
      sample!.files.set(ext, undefined);
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
  if (sample && !unpairedReason(sample)) rows++;
  const cols = new Set(columns ?? []);
  cols.add('key');
  cols.add('caption');
  if (imageFormat) cols.add(imageFormat);
  return { rows, columns: [...cols], imageFormat };
}
