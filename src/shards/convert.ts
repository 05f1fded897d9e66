/**
 * `wit convert`: a run directory of shards from one format to another (Parquet, WebDataset tars,
 * img2dataset's files folders), image bytes copied
 * as stored (never re-encoded), keys, order, pass-through columns, stats, url-list status rows and
 * the manifest carried over. See README.md, "convert".
 */
import { access, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { UsageError } from '../util/errors.js';
import { claimOutput } from '../util/output.js';
import { VERSION } from '../util/version.js';
import { formatDuration, type ProgressSink } from '../util/progress.js';
import { countDistinctImages, listShards, shardFormatOnDisk, readShardExtras, readShardFile, readShardInfo, readStatusRows } from './reader.js';
import { readManifest, readShardStats, writeManifest } from './manifest.js';
import { metadataPathFor, openShardWriter, SHARD_FORMATS, shardBaseName, shardFileName, statusPathFor, statsPathFor, type ShardFormat } from './writer.js';
import { successRow, type StatusRow } from './record.js';
import { openClipCommandFor, openClipForFiles, type OpenClipCommand } from './openclip-command.js';
import type { ShardWriter } from './writer.js';

const STAGE = 'convert';

export const convertSchema = defineOptions({
  shards: { type: 'string', required: true, help: 'run directory (or one shard file) to convert', metavar: 'DIR' },
  to: { type: 'string', required: true, choices: SHARD_FORMATS, flag: 'output-format', aliases: ['to'], help: 'format to write: webdataset (tars + metadata Parquet), parquet, or files (img2dataset\'s folders of KEY.jpg/.txt/.json + metadata Parquet)', metavar: 'FORMAT' },
  out: { type: 'string', required: true, help: 'output directory (a rerun skips shards already converted)', metavar: 'DIR' },
  shardSize: { type: 'int', min: 1, metavar: 'N', help: 're-shard: N pairs per output shard, in input order (default: one output shard per input shard); also webdataset -> webdataset' },
});

export type ConvertOptions = OptionsInput<typeof convertSchema> & { onProgress?: ProgressSink; onLog?: (line: string) => void; signal?: AbortSignal };

/** What a conversion did (snake_case, as every command's summary). */
export interface ConvertSummary {
  out: string;
  from: ShardFormat;
  to: ShardFormat;
  shards: number;
  /** Shards found already converted by an earlier run and skipped. */
  skipped_shards: number;
  pairs: number;
  /** Distinct images (by sha256) among the pairs. */
  distinct_images: number;
  /** Items of the input that are not pairs (a tar member without its image or caption), by reason; left out. */
  bad_items: Record<string, number>;
  image_bytes: number;
  seconds: number;
  /** --shard-size when re-sharding. */
  shard_size?: number;
  /** For WebDataset output: the open_clip command sized for these tars; for files, for the open_clip_train.csv beside them (src/shards/openclip-command.ts). */
  open_clip_command?: string;
  open_clip?: OpenClipCommand;
  /** For files output: what open_clip_train.csv is and the way to tars (open_clip_command is then the csv one). */
  open_clip_note?: string;
}

/** Fields of a stats file the writer recomputes; the rest (the crawl's counts) is carried over. */
const WRITER_STATS = new Set(['shard', 'count', 'bytes', 'image_bytes', 'start_time', 'end_time', 'duration']);

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

/** The url-list status rows of a source shard, when it has any (else undefined). */
async function statusRowsOf(file: string, from: ShardFormat): Promise<StatusRow[] | undefined> {
  const path = from === 'parquet' ? statusPathFor(file) : metadataPathFor(file);
  if (!(await exists(path))) return undefined;
  const { rows } = await readStatusRows(path);
  // WebDataset and files metadata always exists; it is a status list only when it holds more than the pairs
  if (from !== 'parquet' && rows.every((r) => r.status === 'success')) return undefined;
  return rows;
}

/** Converts one shard file; resolves to its pair count and image bytes. */
async function convertShard(file: string, from: ShardFormat, to: ShardFormat, target: string, signal?: AbortSignal, onBadItem?: (reason: string, detail: string) => void): Promise<{ pairs: number; imageBytes: number }> {
  const info = await readShardInfo(file);
  const extras = await readShardExtras(file);
  const writer = await openShardWriter(target, {
    imageFormat: info.imageFormat ?? 'jpg',
    withSimilarity: info.columns.includes('similarity'),
    extras,
    metadata: { 'wit.stage': STAGE, 'wit.converted_from': basename(file) },
  });
  let imageBytes = 0;
  try {
    for await (const rec of readShardFile(file, { onBadItem })) {
      signal?.throwIfAborted();
      await writer.write(rec);
      imageBytes += rec.image.byteLength;
    }
    const stats = (await readShardStats(file)) ?? {};
    const carried = Object.fromEntries(Object.entries(stats).filter(([k]) => !WRITER_STATS.has(k)));
    const status = await statusRowsOf(file, from);
    await writer.close(carried, status);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return { pairs: writer.count, imageBytes };
}

/**
 * Converts every shard of `shards` into `out` in the format `to`, one shard at a time (memory: one
 * shard's metadata). Shards whose output is finished (stats file present) are skipped, so a rerun
 * after a crash resumes. Throws UsageError for bad options, a missing input or converting a
 * directory into itself; InputError for unreadable shards.
 */
export async function convert(input: ConvertOptions): Promise<ConvertSummary> {
  const opts = resolveOptions(STAGE, convertSchema, input);
  const claim = await claimOutput(opts.out, { command: 'convert', inputs: [opts.shards] });
  try {
    const t0 = performance.now();
    const to = opts.to as ShardFormat;
    const files = await listShards(opts.shards);
    const from: ShardFormat = await shardFormatOnDisk(files[0]!);
    if (from === to && opts.shardSize === undefined) throw new UsageError(STAGE, `${opts.shards} already holds ${to} shards (give --shard-size N to re-shard them)`);
    if (files.some((f) => f.startsWith(`${opts.out}/`) || f === opts.out)) throw new UsageError(STAGE, 'output directory is the input directory; give another --out', { file: opts.out });
    await claim.create();
    const present = new Set(await readdir(opts.out));
    const summary: ConvertSummary = { out: opts.out, from, to, shards: 0, skipped_shards: 0, pairs: 0, distinct_images: 0, bad_items: {}, image_bytes: 0, seconds: 0 };
    const onBadItem = (reason: string, detail: string) => {
      summary.bad_items[reason] = (summary.bad_items[reason] ?? 0) + 1;
      opts.onLog?.(`convert: ${reason}: ${detail}`);
    };
    const written: string[] = opts.shardSize !== undefined
      ? await reshard(files, from, to, opts.out, opts.shardSize, present, summary, opts.onProgress, opts.signal, onBadItem)
      : await convertEach(files, from, to, opts.out, present, summary, opts.onProgress, opts.signal, onBadItem);
    const manifest = await readManifest(opts.shards).catch(() => undefined);
    summary.seconds = (performance.now() - t0) / 1000;
    await writeManifest(opts.out, {
      ...(manifest ?? { stage: STAGE, options: {}, inputs: [opts.shards], totals: { kept: summary.pairs } }),
      version: manifest?.version ?? VERSION,
      created: manifest?.created ?? new Date().toISOString(),
      format: to,
      shards: written,
      converted_from: { dir: opts.shards, format: from, ...(opts.shardSize !== undefined ? { shard_size: opts.shardSize } : {}) },
    } as Parameters<typeof writeManifest>[1]);
    if (to === 'webdataset') {
      const oc = await openClipCommandFor(opts.out, written.map((n) => join(opts.out, n)));
      if (oc) { summary.open_clip_command = oc.command; summary.open_clip = oc; }
    } else if (to === 'files') {
      const oc = await openClipForFiles(opts.out, written.map((n) => join(opts.out, n)));
      if (oc.command) { summary.open_clip_command = oc.command.command; summary.open_clip = oc.command; }
      summary.open_clip_note = oc.note;
    }
    summary.distinct_images = await countDistinctImages(written.map((n) => join(opts.out, n)));
    // the last progress line is the summary's numbers (README.md, "Progress")
    opts.onProgress?.(convertLine(summary));
    return summary;
  } finally {
    await claim.release();
  }
}

/** The last progress line of a conversion: the summary's counts. */
export function convertLine(s: Pick<ConvertSummary, 'shards' | 'skipped_shards' | 'pairs' | 'distinct_images' | 'seconds'>): string {
  return `convert: ${s.shards + s.skipped_shards} shards, ${s.pairs} pairs, ${s.distinct_images} distinct images · ${formatDuration(s.seconds)}`;
}

/** One output shard per input shard (the default). */
async function convertEach(files: string[], from: ShardFormat, to: ShardFormat, out: string, present: Set<string>, summary: ConvertSummary, onProgress?: ProgressSink, signal?: AbortSignal, onBadItem?: (reason: string, detail: string) => void): Promise<string[]> {
  const written: string[] = [];
  for (const [i, file] of files.entries()) {
    const name = shardFileName(shardBaseName(file), to);
    const target = join(out, name);
    if (target === file) throw new UsageError(STAGE, 'output directory is the input directory; give another --out', { file: out });
    written.push(name);
    // finished: the data file and its stats (stats alone: stopped before the data file's rename)
    if (present.has(name) && present.has(basename(statsPathFor(target)))) {
      const stats = await readShardStats(target);
      summary.skipped_shards++;
      summary.pairs += Number(stats?.count ?? 0);
      summary.image_bytes += Number(stats?.image_bytes ?? 0);
      continue;
    }
    const r = await convertShard(file, from, to, target, signal, onBadItem);
    summary.shards++;
    summary.pairs += r.pairs;
    summary.image_bytes += r.imageBytes;
    onProgress?.(`convert: ${i + 1}/${files.length} shards, ${summary.pairs} pairs`);
  }
  return written;
}

/**
 * `--shard-size N`: the pairs of every input shard, in order, into output shards of N pairs
 * (00000, 00001, …; the last may be smaller). Each input shard's url-list status rows go with the
 * output shard open when that input ends. A rerun skips the output shards already finished, and
 * the pairs they hold. The crawl's per-shard counts are not carried (they belong to input shards);
 * the manifest keeps the run's totals.
 */
async function reshard(files: string[], from: ShardFormat, to: ShardFormat, out: string, size: number, present: Set<string>, summary: ConvertSummary, onProgress?: ProgressSink, signal?: AbortSignal, onBadItem?: (reason: string, detail: string) => void): Promise<string[]> {
  summary.shard_size = size;
  const written: string[] = [];
  const nameOf = (k: number): string => shardFileName(String(k).padStart(5, '0'), to);
  let k = 0;
  let skip = 0;
  while (present.has(nameOf(k)) && present.has(basename(statsPathFor(join(out, nameOf(k)))))) {
    const stats = await readShardStats(join(out, nameOf(k)));
    const count = Number(stats?.count ?? 0);
    if (count !== size) break; // a short last shard is redone: more input may have come
    skip += count;
    summary.skipped_shards++;
    summary.pairs += count;
    summary.image_bytes += Number(stats?.image_bytes ?? 0);
    written.push(nameOf(k++));
  }
  const first = await readShardInfo(files[0]!);
  const extras = await readShardExtras(files[0]!);
  const withSimilarity = first.columns.includes('similarity');
  let writer: ShardWriter | undefined;
  let status: StatusRow[] = [];
  let rows: StatusRow[] = [];
  let seen = 0;
  const close = async (): Promise<void> => {
    if (!writer) return;
    await writer.close({}, status.length ? [...rows, ...status] : undefined);
    summary.shards++;
    status = [];
    rows = [];
    writer = undefined;
    onProgress?.(`convert: ${written.length} shards, ${summary.pairs} pairs`);
  };
  try {
    for (const file of files) {
      for await (const rec of readShardFile(file, { onBadItem })) {
        signal?.throwIfAborted();
        if (seen++ < skip) continue;
        if (!writer) {
          written.push(nameOf(k));
          writer = await openShardWriter(join(out, nameOf(k++)), {
            imageFormat: first.imageFormat ?? 'jpg', withSimilarity, extras,
            metadata: { 'wit.stage': STAGE, 'wit.converted_from': basename(file), 'wit.shard_size': String(size) },
          });
        }
        await writer.write(rec);
        rows.push(successRow(rec));
        summary.pairs++;
        summary.image_bytes += rec.image.byteLength;
        if (writer.count >= size) await close();
      }
      const fileRows = await statusRowsOf(file, from);
      if (fileRows) status.push(...fileRows.filter((r) => r.status !== 'success'));
    }
    await close();
  } catch (err) {
    await writer?.abort();
    throw err;
  }
  return written;
}
