/**
 * Evaluation metrics as pure functions over plain embedding arrays (rows L2-normalised), so they
 * can be checked on hand-made cases. Ties count in the model's favour: an item's rank is the
 * number of candidates scoring strictly higher than the right one (identical captions of
 * different pairs would otherwise make recall depend on row order).
 */

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
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
  images.forEach((img, i) => {
    const truth = labels[i]!;
    const s = dot(img, classEmbeddings[truth]!);
    let higher = 0;
    for (let c = 0; c < classEmbeddings.length; c++) if (c !== truth && dot(img, classEmbeddings[c]!) > s) higher++;
    if (higher < 1) top1++;
    if (higher < 5) top5++;
    const h = hits.get(truth) ?? [0, 0];
    h[0] += higher < 1 ? 1 : 0;
    h[1]++;
    hits.set(truth, h);
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
 * O(N²·D); callers bound N.
 */
export function retrievalRecall(images: readonly Float32Array[], texts: readonly Float32Array[]): RetrievalResult {
  const n = Math.min(images.length, texts.length);
  const sim: Float64Array = new Float64Array(n * n); // [image, text]
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sim[i * n + j] = dot(images[i]!, texts[j]!);
  const i2t = [0, 0, 0];
  const t2i = [0, 0, 0];
  const ks = [1, 5, 10];
  for (let i = 0; i < n; i++) {
    const s = sim[i * n + i]!;
    let rowHigher = 0;
    let colHigher = 0;
    for (let j = 0; j < n; j++) {
      if (sim[i * n + j]! > s) rowHigher++;
      if (sim[j * n + i]! > s) colHigher++;
    }
    ks.forEach((k, x) => {
      if (rowHigher < k) i2t[x]!++;
      if (colHigher < k) t2i[x]!++;
    });
  }
  const f = (a: number[]): { r1: number; r5: number; r10: number } => ({ r1: n ? a[0]! / n : 0, r5: n ? a[1]! / n : 0, r10: n ? a[2]! / n : 0 });
  return { imageToText: f(i2t), textToImage: f(t2i), samples: n };
}
