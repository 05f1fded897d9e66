import { readFile, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { FoundModel, FoundShards } from './discover.js';
import { esc, facts, fmtBytes, fmtNum, fmtPct, table } from './html.js';
import { barChart, color, figure, histogramChart, lineChart } from './svg.js';
import { sampleGrid } from './images.js';
import { SIDE_BINS, droppedRecords, sideEdges, simEdges, type ShardScan } from './scan.js';
import type { ShardStats } from '../shards/index.js';
import { listShards, readShardStats } from '../shards/index.js';
import { PLANTED_NOISE_FILE } from './planted-noise.js';
import { FINAL_LOSS_STEPS, finalLoss, runSamplesPerSec } from '../train/final-loss.js';
import { checkWeightsFiles } from '../train/weights-check.js';
import { problemOf, type InputProblem } from './problems.js';
import { checkCount, checkFraction, checkList, checkSum, describeProblems, type FieldProblem } from '../util/checked.js';
import { InputError, errorMessage } from '../util/errors.js';

type Obj = Record<string, unknown>;

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function obj(v: unknown): Obj | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}

/** Adds the numeric fields of `src` into `dst` (reason counts of several shards). */
function addCounts(dst: Map<string, number>, src: unknown, field = '', problems: FieldProblem[] = []): void {
  const entries = Object.entries(obj(src) ?? {});
  if (entries.length > MAX_REASONS) {
    problems.push({ field, message: `holds ${entries.length} reasons, over the ${MAX_REASONS} a wit run has` });
    return;
  }
  for (const [k, v] of entries) {
    const c = checkCount(v, `${field}.${k}`, problems);
    if (c) dst.set(k, (dst.get(k) ?? 0) + c);
  }
}

/** Most distinct failure or skip reasons a run's totals may hold (wit's own have a few dozen). */
const MAX_REASONS = 1000;

/**
 * The problems of one metadata file as InputProblems (the report's exit line names the first) and
 * as a line of the page shown where the numbers would be.
 */
function metadataProblems(file: string, found: FieldProblem[]): { problems: InputProblem[]; item?: [string, string] } {
  if (!found.length) return { problems: [] };
  const message = `numbers left out: ${describeProblems(found)}`;
  return { problems: [{ file, message }], item: ['problem', `<span class="num bad">${esc(`${file}: ${message}`)}</span>`] };
}

/** First and last index of a non-zero count, widened by `pad` (the whole range when all are zero). */
function populated(counts: readonly number[], pad: number): [number, number] {
  const a = counts.findIndex((c) => c > 0);
  if (a < 0) return [0, counts.length - 1];
  let b = counts.length - 1;
  while (b > a && counts[b] === 0) b--;
  return [Math.max(0, a - pad), Math.min(counts.length - 1, b + pad)];
}

function topEntries(m: Map<string, number>, n: number): [string, number][] {
  return [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
}

/** Candidates, kept and reasons of a crawl, from its manifest totals or, failing that, its shard stats. */
export function crawlTotals(found: FoundShards, stats: ShardStats[], problems: FieldProblem[] = []): { candidates?: number; matched?: number; kept: number; failed: Map<string, number>; skipped: Map<string, number> } {
  const t = obj(found.manifest?.totals) ?? {};
  const failed = new Map<string, number>();
  const skipped = new Map<string, number>();
  // Each number is checked (a count is a whole number ≥ 0): a wrong one is named, never shown.
  const shardProblems: FieldProblem[] = [];
  if (obj(t.failed) || obj(t.skipped)) {
    addCounts(failed, t.failed, 'totals.failed', problems);
    addCounts(skipped, t.skipped, 'totals.skipped', problems);
  } else {
    for (const s of stats) {
      addCounts(failed, s.failed, 'shard stats failed', shardProblems);
      addCounts(skipped, s.skipped, 'shard stats skipped', shardProblems);
    }
  }
  const sum = (f: string) => stats.reduce((a, s) => a + (checkCount(s[f], `shard stats ${f}`, shardProblems) ?? 0), 0);
  const candidates = checkCount(t.candidates, 'totals.candidates', problems) ?? (stats.some((s) => s.candidates !== undefined) ? sum('candidates') : undefined);
  const matched = checkCount(t.matched, 'totals.matched', problems);
  const kept = checkCount(t.kept, 'totals.kept', problems) ?? checkCount(t.successes, 'totals.successes', problems) ?? checkCount(t.count, 'totals.count', problems) ?? sum('count');
  checkSum([['totals.kept', kept]], ['totals.candidates', candidates], problems);
  problems.push(...shardProblems.slice(0, 3));
  return { candidates, matched, kept, failed, skipped };
}

async function readQueryCounts(file: string): Promise<number[] | undefined> {
  try {
    const counts: number[] = [];
    const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    for await (const line of rl) {
      const parts = line.split('\t');
      const c = Number(parts[parts.length - 1]);
      if (parts.length >= 2 && Number.isFinite(c) && c > 0) counts.push(c);
    }
    return counts.sort((a, b) => b - a);
  } catch {
    return undefined;
  }
}

/** The crawl section of one crawl run: outcomes, reasons, pairs per query against the cap, hosts. */
export async function renderCrawl(found: FoundShards, scan: ShardScan): Promise<{ html: string; charts: number; problems: InputProblem[] }> {
  const wrong: FieldProblem[] = [];
  const tot = crawlTotals(found, scan.stats, wrong);
  const flagged = metadataProblems(join(found.dir, 'manifest.json'), wrong);
  const opts = obj(found.manifest?.options) ?? {};
  const cap = num(opts.cap);
  const balance = typeof opts.balance === 'string' ? opts.balance : undefined;
  const failedN = [...tot.failed.values()].reduce((a, b) => a + b, 0);
  const skippedN = [...tot.skipped.values()].reduce((a, b) => a + b, 0);
  const items: [string, string][] = [];
  if (tot.candidates !== undefined) items.push(['candidates', fmtNum(tot.candidates)]);
  if (tot.matched !== undefined) items.push(['matched a query', fmtNum(tot.matched)]);
  // distinct images counted in the shards themselves (by sha256): one image under several captions is one image
  items.push(['kept (pairs)', fmtNum(tot.kept)], ['distinct images', fmtNum(scan.distinctImages)], ['failed', fmtNum(failedN)], ['skipped', fmtNum(skippedN)]);
  if (flagged.item) items.push(flagged.item);
  if (tot.candidates) items.push(['kept / candidates', fmtPct(tot.kept / tot.candidates)]);
  if (balance) items.push(['balance', esc(balance)]);
  if (cap !== undefined) items.push(['cap per query', fmtNum(cap)]);
  const inputs = Array.isArray(found.manifest?.inputs) ? (found.manifest!.inputs as unknown[]).map(String) : [];
  let charts = 0;
  const figs: string[] = [];
  const reasons = [
    ...[...tot.failed.entries()].map(([k, v]) => ({ label: `failed: ${k}`, value: v, color: '#c4452d' })),
    ...[...tot.skipped.entries()].map(([k, v]) => ({ label: `skipped: ${k}`, value: v, color: '#8a94a6' })),
  ].sort((a, b) => b.value - a.value);
  const outcome = [{ label: 'kept', value: tot.kept, color: '#2e8b57' }, ...reasons];
  figs.push(figure(barChart({ title: 'Outcome of every candidate', bars: outcome, log: true }), 'Bar length on a log scale; every candidate ends in exactly one outcome.'));
  charts++;
  const counts = await readQueryCounts(join(found.dir, 'query_counts.tsv'));
  const perQuery = counts ?? perQueryFromScan(scan);
  if (perQuery.length) {
    const pts = perQuery.map((c, i) => [i + 1, c] as [number, number]);
    const step = Math.max(1, Math.floor(pts.length / 600));
    const sampled = pts.filter((_, i) => i % step === 0 || i === pts.length - 1);
    figs.push(figure(lineChart({
      title: 'Pairs per query by rank (log-log)',
      series: [{ name: 'pairs', points: sampled, dots: true }],
      logX: true,
      logY: true,
      xLabel: 'query rank',
      yLabel: 'pairs kept',
      hlines: cap !== undefined ? [{ y: cap, label: `cap ${fmtNum(cap)}` }] : [],
    }), `${fmtNum(perQuery.length)} queries have at least one pair${counts ? ' (query_counts.tsv)' : ' (from the shards\u2019 queries column)'}; ${cap !== undefined ? `${fmtNum(perQuery.filter((c) => c >= cap).length)} reached the cap.` : ''}`));
    charts++;
  }
  const hostRows = topEntries(scan.hosts, 12).map(([h, n]) => [esc(h), `<span class="num">${fmtNum(n)}</span>`]);
  const pageRows = topEntries(scan.pageHosts, 12).map(([h, n]) => [esc(h), `<span class="num">${fmtNum(n)}</span>`]);
  const html = `${facts(items)}
<p class="src">${esc(found.dir)}${inputs.length ? `<br>inputs: ${inputs.map(esc).join(', ')}` : ''}</p>
<div class="grid2">${figs.join('')}</div>
<div class="grid2"><div><h3>Image hosts (${fmtNum(scan.hosts.size)})</h3>${table(['host', 'pairs'], hostRows)}</div>
<div><h3>Page hosts (${fmtNum(scan.pageHosts.size)})</h3>${table(['host', 'pairs'], pageRows)}</div></div>`;
  return { html, charts, problems: flagged.problems };
}

function perQueryFromScan(scan: ShardScan): number[] {
  const m = new Map<string, number>();
  for (const r of scan.samples) for (const q of r.queries ?? []) m.set(q, (m.get(q) ?? 0) + 1);
  return [...m.values()].sort((a, b) => b - a);
}

/** The shard section of one shard set: files, sizes, image sizes and a grid of samples. */
export async function renderShards(found: FoundShards, scan: ShardScan): Promise<{ html: string; charts: number }> {
  let charts = 0;
  const items: [string, string][] = [
    ['shards', fmtNum(scan.files.length)],
    ['pairs', fmtNum(scan.rows)],
    ['distinct images', fmtNum(scan.distinctImages)],
    ['on disk', fmtBytes(scan.bytes)],
  ];
  if (scan.rows) items.push(['bytes per pair', fmtBytes(scan.bytes / scan.rows)]);
  const figs: string[] = [];
  if (scan.rows) {
    const [a, b] = populated(scan.sideCounts, 1);
    const edges = sideEdges().slice(a, b + 2);
    figs.push(figure(histogramChart({ title: 'Image size as downloaded (longest side)', edges, counts: scan.sideCounts.slice(a, b + 1), xLabel: 'pixels (log scale)', logX: true }), `Bins of a half power of two${b === SIDE_BINS - 1 ? `; the last holds ${fmtNum(Math.round(edges[edges.length - 2]!))} px and more` : ''}. Stored sizes: ${topEntries(scan.storedSizes, 4).map(([s, n]) => `${esc(s)} (${fmtNum(n)})`).join(', ')}`));
    charts++;
    const [wa, wb] = populated(scan.wordCounts, 1);
    const wedges = scan.wordCounts.slice(wa, wb + 1).map((_, i) => wa + i - 0.5).concat(wb + 0.5);
    figs.push(figure(histogramChart({ title: 'Caption length', edges: wedges, counts: scan.wordCounts.slice(wa, wb + 1), xLabel: 'words', barColor: color(1) }), wb === scan.wordCounts.length - 1 ? `The last bar counts ${wb} words or more.` : undefined));
    charts++;
  }
  const fileRows = scan.files.slice(0, 20).map((f) => [esc(f.file), `<span class="num">${fmtNum(f.rows)}</span>`, `<span class="num">${fmtBytes(f.bytes)}</span>`]);
  const more = scan.files.length > 20 ? `<p class="note">…and ${scan.files.length - 20} more shards</p>` : '';
  return {
    html: `${facts(items)}
<p class="src">${esc(found.dir)} (${esc(found.stage)})</p>
<div class="grid2">${figs.join('')}<div><h3>Files</h3>${table(['shard', 'pairs', 'bytes'], fileRows)}${more}</div></div>
<h3>Sample pairs (uniform sample of ${fmtNum(scan.samples.length)})</h3>
${await sampleGrid(scan.samples.map((rec) => ({ rec })))}`,
    charts,
  };
}

/** One line of metrics.jsonl. */
interface MetricLine {
  step: number;
  loss?: number;
  lr?: number;
  logit_scale?: number;
  samples_per_s?: number;
  time?: number;
}

/** Training curves and facts of one model directory. */
export async function renderTraining(m: FoundModel): Promise<{ html: string; charts: number; steps: number; problems: InputProblem[] }> {
  const lines: MetricLine[] = [];
  if (m.metrics) {
    const text = await readFile(m.metrics, 'utf8').catch(() => '');
    for (const l of text.split('\n')) {
      if (!l.trim()) continue;
      try {
        const j = JSON.parse(l) as Obj;
        if (typeof j.step === 'number') lines.push(j as unknown as MetricLine);
      } catch {
        // a line cut by a crash: skip it
      }
    }
  }
  let config: Obj | undefined;
  if (m.config) config = obj(JSON.parse(await readFile(m.config, 'utf8').catch(() => '{}')));
  const items: [string, string][] = [];
  const archObj = obj(config?.arch);
  const arch = archObj?.name ?? config?.arch ?? config?.name;
  if (typeof arch === 'string') items.push(['model', esc(arch)]);
  const vision = obj(archObj?.vision);
  const text = obj(archObj?.text);
  if (vision) items.push(['image tower', esc(`${vision.type ?? ''} ${vision.image_size ?? '?'}px${vision.patch_size ? `/${vision.patch_size}` : ''}, width ${vision.width ?? '?'}, ${vision.layers ?? (Array.isArray(vision.stages) ? vision.stages.join('-') : '?')} layers`)]);
  if (text) items.push(['text tower', esc(`width ${text.width ?? '?'}, ${text.layers ?? '?'} layers, context ${text.context_length ?? '?'}`)]);
  const last = lines[lines.length - 1];
  items.push(['steps', fmtNum(last?.step ?? 0)]);
  if (last?.loss !== undefined) items.push([`final loss (mean of the last ${FINAL_LOSS_STEPS} steps)`, fmtNum(finalLoss(lines.map((l) => l.loss).filter((v): v is number => typeof v === 'number')))]);
  const sps = runSamplesPerSec(lines as ReadonlyArray<{ batch?: unknown; samples_per_s?: unknown }>);
  if (sps > 0) items.push(['samples/s (samples over step time)', fmtNum(sps)]);
  if (last?.logit_scale !== undefined) items.push(['logit scale', fmtNum(last.logit_scale)]);
  const batch = lines.find((l) => typeof (l as unknown as Obj).batch === 'number') as unknown as Obj | undefined;
  if (batch) items.push(['batch size', fmtNum(batch.batch)]);
  for (const k of ['backend', 'loss']) if (config?.[k] !== undefined && typeof config[k] !== 'object') items.push([k, esc(config[k])]);
  // The weights are what the run made: read and checked as every command that loads the model
  // would (sizes against the manifest, NaN and infinities), so a model cut short or overwritten is
  // on the page and in the exit code, not found out by the next command.
  const problems: InputProblem[] = [];
  if (await stat(join(m.dir, 'model.json')).then((st) => st.isFile(), () => false)) {
    try {
      const w = await checkWeightsFiles(m.dir, 'model', 'report');
      items.push(['weights', `${fmtNum(w.values)} values in ${fmtNum(w.tensors)} tensors, all finite`]);
    } catch (err) {
      const p = problemOf(err, m.dir);
      problems.push(p);
      items.push(['weights', `<span class="num bad">unusable: ${esc(`${p.file}: ${p.message}`)}</span>`]);
    }
  }
  let charts = 0;
  const figs: string[] = [];
  const series = (f: keyof MetricLine) => lines.filter((l) => typeof l[f] === 'number' && Number.isFinite(l[f])).map((l) => [l.step, l[f] as number] as [number, number]);
  const chart = (f: keyof MetricLine, title: string, y: string, c: number) => {
    const pts = series(f);
    if (!pts.length) return;
    figs.push(figure(lineChart({ title, series: [{ name: y, points: pts, color: color(c) }], xLabel: 'step', yLabel: y })));
    charts++;
  };
  chart('loss', 'Training loss', 'loss', 0);
  chart('logit_scale', 'Logit scale (1 / temperature)', 'logit scale', 1);
  chart('samples_per_s', 'Throughput', 'samples/s', 2);
  chart('lr', 'Learning rate', 'lr', 3);
  const body = lines.length ? `<div class="grid2">${figs.join('')}</div>` : '<p class="empty">No metrics.jsonl in this model directory.</p>';
  return { html: `${facts(items)}<p class="src">${esc(m.dir)}</p>${body}`, charts, steps: last?.step ?? 0, problems };
}

/** Largest eval summary read (wit eval writes a few kB; per-class results of 100,000 labels stay far under). */
const MAX_EVAL_JSON_BYTES = 5_000_000;

/** The numbers of one eval JSON, with chance levels. */
export async function renderEval(file: string): Promise<{ html: string; charts: number; zeroShot?: { top1: number; top5: number; classes: number }; problems: InputProblem[] }> {
  const size = (await stat(file)).size;
  if (size > MAX_EVAL_JSON_BYTES) throw new InputError('report', file, `is ${fmtNum(size)} bytes, over the ${fmtNum(MAX_EVAL_JSON_BYTES)} an eval summary holds`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new InputError('report', file, `not a readable eval summary (NaN and Infinity are not JSON numbers): ${errorMessage(err)}`);
  }
  const j = obj(parsed) ?? {};
  const zs = obj(j.zero_shot ?? j.zeroShot); // zeroShot: eval.json of wit before snake_case summaries
  const ret = obj(j.retrieval);
  const items: [string, string][] = [];
  const figs: string[] = [];
  let charts = 0;
  let zeroShot: { top1: number; top5: number; classes: number } | undefined;
  // Every number is checked (accuracies and recalls in [0, 1], counts whole, lists bounded): a wrong one is named, never drawn.
  const wrong: FieldProblem[] = [];
  for (const [k, v] of Object.entries(j)) if (Array.isArray(v)) checkList(v, k, wrong);
  for (const [k, v] of Object.entries(zs ?? {})) if (Array.isArray(v) || obj(v)) checkList(Array.isArray(v) ? v : Object.keys(v as Obj), `zero_shot.${k}`, wrong);
  if (zs) {
    const zsField = j.zero_shot ? 'zero_shot' : 'zeroShot';
    const top1 = checkFraction(zs.top1, `${zsField}.top1`, wrong) ?? NaN;
    const top5 = checkFraction(zs.top5, `${zsField}.top5`, wrong) ?? NaN;
    const classes = checkCount(zs.classes, `${zsField}.classes`, wrong) ?? NaN;
    const samples = checkCount(zs.samples, `${zsField}.samples`, wrong);
    if (top1 > top5) wrong.push({ field: `${zsField}.top1`, message: `is ${top1}, over top5 (${top5})` });
    zeroShot = { top1, top5, classes };
    items.push(['zero-shot top-1', fmtPct(top1)], ['zero-shot top-5', fmtPct(top5)], ['classes', fmtNum(classes)], ['images', fmtNum(samples)]);
    if (classes > 0) items.push(['chance top-1 / top-5', `${fmtPct(1 / classes)} / ${fmtPct(Math.min(1, 5 / classes))}`]);
    const bars = [
      { label: 'top-1', value: top1, color: color(0), note: fmtPct(top1) },
      { label: 'chance top-1', value: classes > 0 ? 1 / classes : 0, color: '#8a94a6', note: classes > 0 ? fmtPct(1 / classes) : '–' },
      { label: 'top-5', value: top5, color: color(2), note: fmtPct(top5) },
      { label: 'chance top-5', value: classes > 0 ? Math.min(1, 5 / classes) : 0, color: '#8a94a6', note: classes > 0 ? fmtPct(Math.min(1, 5 / classes)) : '–' },
    ];
    figs.push(figure(barChart({ title: 'Zero-shot accuracy vs chance', bars, max: 1 })));
    charts++;
  }
  const rows: string[][] = [];
  if (ret) {
    const bars: { label: string; value: number; color: string; note: string }[] = [];
    for (const [dir, label, older] of [['image_to_text', 'image → text', 'imageToText'], ['text_to_image', 'text → image', 'textToImage']] as const) {
      const r = obj(ret[dir] ?? ret[older]);
      if (!r) continue;
      rows.push([esc(label), ...['r1', 'r5', 'r10'].map((k) => `<span class="num">${fmtPct(checkFraction(r[k], k, []))}</span>`)]);
      for (const k of ['r1', 'r5', 'r10']) {
        const v = checkFraction(r[k], `retrieval.${dir}.${k}`, wrong);
        if (v !== undefined) bars.push({ label: `${label} R@${k.slice(1)}`, value: v, color: color(dir === 'image_to_text' ? 0 : 1), note: fmtPct(v) });
      }
    }
    if (bars.length) {
      figs.push(figure(barChart({ title: 'Retrieval recall@K', bars, max: 1 })));
      charts++;
    }
  }
  const flagged = metadataProblems(file, wrong);
  if (flagged.item) items.push(flagged.item);
  const html = `${facts(items)}<p class="src">${esc(file)}</p><div class="grid2">${figs.join('')}${rows.length ? `<div><h3>Recall@K</h3>${table(['direction', 'R@1', 'R@5', 'R@10'], rows)}</div>` : ''}</div>`;
  return { html, charts, zeroShot: flagged.problems.length ? undefined : zeroShot, problems: flagged.problems };
}

/** The filter section: counts, the similarity histogram with its threshold, extremes, dropped samples. */
export async function renderFilter(found: FoundShards, scan: ShardScan): Promise<{ html: string; charts: number; problems: InputProblem[] }> {
  const t = obj(found.manifest?.totals) ?? {};
  const opts = obj(found.manifest?.options) ?? {};
  const threshold = num(t.threshold) ?? num(opts.min_similarity) ?? num(opts.minSimilarity);
  const items: [string, string][] = [];
  const wrong: FieldProblem[] = [];
  if (typeof t.mode === 'string') items.push(['mode', esc(t.mode)]);
  const counts: Partial<Record<'input' | 'scored' | 'kept', number>> = {};
  for (const [k, label] of [['input', 'input pairs'], ['scored', 'scored'], ['kept', 'kept']] as const) {
    const v = checkCount(t[k], `totals.${k}`, wrong);
    counts[k] = v;
    if (v !== undefined) items.push([label, fmtNum(v)]);
  }
  checkSum([['totals.kept', counts.kept]], ['totals.input', counts.input], wrong);
  // Distinct images (by sha256): of the input from the run's totals (checked: at most the input
  // pairs; runs made before have none), of the kept pairs counted in the shards themselves.
  const distinctIn = checkCount(t.distinct_images_in, 'totals.distinct_images_in', wrong);
  checkSum([['totals.distinct_images_in', distinctIn]], ['totals.input', counts.input], wrong);
  const after = (label: string, item: [string, string]) => {
    const i = items.findIndex(([l]) => l === label);
    items.splice(i < 0 ? items.length : i + 1, 0, item);
  };
  if (distinctIn !== undefined) after('input pairs', ['distinct images in', fmtNum(distinctIn)]);
  after('kept', ['distinct images kept', fmtNum(scan.distinctImages)]);
  if (counts.input && counts.kept !== undefined && counts.kept <= counts.input) items.push(['kept / input', fmtPct(counts.kept / counts.input)]);
  if (threshold !== undefined) items.push(['threshold', fmtNum(threshold)]);
  // keep_fraction since the summaries went snake_case; keepFraction in runs made before.
  const keepFraction = t.keep_fraction ?? t.keepFraction;
  const kf = checkFraction(keepFraction, t.keep_fraction !== undefined ? 'totals.keep_fraction' : 'totals.keepFraction', wrong);
  if (kf !== undefined) items.push(['keep fraction', fmtNum(kf)]);
  if (num(t.dedup_semantic) !== undefined) items.push(['semantic dedup', `cosine ≥ ${fmtNum(t.dedup_semantic)}`]);
  const noise = obj(JSON.parse(await readFile(join(found.dir, PLANTED_NOISE_FILE), 'utf8').catch(() => 'null')));
  if (noise && num(noise.noisy_pairs) !== undefined && num(noise.noisy_dropped) !== undefined) {
    const caught = num(noise.noisy_pairs)! ? ` (${fmtPct(num(noise.noisy_dropped)! / num(noise.noisy_pairs)!)})` : '';
    items.push(['planted wrong captions caught', `${fmtNum(noise.noisy_dropped)} of ${fmtNum(noise.noisy_pairs)}${caught}`]);
    if (num(noise.clean_pairs)) items.push(['other pairs dropped', `${fmtNum(noise.clean_dropped)} of ${fmtNum(noise.clean_pairs)} (${fmtPct(num(noise.clean_dropped)! / num(noise.clean_pairs)!)})`]);
  }
  let charts = 0;
  const figs: string[] = [];
  const h = obj(t.histogram) ?? obj(found.manifest?.similarity_histogram);
  const markers = threshold !== undefined ? [{ x: threshold, label: `threshold ${fmtNum(threshold)}` }] : [];
  if (h && Array.isArray(h.counts) && num(h.min) !== undefined && num(h.max) !== undefined && (h.counts as number[]).some((c) => c > 0)) {
    const counts = h.counts as number[];
    const w = (num(h.max)! - num(h.min)!) / counts.length;
    // Show only the populated range: cosine scores of one model crowd into a few bins of [-1, 1].
    let a = counts.findIndex((c) => c > 0);
    let b = counts.length - 1 - [...counts].reverse().findIndex((c) => c > 0);
    if (threshold !== undefined) {
      const ti = Math.floor((threshold - num(h.min)!) / w);
      a = Math.max(0, Math.min(a, ti - 1));
      b = Math.min(counts.length - 1, Math.max(b, ti + 1));
    }
    const edges = counts.slice(a, b + 1).map((_, i) => num(h.min)! + (a + i) * w).concat(num(h.min)! + (b + 1) * w);
    figs.push(figure(histogramChart({ title: 'Similarity of every scored pair', edges, counts: counts.slice(a, b + 1), xLabel: 'cosine similarity', markers }), `From the run's histogram (${fmtNum(num(h.total))} pairs, mean ${fmtNum(num(h.mean))}).`));
    charts++;
  }
  if (scan.scored) {
    // The kept pairs' own scores, binned finely: the run's histogram has fixed 0.05-wide bins.
    const [a, b] = populated(scan.simCounts, 0);
    const group = Math.max(1, Math.ceil((b - a + 1) / 40));
    const all = simEdges();
    const counts: number[] = [];
    const edges: number[] = [];
    for (let i = a; i <= b; i += group) {
      edges.push(all[i]!);
      counts.push(scan.simCounts.slice(i, Math.min(i + group, scan.simCounts.length)).reduce((x, y) => x + y, 0));
    }
    edges.push(all[Math.min(all.length - 1, a + counts.length * group)]!);
    figs.push(figure(histogramChart({ title: 'Similarity of the kept pairs (from the shards)', edges, counts, xLabel: 'cosine similarity', markers: markers.filter((m) => m.x >= edges[0]! && m.x <= edges[edges.length - 1]!), barColor: color(2) })));
    charts++;
  }
  const dropped = obj(t.dropped);
  if (dropped) {
    const bars = Object.entries(dropped).filter(([, v]) => typeof v === 'number' && v > 0).map(([k, v]) => ({ label: k, value: v as number, color: '#c4452d' }));
    if (bars.length) {
      figs.push(figure(barChart({ title: 'Dropped pairs by reason', bars })));
      charts++;
    }
  }
  // What the filter removed: input rows whose key is not in the output.
  let droppedGrid = '';
  const inputs = Array.isArray(opts.shards) ? (opts.shards as unknown[]).map(String) : [];
  if (inputs.length) {
    try {
      const inFiles = (await listShards(inputs)).slice(0, 8);
      const outFiles = (await listShards(found.dir)).slice(0, 8);
      const recs = await droppedRecords(inFiles, outFiles, 12);
      // Why each was dropped and its score, from the output shards' stats (runs made before have none).
      const why = new Map<string, unknown>();
      for (const o of outFiles) for (const [k, v] of Object.entries(obj((await readShardStats(o)))?.dropped_pairs ?? {})) why.set(k, v);
      const label = (key: string) => {
        const v = why.get(key);
        if (!Array.isArray(v)) return undefined;
        return `${String(v[0]).replace(/_/g, ' ')}${typeof v[1] === 'number' ? `, score ${fmtNum(v[1])}` : ''}`;
      };
      droppedGrid = `<h3>Dropped by the filter (first ${recs.length})</h3>${await sampleGrid(recs.map((rec) => ({ rec, label: label(rec.key) })))}`;
    } catch {
      droppedGrid = '<p class="note">(the filter\u2019s input shards are no longer readable)</p>';
    }
  }
  const html = `${facts(items)}<p class="src">${esc(found.dir)}</p>
<div class="grid2">${figs.join('')}</div>
<h3>Highest-scoring kept pairs</h3>${await sampleGrid(scan.highest.map((rec) => ({ rec })))}
<h3>Lowest-scoring kept pairs</h3>${await sampleGrid(scan.lowest.map((rec) => ({ rec })))}
${droppedGrid}`;
  const flagged = metadataProblems(join(found.dir, 'manifest.json'), wrong);
  return { html: flagged.item ? `${facts([flagged.item])}${html}` : html, charts, problems: flagged.problems };
}
