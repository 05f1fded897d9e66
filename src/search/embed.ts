import { dirname, resolve } from 'node:path';
import { cachedSetIds } from './shard-images.js';
import type { ClipHandle } from '../train/index.js';
import { EMBED_BATCH_SIZE } from '../train/clip.js';
import { listShards, readShardFile, type PairRecord } from '../shards/index.js';
import { WitError } from '../util/errors.js';
import { decodeFailureReason } from '../util/image-guard.js';
import { claimOutput } from '../util/output.js';
import { modelFingerprint } from '../util/model-fingerprint.js';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { embedDim, openModel } from './model.js';
import { INFERENCE_OPTIONS } from '../train/backend/inference-options.js';
import { EmbeddingIndex, shardId, type AnnKind, type Dtype, type EmbeddedRow } from './store.js';

const STAGE = 'embed';

/** Options of `wit embed`, declared once (docs/ARCHITECTURE.md, "Options"). */
export const EMBED_OPTIONS = defineOptions({
  model: { type: 'string', required: true, metavar: 'DIR', help: 'model directory (wit train or wit model import)' },
  shards: { type: 'string[]', required: true, metavar: 'DIR…', help: 'input shard files or directories' },
  out: { type: 'string', required: true, metavar: 'INDEX', help: 'index directory (LanceDB); rerun to resume' },
  dtype: { type: 'string', choices: ['float32', 'float16'], default: 'float32', help: 'stored vector type (float16 halves the index)' },
  ann: { type: 'string', choices: ['auto', 'none', 'hnsw', 'ivf-pq'], default: 'auto', help: 'ANN index on the image vectors: auto picks by size (exact scan under 50,000 rows)' },
  batchSize: { type: 'int', min: 1, default: EMBED_BATCH_SIZE, help: 'pairs per encoder call' },
  ...INFERENCE_OPTIONS,
  appendRows: { type: 'int', min: 1, default: 4096, cli: false, help: 'rows per LanceDB commit' },
});

/** What onProgress receives, about once a second. */
export interface EmbedProgress {
  shards_done: number;
  shards: number;
  rows: number;
  pairs_per_second: number;
  elapsed: number;
}

/** Options of {@link embed}. */
export type EmbedOptions = OptionsInput<typeof EMBED_OPTIONS> & {
  onProgress?: (p: EmbedProgress) => void;
  onLog?: (line: string) => void;
  /** Aborting stops after the current batch; the shard in progress is redone by a rerun. */
  signal?: AbortSignal;
};

/** The summary of a run (snake_case, as every command's). */
export interface EmbedSummary {
  index: string;
  model: string;
  embed_dim: number;
  dtype: 'float16' | 'float32';
  /** Rows in the index. */
  rows: number;
  /**
   * Pairs not embedded (in the whole index, resumed shards included), by reason: `image_refused`
   * (the image guard: a vector format, a header over the pixel limit), `undecodable` (the rest).
   */
  skipped: { image_refused: number; undecodable: number };
  /**
   * This run's bad items by reason (docs/ARCHITECTURE.md, "Errors and dropped items"): `image_refused`
   * (the image guard), `undecodable`, `caption_too_long` (cut at the caption limit, still embedded).
   */
  bad_items: Record<string, number>;
  shards: { input: number; embedded: number; resumed: number };
  ann: { kind: AnnKind; rows: number };
  /** Pairs embedded per second of wall time in this run (0 when everything was already done). */
  pairs_per_second: number;
  duration: number;
}

/**
 * Embeds every pair of the shards with a CLIP (normalised image and text embeddings) into a LanceDB
 * index with key, url, caption, queries, shard and row; then builds the ANN index (chosen by size).
 * A rerun resumes: finished shards are skipped, a shard cut by a kill is redone.
 * Resolves to an EmbedSummary. Throws UsageError for bad options, a missing model or shards, or an
 * index directory holding another index; InputError naming a corrupt shard; the signal's reason when aborted.
 */
export async function embed(input: EmbedOptions): Promise<EmbedSummary> {
  const t0 = performance.now();
  const opts = resolveOptions(STAGE, EMBED_OPTIONS, input);
  const files = await listShards(opts.shards);
  const claim = await claimOutput(opts.out, { command: 'embed', inputs: opts.shards });
  try {
    const clip = await openModel(opts.model, { backend: opts.backend, device: opts.device, batchSize: opts.batchSize, threads: opts.threads }, STAGE);
    try {
      await claim.create();
      const built = await buildEmbeddingIndex({ ...opts, files, clip, ann: opts.ann as AnnKind | 'auto' }, t0);
      return {
        index: opts.out,
        model: opts.model,
        embed_dim: built.embed_dim,
        dtype: built.dtype,
        rows: built.rows,
        skipped: built.skipped,
        bad_items: built.badItems,
        shards: { input: files.length, embedded: built.embedded, resumed: files.length - built.embedded },
        ann: built.ann,
        pairs_per_second: built.seconds > 0 ? built.pairs / built.seconds : 0,
        duration: (performance.now() - t0) / 1000,
      };
    } finally {
      await clip.dispose();
    }
  } finally {
    await claim.release();
  }
}

/** What {@link buildEmbeddingIndex} needs: the index, the shards, a loaded model and the settings. */
export interface IndexBuild {
  out: string;
  files: string[];
  clip: ClipHandle;
  /** The model directory (recorded in the index, fingerprinted for resume checks). */
  model: string;
  dtype: Dtype;
  ann: AnnKind | 'auto';
  batchSize: number;
  appendRows: number;
  signal?: AbortSignal;
  onProgress?: (p: EmbedProgress) => void;
  onLog?: (line: string) => void;
}

/**
 * Creates or resumes the index at `out` with an already loaded model (wit embed, and the filter's
 * semantic dedup), embeds the unfinished shards and builds the ANN index. Resolves to what the
 * index holds and what this run did.
 */
export async function buildEmbeddingIndex(b: IndexBuild, t0 = performance.now()) {
  const index = await EmbeddingIndex.create(
    b.out,
    { model: resolve(b.model), model_fingerprint: await modelFingerprint(b.model), embed_dim: embedDim(b.clip), dtype: b.dtype, shards: b.files.map(shardId), shard_sets: await shardSets(b.files) },
    STAGE,
  );
  try {
    const run = await embedShards(index, b.clip, b.files, b, t0);
    const ann = await finishIndex(index, b.ann, b.onLog);
    return {
      ...run,
      ann,
      rows: await index.count(),
      skipped: skippedByReason(index.meta.finished),
      embed_dim: index.meta.embed_dim,
      dtype: index.meta.dtype,
    };
  } finally {
    index.close();
  }
}

/** Pairs the index's finished shards skipped, by reason (an index made before the split counts all as undecodable). */
function skippedByReason(finished: EmbeddingIndex['meta']['finished']): EmbedSummary['skipped'] {
  let refused = 0;
  let all = 0;
  for (const f of Object.values(finished)) {
    all += f.skipped;
    refused += f.refused ?? 0;
  }
  return { image_refused: refused, undecodable: all - refused };
}

/** Each shard's set id (its folder's manifest), for the shards whose folder has one. */
async function shardSets(files: string[]): Promise<Record<string, string>> {
  const setOf = cachedSetIds();
  const out: Record<string, string> = {};
  for (const f of files) {
    const set = await setOf(dirname(resolve(f)));
    if (set) out[shardId(f)] = set;
  }
  return out;
}

/** Embeds the shards the index does not list as finished; returns what this run did. */
async function embedShards(index: EmbeddingIndex, clip: ClipHandle, files: string[], opts: IndexBuild, t0: number) {
  let pairs = 0;
  let embedded = 0;
  let last = 0;
  const badItems: Record<string, number> = {};
  const tRun = performance.now();
  const progress = (done: number, force = false) => {
    const now = performance.now();
    if (!opts.onProgress || (!force && now - last < 1000)) return;
    last = now;
    const s = (now - tRun) / 1000;
    opts.onProgress({ shards_done: done, shards: files.length, rows: pairs, pairs_per_second: s > 0 ? pairs / s : 0, elapsed: (now - t0) / 1000 });
  };
  for (let i = 0; i < files.length; i++) {
    const id = shardId(files[i]!);
    if (index.meta.finished[id]) continue;
    // A shard cut by a kill may have appended some of its rows: they go before it is redone.
    await index.deleteShard(id);
    if (index.meta.complete) {
      index.meta.complete = false;
      index.meta.ann = null;
    }
    const done = await embedShard(index, clip, files[i]!, id, opts, badItems, (n) => {
      pairs += n;
      progress(i);
    });
    await index.markFinished(id, done.rows, done.skipped, done.refused);
    embedded++;
    if (done.skipped - done.refused) opts.onLog?.(`embed: ${files[i]}: ${done.skipped - done.refused} images do not decode, skipped`);
    if (done.refused) opts.onLog?.(`embed: ${files[i]}: ${done.refused} images refused by the image guard (a vector format or over the pixel limit), skipped`);
    progress(i + 1, true);
  }
  return { pairs, embedded, badItems, seconds: (performance.now() - tRun) / 1000 };
}

/** Embeds one shard in batches, appending to the index every `appendRows` rows. */
async function embedShard(
  index: EmbeddingIndex,
  clip: ClipHandle,
  file: string,
  id: string,
  opts: { batchSize: number; appendRows: number; signal?: AbortSignal; onLog?: (line: string) => void },
  badItems: Record<string, number>,
  onBatch: (n: number) => void,
): Promise<{ rows: number; skipped: number; refused: number }> {
  let batch: { rec: PairRecord; row: number }[] = [];
  let pending: EmbeddedRow[] = [];
  let rows = 0;
  let skipped = 0;
  let refused = 0;
  let row = 0;
  const flush = async () => {
    const out = await embedBatch(clip, batch, id, (reason) => {
      count(reason);
      if (reason === 'image_refused') refused++;
    });
    skipped += batch.length - out.length;
    rows += out.length;
    onBatch(out.length);
    pending.push(...out);
    batch = [];
    if (pending.length >= opts.appendRows) {
      await index.append(pending);
      pending = [];
    }
  };
  const count = (reason: string) => { badItems[reason] = (badItems[reason] ?? 0) + 1; };
  // Tar members that make no pair are left out, captions over the limit cut, each with a line (shards/reader.ts).
  for await (const rec of readShardFile(file, { onBadItem: (reason, detail) => { count(reason); opts.onLog?.(`embed: ${reason}: ${detail}`); } })) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new WitError(STAGE, 'aborted');
    batch.push({ rec, row: row++ });
    if (batch.length >= opts.batchSize) await flush();
  }
  if (batch.length) await flush();
  await index.append(pending);
  return { rows, skipped, refused };
}

/**
 * Image and text embeddings of a batch. Images are decoded one by one in the model's worker threads,
 * so an undecodable image costs only its own pair (left out of the result).
 */
async function embedBatch(clip: ClipHandle, batch: { rec: PairRecord; row: number }[], shard: string, onBad: (reason: string) => void): Promise<EmbeddedRow[]> {
  const decoded = await Promise.all(batch.map(({ rec }) => clip.decoder.decode(rec.image, clip.imageSize).then((px) => px, (err: unknown) => { onBad(decodeFailureReason(err)); return undefined; })));
  const ok = batch.flatMap((b, i) => (decoded[i] ? [i] : []));
  if (!ok.length) return [];
  const images = await clip.embedPixels(ok.map((i) => decoded[i]!));
  const texts = await clip.embedTexts(ok.map((i) => batch[i]!.rec.caption));
  return ok.map((i, j) => {
    const { rec, row } = batch[i]!;
    return { key: rec.key, url: rec.url, caption: rec.caption, queries: rec.queries, shard, row, image_vector: images[j]!, text_vector: texts[j]! };
  });
}

/** Builds the ANN index (when none is there yet) and marks the index complete. */
export async function finishIndex(index: EmbeddingIndex, kind: AnnKind | 'auto', log?: (line: string) => void): Promise<{ kind: AnnKind; rows: number }> {
  if (index.meta.complete && index.meta.ann) return index.meta.ann;
  const ann = await index.buildAnn({ kind });
  if (ann.kind !== 'none') log?.(`embed: ${ann.kind} index built over ${ann.rows} image vectors`);
  index.meta.ann = ann;
  index.meta.complete = true;
  await index.saveMeta();
  return ann;
}
