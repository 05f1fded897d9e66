import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { EMOJI_SETS, commonEmoji, type Emoji, type EmojiSet } from '../data/emoji.js';
import { readManifest, readShards } from '../shards/index.js';
import { parseFlags } from '../cli/args.js';
import type { CommandContext } from '../cli/command.js';
import { UsageError, WitError, errorMessage } from '../util/errors.js';
import { formatDuration } from '../util/progress.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { finalLoss, runSamplesPerSec } from '../train/final-loss.js';
import { PLANTED_NOISE_FILE, type PlantedNoise } from '../report/planted-noise.js';
import { claimOutput, type OutputClaim } from '../util/output.js';
import { bzip2File, findBzip2 } from './compress.js';
import { writeHeldout } from './heldout.js';
import { splitForScorer, type ScorerSplit } from './scorer-split.js';
import { writePageviews } from './pageviews.js';
import { Rng } from '../util/rng.js';
import { DEMO_POOL, ImageCache, planSite, serveSite, type SitePlan, type SiteServer } from './site.js';
import { writeSiteWarc } from './warc.js';
import { planWikiDump, writeWikiXml } from './wiki-dump.js';
import { readSynsets } from './wordnet.js';
import { DEMO_OPTIONS, DEMO_STAGES } from './options.js';
import { resolveOptions, type OptionsInput } from '../util/options.js';
import { witCommand } from '../util/invocation.js';

export { planWikiDump, writeWikiXml, pageXml, dumpHeader, wikiTitle, type WikiPage, type WikiDumpPlan } from './wiki-dump.js';
export { writePageviews, pageviewFileName } from './pageviews.js';
export { planSite, serveSite, renderPage, siteResponse, ImageCache, DEMO_POOL, type SitePlan, type SiteServer, type SiteImg } from './site.js';
export { writeSiteWarc } from './warc.js';
export { writeHeldout } from './heldout.js';
export { readSynsets, parseSynsetLine, bundledWordnetDir, type Synset } from './wordnet.js';
export { bzip2File, findBzip2 } from './compress.js';

export { DEMO_STAGES, DEMO_OPTIONS, DEMO_SERVE_OPTIONS } from './options.js';
/** A stage name for --skip. */
export type DemoStage = (typeof DEMO_STAGES)[number];

/** Options of {@link demo}: the schema's options, plus progress, log lines and a stop signal. */
export type DemoOptions = OptionsInput<typeof DEMO_OPTIONS> & {
  /** Status line of the stage in progress. */
  onProgress?: (line: string) => void;
  /** A line per stage start/end and notable event. */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
};

/** One stage as it ran. */
export interface DemoStageResult {
  stage: DemoStage;
  status: 'done' | 'skipped';
  seconds: number;
  /** The equivalent command, to rerun the stage by hand (null for the demo's own generators). */
  command: string | null;
}

/** What the demo did, with the headline numbers (`demo.summary.json`, `wit demo --json`; README.md, "The demo"). */
export interface DemoSummary {
  out: string;
  report: string;
  seconds: number;
  stages: DemoStageResult[];
  emoji: number;
  queries: number | null;
  queries_by_source: Record<string, number> | null;
  /** Emoji names present in queries.tsv (the crawl's captions match them). */
  emoji_names_in_queries: number | null;
  /** `distinct_images`: of the kept pairs, by sha256 (null from a crawl that did not count them). */
  crawl: { candidates: number; kept: number; distinct_images: number | null; failed: number; skipped: number } | null;
  train: { steps: number; final_loss: number; samples_per_sec: number; backend: string; seconds: number } | null;
  /**
   * Filter totals, and how it treated the pairs the site made noisy on purpose (another emoji's name,
   * useless alt text) against the rest: the fraction of each that it dropped.
   */
  filter: ({ input: number; kept: number; distinct_images: number | null; threshold: number | null } & NoiseOutcome) | null;
  eval: { top1: number; top5: number; classes: number; chance_top1: number; chance_top5: number; image_to_text_r1: number | null } | null;
  /**
   * The compare stage's table (with --compare): per recipe pairs kept, samples seen, top-1 mean and sd over
   * seeds, and the Holm-corrected comparisons of top-1 against raw and against the random twin.
   */
  compare: {
    recipe: string; pairs_kept: number | null; samples: number | null; epochs: number | null; seeds: number; top1_mean: number | null; top1_sd: number | null;
    vs_raw: { against: string; mean: number; lo: number; hi: number; verdict: string } | null; vs_twin: { against: string; mean: number; lo: number; hi: number; verdict: string } | null;
  }[] | null;
  /** The compare stage's scorer: the crawl split by image, the scorer's share disjoint from the pool and the eval set (with --compare). */
  compare_scorer: ScorerSplit | null;
  site_url: string | null;
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
    scorerData: join(out, 'scorer-data'),
    comparePool: join(out, 'compare-pool'),
    scorer: join(out, 'scorer'),
    recipes: join(out, 'compare-recipes.json'),
    compare: join(out, 'compare'),
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
  return [witCommand(), ...parts.map((p) => sh(String(p)))].join(' ');
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

/** The crawled pairs the site captioned wrongly on purpose and the others, and how many of each the filter dropped. */
type NoiseOutcome = PlantedNoise;

/**
 * Counts, among the crawled pairs, those the site captioned wrongly on purpose (swapped names, junk
 * alt text) and the rest, and how many of each the filter dropped.
 */
async function noiseOutcome(plan: SitePlan, crawlDir: string, filteredDir: string): Promise<NoiseOutcome> {
  const noisy = new Set<string>();
  for (const page of plan.pages.values()) for (const img of page.images) if ((img.kind === 'swapped' || img.kind === 'junk') && img.alt) noisy.add(`${img.src}\t${img.alt}`);
  const kept = new Set<string>();
  for await (const r of readShards(filteredDir, { images: false })) kept.add(r.key);
  const out: NoiseOutcome = { noisy_pairs: 0, noisy_dropped: 0, clean_pairs: 0, clean_dropped: 0 };
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
      out.noisy_pairs++;
      if (dropped) out.noisy_dropped++;
    } else {
      out.clean_pairs++;
      if (dropped) out.clean_dropped++;
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
  const lines: { step: number; loss: number; samples_per_s?: number; batch?: number; time?: number }[] = [];
  for (const l of text.split('\n')) {
    try {
      const j = JSON.parse(l) as { step?: unknown; loss?: unknown };
      if (typeof j.step === 'number' && typeof j.loss === 'number') lines.push(j as never);
    } catch {
      // a cut line
    }
  }
  if (!lines.length) return null;
  const state = await readJson<{ elapsed?: number }>(join(model, 'train_state.json'));
  return {
    steps: lines[lines.length - 1]!.step,
    final_loss: finalLoss(lines.map((l) => l.loss)),
    samples_per_sec: runSamplesPerSec(lines),
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
  const head = { emoji: Math.max(2, Math.round(DEMO_POOL.headShare * emoji.length)), copies: DEMO_POOL.headCopies };
  return { emoji, sets, plan: planSite({ emoji, sets, seed: seed + 3, imageSize: 72, head, swappedRate: DEMO_POOL.swappedRate }) };
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


/** One demo run: its settings, where it writes, the data it made, and the summary it fills as stages run. */
interface DemoRun {
  /** The demo folder's claim (its lock held for the whole demo). */
  claim: OutputClaim;
  opts: ReturnType<typeof resolveOptions<typeof DEMO_OPTIONS, DemoOptions>>;
  out: string;
  paths: ReturnType<typeof demoPaths>;
  /** Paths in the printed commands: relative when under the working directory, else absolute. */
  rel: (p: string) => string;
  skip: Set<DemoStage>;
  /** The stages this demo runs, in order (compare only with --compare): the counter's [k/N]. */
  stages: readonly DemoStage[];
  steps: number;
  log: (line: string) => void;
  signal: AbortSignal;
  /** The dump the data stage writes (.bz2 when this machine has bzip2, else plain XML) and its pageview files. */
  wiki: { dump: string; hasBzip2: boolean; pageviewFiles: string[] };
  emoji: Emoji[];
  plan: SitePlan;
  sets: EmojiSet[];
  summary: DemoSummary;
}

/** Options with defaults; UsageError for an unknown --skip stage (before anything is written). */
function resolveDemo(input: DemoOptions) {
  const opts = resolveOptions('demo', DEMO_OPTIONS, input);
  for (const s of opts.skip ?? []) if (!(DEMO_STAGES as readonly string[]).includes(s)) throw new UsageError('demo', `--skip: unknown stage '${s}' (${DEMO_STAGES.join(', ')})`);
  return opts;
}

/** Makes the demo folder; stages replace their output folders, so never in a folder the demo did not make. */
async function claimFolder(out: string): Promise<OutputClaim> {
  // Folders of older demos carry .wit-demo, which claimOutput recognises (docs/ARCHITECTURE.md, "Claiming an output").
  const claim = await claimOutput(out, { command: 'demo' });
  try {
    await claim.create();
  } catch (err) {
    await claim.release();
    throw err;
  }
  return claim;
}

/** The dump the data stage writes (.bz2 when this machine has bzip2, else plain XML) and its pageview files. */
function wikiFiles(paths: ReturnType<typeof demoPaths>): DemoRun['wiki'] {
  const hasBzip2 = Boolean(findBzip2());
  const pageviewFiles = [0, 1, 2].map((h) => join(paths.wikiDir, `pageviews-20240101-0${h}0000.gz`));
  return { dump: hasBzip2 ? paths.dump : paths.dumpPlain, hasBzip2, pageviewFiles };
}

/** Resolves the options, claims the folder and plans the data (emoji, site) the stages share. */
async function startDemo(input: DemoOptions): Promise<DemoRun> {
  const opts = resolveDemo(input);
  const out = resolve(opts.out);
  const paths = demoPaths(out);
  const claim = await claimFolder(out);
  try {
    return await planDemo(opts, out, paths, claim);
  } catch (err) {
    await claim.release();
    throw err;
  }
}

async function planDemo(opts: DemoRun['opts'], out: string, paths: DemoRun['paths'], claim: OutputClaim): Promise<DemoRun> {
  const { emoji, plan, sets } = await demoSite(opts.scale, opts.seed, opts.heldout);
  // Reused outputs must come from the same data: the emoji, the site and the held-out set follow
  // from scale, seed and heldout.
  const skip = new Set((opts.skip ?? []) as DemoStage[]);
  const made = await readJson<SiteState>(paths.siteJson);
  if (skip.size && made && (made.scale !== opts.scale || made.seed !== opts.seed || (made.heldout ?? 'twitter') !== opts.heldout)) {
    throw new UsageError('demo', `this folder was made with --scale ${made.scale} --seed ${made.seed} --heldout ${made.heldout ?? 'twitter'}; use the same options with --skip, or run without --skip`, { file: out });
  }
  const rel = (p: string) => {
    const r = relative(process.cwd(), p);
    return r === '' ? '.' : r.startsWith('..') || isAbsolute(r) ? p : r;
  };
  const summary: DemoSummary = {
    out, report: paths.report, seconds: 0, stages: [], emoji: emoji.length, queries: null, queries_by_source: null, emoji_names_in_queries: null,
    crawl: null, train: null, filter: null, eval: null, compare: null, compare_scorer: null, site_url: null, serve: null, heldout: opts.heldout,
  };
  return {
    opts, out, paths, rel, skip, emoji, plan, sets, summary, claim,
    stages: demoStages(opts.compare),
    steps: opts.steps ?? Math.round(300 * Math.sqrt(opts.scale)),
    wiki: wikiFiles(paths),
    log: opts.onLog ?? (() => undefined),
    signal: opts.signal ?? new AbortController().signal,
  };
}

/** The stages a demo runs, in order: compare only with --compare (the counter is [k/N] of these). */
export function demoStages(compare: boolean): DemoStage[] {
  return DEMO_STAGES.filter((s) => s !== 'compare' || compare);
}

/** `[k/N] name`: the counter of a stage among those the demo runs, so it never jumps. */
export function stageTag(stages: readonly DemoStage[], name: DemoStage): string {
  return `[${stages.indexOf(name) + 1}/${stages.length}] ${name}`;
}

/** Runs one stage unless it is skipped and its output is there (`done`); records it in the summary. */
async function runStage(run: DemoRun, name: DemoStage, done: () => boolean, command: string | null, body: () => Promise<void>): Promise<void> {
  if (run.signal.aborted) throw run.signal.reason instanceof Error ? run.signal.reason : new WitError('demo', 'interrupted');
  const tag = stageTag(run.stages, name);
  if (run.skip.has(name) && done()) {
    run.log(`${tag}: skipped (output exists)`);
    run.summary.stages.push({ stage: name, status: 'skipped', seconds: 0, command });
    return;
  }
  if (run.skip.has(name)) run.log(`${tag}: asked to skip, but its output is missing: running it`);
  const started = performance.now();
  run.log(`${tag}…`);
  await body();
  const seconds = (performance.now() - started) / 1000;
  run.summary.stages.push({ stage: name, status: 'done', seconds, command });
  run.log(`${tag}: done in ${formatDuration(seconds)}`);
}

/** Runs a stage's command line (see StageArgs) with its progress and log lines tagged. */
function runArgs(run: DemoRun, name: DemoStage, args: StageArgs): Promise<Record<string, unknown>> {
  return runStageArgs(args, { progress: (line) => run.opts.onProgress?.(`[${name}] ${line}`), log: (l) => run.log(`  ${l}`), json: true, signal: run.signal });
}

/** A number of a stage's summary (0 when absent). */
function field(s: Record<string, unknown>, name: string): number {
  return Number(s[name] ?? 0);
}

/** 1. A small Wikipedia and pageview files. */
async function dataStage(run: DemoRun): Promise<void> {
  const { paths: p, emoji, log } = run;
  const { scale, seed } = run.opts;
  const { dump, hasBzip2, pageviewFiles } = run.wiki;
  await runStage(run, 'data', () => existsSync(dump) && pageviewFiles.every((f) => existsSync(f)), null, async () => {
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
}

/** 2. Queries. Thresholds scaled to a corpus ~10^4 times smaller than Wikipedia. */
async function querygenStage(run: DemoRun): Promise<void> {
  const { paths: p, rel } = run;
  const { dump, pageviewFiles } = run.wiki;
  const workers = run.opts.workers;
  const args: StageArgs = (path) => ['querygen', '--wiki', path(dump), '--pageviews', ...pageviewFiles.map(path), '--out', path(p.queries), '--min-count', 8, '--min-pmi', 10, '--min-bigram-count', 3, '--min-views', 70, ...(workers ? ['--workers', workers] : [])];
  await runStage(run, 'querygen', () => existsSync(p.queries), cmd(args(rel)), async () => {
    const s = await runArgs(run, 'querygen', args);
    run.log(`  ${field(s, 'queries')} queries (${Object.entries((s.by_source ?? {}) as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ')}) from ${field(s, 'articles')} articles, ${field(s, 'tokens')} tokens`);
  });
  if (existsSync(p.queries)) await summarizeQueries(run);
}

/** The query list's size, its sources, and how many emoji names made it in. */
async function summarizeQueries(run: DemoRun): Promise<void> {
  const lines = (await readFile(run.paths.queries, 'utf8')).split('\n').slice(1).filter(Boolean);
  const bySource: Record<string, number> = {};
  const names = new Set<string>();
  for (const l of lines) {
    const [q, src] = l.split('\t');
    bySource[src!] = (bySource[src!] ?? 0) + 1;
    names.add(q!);
  }
  run.summary.queries = lines.length;
  run.summary.queries_by_source = bySource;
  run.summary.emoji_names_in_queries = run.emoji.filter((e) => names.has(e.name) || names.has(e.name.charAt(0).toUpperCase() + e.name.slice(1))).length;
}

/** A crawl is done when its manifest says so (an interrupted one has complete: false). */
function crawlDone(dir: string): boolean {
  try {
    return Boolean((JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { complete?: boolean }).complete);
  } catch {
    return false;
  }
}

/** 3. The site, its WARC, and the crawl of both. */
async function crawlStage(run: DemoRun): Promise<void> {
  const { paths: p, plan, rel, opts } = run;
  const cache = new ImageCache(plan.imageSize);
  let server: SiteServer | undefined;
  const previous = await readJson<SiteState>(p.siteJson);
  // Loose enough that the head survives the crawl (DEMO_POOL): the compare stage balances it, not the crawl.
  const cap = Math.max(20, Math.round(60 * opts.scale));
  try {
    let seedUrl = previous?.url ?? 'http://127.0.0.1:PORT';
    const args: StageArgs = (path) => ['crawl', '--queries', path(p.queries), '--input', `${seedUrl}/`, path(p.warc), '--out', path(p.crawl), '--cap', cap, '--image-size', 64, '--max-pages', 2000, '--max-depth', 4, '--timeout-ms', 5000, '--retries', 1, '--allow-private-network'];
    await runStage(run, 'crawl', () => crawlDone(p.crawl), null, async () => {
      server = await serveSite(plan, { cache, port: previous?.port }).catch(() => serveSite(plan, { cache }));
      seedUrl = server.url;
      run.summary.site_url = server.url;
      await mkdir(p.siteDir, { recursive: true });
      const state: SiteState = { scale: opts.scale, seed: opts.seed, heldout: opts.heldout, port: server.port, url: server.url, emoji: run.emoji.length, pages: plan.pages.size, images: plan.images.size };
      await writeFile(p.siteJson, JSON.stringify(state, null, 2) + '\n');
      const records = await writeSiteWarc(plan, cache, server.url, p.warc);
      run.log(`  site ${server.url}/ : ${plan.pages.size} pages, ${plan.images.size} images; WARC of ${plan.archivePaths.length} unlinked pages (${records} responses): ${rel(p.warc)}`);
      await rm(p.crawl, { recursive: true, force: true });
      const s = await runArgs(run, 'crawl', args);
      run.log(`  ${field(s, 'candidates')} candidates, ${field(s, 'kept')} pairs kept, failed ${JSON.stringify(s.failed)}, skipped ${JSON.stringify(s.skipped)}`);
    });
    // The seed url is known only once the site is up: the command is written after the stage.
    const stages = run.summary.stages;
    stages[stages.length - 1]!.command = `${cmd(['demo', '--out', rel(run.out), '--serve'])} &   # serves the site again on ${seedUrl}\n  ${cmd(args(rel))}`;
  } finally {
    await server?.close();
  }
  const manifest = await readManifest(p.crawl).catch(() => undefined);
  if (manifest?.totals) {
    const t = manifest.totals as Record<string, unknown>;
    run.summary.crawl = { candidates: Number(t.candidates ?? 0), kept: Number(t.kept ?? 0), distinct_images: countOrNull(t.distinct_images), failed: Number(t.failed_total ?? 0), skipped: Number(t.skipped_total ?? 0) };
  }
}

/** A count from a manifest's totals, or null when it has none (a run made before the field). */
function countOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/** 4. The held-out set: the third design of the same emoji, which the site never shows. */
async function heldoutStage(run: DemoRun): Promise<void> {
  const { paths: p, opts } = run;
  await runStage(run, 'heldout', () => existsSync(join(p.heldout, 'manifest.json')), null, async () => {
    const written = await writeHeldout(p.heldout, run.emoji, { set: opts.heldout, size: 64 });
    run.log(`  ${written.pairs} ${opts.heldout} images of the emoji the site shows in the ${run.sets.join(' and ')} designs; labels in ${run.rel(written.labels)}`);
  });
}

/** 5. Train. */
async function trainStage(run: DemoRun): Promise<void> {
  const { paths: p, opts, steps } = run;
  const warmup = Math.min(10, Math.max(1, Math.round(steps / 20)));
  const args: StageArgs = (path) => ['train', '--shards', path(p.crawl), '--out', path(p.model), '--arch', opts.arch, '--steps', steps, '--batch-size', opts.batchSize, '--lr', opts.lr, '--warmup-steps', warmup, '--weight-decay', 0.1, '--seed', opts.seed];
  await runStage(run, 'train', () => existsSync(join(p.model, 'config.json')) && existsSync(join(p.model, 'metrics.jsonl')), cmd(args(run.rel)), async () => {
    await rm(p.model, { recursive: true, force: true });
    const s = await runArgs(run, 'train', args);
    const train = { steps: field(s, 'steps'), final_loss: field(s, 'final_loss'), samples_per_sec: field(s, 'samples_per_sec'), backend: String(s.backend ?? ''), seconds: field(s, 'seconds') };
    run.summary.train = train;
    run.log(`  ${train.steps} steps, final loss ${train.final_loss.toFixed(3)}, ${train.samples_per_sec.toFixed(1)} samples/s on ${train.backend}`);
  });
  if (!run.summary.train) run.summary.train = await trainedSummary(p.model);
}

/** 6. Filter the crawl with the model. */
async function filterStage(run: DemoRun): Promise<void> {
  const { paths: p } = run;
  // No dedup by image: the site shows each image under two captions on purpose (two pairs).
  const args: StageArgs = (path) => ['filter', '--model', path(p.model), '--shards', path(p.crawl), '--out', path(p.filtered), '--keep-fraction', 0.85, '--no-dedup'];
  await runStage(run, 'filter', () => existsSync(join(p.filtered, 'manifest.json')), cmd(args(run.rel)), async () => {
    await rm(p.filtered, { recursive: true, force: true });
    const s = await runArgs(run, 'filter', args);
    run.log(`  kept ${field(s, 'kept')} of ${field(s, 'input')} pairs (threshold ${typeof s.threshold === 'number' ? s.threshold.toFixed(3) : '–'})`);
  });
  const manifest = await readManifest(p.filtered).catch(() => undefined);
  if (manifest?.totals) {
    const t = manifest.totals as Record<string, unknown>;
    const noise = await noiseOutcome(run.plan, p.crawl, p.filtered);
    run.summary.filter = { input: Number(t.input ?? 0), kept: Number(t.kept ?? 0), distinct_images: countOrNull(t.distinct_images), threshold: typeof t.threshold === 'number' ? t.threshold : null, ...noise };
    // What the report shows beside the filter: how many of the wrong captions the site planted it caught.
    await writeJsonAtomic(join(p.filtered, PLANTED_NOISE_FILE), noise);
  }
}

/** 7. Zero-shot on the held-out designs. */
async function evalStage(run: DemoRun): Promise<void> {
  const { paths: p } = run;
  const labels = join(p.heldout, 'labels.txt');
  const args: StageArgs = (path) => ['eval', '--model', path(p.model), '--shards', path(p.heldout), '--labels', path(labels), ...TEMPLATES.flatMap((t) => ['--template', t]), '--out', path(p.eval)];
  await runStage(run, 'eval', () => existsSync(p.eval), cmd(args(run.rel)), async () => {
    await runArgs(run, 'eval', args);
  });
  const ev = await readJson<{ zero_shot?: { top1: number; top5: number; classes: number }; retrieval?: { image_to_text?: { r1?: number } } }>(p.eval);
  if (ev?.zero_shot) {
    const c = ev.zero_shot.classes;
    run.summary.eval = { top1: ev.zero_shot.top1, top5: ev.zero_shot.top5, classes: c, chance_top1: c ? 1 / c : 0, chance_top5: c ? Math.min(1, 5 / c) : 0, image_to_text_r1: ev.retrieval?.image_to_text?.r1 ?? null };
  }
}

/** 8. The search index of the crawl, and the command that serves its page. */
async function indexStage(run: DemoRun): Promise<void> {
  const { paths: p, rel } = run;
  const args: StageArgs = (path) => ['embed', '--model', path(p.model), '--shards', path(p.crawl), '--out', path(p.index)];
  await runStage(run, 'index', () => existsSync(join(p.index, 'wit-index.json')), cmd(args(rel)), async () => {
    await rm(p.index, { recursive: true, force: true });
    const s = await runArgs(run, 'index', args);
    run.log(`  ${field(s, 'rows')} pairs embedded; search them: ${cmd(['serve', '--index', rel(p.index)])}`);
  });
  run.summary.serve = cmd(['serve', '--index', rel(p.index)]);
}

/**
 * 9. Does the curation help? (--compare) The crawl is split by image: a third of its pictures train a
 * scorer (a model like the demo's, on other pairs of the same web; no image shared with the pool or
 * the eval set, checked by sha256), the rest is the pool. Then `wit compare` of raw, balanced (a cap),
 * MetaCLIP's sampling, filtered by the scorer, and balanced + filtered, each curation with its
 * size-matched random twin, over --compare-seeds seeds.
 */
async function compareStage(run: DemoRun): Promise<void> {
  const { paths: p, opts, rel } = run;
  if (!opts.compare) return;
  const labels = join(p.heldout, 'labels.txt');
  const steps = opts.compareSteps ?? Math.round(150 * Math.sqrt(opts.scale));
  const warmup = Math.min(10, Math.max(1, Math.round(steps / 20)));
  const scorerArgs: StageArgs = (path) => ['train', '--shards', path(p.scorerData), '--out', path(p.scorer), '--arch', opts.arch, '--steps', steps, '--batch-size', opts.batchSize, '--lr', opts.lr, '--warmup-steps', warmup, '--weight-decay', 0.1, '--seed', opts.seed, '--cross-passes'];
  const args: StageArgs = (path) => [
    'compare', '--pool', path(p.comparePool), '--eval', path(p.heldout), '--labels', path(labels), '--recipes', path(p.recipes), '--seeds', opts.compareSeeds, '--out', path(p.compare),
    '--arch', opts.arch, '--steps', steps, '--batch-size', opts.batchSize, '--lr', opts.lr, '--warmup-steps', warmup, '--weight-decay', 0.1,
    ...TEMPLATES.flatMap((t) => ['--template', t]),
  ];
  await runStage(run, 'compare', () => existsSync(join(p.compare, 'compare.json')), `${cmd(scorerArgs(rel))}\n  ${cmd(args(rel))}`, async () => {
    if (!existsSync(join(p.scorer, 'model.json'))) {
      const split = await splitForScorer(p.crawl, p.comparePool, p.scorerData, p.heldout, opts.seed);
      run.summary.compare_scorer = split;
      run.log(`  the crawl split by image: ${split.pool_pairs} pairs (${split.pool_images} images) for the pool, ${split.scorer_pairs} (${split.scorer_images} images) for the scorer; images shared with the pool ${split.shared_with_pool}, with the eval set ${split.shared_with_eval}`);
      await rm(p.scorer, { recursive: true, force: true });
      const s = await runArgs(run, 'compare', scorerArgs);
      run.log(`  scorer: ${field(s, 'steps')} steps on ${split.scorer_pairs} crawled pairs kept out of the pool, final loss ${field(s, 'final_loss').toFixed(3)}`);
    }
    const recipes = [
      { name: 'balanced', cap: DEMO_COMPARE.cap },
      { name: 'metaclip', sample_threshold: DEMO_COMPARE.sampleThreshold },
      { name: 'filtered', model: 'scorer', keep_fraction: DEMO_COMPARE.keepFraction },
      { name: 'balanced-filtered', cap: DEMO_COMPARE.cap, model: 'scorer', keep_fraction: DEMO_COMPARE.keepFraction },
    ];
    await writeFile(p.recipes, JSON.stringify({ recipes }, null, 2) + '\n');
    await runArgs(run, 'compare', args);
  });
  type Cmp = { against: string; mean: number; lo: number; hi: number; verdict: string } | null;
  const t = await readJson<{ recipes: { name: string; pairs_kept: number | null; samples: number | null; epochs: number | null; seeds: number[]; metrics: { top1: { mean: number | null; sd: number | null } }; vs_raw: Cmp; vs_twin: Cmp }[] }>(join(p.compare, 'compare.json'));
  if (t) {
    const pick = (c: Cmp) => c && { against: c.against, mean: c.mean, lo: c.lo, hi: c.hi, verdict: c.verdict };
    run.summary.compare = t.recipes.map((r) => ({
      recipe: r.name, pairs_kept: r.pairs_kept, samples: r.samples ?? null, epochs: r.epochs ?? null, seeds: r.seeds.length, top1_mean: r.metrics.top1.mean, top1_sd: r.metrics.top1.sd,
      vs_raw: pick(r.vs_raw ?? null), vs_twin: pick(r.vs_twin ?? null),
    }));
    const pct = (x: number | null) => (x === null ? '–' : (100 * x).toFixed(1));
    const cmpText = (c: Cmp) => (c ? `vs ${c.against} ${pct(c.mean)} [${pct(c.lo)}, ${pct(c.hi)}] ${c.verdict}` : '');
    for (const r of run.summary.compare) run.log(`  ${r.recipe.padEnd(18)} ${String(r.pairs_kept).padStart(5)} pairs  top-1 ${pct(r.top1_mean)} ± ${pct(r.top1_sd)} %  ${cmpText(r.vs_raw)}${r.vs_twin ? `; ${cmpText(r.vs_twin)}` : ''}`);
  }
}

/**
 * The compare stage's recipes: a cap per query (the head had 36 pairs a query, the rest about 4), MetaCLIP's
 * sampling at the same threshold (a query seen more than t times keeps each pair with probability t/count), and
 * the top 85 % by the scorer (10 % of the captions are wrong).
 */
export const DEMO_COMPARE = { cap: 8, sampleThreshold: 8, keepFraction: 0.85 } as const;

/** 10. The report. */
async function reportStage(run: DemoRun): Promise<void> {
  const { paths: p } = run;
  const args: StageArgs = (path) => ['report', '--run', path(run.out), '--out', path(p.report), '--title', 'wit demo'];
  await runStage(run, 'report', () => existsSync(p.report), cmd(args(run.rel)), async () => {
    const s = await runArgs(run, 'report', args);
    const missing = Object.entries((s.sections ?? {}) as Record<string, string>).filter(([, v]) => v !== 'ok').map(([k]) => k);
    if (missing.length) run.log(`  report sections without data: ${missing.join(', ')}`);
  });
}

/**
 * Runs every stage offline on generated data: a MediaWiki dump and pageview files made from the
 * bundled WordNet and the emoji names, querygen on them, a local website of emoji images (two of the
 * three designs: Google, Twitter, OpenMoji) with alt texts and noise, served on 127.0.0.1 and partly
 * archived as a WARC, crawl of both, a held-out set of the third design (Twitter's by default), train,
 * filter, eval (zero-shot over the emoji names), a search index and the HTML report. Each stage writes
 * under `out`; skipped stages reuse what is there.
 * Yields a DemoSummary with the headline numbers and the command that reruns each stage.
 * Throws UsageError for bad options, and what a stage throws when it fails.
 */
export async function demo(input: DemoOptions): Promise<DemoSummary> {
  const started = performance.now();
  const run = await startDemo(input);
  try {
    for (const stage of [dataStage, querygenStage, crawlStage, heldoutStage, trainStage, filterStage, evalStage, indexStage, compareStage, reportStage]) await stage(run);
    run.summary.seconds = (performance.now() - started) / 1000;
    await writeFile(join(run.out, 'demo.summary.json'), JSON.stringify(run.summary, null, 2) + '\n').catch((err: unknown) => run.log(`demo: cannot write the summary: ${errorMessage(err)}`));
    return run.summary;
  } finally {
    await run.claim.release();
  }
}
