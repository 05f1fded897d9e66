import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listShards, readShards, writeJsonAtomic } from '../shards/index.js';
import { InputError, UsageError } from '../util/errors.js';
import { Throttle } from '../util/progress.js';
import { loadClip, type ClipHandle } from '../train/clip.js';
import type { BackendName } from '../train/backend/index.js';
import { meanEmbedding, retrievalRecall, zeroShotAccuracy, type RetrievalResult, type ZeroShotResult } from './metrics.js';

export { meanEmbedding, retrievalRecall, zeroShotAccuracy, type RetrievalResult, type ZeroShotResult } from './metrics.js';

/** A subset of the CLIP paper's ImageNet prompt ensemble (the generic, photo-agnostic ones). */
export const DEFAULT_TEMPLATES: readonly string[] = [
  'a photo of a {}.',
  'a bad photo of a {}.',
  'a photo of the {}.',
  'a good photo of a {}.',
  'a close-up photo of a {}.',
  'a bright photo of a {}.',
  'a photo of a small {}.',
  'a photo of a large {}.',
  'a rendering of a {}.',
  'a drawing of a {}.',
  'art of the {}.',
  'itap of a {}.',
];

/** Options of `wit eval`. */
export interface EvalOptions {
  /** Model directory (or checkpoint) from `wit train`. */
  model: string;
  /** Held-out shards (files or dirs). */
  shards: string[];
  /**
   * Label file, one class name a line. Without it the classes are the distinct `queries[0]` of
   * the pairs (the query a pair was crawled for; its caption when it has no query). With it, a
   * pair's class is its first query that is a label, else its caption if that is a label; other
   * pairs are left out of zero-shot (counted as `unlabeled`).
   */
  labels?: string;
  /** Summary JSON (default <model>/eval.json). */
  out?: string;
  /** Prompt templates with `{}` for the label (default: DEFAULT_TEMPLATES), averaged as in CLIP. */
  templates?: string[];
  /** Rows per forward pass (default 64). */
  batchSize?: number;
  backend?: BackendName;
  /** Most pairs evaluated (default all). */
  limit?: number;
  /** Pairs in the retrieval pool: the first N evaluated (default 5000, COCO's 5k protocol). */
  retrievalSamples?: number;
  /** Decode worker threads (default: cores - 1, max 4). */
  decodeWorkers?: number;
  onProgress?: (line: string) => void;
}

/** What evaluate() resolves to (and writes as JSON). */
export interface EvalSummary {
  model: string;
  shards: string[];
  zeroShot: ZeroShotResult & { templates: number; unlabeled: number; labelSource: 'file' | 'queries' };
  retrieval: RetrievalResult;
  /** Pairs read, and those whose image did not decode (left out). */
  pairs: number;
  badImages: number;
  /** Expected top-1 of guessing: 1 / classes. */
  chanceTop1: number;
  seconds: number;
  out: string;
}

/** Fills `{}` (or `{label}`) of a template with a label. */
export function fillTemplate(template: string, label: string): string {
  return template.includes('{label}') ? template.replaceAll('{label}', label) : template.replaceAll('{}', label);
}

async function readLabels(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError('eval', `cannot read labels: ${(err as Error).message}`, { file });
  }
  const labels = [...new Set(text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean))];
  if (!labels.length) throw new InputError('eval', file, 'no labels (expected one class name a line)');
  return labels;
}

/**
 * Class embeddings: each label's prompts embedded, averaged and renormalised (CLIP's ensemble).
 */
export async function classEmbeddings(clip: ClipHandle, labels: readonly string[], templates: readonly string[]): Promise<Float32Array[]> {
  const prompts = labels.flatMap((l) => templates.map((t) => fillTemplate(t, l)));
  const emb = await clip.embedTexts(prompts);
  return labels.map((_, i) => meanEmbedding(emb.slice(i * templates.length, (i + 1) * templates.length)));
}

/**
 * Evaluates a model on shards: zero-shot top-1/top-5 over the label set and image↔text
 * recall@1/5/10 over the pairs; writes the summary JSON. Throws UsageError for a missing model,
 * shards or labels file, InputError for unreadable ones or when no image decodes.
 */
export async function evaluate(opts: EvalOptions): Promise<EvalSummary> {
  const t0 = performance.now();
  if (!opts.model) throw new UsageError('eval', 'no model given (--model DIR)');
  if (!opts.shards?.length) throw new UsageError('eval', 'no shards given (--shards DIR…)');
  const templates = opts.templates?.length ? opts.templates : [...DEFAULT_TEMPLATES];
  for (const t of templates) if (!t.includes('{}') && !t.includes('{label}')) throw new UsageError('eval', `template '${t}' has no {} for the label`);
  const fileLabels = opts.labels ? await readLabels(opts.labels) : undefined;
  // Fail on bad shard paths before loading the model.
  const files = await listShards(opts.shards);
  const clip = await loadClip(opts.model, { backend: opts.backend, batchSize: opts.batchSize, decodeWorkers: opts.decodeWorkers });
  try {
    const bs = opts.batchSize ?? 64;
    const limit = opts.limit ?? Infinity;
    const images: Float32Array[] = [];
    const captions: string[] = [];
    const pairLabels: Array<string | undefined> = [];
    let pairs = 0;
    let bad = 0;
    const progress = new Throttle(opts.onProgress, () => `eval: ${images.length} images embedded, ${bad} failed`);
    let pending: Array<{ image: Uint8Array; caption: string; label: string | undefined }> = [];
    const labelSet = fileLabels ? new Set(fileLabels) : undefined;
    const flush = async (): Promise<void> => {
      const batch = pending;
      pending = [];
      const decoded = await Promise.all(batch.map((p) => clip.decoder.decode(p.image, clip.imageSize).then((rgb) => rgb, () => undefined)));
      const ok = batch.flatMap((p, i) => (decoded[i] ? [{ ...p, rgb: decoded[i]! }] : []));
      bad += batch.length - ok.length;
      const emb = await clip.embedPixels(ok.map((o) => o.rgb));
      ok.forEach((o, i) => {
        images.push(emb[i]!);
        captions.push(o.caption);
        pairLabels.push(o.label);
      });
      progress.tick();
    };
    for await (const rec of readShards(files)) {
      if (pairs >= limit) break;
      pairs++;
      let label: string | undefined;
      if (labelSet) label = rec.queries.find((q) => labelSet.has(q)) ?? (labelSet.has(rec.caption) ? rec.caption : undefined);
      else label = rec.queries[0] ?? rec.caption;
      pending.push({ image: rec.image, caption: rec.caption, label });
      if (pending.length >= bs) await flush();
    }
    if (pending.length) await flush();
    progress.final();
    if (!images.length) throw new InputError('eval', files[0]!, pairs ? 'no image in the shards decodes' : 'the shards hold no pairs');

    const classes = fileLabels ?? [...new Set(pairLabels.filter((l): l is string => l !== undefined))].sort();
    const index = new Map(classes.map((c, i) => [c, i]));
    const labeled: number[] = [];
    const labelIdx: number[] = [];
    pairLabels.forEach((l, i) => {
      const k = l === undefined ? undefined : index.get(l);
      if (k !== undefined) { labeled.push(i); labelIdx.push(k); }
    });
    opts.onProgress?.(`eval: embedding ${classes.length} classes × ${templates.length} templates`);
    const classEmb = await classEmbeddings(clip, classes, templates);
    const zs = zeroShotAccuracy(labeled.map((i) => images[i]!), labelIdx, classEmb);
    const nRet = Math.min(images.length, opts.retrievalSamples ?? 5000);
    const texts = await clip.embedTexts(captions.slice(0, nRet));
    const retrieval = retrievalRecall(images.slice(0, nRet), texts);
    const out = opts.out ?? join(opts.model, 'eval.json');
    const summary: EvalSummary = {
      model: opts.model,
      shards: opts.shards,
      zeroShot: { ...zs, templates: templates.length, unlabeled: images.length - labeled.length, labelSource: fileLabels ? 'file' : 'queries' },
      retrieval,
      pairs,
      badImages: bad,
      chanceTop1: classes.length ? 1 / classes.length : 0,
      seconds: (performance.now() - t0) / 1000,
      out,
    };
    await writeJsonAtomic(out, summary);
    return summary;
  } finally {
    await clip.dispose();
  }
}
