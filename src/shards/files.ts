/**
 * img2dataset's `files` layout, the third shard format (README.md, "The shard format"): per shard
 * a folder `NNNNN/` holding per pair `KEY.jpg` (or `.webp`/`.png`), `KEY.txt` (the caption) and
 * `KEY.json` (every other column), and beside it `NNNNN.parquet` (the shard's metadata: every
 * column but the image, with `status` and `error_message`, as a WebDataset shard's) and
 * `NNNNN_stats.json` (the completion record). Member names and the record of a sample are
 * WebDataset's (src/shards/webdataset.ts): a tar's members, unpacked.
 */
import { open, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { successRow, type ImageFormat, type PairRecord, type StatusRow } from './record.js';
import { splitKey } from './tar.js';
import { IMAGE_EXTS, sampleJson, sampleToRecord, unpairedReason, webDatasetKey, type Sample, type TarBadItem } from './webdataset.js';
import { finishedShardStats, metadataPathFor, shardCreationError, statsPathFor, writeJsonAtomic, writeStatusFile, type ShardSink, type ShardStats, type ShardWriterOptions } from './writer.js';
import { readShardStats } from './manifest.js';
import { InputError, WitError, withPath } from '../util/errors.js';
import { readInputFile } from '../util/input.js';
import { tempOwner, testHook } from '../util/output.js';
import { limitCaption } from '../util/caption.js';

/** Files fsynced at once when a shard closes. */
const SYNC_BATCH = 32;

/**
 * Streams pairs into the folder `NNNNN/` under a hidden temporary name (`.NNNNN.tmp-PID/`, which no
 * reader lists and the temporary sweep removes); when complete, syncs its files, writes the
 * metadata file `NNNNN.parquet`, then `NNNNN_stats.json`, then renames the folder to its final
 * name: the order of the other two writers (docs/ARCHITECTURE.md, "Crash safety"), so a killed
 * writer never leaves a folder under its final name without its completion record. Memory holds
 * the image-less records of the shard for its metadata file, as the WebDataset writer does.
 */
export class FilesShardWriter implements ShardSink {
  private rows: PairRecord[] = [];
  private readonly names: string[] = [];
  private readonly keys = new Set<string>();
  private written = 0;
  private bytes = 0;
  private imageBytes = 0;
  private readonly started = new Date();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly tmpPath: string,
    private readonly opts: ShardWriterOptions,
  ) {}

  /** Opens the folder shard `path` (a name without .tar/.parquet; its parent is created). Throws WitError if it cannot. */
  static async open(path: string, opts: ShardWriterOptions = {}): Promise<FilesShardWriter> {
    if (/\.(tar|parquet)$/.test(path)) throw new WitError('shards', 'a files shard is a folder: its name has no .tar or .parquet', { file: path });
    const tmp = join(dirname(path), `.${basename(path)}.tmp-${tempOwner()}`);
    try {
      await mkdir(dirname(path), { recursive: true });
      await rm(tmp, { recursive: true, force: true }); // an earlier writer of this process, aborted mid-way
      await mkdir(tmp);
    } catch (err) {
      throw shardCreationError(err, path);
    }
    return new FilesShardWriter(path, tmp, opts);
  }

  get count(): number {
    return this.written;
  }

  private async put(name: string, data: Uint8Array): Promise<void> {
    // 'wx': a member is created, never replaced; the names come from webDatasetKey, so none leaves the folder
    const fh = await open(join(this.tmpPath, name), 'wx');
    try {
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
    this.names.push(name);
    this.bytes += data.byteLength;
  }

  async write(rec: PairRecord): Promise<void> {
    if (this.closed) throw new WitError('shards', 'write after close', { file: this.path });
    const key = webDatasetKey(rec.key);
    // a folder holds one file per name: a second pair under one key would replace the first
    if (this.keys.has(key)) throw new WitError('shards', `two pairs under the key ${JSON.stringify(rec.key)}: a files shard holds one file of each name`, { file: this.path });
    this.keys.add(key);
    const fmt = this.opts.imageFormat ?? 'jpg';
    // the pair's three files at once (a file system call each: open, write, close); all settle before
    // an error is thrown, so an abort never races a write still creating a file in the folder
    const done = await Promise.allSettled([
      this.put(`${key}.${fmt}`, rec.image),
      this.put(`${key}.txt`, Buffer.from(rec.caption, 'utf8')),
      this.put(`${key}.json`, Buffer.from(sampleJson(rec, this.opts.withSimilarity ?? false), 'utf8')),
    ]);
    for (const d of done) if (d.status === 'rejected') throw d.reason;
    this.imageBytes += rec.image.byteLength;
    this.written++;
    this.rows.push({ ...rec, image: new Uint8Array(0) });
  }

  /** Syncs every member and the folder itself, a batch at a time (a power loss after the rename finds whole files). */
  private async sync(): Promise<void> {
    for (let i = 0; i < this.names.length; i += SYNC_BATCH) {
      await Promise.all(this.names.slice(i, i + SYNC_BATCH).map(async (n) => {
        const fh = await open(join(this.tmpPath, n), 'r');
        try {
          await fh.datasync(); // the bytes and what reading them needs (the size): all a reader sees
        } finally {
          await fh.close();
        }
      }));
    }
    const dir = await open(this.tmpPath, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async close(extraStats: Record<string, unknown> = {}, status?: readonly StatusRow[]): Promise<ShardStats> {
    if (this.closed) throw new WitError('shards', 'closed twice', { file: this.path });
    this.closed = true;
    await this.sync();
    await writeStatusFile(metadataPathFor(this.path), status ?? this.rows.map(successRow), this.opts);
    const stats = finishedShardStats(this.path, this.started, extraStats, { count: this.written, bytes: this.bytes, image_bytes: this.imageBytes });
    this.rows = [];
    // Metadata and stats first, the folder's final name last (docs/ARCHITECTURE.md, "Crash safety").
    await writeJsonAtomic(statsPathFor(this.path), stats);
    testHook('shards:stats-written');
    // A folder is not replaced by rename: one already under the final name (a shard of an earlier,
    // stopped writer of another tool) is moved aside first, then removed.
    const old = join(dirname(this.path), `.${basename(this.path)}.old-${tempOwner()}`);
    const there = await stat(this.path).then(() => true, () => false);
    if (there) await rename(this.path, old);
    await rename(this.tmpPath, this.path);
    if (there) await rm(old, { recursive: true, force: true });
    return stats;
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rows = [];
    await rm(this.tmpPath, { recursive: true, force: true });
  }
}

/** A files shard's members by key: key -> extension -> entry name; and the entries that are not regular files. */
interface FolderListing {
  samples: Map<string, Map<string, string>>;
  irregular: string[];
}

/** Lists a shard folder: dot-files ignored, regular files grouped by key (WebDataset's rule), the rest set aside. */
async function listFolder(dir: string): Promise<FolderListing> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    throw new InputError('shards', dir, code === 'ENOTDIR' ? 'not a files shard (a folder of KEY.jpg/.txt/.json)' : code === 'ENOENT' ? 'no such folder' : `cannot list the shard folder: ${(err as Error).message}`, { cause: err });
  }
  const samples = new Map<string, Map<string, string>>();
  const irregular: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    // the entry's own type (never followed): a link, a FIFO or a folder is no member
    if (!e.isFile()) {
      irregular.push(e.name);
      continue;
    }
    const { key, ext } = splitKey(e.name);
    let m = samples.get(key);
    if (!m) samples.set(key, (m = new Map()));
    m.set(ext, e.name);
  }
  return { samples, irregular };
}

/** Keys in sorted order (code-unit order, the same on every machine). */
function sortedKeys(l: FolderListing): string[] {
  return [...l.samples.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A key's members as a sample: the first image member in extension order is the image, a second
 * one is reported as `duplicate_member` and left out (a folder cannot hold one name twice, but
 * `KEY.jpg` beside `KEY.png` is the same conflict a tar's repeated member is).
 */
function sampleOf(dir: string, key: string, members: Map<string, string>, onBadItem?: (reason: TarBadItem, detail: string) => void): { sample: Sample; image?: string } {
  const sample: Sample = { key, files: new Map() };
  let image: string | undefined;
  for (const ext of [...members.keys()].sort()) {
    const name = members.get(ext)!;
    if (IMAGE_EXTS.has(ext.toLowerCase())) {
      if (image !== undefined) {
        onBadItem?.('duplicate_member', `${dir}: ${name}: a second image under the key of ${image}, left out`);
        continue;
      }
      image = name;
    }
    sample.files.set(ext, undefined);
  }
  return { sample, image };
}

/** Reads one member through the bounded input helpers: a regular file, not followed if a link, within the tar-member limit. */
function readMember(dir: string, name: string): Promise<Buffer> {
  return readInputFile(join(dir, name), { kind: 'tar-member', stage: 'shards', noFollow: true });
}

/**
 * Streams the pairs of one files shard folder: members grouped by key (the name up to the first
 * dot, as WebDataset does), keys in sorted order, each sample converted as a tar's is. Entries that
 * are not regular files (links, FIFOs, folders) are never followed or read: each is reported to
 * `onBadItem` as `irregular_member`; members that do not make a pair as `unpaired_member`. With
 * `images: false` image members are not read. Throws InputError naming the member when one is over
 * the `tar-member` limit or cannot be read.
 */
export async function* readFilesShard(dir: string, opts: { images?: boolean; onBadItem?: (reason: TarBadItem, detail: string) => void } = {}): AsyncGenerator<PairRecord> {
  for await (const { record } of readFilesShardEntries(dir, opts)) yield record;
}

/** readFilesShard's pairs with the name of each one's image member. */
export async function* readFilesShardEntries(dir: string, opts: { images?: boolean; onBadItem?: (reason: TarBadItem, detail: string) => void } = {}): AsyncGenerator<{ record: PairRecord; image: string }> {
  const listing = await listFolder(dir);
  for (const name of listing.irregular.sort()) opts.onBadItem?.('irregular_member', `${dir}: ${name}: not a regular file (a link, FIFO or folder), not read`);
  for (const key of sortedKeys(listing)) {
    const members = listing.samples.get(key)!;
    const { sample, image } = sampleOf(dir, key, members, opts.onBadItem);
    const why = unpairedReason(sample);
    if (why || !image) {
      opts.onBadItem?.('unpaired_member', `${dir}: ${why}`);
      continue;
    }
    // the sample's members at once (at most three: memory stays one sample, as a tar's reader)
    const wanted = [...sample.files.keys()].filter((ext) => (IMAGE_EXTS.has(ext.toLowerCase()) ? members.get(ext) === image && opts.images !== false : ext === 'txt' || ext === 'json'));
    const bytes = await Promise.all(wanted.map((ext) => readMember(dir, members.get(ext)!)));
    wanted.forEach((ext, i) => sample.files.set(ext, bytes[i]));
    yield { record: sampleToRecord(sample), image };
  }
}

/** A CSV field as pandas reads it (quoted when it holds a comma, a quote or a line break). */
function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * Captions pandas reads as missing (read_csv's default NA strings, after its whitespace rules): open_clip
 * would train on the text "nan" for them, so their pairs are left out of the CSV.
 */
const PANDAS_NA = new Set(['', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN', '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null']);

/** Name of the open_clip CSV a files run gets beside its shards. */
export const OPENCLIP_CSV = 'open_clip_train.csv';

/**
 * Writes open_clip's `--dataset-type csv` file for files shards (`filepath,title`: the absolute path
 * of each pair's image member and its caption, in reading order), streamed to a temporary name and
 * renamed. A pair without a caption (or one pandas reads as missing, such as `NA`) is left out: open_clip
 * would train on the text "nan". Resolves to the rows written per shard.
 */
export async function writeOpenClipCsv(path: string, shards: readonly string[]): Promise<number[]> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${tempOwner()}`);
  const fh = await open(tmp, 'w');
  const counts: number[] = [];
  try {
    let buf = 'filepath,title\n';
    for (const shard of shards) {
      let n = 0;
      const abs = resolve(shard);
      for await (const { record, image } of readFilesShardEntries(abs, { images: false })) {
        const caption = limitCaption(record.caption).text;
        if (PANDAS_NA.has(caption.trim())) continue;
        buf += `${csvField(join(abs, image))},${csvField(caption)}\n`;
        n++;
        if (buf.length >= 1 << 20) {
          await fh.write(buf);
          buf = '';
        }
      }
      counts.push(n);
    }
    await fh.write(buf);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw withPath(err, path);
  }
  return counts;
}

/**
 * The image of the `row`-th pair of a files shard (the order readFilesShard yields), reading only
 * that one image; undefined past the end.
 */
export async function filesShardImage(dir: string, row: number): Promise<Uint8Array | undefined> {
  const listing = await listFolder(dir);
  let i = 0;
  for (const key of sortedKeys(listing)) {
    const { sample, image } = sampleOf(dir, key, listing.samples.get(key)!);
    if (unpairedReason(sample) || !image) continue;
    if (i++ === row) return readMember(dir, image);
  }
  return undefined;
}

/** What a files shard holds, from its listing and first `.json` (image bytes never read); rows from its stats when it has them. */
export async function filesShardInfo(dir: string): Promise<{ rows: number; columns: string[]; imageFormat?: ImageFormat }> {
  const listing = await listFolder(dir);
  let rows = 0;
  let imageFormat: ImageFormat | undefined;
  let columns: string[] | undefined;
  for (const key of sortedKeys(listing)) {
    const members = listing.samples.get(key)!;
    const { sample, image } = sampleOf(dir, key, members);
    if (unpairedReason(sample)) continue;
    rows++;
    if (!imageFormat && image) {
      const e = splitKey(image).ext.toLowerCase();
      imageFormat = e === 'jpeg' ? 'jpg' : (e as ImageFormat);
    }
    if (columns === undefined && members.has('json')) {
      try {
        columns = Object.keys(JSON.parse((await readMember(dir, members.get('json')!)).toString('utf8')) as object);
      } catch (err) {
        if (err instanceof InputError) throw err;
        columns = [];
      }
    }
  }
  const stats = await readShardStats(dir);
  const cols = new Set(columns ?? []);
  cols.add('key');
  cols.add('caption');
  if (imageFormat) cols.add(imageFormat);
  return { rows: typeof stats?.count === 'number' ? stats.count : rows, columns: [...cols], imageFormat };
}
