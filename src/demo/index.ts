import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { EMOJI_SETS, commonEmoji, type Emoji, type EmojiSet } from '../data/emoji.js';
import { readManifest, readShards } from '../shards/index.js';
import { parseFlags } from '../cli/args.js';
import type { CommandContext } from '../cli/command.js';
import { UsageError, WitError, errorMessage } from '../util/errors.js';
import { formatDuration } from '../util/progress.js';
import { bzip2File, findBzip2 } from './compress.js';
import { writeHeldout } from './heldout.js';
import { writePageviews } from './pageviews.js';
import { Rng } from '../util/rng.js';
import { ImageCache, planSite, serveSite, type SitePlan, type SiteServer } from './site.js';
import { writeSiteWarc } from './warc.js';
import { planWikiDump, writeWikiXml } from './wiki-dump.js';
import { readSynsets } from './wordnet.js';

export { planWikiDump, writeWikiXml, pageXml, dumpHeader, wikiTitle, type WikiPage, type WikiDumpPlan } from './wiki-dump.js';
export { writePageviews, pageviewFileName } from './pageviews.js';
export { planSite, serveSite, renderPage, siteResponse, ImageCache, type SitePlan, type SiteServer, type SiteImg } from './site.js';
export { writeSiteWarc } from './warc.js';
export { writeHeldout } from './heldout.js';
export { readSynsets, parseSynsetLine, bundledWordnetDir, type Synset } from './wordnet.js';
export { bzip2File, findBzip2 } from './compress.js';

/** The demo's stages, in the order they run. */
export const DEMO_STAGES = ['data', 'querygen', 'crawl', 'heldout', 'train', 'filter', 'eval', 'index', 'report'] as const;
/** A stage name for --skip. */
export type DemoStage = (typeof DEMO_STAGES)[number];

/** Options of {@link demo}. */
export interface DemoOptions {
  /** Folder for everything the demo writes (default data/demo). */
  out: string;
  /** Size multiplier: emoji shown (100 x scale), articles (1500 x scale), training steps. Default 1. */
  scale?: number;
  /** Stages to skip when their output is already there (a stage whose output is missing still runs). */
  skip?: DemoStage[];
  /** Training steps (default 300 x sqrt(scale)). */
  steps?: number;
  /** Architecture (default vit-micro: 32 px, trains in a few minutes on 2 cores). */
  arch?: string;
  /** Pairs per training step (default 64). */
  batchSize?: number;
  /** Seeds every generator and the training. Default 0. */
  seed?: number;
  /** The emoji design held out of training for zero-shot evaluation; the site shows the other two (default twitter). */
  heldout?: EmojiSet;
  /** Peak learning rate (default 3e-3: a tiny model on a few hundred pairs). */
  lr?: number;
  /** querygen worker threads (default: querygen's own default). */
  workers?: number;
  /** Status line of the stage in progress. */
  onProgress?: (line: string) => void;
  /** A line per stage start/end and notable event. */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

/** One stage as it ran. */
export interface DemoStageResult {
  stage: DemoStage;
  status: 'done' | 'skipped';
  seconds: number;
  /** The equivalent command, to rerun the stage by hand (null for the demo's own generators). */
  command: string | null;
}

/** What the demo did, with the headline numbers. */
export interface DemoSummary {
  out: string;
  report: string;
  seconds: number;
  stages: DemoStageResult[];
  emoji: number;
  queries: number | null;
  queriesBySource: Record<string, number> | null;
  /** Emoji names present in queries.tsv (the crawl's captions match them). */
  emojiNamesInQueries: number | null;
  crawl: { candidates: number; kept: number; failed: number; skipped: number } | null;
  train: { steps: number; finalLoss: number; samplesPerSec: number; backend: string; seconds: number } | null;
  /**
   * Filter totals, and how it treated the pairs the site made noisy on purpose (another emoji's name,
   * useless alt text) against the rest: the fraction of each that it dropped.
   */
  filter: { input: number; kept: number; threshold: number | null; noisyPairs: number; noisyDropped: number; cleanPairs: number; cleanDropped: number } | null;
  eval: { top1: number; top5: number; classes: number; chanceTop1: number; chanceTop5: number; imageToTextR1: number | null } | null;
  siteUrl: string | null;
  /** The command that serves the search page over the demo's index. */
  serve: string | null;
  /** The emoji set held out of training. */
  heldout: EmojiSet;
}

/**
 * Zero-shot prompts: the phrasings the site's alt texts use (the CLIP paper engineered prompts per
 * dataset the same way); "a photo of a {}" fits photographs, not emoji.
 */
export const TEMPLATES = ['{}', '{} emoji', 'an illustration of a {}'] as const;

/** Where each stage writes, under the demo folder. */
export function demoPaths(out: string) {
  return {
    wikiDir: join(out, 'wiki'),
    dump: join(out, 'wiki', 'enwiki-20240101-pages-articles.xml.bz2'),
    dumpPlain: join(out, 'wiki', 'enwiki-20240101-pages-articles.xml'),
    queries: join(out, 'queries.tsv'),
    siteDir: join(out, 'site'),
    siteJson: join(out, 'site', 'site.json'),
    warc: join(out, 'site', 'archive.warc.gz'),
    crawl: join(out, 'crawl'),
    heldout: join(out, 'heldout'),
    model: join(out, 'model'),
    filtered: join(out, 'filtered'),
    eval: join(out, 'model', 'eval.json'),
    index: join(out, 'index'),
    report: join(out, 'report.html'),
  };
}

/**
 * The emoji the demo shows: present in the google, twitter and openmoji sets, with a name usable as
 * a Wikipedia title (no ':'), one per name, a seeded sample of `n`, in code order.
 */
export async function demoEmoji(n: number, seed = 0): Promise<Emoji[]> {
  const all = await commonEmoji(['google', 'twitter', 'openmoji'], { flags: false });
  const seen = new Set<string>();
  const usable = all.filter((e) => {
    if (e.name.includes(':') || e.name.length > 40 || seen.has(e.name)) return false;
    seen.add(e.name);
    return true;
  });
  return new Rng(`emoji-${seed}`).shuffle(usable).slice(0, Math.min(n, usable.length)).sort((a, b) => (a.code < b.code ? -1 : 1));
}

function sh(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function cmd(parts: (string | number)[]): string {
  return ['wit', ...parts.map((p) => sh(String(p)))].join(' ');
}

/**
 * A stage's settings, written once as its command line: `paths` maps each path, relative for the
 * printed command, absolute for the run. The demo prints `wit ARGS` and runs the same ARGS through the
 * command's own flag parsing and `run` (src/cli/commands), so the two cannot drift.
 */
type StageArgs = (paths: (p: string) => string) => (string | number)[];

/** Runs `wit ARGS` in this process; resolves to the command's summary. */
async function runStageArgs(args: StageArgs, ctx: CommandContext): Promise<Record<string, unknown>> {
  const [name, ...argv] = args((x) => x).map(String);
  const { loadCommand } = await import('../cli/main.js');
  const command = await loadCommand(name!);
  if (!command) throw new WitError('demo', `no command ${name}`);
  return (await command.run(parseFlags(name!, argv, command.flags), ctx)).summary;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * Counts, among the crawled pairs, those the site captioned wrongly on purpose (swapped names, junk
 * alt text) and the rest, and how many of each the filter dropped.
 */
async function noiseOutcome(plan: SitePlan, crawlDir: string, filteredDir: string): Promise<{ noisyPairs: number; noisyDropped: number; cleanPairs: number; cleanDropped: number }> {
  const noisy = new Set<string>();
  for (const page of plan.pages.values()) for (const img of page.images) if ((img.kind === 'swapped' || img.kind === 'junk') && img.alt) noisy.add(`${img.src}\t${img.alt}`);
  const kept = new Set<string>();
  for await (const r of readShards(filteredDir, { images: false })) kept.add(r.key);
  const out = { noisyPairs: 0, noisyDropped: 0, cleanPairs: 0, cleanDropped: 0 };
  for await (const r of readShards(crawlDir, { images: false })) {
    let path = r.url;
    try {
      path = new URL(r.url).pathname;
    } catch {
      // not a url: compare as is
    }
    const isNoisy = noisy.has(`${path}\t${r.caption}`);
    const dropped = !kept.has(r.key);
    if (isNoisy) {
      out.noisyPairs++;
      if (dropped) out.noisyDropped++;
    } else {
      out.cleanPairs++;
      if (dropped) out.cleanDropped++;
    }
  }
  return out;
}

/** The training numbers of a model made earlier (a skipped train stage), from its metrics.jsonl. */
async function trainedSummary(model: string): Promise<DemoSummary['train']> {
  let text: string;
  try {
    text = await readFile(join(model, 'metrics.jsonl'), 'utf8');
  } catch {
    return null;
  }
  const lines: { step: number; loss: number; samples_per_s?: number; time?: number }[] = [];
  for (const l of text.split('\n')) {
    try {
      const j = JSON.parse(l) as { step?: unknown; loss?: unknown };
      if (typeof j.step === 'number' && typeof j.loss === 'number') lines.push(j as never);
    } catch {
      // a cut line
    }
  }
  if (!lines.length) return null;
  const last = lines.slice(-10);
  const sps = lines.map((l) => l.samples_per_s).filter((v): v is number => typeof v === 'number');
  const state = await readJson<{ elapsed?: number }>(join(model, 'train_state.json'));
  return {
    steps: lines[lines.length - 1]!.step,
    finalLoss: last.reduce((a, l) => a + l.loss, 0) / last.length,
    samplesPerSec: sps.length ? sps.reduce((a, b) => a + b, 0) / sps.length : 0,
    backend: 'earlier run',
    seconds: state?.elapsed ?? lines[lines.length - 1]!.time ?? 0,
  };
}

/** Settings a demo folder was made with, so that `--serve` and reruns show the same site. */
interface SiteState {
  scale: number;
  seed: number;
  heldout: EmojiSet;
  port: number;
  url: string;
  emoji: number;
  pages: number;
  images: number;
}

/** Plans the site of a demo folder (same emoji, same pages) from its scale and seed. */
export async function demoSite(scale: number, seed: number, heldout: EmojiSet = 'twitter'): Promise<{ emoji: Emoji[]; plan: SitePlan; sets: EmojiSet[] }> {
  const emoji = await demoEmoji(Math.max(8, Math.round(100 * scale)), seed);
  const sets = EMOJI_SETS.filter((s) => s !== heldout);
  return { emoji, sets, plan: planSite({ emoji, sets, seed: seed + 3, imageSize: 72 }) };
}

/**
 * Serves the demo site of a demo folder again (same pages; on the port it used when it can), so that
 * the printed `wit crawl` command can be rerun by hand. Throws UsageError when the folder has no demo.
 */
export async function serveDemoSite(out: string, port?: number): Promise<SiteServer> {
  const state = await readJson<SiteState>(demoPaths(out).siteJson);
  if (!state) throw new UsageError('demo', `no demo site in ${out} (run wit demo --out ${out} first)`);
  const { plan } = await demoSite(state.scale, state.seed, state.heldout);
  return serveSite(plan, { port: port ?? state.port });
}

/**
 * Runs every stage offline on generated data: a MediaWiki dump and pageview files made from the
 * bundled WordNet and the emoji names, querygen on them, a local website of emoji images (two of the
 * three designs: Google, Twitter, OpenMoji) with alt text and noise, served on 127.0.0.1 and partly
 * archived as a WARC, crawl of both, a held-out set of the third design (Twitter's by default), train,
 * filter, eval (zero-shot over the emoji names) and the HTML report. Each stage writes under `out`; skipped stages reuse what is there.
 * Yields a DemoSummary with the headline numbers and the command that reruns each stage.
 * Throws UsageError for bad options, and what a stage throws when it fails.
 */
export async function demo(opts: DemoOptions): Promise<DemoSummary> {
  const t0 = performance.now();
  const scale = opts.scale ?? 1;
  if (!(scale > 0 && scale <= 50)) throw new UsageError('demo', `--scale must be in (0, 50], got ${scale}`);
  const seed = opts.seed ?? 0;
  const skip = new Set(opts.skip ?? []);
  for (const s of skip) if (!DEMO_STAGES.includes(s)) throw new UsageError('demo', `unknown stage '${s}' (${DEMO_STAGES.join(', ')})`);
  const heldout = opts.heldout ?? 'twitter';
  if (!EMOJI_SETS.includes(heldout)) throw new UsageError('demo', `unknown emoji set '${heldout}' (${EMOJI_SETS.join(', ')})`);
  const out = resolve(opts.out);
  // Paths in the printed commands: relative when under the working directory, else absolute.
  const rel = (p: string) => {
    const r = relative(process.cwd(), p);
    return r === '' ? '.' : r.startsWith('..') || isAbsolute(r) ? p : r;
  };
  const p = demoPaths(out);
  // Stages replace their output folders; never do that in a folder the demo did not make.
  const marker = join(out, '.wit-demo');
  if (existsSync(out) && !existsSync(marker) && readdirSync(out).length > 0) {
    throw new UsageError('demo', 'the folder exists and is not a demo folder (no .wit-demo marker); give a new or empty --out', { file: out });
  }
  await mkdir(out, { recursive: true });
  await writeFile(marker, 'made by wit demo; stages may replace the folders in here\n');
  const log = opts.onLog ?? (() => undefined);
  const steps = opts.steps ?? Math.round(300 * Math.sqrt(scale));
  const arch = opts.arch ?? 'vit-micro';
  const batchSize = opts.batchSize ?? 64;
  const warmup = Math.min(10, Math.max(1, Math.round(steps / 20)));
  const stages: DemoStageResult[] = [];
  const summary: DemoSummary = {
    out, report: p.report, seconds: 0, stages, emoji: 0, queries: null, queriesBySource: null, emojiNamesInQueries: null,
    crawl: null, train: null, filter: null, eval: null, siteUrl: null, serve: null, heldout,
  };
  const checkAbort = () => {
    if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new WitError('demo', 'interrupted');
  };
  /** Runs one stage unless it is skipped and its output is there. */
  const stage = async (name: DemoStage, done: () => boolean, command: string | null, run: () => Promise<void>) => {
    checkAbort();
    const n = DEMO_STAGES.indexOf(name) + 1;
    if (skip.has(name) && done()) {
      log(`[${n}/${DEMO_STAGES.length}] ${name}: skipped (output exists)`);
      stages.push({ stage: name, status: 'skipped', seconds: 0, command });
      return;
    }
    if (skip.has(name)) log(`[${n}/${DEMO_STAGES.length}] ${name}: asked to skip, but its output is missing: running it`);
    const ts = performance.now();
    log(`[${n}/${DEMO_STAGES.length}] ${name}…`);
    await run();
    const seconds = (performance.now() - ts) / 1000;
    stages.push({ stage: name, status: 'done', seconds, command });
    log(`[${n}/${DEMO_STAGES.length}] ${name}: done in ${formatDuration(seconds)}`);
  };
  const progress = (name: DemoStage) => (line: string) => opts.onProgress?.(`[${name}] ${line}`);
  const signal = opts.signal ?? new AbortController().signal;
  /** Runs a stage's command line (see StageArgs). */
  const runArgs = (name: DemoStage, args: StageArgs) => runStageArgs(args, { progress: progress(name), log: (l) => log(`  ${l}`), json: true, signal });
  const field = (s: Record<string, unknown>, ...names: string[]): number => Number(names.map((n) => s[n]).find((v) => v !== undefined) ?? 0);

  const lr = opts.lr ?? 3e-3;
  const { emoji, plan, sets } = await demoSite(scale, seed, heldout);
  // Reused outputs must come from the same data: the emoji, the site and the held-out set follow
  // from scale, seed and heldout.
  const made = await readJson<SiteState>(p.siteJson);
  if (skip.size && made && (made.scale !== scale || made.seed !== seed || (made.heldout ?? 'twitter') !== heldout)) {
    throw new UsageError('demo', `this folder was made with --scale ${made.scale} --seed ${made.seed} --heldout ${made.heldout ?? 'twitter'}; use the same options with --skip, or run without --skip`, { file: out });
  }
  summary.emoji = emoji.length;

  // 1. A small Wikipedia and pageview files.
  const hasBzip2 = Boolean(findBzip2());
  const dump = hasBzip2 ? p.dump : p.dumpPlain;
  const pageviewFiles = [0, 1, 2].map((h) => join(p.wikiDir, `pageviews-20240101-0${h}0000.gz`));
  await stage('data', () => existsSync(dump) && pageviewFiles.every((f) => existsSync(f)), null, async () => {
    await rm(p.wikiDir, { recursive: true, force: true });
    const synsets = await readSynsets();
    const wiki = planWikiDump({ synsets, emoji, articles: Math.round(1500 * scale), seed: seed + 1 });
    const bytes = await writeWikiXml(p.dumpPlain, wiki);
    if (hasBzip2) {
      await bzip2File(p.dumpPlain, p.dump);
      await rm(p.dumpPlain, { force: true });
    } else {
      log('demo: no bzip2 on this machine; the dump stays plain XML (querygen reads both)');
    }
    const files = await writePageviews(p.wikiDir, { popular: wiki.emojiTitles, others: wiki.articleTitles.filter((t) => !wiki.emojiTitles.includes(t)), hours: 3, seed: seed + 2 });
    if (files.join() !== pageviewFiles.join()) throw new WitError('demo', `unexpected pageview file names: ${files.join(', ')}`);
    log(`  ${wiki.pages.length} pages (${wiki.articleTitles.length} articles, ${wiki.redirects} redirects, ${wiki.otherNamespaces} in other namespaces), ${(bytes / 1e6).toFixed(1)} MB of XML; ${files.length} pageview files`);
  });

  // 2. Queries. Thresholds scaled to a corpus ~10^4 times smaller than Wikipedia.
  const querygenArgs: StageArgs = (path) => ['querygen', '--wiki', path(dump), '--pageviews', ...pageviewFiles.map(path), '--out', path(p.queries), '--min-count', 8, '--min-pmi', 10, '--min-bigram-count', 3, '--min-views', 70, ...(opts.workers ? ['--workers', opts.workers] : [])];
  await stage('querygen', () => existsSync(p.queries), cmd(querygenArgs(rel)), async () => {
    const s = await runArgs('querygen', querygenArgs);
    log(`  ${field(s, 'queries')} queries (${Object.entries((s.by_source ?? {}) as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ')}) from ${field(s, 'articles')} articles, ${field(s, 'tokens')} tokens`);
  });
  if (existsSync(p.queries)) {
    const lines = (await readFile(p.queries, 'utf8')).split('\n').slice(1).filter(Boolean);
    const bySource: Record<string, number> = {};
    const names = new Set<string>();
    for (const l of lines) {
      const [q, src] = l.split('\t');
      bySource[src!] = (bySource[src!] ?? 0) + 1;
      names.add(q!);
    }
    summary.queries = lines.length;
    summary.queriesBySource = bySource;
    summary.emojiNamesInQueries = emoji.filter((e) => names.has(e.name) || names.has(e.name.charAt(0).toUpperCase() + e.name.slice(1))).length;
  }

  // 3. The site, its WARC, and the crawl of both.
  const cache = new ImageCache(plan.imageSize);
  let server: SiteServer | undefined;
  const previous = await readJson<SiteState>(p.siteJson);
  // A crawl is done when its manifest says so (an interrupted one has complete: false).
  const crawlDone = () => {
    try {
      return Boolean((JSON.parse(readFileSync(join(p.crawl, 'manifest.json'), 'utf8')) as { complete?: boolean }).complete);
    } catch {
      return false;
    }
  };
  const crawlCap = Math.max(10, Math.round(30 * scale));
  try {
    let seedUrl = previous?.url ?? 'http://127.0.0.1:PORT';
    const crawlArgs: StageArgs = (path) => ['crawl', '--queries', path(p.queries), '--input', `${seedUrl}/`, path(p.warc), '--out', path(p.crawl), '--cap', crawlCap, '--image-size', 64, '--max-pages', 2000, '--max-depth', 4, '--timeout-ms', 5000, '--retries', 1, '--allow-private-network'];
    const crawlCommand = () => cmd(crawlArgs(rel));
    await stage('crawl', crawlDone, null, async () => {
      server = await serveSite(plan, { cache, port: previous?.port }).catch(() => serveSite(plan, { cache }));
      seedUrl = server.url;
      summary.siteUrl = server.url;
      await mkdir(p.siteDir, { recursive: true });
      const state: SiteState = { scale, seed, heldout, port: server.port, url: server.url, emoji: emoji.length, pages: plan.pages.size, images: plan.images.size };
      await writeFile(p.siteJson, JSON.stringify(state, null, 2) + '\n');
      const records = await writeSiteWarc(plan, cache, server.url, p.warc);
      log(`  site ${server.url}/ : ${plan.pages.size} pages, ${plan.images.size} images; WARC of ${plan.archivePaths.length} unlinked pages (${records} responses): ${rel(p.warc)}`);
      await rm(p.crawl, { recursive: true, force: true });
      const s = await runArgs('crawl', crawlArgs);
      log(`  ${field(s, 'candidates')} candidates, ${field(s, 'kept')} pairs kept, failed ${JSON.stringify(s.failed)}, skipped ${JSON.stringify(s.skipped)}`);
    });
    stages[stages.length - 1]!.command = `${cmd(['demo', '--out', rel(out), '--serve'])} &   # serves the site again on ${seedUrl}\n  ${crawlCommand()}`;
  } finally {
    await server?.close();
  }
  const cm = await readManifest(p.crawl).catch(() => undefined);
  if (cm?.totals) {
    const t = cm.totals as Record<string, unknown>;
    summary.crawl = { candidates: Number(t.candidates ?? 0), kept: Number(t.kept ?? 0), failed: Number(t.failed_total ?? 0), skipped: Number(t.skipped_total ?? 0) };
  }

  // 4. The held-out set: the third design of the same emoji, which the site never shows.
  await stage('heldout', () => existsSync(join(p.heldout, 'manifest.json')), null, async () => {
    const h = await writeHeldout(p.heldout, emoji, { set: heldout, size: 64 });
    log(`  ${h.pairs} ${heldout} images of the emoji the site shows in the ${sets.join(' and ')} designs; labels in ${rel(h.labels)}`);
  });

  // 5. Train.
  const trainArgs: StageArgs = (path) => ['train', '--shards', path(p.crawl), '--out', path(p.model), '--arch', arch, '--steps', steps, '--batch-size', batchSize, '--lr', lr, '--warmup-steps', warmup, '--weight-decay', 0.1, '--seed', seed];
  await stage('train', () => existsSync(join(p.model, 'config.json')) && existsSync(join(p.model, 'metrics.jsonl')), cmd(trainArgs(rel)), async () => {
    await rm(p.model, { recursive: true, force: true });
    const s = await runArgs('train', trainArgs);
    summary.train = { steps: field(s, 'steps'), finalLoss: field(s, 'final_loss', 'finalLoss'), samplesPerSec: field(s, 'samples_per_sec', 'samplesPerSec'), backend: String(s.backend ?? ''), seconds: field(s, 'seconds') };
    log(`  ${summary.train.steps} steps, final loss ${summary.train.finalLoss.toFixed(3)}, ${summary.train.samplesPerSec.toFixed(1)} samples/s on ${summary.train.backend}`);
  });

  if (!summary.train) summary.train = await trainedSummary(p.model);

  // 6. Filter the crawl with the model.
  // No dedup by image: the site shows each image under two captions on purpose (two pairs).
  const filterArgs: StageArgs = (path) => ['filter', '--model', path(p.model), '--shards', path(p.crawl), '--out', path(p.filtered), '--keep-fraction', 0.85, '--no-dedup'];
  await stage('filter', () => existsSync(join(p.filtered, 'manifest.json')), cmd(filterArgs(rel)), async () => {
    await rm(p.filtered, { recursive: true, force: true });
    const s = await runArgs('filter', filterArgs);
    log(`  kept ${field(s, 'kept')} of ${field(s, 'input')} pairs (threshold ${typeof s.threshold === 'number' ? s.threshold.toFixed(3) : '–'})`);
  });
  const fm = await readManifest(p.filtered).catch(() => undefined);
  if (fm?.totals) {
    const t = fm.totals as Record<string, unknown>;
    summary.filter = { input: Number(t.input ?? 0), kept: Number(t.kept ?? 0), threshold: typeof t.threshold === 'number' ? t.threshold : null, ...(await noiseOutcome(plan, p.crawl, p.filtered)) };
  }

  // 7. Zero-shot on the held-out designs.
  const labels = join(p.heldout, 'labels.txt');
  const evalArgs: StageArgs = (path) => ['eval', '--model', path(p.model), '--shards', path(p.heldout), '--labels', path(labels), ...TEMPLATES.flatMap((t) => ['--template', t]), '--out', path(p.eval)];
  await stage('eval', () => existsSync(p.eval), cmd(evalArgs(rel)), async () => {
    await runArgs('eval', evalArgs);
  });
  const ev = await readJson<{ zero_shot?: { top1: number; top5: number; classes: number }; retrieval?: { image_to_text?: { r1?: number } } }>(p.eval);
  if (ev?.zero_shot) {
    const c = ev.zero_shot.classes;
    summary.eval = { top1: ev.zero_shot.top1, top5: ev.zero_shot.top5, classes: c, chanceTop1: c ? 1 / c : 0, chanceTop5: c ? Math.min(1, 5 / c) : 0, imageToTextR1: ev.retrieval?.image_to_text?.r1 ?? null };
  }

  // 8. The search index of the crawl, and the command that serves its page.
  const embedArgs: StageArgs = (path) => ['embed', '--model', path(p.model), '--shards', path(p.crawl), '--out', path(p.index)];
  await stage('index', () => existsSync(join(p.index, 'wit-index.json')), cmd(embedArgs(rel)), async () => {
    await rm(p.index, { recursive: true, force: true });
    const s = await runArgs('index', embedArgs);
    log(`  ${field(s, 'rows')} pairs embedded; search them: ${cmd(['serve', '--index', rel(p.index)])}`);
  });
  summary.serve = cmd(['serve', '--index', rel(p.index)]);

  // 9. The report.
  const reportArgs: StageArgs = (path) => ['report', '--run', path(out), '--out', path(p.report), '--title', 'wit demo'];
  await stage('report', () => existsSync(p.report), cmd(reportArgs(rel)), async () => {
    const r = await runArgs('report', reportArgs);
    const missing = Object.entries((r.sections ?? {}) as Record<string, string>).filter(([, v]) => v !== 'ok').map(([k]) => k);
    if (missing.length) log(`  report sections without data: ${missing.join(', ')}`);
  });
  summary.seconds = (performance.now() - t0) / 1000;
  await writeFile(join(out, 'demo.summary.json'), JSON.stringify(summary, null, 2) + '\n').catch((err: unknown) => log(`demo: cannot write the summary: ${errorMessage(err)}`));
  return summary;
}
