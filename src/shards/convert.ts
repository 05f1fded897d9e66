/**
 * `wit convert`: a run directory of Parquet shards to WebDataset tars or back, image bytes copied
 * as stored (never re-encoded), keys, order, pass-through columns, stats, url-list status rows and
 * the manifest carried over. See README.md, "convert".
 */
import { access, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { UsageError } from '../util/errors.js';
import { claimOutput } from '../util/output.js';
import { VERSION } from '../util/version.js';
import type { ProgressSink } from '../util/progress.js';
import { listShards, readShardExtras, readShardFile, readShardInfo, readStatusRows } from './reader.js';
import { readManifest, readShardStats, writeManifest } from './manifest.js';
import { metadataPathFor, openShardWriter, SHARD_FORMATS, shardExtension, statusPathFor, statsPathFor, type ShardFormat } from './writer.js';
import type { StatusRow } from './record.js';

const STAGE = 'convert';

export const convertSchema = defineOptions({
  shards: { type: 'string', required: true, help: 'run directory (or one shard file) to convert', metavar: 'DIR' },
  to: { type: 'string', required: true, choices: SHARD_FORMATS, flag: 'output-format', aliases: ['to'], help: 'format to write: webdataset (tars + metadata Parquet) or parquet', metavar: 'FORMAT' },
  out: { type: 'string', required: true, help: 'output directory (a rerun skips shards already converted)', metavar: 'DIR' },
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
  /** Items of the input that are not pairs (a tar member without its image or caption), by reason; left out. */
  bad_items: Record<string, number>;
  image_bytes: number;
  seconds: number;
}

/** Fields of a stats file the writer recomputes; the rest (the crawl's counts) is carried over. */
const WRITER_STATS = new Set(['shard', 'count', 'bytes', 'image_bytes', 'start_time', 'end_time', 'duration']);

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

/** The url-list status rows of a source shard, when it has any (else undefined). */
async function statusRowsOf(file: string, from: ShardFormat): Promise<StatusRow[] | undefined> {
  const path = from === 'webdataset' ? metadataPathFor(file) : statusPathFor(file);
  if (!(await exists(path))) return undefined;
  const { rows } = await readStatusRows(path);
  // WebDataset metadata always exists; it is a status list only when it holds more than the pairs
  if (from === 'webdataset' && rows.every((r) => r.status === 'success')) return undefined;
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
  const t0 = performance.now();
  const to = opts.to as ShardFormat;
  const files = await listShards(opts.shards);
  const from: ShardFormat = files[0]!.endsWith('.tar') ? 'webdataset' : 'parquet';
  if (from === to) throw new UsageError(STAGE, `${opts.shards} already holds ${to} shards`);
  await claim.create();
  const present = new Set(await readdir(opts.out));
  const summary: ConvertSummary = { out: opts.out, from, to, shards: 0, skipped_shards: 0, pairs: 0, bad_items: {}, image_bytes: 0, seconds: 0 };
  const onBadItem = (reason: string, detail: string) => {
    summary.bad_items[reason] = (summary.bad_items[reason] ?? 0) + 1;
    opts.onLog?.(`convert: ${reason}: ${detail}`);
  };
  const written: string[] = [];
  for (const [i, file] of files.entries()) {
    const name = basename(file).replace(/\.(parquet|tar)$/, `.${shardExtension(to)}`);
    const target = join(opts.out, name);
    if (target === file) throw new UsageError(STAGE, 'output directory is the input directory; give another --out', { file: opts.out });
    written.push(name);
    if (present.has(basename(statsPathFor(target)))) {
      const stats = await readShardStats(target);
      summary.skipped_shards++;
      summary.pairs += Number(stats?.count ?? 0);
      summary.image_bytes += Number(stats?.image_bytes ?? 0);
      continue;
    }
    const r = await convertShard(file, from, to, target, opts.signal, onBadItem);
    summary.shards++;
    summary.pairs += r.pairs;
    summary.image_bytes += r.imageBytes;
    opts.onProgress?.(`convert: ${i + 1}/${files.length} shards, ${summary.pairs} pairs`);
  }
  const manifest = await readManifest(opts.shards).catch(() => undefined);
  summary.seconds = (performance.now() - t0) / 1000;
  await writeManifest(opts.out, {
    ...(manifest ?? { stage: STAGE, options: {}, inputs: [opts.shards], totals: { kept: summary.pairs } }),
    version: manifest?.version ?? VERSION,
    created: manifest?.created ?? new Date().toISOString(),
    format: to,
    shards: written,
    converted_from: { dir: opts.shards, format: from },
  } as Parameters<typeof writeManifest>[1]);
  return summary;
}
