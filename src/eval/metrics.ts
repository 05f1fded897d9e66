import * as tf from '@tensorflow/tfjs';

/**
 * Evaluation metrics as pure functions over plain embedding arrays (rows L2-normalised), so they
 * can be checked on hand-made cases. Ties count in the model's favour: an item's rank is the
 * number of candidates scoring strictly higher than the right one (identical captions of
 * different pairs would otherwise make recall depend on row order). Similarities come from one
 * matMul on the active tfjs backend, a block of rows at a time (N² dot products in plain JS would
 * take minutes at COCO's 5k), and every comparison reads that same matrix, so ties stay exact.
 */

const BLOCK = 1024;

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
}

/**
 * Zero-shot classification: each image goes to the class whose embedding is most similar.
 * images [N][D], labels[i] the index of image i's class in classEmbeddings [C][D].
 */
export function zeroShotAccuracy(images: readonly Float32Array[], labels: readonly number[], classEmbeddings: readonly Float32Array[], classNames?: readonly string[]): ZeroShotResult {
  let top1 = 0;
  let top5 = 0;
  const hits = new Map<number, [number, number]>();
  const c = classEmbeddings.length;
  forEachSimilarityBlock(images, classEmbeddings, (start, rows, sims) => {
    for (let r = 0; r < rows; r++) {
      const truth = labels[start + r]!;
      const s = sims[r * c + truth]!;
      let higher = 0;
      for (let k = 0; k < c; k++) if (sims[r * c + k]! > s) higher++;
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
  return { top1: n ? top1 / n : 0, top5: n ? top5 / n : 0, classes: classEmbeddings.length, samples: n, ...(perClass ? { perClass } : {}) };
}

/** Recall@K both ways. */
export interface RetrievalResult {
  imageToText: { r1: number; r5: number; r10: number };
  textToImage: { r1: number; r5: number; r10: number };
  samples: number;
}

/**
 * Image→text and text→image recall@1/5/10 where pair i's image and text belong together.
 * O(N²) memory-light passes over N×N similarities; callers bound N.
 */
export function retrievalRecall(images: readonly Float32Array[], texts: readonly Float32Array[]): RetrievalResult {
  const n = Math.min(images.length, texts.length);
  const imgs = images.slice(0, n);
  const txts = texts.slice(0, n);
  // Pass 1: the diagonal as the matrix has it; pass 2: count who beats it, by row and by column.
  const diag = new Float32Array(n);
  forEachSimilarityBlock(imgs, txts, (start, rows, sims) => {
    for (let r = 0; r < rows; r++) diag[start + r] = sims[r * n + start + r]!;
  });
  const rowHigher = new Int32Array(n);
  const colHigher = new Int32Array(n);
  forEachSimilarityBlock(imgs, txts, (start, rows, sims) => {
    for (let r = 0; r < rows; r++) {
      const d = diag[start + r]!;
      let higher = 0;
      for (let j = 0; j < n; j++) {
        const v = sims[r * n + j]!;
        if (v > d) higher++;
        if (v > diag[j]!) colHigher[j]!++;
      }
      rowHigher[start + r] = higher;
    }
  });
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
  return { imageToText: f(i2t), textToImage: f(t2i), samples: n };
}
