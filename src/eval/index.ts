import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { claimOutput } from '../util/output.js';
import { listShards, readShards, writeJsonAtomic } from '../shards/index.js';
import { InputError, UsageError } from '../util/errors.js';
import { DistinctCounter } from '../util/distinct.js';
import { decodeFailureReason } from '../util/image-guard.js';
import { Interrupted } from '../util/interrupt.js';
import { Throttle, eta, formatCount, formatDuration, type ProgressSink } from '../util/progress.js';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { EMBED_BATCH_SIZE, loadClip, type ClipHandle } from '../train/clip.js';
import { INFERENCE_OPTIONS } from '../train/backend/inference-options.js';
import { cleanText } from '../train/tokenizer.js';
import { meanEmbedding, retrievalRecall, zeroShotAccuracy } from './metrics.js';
import { readInputText } from '../util/input.js';

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

/**
 * Options of `wit eval`, declared once (docs/ARCHITECTURE.md, "Options"): the CLI flags, `--help`,
 * the library's option type and validation all come from this table.
 */
export const evalOptions = defineOptions({
  model: { type: 'string', required: true, metavar: 'DIR', help: 'model directory from wit train (or one of its checkpoints)' },
  shards: { type: 'string[]', required: true, metavar: 'DIR…', help: 'held-out shard files or directories' },
  labels: {
    type: 'string', metavar: 'FILE',
    help: "class names, one a line (default: each pair's first query, else its caption); labels the tokenizer sees as the same text (case, spacing) are merged",
  },
  out: { type: 'string', metavar: 'FILE', help: 'summary JSON (default: MODEL_DIR/eval.json, which wit report shows); an existing one is replaced only by an evaluation of the same shards and labels' },
  overwrite: { type: 'boolean', default: false, help: 'replace --out even when it holds the evaluation of other shards or labels, or is not an eval summary' },
  templates: { type: 'string[]', flag: 'template', metavar: 'TEXT…', help: "prompt templates with {} for the label, averaged (default: 12 of CLIP's, 'a photo of a {}.' …)" },
  batchSize: { type: 'int', default: EMBED_BATCH_SIZE, min: 1, help: 'rows per forward pass' },
  limit: { type: 'int', min: 1, help: 'evaluate at most N pairs' },
  retrievalSamples: { type: 'int', default: 5000, min: 1, help: "pairs in the retrieval pool (the first N; COCO's 5k protocol)" },
  ...INFERENCE_OPTIONS,
  decodeWorkers: { type: 'int', min: 0, max: 64, help: 'image decoding worker threads (default: cores - 1, max 4; 0 = inline)' },
});

/** What evaluate() takes: the options above plus a progress sink. */
export type EvalOptions = OptionsInput<typeof evalOptions> & {
  onProgress?: (line: string) => void;
  /** Aborting stops between batches (nothing is written); SIGINT inside a batch stops it too (src/util/interrupt.ts). */
  signal?: AbortSignal;
  /** Also return (not write) each item's rank (EvalSummary.per_item): wit compare's bootstrap over eval images. */
  perItem?: boolean;
};

/** What evaluate() resolves to and writes as JSON (snake_case, as every command's summary). */
export interface EvalSummary {
  model: string;
  shards: string[];
  /** The shard files read (resolved): an existing summary is replaced only by one of the same files. */
  shard_files: string[];
  /** The labels file (resolved), or null for labels from the pairs. */
  labels: string | null;
  zero_shot: {
    top1: number;
    top5: number;
    classes: number;
    /** Images with a class. */
    samples: number;
    templates: number;
    /** Images whose pair has no class (label file mode), left out of zero-shot. */
    unlabeled: number;
    label_source: 'file' | 'queries';
    /** Labels folded into another that the tokenizer sees as the same text ("Cat" into "cat"). */
    merged_labels: number;
    /** A few of those merges, "Cat -> cat". */
    merged_examples: string[];
  };
  retrieval: {
    image_to_text: { r1: number; r5: number; r10: number };
    text_to_image: { r1: number; r5: number; r10: number };
    samples: number;
  };
  /** Pairs read, and those whose image did not decode (left out). */
  pairs: number;
  /** Distinct images (by sha256) among the pairs read: one image under several captions counts once. */
  distinct_images: number;
  bad_images: number;
  /** Bad items by reason: `image_refused` (the image guard), `undecodable`, `caption_too_long` (cut, still used). */
  bad_items: Record<string, number>;
  /** Expected top-1 and top-5 of guessing: 1 / classes, 5 / classes. */
  chance_top1: number;
  chance_top5: number;
  seconds: number;
  out: string;
  /**
   * With `perItem` (returned, not written to the file): per labelled image, the number of classes ranked
   * above its own; per retrieval pair, the rank of the right caption (image_to_text) and of the right
   * image (text_to_image). Ranks above 10 are stored as 10. In the order of the shards.
   */
  per_item?: { zero_shot: number[]; image_to_text: number[]; text_to_image: number[] };
}

/** Fills `{}` (or `{label}`) of a template with a label. */
export function fillTemplate(template: string, label: string): string {
  return template.includes('{label}') ? template.replaceAll('{label}', label) : template.replaceAll('{}', label);
}

/** The class names of a labels file (one a line, blank lines and repeats dropped); InputError when it has none or is not text. */
export async function readLabels(file: string): Promise<string[]> {
  const text = await readInputText(file, { kind: 'labels', stage: 'eval' });
  const labels = [...new Set(text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean))];
  if (!labels.length) throw new InputError('eval', file, 'no labels (expected one class name a line)');
  return labels;
}

/** Labels whose prompts are embedded at once in classEmbeddings (memory: this many labels' prompt vectors). */
const LABELS_PER_CHUNK = 256;

/**
 * Class embeddings: each label's prompts embedded, averaged and renormalised (CLIP's ensemble).
 * Labels go in chunks of LABELS_PER_CHUNK, so memory is one chunk's prompt vectors plus one vector
 * a class, and `onProgress` hears how many are done with an estimate of the time left (100,000
 * labels take minutes).
 */
export async function classEmbeddings(clip: ClipHandle, labels: readonly string[], templates: readonly string[], onProgress?: ProgressSink): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  const t0 = performance.now();
  const progress = new Throttle(onProgress, () => {
    const elapsed = (performance.now() - t0) / 1000;
    const left = eta(out.length, labels.length, elapsed);
    return `eval: ${formatCount(out.length)} of ${formatCount(labels.length)} labels embedded (${templates.length} prompts each)${Number.isFinite(left) ? `, about ${formatDuration(left)} left` : ''}`;
  });
  for (let start = 0; start < labels.length; start += LABELS_PER_CHUNK) {
    const chunk = labels.slice(start, start + LABELS_PER_CHUNK);
    const prompts = chunk.flatMap((l) => templates.map((t) => fillTemplate(t, l)));
    const emb = await clip.embedTexts(prompts);
    chunk.forEach((_, i) => out.push(meanEmbedding(emb.slice(i * templates.length, (i + 1) * templates.length))));
    progress.tick();
  }
  if (labels.length > LABELS_PER_CHUNK) progress.final();
  return out;
}

/**
 * The classes of an evaluation: labels the tokenizer sees as the same text (it lowercases and folds
 * spacing: "Cat" and "cat") embed identically, so counting both would make every such image a tie.
 * They are merged into the first one seen. `classOf` maps any label to its class index.
 */
export function mergeLabels(labels: readonly string[]): { classes: string[]; classOf: Map<string, number>; merged: string[] } {
  const byKey = new Map<string, number>();
  const classes: string[] = [];
  const classOf = new Map<string, number>();
  const merged: string[] = [];
  for (const label of labels) {
    if (classOf.has(label)) continue;
    const key = cleanText(label);
    let k = byKey.get(key);
    if (k === undefined) {
      k = classes.length;
      byKey.set(key, k);
      classes.push(label);
    } else merged.push(`${label} -> ${classes[k]}`);
    classOf.set(label, k);
  }
  return { classes, classOf, merged };
}

/** Throws InputError naming the model when an embedding holds NaN or an infinity (a broken or diverged model). */
function checkFinite(model: string, what: string, rows: readonly Float32Array[]): void {
  const i = rows.findIndex((r) => r.some((x) => !Number.isFinite(x)));
  if (i >= 0) throw new InputError('eval', model, `the model gives non-finite (NaN or infinite) ${what} embeddings (first at row ${i}); its weights are broken, e.g. a diverged run`);
}

interface EmbeddedPairs {
  images: Float32Array[];
  captions: string[];
  /** Each embedded image's label (undefined: none). */
  labels: Array<string | undefined>;
  pairs: number;
  /** Distinct images (by sha256) among the pairs read. */
  distinct: DistinctCounter;
  bad: number;
  badItems: Record<string, number>;
}

/** Reads the shards, decodes and embeds each image in batches; a pair whose image fails to decode is counted and left out. */
async function embedPairs(clip: ClipHandle, files: string[], o: ResolvedEval, labelSet: Set<string> | undefined): Promise<EmbeddedPairs> {
  const acc: EmbeddedPairs = { images: [], captions: [], labels: [], pairs: 0, distinct: new DistinctCounter(), bad: 0, badItems: {} };
  const count = (reason: string) => { acc.badItems[reason] = (acc.badItems[reason] ?? 0) + 1; };
  const progress = new Throttle(o.onProgress, () => `eval: ${acc.images.length} images embedded, ${acc.bad} failed`);
  let pending: Array<{ image: Uint8Array; caption: string; label: string | undefined }> = [];
  const flush = async (): Promise<void> => {
    const batch = pending;
    pending = [];
    const decoded = await Promise.all(batch.map((p) => clip.decoder.decode(p.image, clip.imageSize).then((rgb) => rgb, (err: unknown) => { count(decodeFailureReason(err)); return undefined; })));
    const ok = batch.flatMap((p, i) => (decoded[i] ? [{ ...p, rgb: decoded[i]! }] : []));
    acc.bad += batch.length - ok.length;
    const emb = await clip.embedPixels(ok.map((x) => x.rgb));
    ok.forEach((x, i) => {
      acc.images.push(emb[i]!);
      acc.captions.push(x.caption);
      acc.labels.push(x.label);
    });
    progress.tick();
  };
  const limit = o.limit ?? Infinity;
  for await (const rec of readShards(files, { onBadItem: count })) {
    if (acc.pairs >= limit) break;
    if (o.signal?.aborted) throw new Interrupted('eval', `interrupted after ${acc.images.length} images; nothing written`);
    acc.pairs++;
    acc.distinct.add(rec.sha256);
    const label = labelSet ? rec.queries.find((q) => labelSet.has(q)) ?? (labelSet.has(rec.caption) ? rec.caption : undefined) : rec.queries[0] ?? rec.caption;
    pending.push({ image: rec.image, caption: rec.caption, label });
    if (pending.length >= o.batchSize) await flush();
  }
  if (pending.length) await flush();
  progress.final();
  if (!acc.images.length) throw new InputError('eval', files[0]!, acc.pairs ? 'no image in the shards decodes' : 'the shards hold no pairs');
  return acc;
}

type ResolvedEval = ReturnType<typeof resolveEval>;

/**
 * Why an existing --out must not be replaced by this evaluation (undefined: it may): it is not an
 * eval summary, or it evaluated other shard files or labels. wit report shows MODEL_DIR/eval.json,
 * so a run on other held-out shards never silently replaces it (README.md, "eval").
 */
async function otherEvaluation(path: string, given: string[], files: string[], labels: string | undefined): Promise<string | undefined> {
  const hint = 'pass another --out to keep both, or --overwrite to replace it';
  let old: Partial<EvalSummary> | undefined;
  try {
    if ((await stat(path)).size <= 64 * 2 ** 20) old = JSON.parse(await readFile(path, 'utf8')) as Partial<EvalSummary>;
  } catch {
    old = undefined;
  }
  if (!old || typeof old !== 'object' || !old.zero_shot || !Array.isArray(old.shards)) return `exists and is not a wit eval summary; ${hint}`;
  const list = (xs: string[]) => `${xs.slice(0, 2).join(', ')}${xs.length > 2 ? `, … (${xs.length} files)` : ''}`;
  const now = files.map((f) => resolve(f));
  // Summaries written before shard_files existed name the shards as given: compared as given.
  const legacy = !Array.isArray(old.shard_files);
  const then = legacy ? old.shards.map((s) => resolve(String(s))) : old.shard_files!;
  if (then.join('\n') !== (legacy ? given.map((s) => resolve(s)) : now).join('\n')) {
    return `holds the evaluation on other shards (${list(then)}); ${hint}`;
  }
  const oldLabels = old.labels !== undefined ? old.labels : old.zero_shot.label_source === 'file' ? 'a labels file' : null;
  const newLabels = labels ? resolve(labels) : null;
  if (old.labels !== undefined ? oldLabels !== newLabels : (oldLabels === null) !== (newLabels === null)) {
    return `holds an evaluation with ${oldLabels === null ? "the pairs' own labels" : `labels from ${oldLabels}`}; ${hint}`;
  }
  return undefined;
}

function resolveEval(input: EvalOptions) {
  const o = resolveOptions('eval', evalOptions, input);
  const templates = o.templates?.length ? o.templates : [...DEFAULT_TEMPLATES];
  for (const t of templates) if (!t.includes('{}') && !t.includes('{label}')) throw new UsageError('eval', `template '${t}' has no {} for the label`);
  return { ...o, templates, out: o.out ?? join(o.model, 'eval.json') };
}

/** Zero-shot top-1/top-5 of the embedded images over the (merged) classes. */
async function zeroShot(clip: ClipHandle, o: ResolvedEval, data: EmbeddedPairs, fileLabels: string[] | undefined, ranks?: number[]): Promise<EvalSummary['zero_shot']> {
  const seen = fileLabels ?? [...new Set(data.labels.filter((l): l is string => l !== undefined))].sort();
  const { classes, classOf, merged } = mergeLabels(seen);
  if (merged.length) o.onProgress?.(`eval: merged ${merged.length} labels that differ only in case or spacing (${merged.slice(0, 3).join(', ')}${merged.length > 3 ? ', …' : ''})`);
  const labeled: number[] = [];
  const labelIdx: number[] = [];
  data.labels.forEach((l, i) => {
    const k = l === undefined ? undefined : classOf.get(l);
    if (k !== undefined) {
      labeled.push(i);
      labelIdx.push(k);
    }
  });
  o.onProgress?.(`eval: embedding ${classes.length} classes × ${o.templates.length} templates`);
  const classEmb = await classEmbeddings(clip, classes, o.templates, o.onProgress);
  checkFinite(o.model, 'text', classEmb);
  const zs = zeroShotAccuracy(labeled.map((i) => data.images[i]!), labelIdx, classEmb, undefined, { ranks: ranks !== undefined });
  if (ranks && zs.ranks) for (const r of zs.ranks) ranks.push(Math.min(10, r));
  return {
    top1: zs.top1, top5: zs.top5, classes: zs.classes, samples: zs.samples, templates: o.templates.length,
    unlabeled: data.images.length - labeled.length, label_source: fileLabels ? 'file' : 'queries',
    merged_labels: merged.length, merged_examples: merged.slice(0, 10),
  };
}

/** Image<->text recall@1/5/10 over the first `retrievalSamples` pairs. */
async function retrieval(clip: ClipHandle, o: ResolvedEval, data: EmbeddedPairs, ranks?: { i2t: number[]; t2i: number[] }): Promise<EvalSummary['retrieval']> {
  const n = Math.min(data.images.length, o.retrievalSamples);
  const texts = await clip.embedTexts(data.captions.slice(0, n));
  checkFinite(o.model, 'caption', texts);
  const r = retrievalRecall(data.images.slice(0, n), texts, { ranks: ranks !== undefined });
  if (ranks && r.imageRanks && r.textRanks) {
    for (const x of r.imageRanks) ranks.i2t.push(Math.min(10, x));
    for (const x of r.textRanks) ranks.t2i.push(Math.min(10, x));
  }
  return { image_to_text: r.imageToText, text_to_image: r.textToImage, samples: r.samples };
}

/**
 * Evaluates a model on shards: zero-shot top-1/top-5 over the label set and image↔text
 * recall@1/5/10 over the pairs; writes the summary JSON. Throws UsageError for a missing model,
 * shards or labels file, InputError for unreadable ones, when no image decodes, or when the model
 * gives non-finite embeddings.
 */
export async function evaluate(input: EvalOptions): Promise<EvalSummary> {
  const t0 = performance.now();
  const o = resolveEval(input);
  const fileLabels = o.labels ? await readLabels(o.labels) : undefined;
  // Fail on bad shard paths before loading the model.
  const files = await listShards(o.shards);
  // The model first: its folder holds the default --out (MODEL/eval.json), whose lock the claim makes there.
  const clip = await loadClip(o.model, { backend: o.backend, device: o.device, batchSize: o.batchSize, decodeWorkers: o.decodeWorkers, threads: o.threads });
  let claim: Awaited<ReturnType<typeof claimOutput>>;
  try {
    claim = await claimOutput(o.out, { command: 'eval', kind: 'file', inputs: [...files, o.labels], replaces: o.overwrite ? undefined : (p) => otherEvaluation(p, o.shards, files, o.labels) });
  } catch (err) {
    await clip.dispose();
    throw err;
  }
  try {
    const data = await embedPairs(clip, files, o, fileLabels ? new Set(fileLabels) : undefined);
    checkFinite(o.model, 'image', data.images);
    const items = o.perItem ? { zs: [] as number[], i2t: [] as number[], t2i: [] as number[] } : undefined;
    const zero_shot = await zeroShot(clip, o, data, fileLabels, items?.zs);
    const summary: EvalSummary = {
      model: o.model,
      shards: o.shards,
      shard_files: files.map((f) => resolve(f)),
      labels: o.labels ? resolve(o.labels) : null,
      zero_shot,
      retrieval: await retrieval(clip, o, data, items && { i2t: items.i2t, t2i: items.t2i }),
      pairs: data.pairs,
      distinct_images: data.distinct.size,
      bad_images: data.bad,
      bad_items: data.badItems,
      chance_top1: zero_shot.classes ? 1 / zero_shot.classes : 0,
      chance_top5: zero_shot.classes ? Math.min(1, 5 / zero_shot.classes) : 0,
      seconds: (performance.now() - t0) / 1000,
      out: o.out,
    };
    await claim.create();
    await writeJsonAtomic(o.out, summary);
    return items ? { ...summary, per_item: { zero_shot: items.zs, image_to_text: items.i2t, text_to_image: items.t2i } } : summary;
  } finally {
    await clip.dispose();
    await claim.release();
  }
}
