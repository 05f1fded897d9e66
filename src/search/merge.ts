import { UsageError } from '../util/errors.js';
import { claimOutput } from '../util/output.js';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { finishIndex } from './embed.js';
import { EmbeddingIndex, arrow, type AnnKind } from './store.js';

const STAGE = 'embed merge';

/**
 * `wit embed merge` (docs/ARCHITECTURE.md, "Embeddings and search"): the indexes that several
 * machines made of their own shard sets (`wit embed --shards part-k/ --out index-k/`, one writer
 * each) appended into one index, whose ANN index is then built once over all rows. The parts must
 * be finished and made with the same model (by weights fingerprint), width and dtype. Resumable
 * part by part: a part counts as copied once the merged index lists its shards as finished; the
 * rows of a part cut by a kill are deleted before it is copied again.
 */
export const MERGE_OPTIONS = defineOptions({
  parts: { type: 'string[]', required: true, metavar: 'INDEX…', help: 'finished indexes made by wit embed (same model and dtype, different shards)' },
  out: { type: 'string', required: true, metavar: 'INDEX', help: 'the merged index directory; rerun to resume' },
  ann: { type: 'string', choices: ['auto', 'none', 'hnsw', 'ivf-pq'], default: 'auto', help: 'ANN index on the image vectors: auto picks by size (exact scan under 50,000 rows)' },
});

export type MergeOptions = OptionsInput<typeof MERGE_OPTIONS> & { onLog?: (line: string) => void; signal?: AbortSignal };

export interface MergeSummary {
  index: string;
  parts: { input: number; copied: number; resumed: number };
  rows: number;
  shards: number;
  ann: { kind: AnnKind; rows: number };
  rows_per_second: number;
  duration: number;
}

/** Rows gathered from a part's record batches before one append (one LanceDB commit). */
const APPEND_ROWS = 20_000;

export async function mergeIndexes(input: MergeOptions): Promise<MergeSummary> {
  const t0 = performance.now();
  const opts = resolveOptions(STAGE, MERGE_OPTIONS, input);
  const claim = await claimOutput(opts.out, { command: 'embed merge', stage: STAGE, inputs: opts.parts });
  try {
    const parts: EmbeddingIndex[] = [];
    try {
      for (const dir of opts.parts) parts.push(await EmbeddingIndex.open(dir, STAGE));
      const first = parts[0]!;
      const seen = new Map<string, string>();
      for (const p of parts) {
        const m = p.meta;
        if (m.model_fingerprint !== first.meta.model_fingerprint || m.embed_dim !== first.meta.embed_dim || m.dtype !== first.meta.dtype) {
          throw new UsageError(STAGE, `made with another model or dtype than ${first.dir} (${m.embed_dim}-d ${m.dtype}, model ${m.model} vs ${first.meta.embed_dim}-d ${first.meta.dtype}, model ${first.meta.model}); merge indexes of one model`, { file: p.dir });
        }
        for (const s of m.shards) {
          const other = seen.get(s);
          if (other !== undefined) throw new UsageError(STAGE, `shard ${s} is in ${other} too: parts must hold different shards (their rows would be counted twice)`, { file: p.dir });
          seen.set(s, p.dir);
        }
      }
      await claim.create();
      const out = await EmbeddingIndex.create(
        opts.out,
        { model: first.meta.model, model_fingerprint: first.meta.model_fingerprint, embed_dim: first.meta.embed_dim, dtype: first.meta.dtype, shards: parts.flatMap((p) => p.meta.shards), shard_sets: Object.assign({}, ...parts.map((p) => p.meta.shard_sets ?? {})) as Record<string, string> },
        STAGE,
      );
      let copied = 0;
      let rowsCopied = 0;
      const tCopy = performance.now();
      try {
        for (const p of parts) {
          if (p.meta.shards.every((s) => out.meta.finished[s])) continue;
          if (opts.signal?.aborted) throw opts.signal.reason;
          // A part cut by a kill may have appended some rows: they go before it is copied again.
          for (const s of p.meta.shards) await out.deleteShard(s);
          out.meta.complete = false;
          out.meta.ann = null;
          rowsCopied += await copyRows(p, out, opts.signal);
          for (const s of p.meta.shards) out.meta.finished[s] = p.meta.finished[s] ?? { rows: 0, skipped: 0 };
          await out.saveMeta();
          copied++;
          opts.onLog?.(`embed merge: ${p.dir}: ${p.meta.shards.length} shards copied`);
        }
        const copySeconds = (performance.now() - tCopy) / 1000;
        // Many appends leave many small files: compact them before the ANN index is built.
        if (copied) await out.table.optimize();
        const ann = await finishIndex(out, opts.ann as AnnKind | 'auto', opts.onLog);
        return {
          index: opts.out,
          parts: { input: parts.length, copied, resumed: parts.length - copied },
          rows: await out.count(),
          shards: out.meta.shards.length,
          ann,
          rows_per_second: copySeconds > 0 ? rowsCopied / copySeconds : 0,
          duration: (performance.now() - t0) / 1000,
        };
      } finally {
        out.close();
      }
    } finally {
      for (const p of parts) p.close();
    }
  } finally {
    await claim.release();
  }
}

/** Streams a part's rows into the merged table, APPEND_ROWS per commit. */
async function copyRows(from: EmbeddingIndex, to: EmbeddingIndex, signal?: AbortSignal): Promise<number> {
  let pending: import('apache-arrow').RecordBatch[] = [];
  let pendingRows = 0;
  let rows = 0;
  const flush = async () => {
    if (!pendingRows) return;
    await to.table.add(new (arrow().Table)(pending));
    rows += pendingRows;
    pending = [];
    pendingRows = 0;
  };
  for await (const batch of from.batches()) {
    if (signal?.aborted) throw signal.reason;
    pending.push(batch);
    pendingRows += batch.numRows;
    if (pendingRows >= APPEND_ROWS) await flush();
  }
  await flush();
  return rows;
}
