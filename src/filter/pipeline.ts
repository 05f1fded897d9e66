import type { PairRecord } from '../shards/index.js';
import { WitError, errorMessage } from '../util/errors.js';
import { decodeFailureReason } from '../util/image-guard.js';
import { ELIGIBLE, reasonCode, type RowCode, type Screen } from './screen.js';
import type { Scorer } from './scorer.js';

/** One input row after the screen and the scorer. */
export interface ScoredRow {
  rec: PairRecord;
  /** ELIGIBLE, or why the screen (or the decoder) dropped it. */
  code: RowCode;
  /** Cosine similarity as stored (float32), NaN when the row was not scored. */
  score: number;
}

/** Options of the screen-and-score pipeline. */
export interface PipelineOptions {
  /** Pairs per scorer call. */
  batchSize: number;
  /** Batches in flight at once: 2 lets the next batch be read and decoded while one is encoded. */
  depth?: number;
  signal?: AbortSignal;
  /** Called after each scored batch with its size and the wall time of its scorer call. */
  onBatch?: (pairs: number, ms: number) => void;
  /** Called with the message of each pair that could not be scored. */
  onBadItem?: (rec: PairRecord, message: string) => void;
}

/** Scores of a batch, with why each unscored pair (NaN) failed: the image guard's refusal or a decode failure. */
interface BatchScores {
  scores: Float32Array;
  reasons: ('image_refused' | 'undecodable' | undefined)[];
}

interface Chunk {
  rows: ScoredRow[];
  /** Indices into rows of the eligible rows, in order. */
  eligible: number[];
  scores?: Promise<BatchScores>;
}

/**
 * Scores a batch (NaN from the scorer marks a pair it could not score, with the error the scorer
 * reports for it); when the batch call fails, scores its pairs one by one so that one undecodable
 * image costs one pair, not the batch (NaN marks the pairs that failed). Each failed pair gets its
 * counted reason (decodeFailureReason): `image_refused` when the image guard refused it (a vector
 * format, a header over the pixel limit), `undecodable` otherwise. When every pair of a batch of
 * two or more fails, the fault is the model or backend, not the data: that throws.
 */
async function scoreBatch(scorer: Scorer, rows: ScoredRow[], onBadItem?: PipelineOptions['onBadItem']): Promise<BatchScores> {
  const images = rows.map((r) => r.rec.image);
  const captions = rows.map((r) => r.rec.caption);
  const reasons: BatchScores['reasons'] = new Array(rows.length).fill(undefined);
  const errors: unknown[] = new Array(rows.length).fill(undefined);
  try {
    const s = await scorer(images, captions, (i, err) => (errors[i] = err));
    if (s.length !== rows.length) throw new WitError('filter', `scorer returned ${s.length} scores for ${rows.length} pairs`);
    s.forEach((v, i) => {
      if (!Number.isNaN(v)) return;
      reasons[i] = errors[i] === undefined ? 'undecodable' : decodeFailureReason(errors[i]);
      onBadItem?.(rows[i]!.rec, errors[i] === undefined ? 'image does not decode' : errorMessage(errors[i]));
    });
    return { scores: s, reasons };
  } catch (batchErr) {
    if (batchErr instanceof WitError && batchErr.stage === 'filter') throw batchErr;
    const out = new Float32Array(rows.length);
    let failed = 0;
    for (let i = 0; i < rows.length; i++) {
      let err: unknown;
      try {
        out[i] = (await scorer([images[i]!], [captions[i]!], (_, e) => (err = e)))[0]!;
        if (Number.isNaN(out[i]!)) throw err ?? new Error('image does not decode');
      } catch (e) {
        out[i] = NaN;
        failed++;
        reasons[i] = decodeFailureReason(e);
        onBadItem?.(rows[i]!.rec, errorMessage(e));
      }
    }
    if (failed === rows.length && rows.length > 1) {
      throw new WitError('filter', `scoring failed for all ${rows.length} pairs of a batch: ${errorMessage(batchErr)}`, { cause: batchErr });
    }
    return { scores: out, reasons };
  }
}

/**
 * Runs records through the screen (basic filters, dedup) and, when a scorer is given, scores the
 * eligible ones in batches, keeping `depth` batches in flight so that reading and decoding the next
 * batch overlaps encoding the current one. Yields every input row, in input order, with its outcome.
 * Throws what the reader or scorer throws, or the signal's reason when aborted.
 */
export async function* screenAndScore(records: AsyncIterable<PairRecord>, screen: Screen, scorer: Scorer | undefined, opts: PipelineOptions): AsyncGenerator<ScoredRow> {
  const depth = Math.max(1, opts.depth ?? 2);
  const inFlight: Chunk[] = [];
  let cur: Chunk = { rows: [], eligible: [] };
  const submit = (c: Chunk) => {
    if (scorer && c.eligible.length) {
      const rows = c.eligible.map((i) => c.rows[i]!);
      const t0 = performance.now();
      c.scores = scoreBatch(scorer, rows, opts.onBadItem).then((s) => {
        opts.onBatch?.(rows.length, performance.now() - t0);
        return s;
      });
      // Awaited in order below; this keeps an early rejection from being reported as unhandled.
      c.scores.catch(() => undefined);
    }
    inFlight.push(c);
  };
  async function* drain(c: Chunk): AsyncGenerator<ScoredRow> {
    if (c.scores) {
      const { scores: s, reasons } = await c.scores;
      c.eligible.forEach((rowIdx, j) => {
        const row = c.rows[rowIdx]!;
        const v = s[j]!;
        if (Number.isNaN(v)) row.code = reasonCode(reasons[j] ?? 'undecodable');
        else row.score = Math.fround(v);
      });
    }
    yield* c.rows;
  }
  try {
    for await (const rec of records) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new WitError('filter', 'aborted');
      const code = screen.check(rec);
      cur.rows.push({ rec, code, score: NaN });
      if (code === ELIGIBLE && scorer) cur.eligible.push(cur.rows.length - 1);
      // Without a scorer, chunks only bound memory; with one, a chunk is a batch.
      if (cur.eligible.length >= opts.batchSize || cur.rows.length >= Math.max(opts.batchSize, 256) * 8) {
        submit(cur);
        cur = { rows: [], eligible: [] };
        while (inFlight.length >= depth) yield* drain(inFlight.shift()!);
      }
    }
    if (cur.rows.length) submit(cur);
    while (inFlight.length) yield* drain(inFlight.shift()!);
  } finally {
    // On an early exit, let in-flight batches settle so nothing keeps running after us.
    await Promise.allSettled(inFlight.map((c) => c.scores));
  }
}
