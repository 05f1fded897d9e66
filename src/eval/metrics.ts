import { tf } from '../util/tf.js';

/**
 * Evaluation metrics as pure functions over plain embedding arrays (rows L2-normalised), so they
 * can be checked on hand-made cases. An item's rank is the number of candidates that score higher
 * than the right one, plus the tied ones listed before it: ties are broken by index, as open_clip's
 * topk/argsort do, so they never count in the model's favour (a collapsed model whose embeddings are
 * all equal scores chance, not 100 %). A right answer whose score is not finite is a miss. Similarities
 * come from one matMul on the active tfjs backend, a block of rows at a time (N² dot products in plain
 * JS would take minutes at COCO's 5k), and every comparison reads that same matrix, so ties stay exact.
 */

const BLOCK = 1024;
/** Rank of a right answer whose score is not finite: beyond any K. */
const MISS = 0x7fffffff;

function stack(rows: readonly Float32Array[], start: number, end: number): tf.Tensor2D {
  const d = rows[0]!.length;
  const flat = new Float32Array((end - start) * d);
  for (let i = start; i < end; i++) flat.set(rows[i]!, (i - start) * d);
  return tf.tensor2d(flat, [end - start, d]);
}

/** Calls fn(start, rows, sims) for blocks of rows of a·bᵀ ([rows, b.length] row-major). */
function forEachSimilarityBlock(a: readonly Float32Array[], b: readonly Float32Array[], fn: (start: number, rows: number, sims: Float32Array) => void): void {
  if (!a.length || !b.length) return;
  const bt = stack(b, 0, b.length);
  try {
    for (let s = 0; s < a.length; s += BLOCK) {
      const e = Math.min(a.length, s + BLOCK);
      const block = tf.tidy(() => tf.matMul(stack(a, s, e), bt, false, true));
      // Read outside tidy: tidy walks whatever it returns, element by element.
      const sims = block.dataSync() as Float32Array;
      block.dispose();
      fn(s, e - s, sims);
    }
  } finally {
    bt.dispose();
  }
}

/** Mean of unit vectors, renormalised: CLIP's prompt-ensemble class embedding. */
export function meanEmbedding(vs: readonly Float32Array[]): Float32Array {
  const d = vs[0]!.length;
  const out = new Float32Array(d);
  for (const v of vs) for (let i = 0; i < d; i++) out[i]! += v[i]!;
  let n = 0;
  for (let i = 0; i < d; i++) n += out[i]! * out[i]!;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < d; i++) out[i]! /= n;
  return out;
}

/** Zero-shot accuracy. */
export interface ZeroShotResult {
  top1: number;
  top5: number;
  classes: number;
  samples: number;
  /** Top-1 accuracy per class (only classes with samples). */
  perClass?: Record<string, number>;
  /** Per image (when asked): how many classes rank above the right one (0 = top-1 hit). */
  ranks?: Int32Array;
}

/**
 * Zero-shot classification: each image goes to the class whose embedding is most similar.
 * images [N][D], labels[i] the index of image i's class in classEmbeddings [C][D].
 */
export function zeroShotAccuracy(images: readonly Float32Array[], labels: readonly number[], classEmbeddings: readonly Float32Array[], classNames?: readonly string[], opts: { ranks?: boolean } = {}): ZeroShotResult {
  const ranks = opts.ranks ? new Int32Array(images.length) : undefined;
  let top1 = 0;
  let top5 = 0;
  const hits = new Map<number, [number, number]>();
  const c = classEmbeddings.length;
  forEachSimilarityBlock(images, classEmbeddings, (start, rows, sims) => {
    for (let r = 0; r < rows; r++) {
      const truth = labels[start + r]!;
      const s = sims[r * c + truth]!;
      let higher = Number.isFinite(s) ? 0 : Infinity;
      for (let k = 0; k < c && higher !== Infinity; k++) {
        const v = sims[r * c + k]!;
        if (v > s || (v === s && k < truth)) higher++;
      }
      if (ranks) ranks[start + r] = higher === Infinity ? MISS : higher;
      if (higher < 1) top1++;
      if (higher < 5) top5++;
      const h = hits.get(truth) ?? [0, 0];
      h[0] += higher < 1 ? 1 : 0;
      h[1]++;
      hits.set(truth, h);
    }
  });
  const n = images.length;
  const perClass = classNames ? Object.fromEntries([...hits].map(([c, [k, m]]) => [classNames[c]!, k / m])) : undefined;
  return { top1: n ? top1 / n : 0, top5: n ? top5 / n : 0, classes: classEmbeddings.length, samples: n, ...(perClass ? { perClass } : {}), ...(ranks ? { ranks } : {}) };
}

/** Recall@K both ways. */
export interface RetrievalResult {
  imageToText: { r1: number; r5: number; r10: number };
  textToImage: { r1: number; r5: number; r10: number };
  samples: number;
  /** Per pair (when asked): the rank of the right caption for image i, and of the right image for text i (0 = R@1 hit). */
  imageRanks?: Int32Array;
  textRanks?: Int32Array;
}

/**
 * Image→text and text→image recall@1/5/10 where pair i's image and text belong together.
 * O(N²) memory-light passes over N×N similarities; callers bound N.
 */
export function retrievalRecall(images: readonly Float32Array[], texts: readonly Float32Array[], opts: { ranks?: boolean } = {}): RetrievalResult {
  const n = Math.min(images.length, texts.length);
  const imgs = images.slice(0, n);
  const txts = texts.slice(0, n);
  // Pass 1: the diagonal as the matrix has it; pass 2: count who beats it, by row and by column.
  const diag = new Float32Array(n);
  forEachSimilarityBlock(imgs, txts, (start, rows, sims) => {
    for (let r = 0; r < rows; r++) {
      const d = sims[r * n + start + r]!;
      // A non-finite right answer is a miss: no finite score is >= NaN, so rank it below everything.
      diag[start + r] = Number.isFinite(d) ? d : Infinity;
    }
  });
  const rowHigher = new Int32Array(n);
  const colHigher = new Int32Array(n);
  forEachSimilarityBlock(imgs, txts, (start, rows, sims) => {
    for (let r = 0; r < rows; r++) {
      const i = start + r;
      const d = diag[i]!;
      let higher = 0;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const v = sims[r * n + j]!;
        if (v > d || (v === d && j < i)) higher++;
        const dj = diag[j]!;
        if (v > dj || (v === dj && i < j)) colHigher[j]!++;
      }
      rowHigher[i] = d === Infinity ? MISS : higher;
    }
  });
  for (let j = 0; j < n; j++) if (diag[j] === Infinity) colHigher[j] = MISS;
  const i2t = [0, 0, 0];
  const t2i = [0, 0, 0];
  const ks = [1, 5, 10];
  for (let i = 0; i < n; i++) {
    ks.forEach((k, x) => {
      if (rowHigher[i]! < k) i2t[x]!++;
      if (colHigher[i]! < k) t2i[x]!++;
    });
  }
  const f = (a: number[]): { r1: number; r5: number; r10: number } => ({ r1: n ? a[0]! / n : 0, r5: n ? a[1]! / n : 0, r10: n ? a[2]! / n : 0 });
  return { imageToText: f(i2t), textToImage: f(t2i), samples: n, ...(opts.ranks ? { imageRanks: rowHigher, textRanks: colHigher } : {}) };
}
