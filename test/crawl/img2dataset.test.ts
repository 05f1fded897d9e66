/**
 * For people who come from img2dataset (issue 29): its flag names and value syntax on `wit crawl`,
 * its resize modes with its semantics, its unsupported flags explained in one line, typos answered
 * with the nearest name, and its command line crawling a list into the same tars as wit's own flags.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { parseFlags } from '../../src/cli/args.js';
import { commandHelp, runCli } from '../../src/cli/main.js';
import { command as crawlCommand } from '../../src/cli/commands/crawl.js';
import { optionsFromFlags } from '../../src/util/options.js';
import { crawlOptionsSchema, IMG2DATASET_UNSUPPORTED } from '../../src/crawl/options.js';
import { fitFor, processImage } from '../../src/crawl/image.js';
import { makeJpeg, startTestServer, type TestServer } from '../helpers/http-server.js';
import { runWit } from './run-wit.js';
import { formatCount } from '../../src/util/progress.js';
import { convertLine, type ConvertSummary } from '../../src/shards/convert.js';
import { readTar } from '../../src/shards/tar.js';

const parse = (argv: string[], notes: string[] = []) => optionsFromFlags(crawlOptionsSchema, parseFlags('crawl', argv, crawlCommand.flags, (l) => notes.push(l)));

describe("img2dataset's flag names are wit crawl's", () => {
  it('each name parses to the same options as the wit flag, silently', () => {
    const notes: string[] = [];
    const theirs = parse([
      '--url_list', 'urls.csv', '--output_folder', 'out', '--output_format', 'webdataset', '--input_format', 'csv.gz',
      '--url_col', 'URL', '--caption_col', 'TEXT', '--save_additional_columns', '["uid","similarity:laion_similarity"]',
      '--image_size', '384', '--resize_mode', 'keep_ratio_largest', '--resize_only_if_bigger', 'True', '--encode_format', 'webp',
      '--encode_quality', '90', '--thread_count', '64', '--processes_count', '4', '--number_sample_per_shard', '1000',
      '--timeout', '20', '--retries', '1', '--min_image_size', '64', '--max_aspect_ratio', '3', '--max_image_area', '1000000',
    ], notes);
    const ours = parse([
      '--input', 'urls.csv', '--out', 'out', '--output-format', 'webdataset', '--input-format', 'csv',
      '--url-col', 'URL', '--caption-col', 'TEXT', '--save-additional-columns', 'uid', 'similarity:laion_similarity',
      '--image-size', '384', '--resize-mode', 'keep_ratio_largest', '--resize-only-if-bigger', '--encode', 'webp',
      '--quality', '90', '--concurrency', '64', '--image-concurrency', '4', '--shard-size', '1000',
      '--timeout-ms', '20000', '--retries', '1', '--min-image-side', '64', '--max-aspect', '3', '--max-pixels', '1000000',
    ]);
    expect(theirs).toEqual(ours);
    expect(ours).toMatchObject({ inputs: ['urls.csv'], timeoutMs: 20000, resizeOnlyIfBigger: true, saveAdditionalColumns: ['uid', 'similarity:laion_similarity'] });
    expect(notes).toEqual([]); // not deprecated: another tool's name
  });

  it('takes fire\'s value syntax: `--flag False`, `--flag=True`, a bare boolean, a JSON list', () => {
    expect(parse(['--url_list', 'a.csv', '--output_folder', 'o', '--resize_only_if_bigger', 'False']).resizeOnlyIfBigger).toBe(false);
    expect(parse(['--url_list', 'a.csv', '--output_folder', 'o', '--resize_only_if_bigger=True']).resizeOnlyIfBigger).toBe(true);
    expect(parse(['--url_list', 'a.csv', '--resize_only_if_bigger', '--output_folder', 'o']).resizeOnlyIfBigger).toBe(true);
    expect(parse(['--url_list', 'a.csv', '--output_folder', 'o', '--save_additional_columns', "['uid']"].map((x) => x.replace(/'/g, '"'))).saveAdditionalColumns).toEqual(['uid']);
    expect(() => parse(['--url_list', 'a.csv', '--output_folder', 'o', '--save_additional_columns', '["uid"'])).toThrow(/starts like a JSON list but is not one/);
    expect(() => parse(['--url_list', 'a.csv', '--output_folder', 'o', '--resize_only_if_bigger=maybe'])).toThrow(/expects True or False/);
  });

  it('is validated as the wit flag it names (bounds, choices, units)', () => {
    expect(() => parse(['--url_list', 'a', '--output_folder', 'o', '--image_size', '4'])).toThrow(/--image-size must be >= 8/);
    expect(() => parse(['--url_list', 'a', '--output_folder', 'o', '--output_format', 'tfrecord'])).toThrow(/--output-format must be one of/);
    expect(() => parse(['--url_list', 'a', '--output_folder', 'o', '--timeout', 'soon'])).toThrow(/expects a number, got 'soon'/);
    expect(parse(['--url_list', 'a', '--output_folder', 'o', '--timeout', '0.5']).timeoutMs).toBe(500);
  });

  it('every flag img2dataset has is either taken or explained in one line (never "unknown flag")', () => {
    // img2dataset's download() signature (main.py), every parameter
    const theirs = ['url_list', 'image_size', 'output_folder', 'processes_count', 'resize_mode', 'resize_only_if_bigger', 'upscale_interpolation',
      'downscale_interpolation', 'encode_quality', 'encode_format', 'skip_reencode', 'output_format', 'input_format', 'url_col', 'caption_col',
      'bbox_col', 'thread_count', 'number_sample_per_shard', 'extract_exif', 'save_additional_columns', 'timeout', 'enable_wandb', 'wandb_project',
      'oom_shard_count', 'compute_hash', 'verify_hash', 'distributor', 'subjob_size', 'retries', 'disable_all_reencoding', 'min_image_size',
      'max_image_area', 'max_aspect_ratio', 'incremental_mode', 'max_shard_retry', 'user_agent_token', 'disallowed_header_directives'];
    for (const f of theirs) {
      const spec = crawlCommand.flags[f] ?? crawlCommand.flags[f.replace(/_/g, '-')];
      expect(spec, f).toBeDefined();
      if (spec!.unsupported) expect(spec!.unsupported.why.length, f).toBeGreaterThan(10);
    }
    // an unsupported one: exit 2, one line, what to use instead
    expect(() => parse(['--url_list', 'a', '--output_folder', 'o', '--enable_wandb', 'True'])).toThrow(/--enable_wandb is img2dataset's and wit does not take it: wit logs nothing to wandb/);
    expect(() => parse(['--url_list', 'a', '--output_folder', 'o', '--user_agent_token', 'me'])).toThrow(/use --user-agent/);
    expect(() => parse(['--url_list', 'a', '--output_folder', 'o', '--incremental_mode', 'overwrite'])).toThrow(/--resume continues one/);
    // a value that changes nothing here: a note, and the run goes on
    const notes: string[] = [];
    expect(parse(['--url_list', 'a', '--enable_wandb', 'False', '--output_folder', 'o', '--distributor', 'multiprocessing'], notes)).toMatchObject({ inputs: ['a'], out: 'o' });
    expect(notes).toEqual([
      'wit crawl: --enable_wandb False (img2dataset) ignored: ' + IMG2DATASET_UNSUPPORTED.enable_wandb!.why,
      'wit crawl: --distributor multiprocessing (img2dataset) ignored: ' + IMG2DATASET_UNSUPPORTED.distributor!.why,
    ]);
  });

  it('--help names each img2dataset flag beside the wit flag, and lists none of them as its own', () => {
    const help = commandHelp(crawlCommand, 160);
    for (const f of ['url_list', 'output_folder', 'output_format', 'resize_mode', 'thread_count', 'number_sample_per_shard']) expect(help).toContain(`img2dataset --${f}`);
    expect(help).not.toMatch(/^\s+--(url_list|enable_wandb)\b/m);
  });
});

describe('typos get one line with the nearest name', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s), isTTY: false }, out: () => out.join(''), err: () => err.join('') };
  };
  it('a command', async () => {
    const c = capture();
    expect(await runCli(['crawll'], c.io)).toBe(2);
    expect(c.err()).toBe("wit: unknown command 'crawll'; did you mean 'crawl'? (wit --help lists them)\n");
    const far = capture();
    expect(await runCli(['zzzzzzzz'], far.io)).toBe(2);
    expect(far.err().split('\n').filter(Boolean)).toHaveLength(1);
    expect(far.err()).toMatch(/commands: querygen, crawl, /);
    const sub = capture();
    expect(await runCli(['model', 'improt'], sub.io)).toBe(2);
    expect(sub.err()).toBe("wit model: has no subcommand 'improt'; did you mean 'import'?\n");
  });
  it('a flag, with `_` and `-` alike, naming the wit flag for another tool\'s name', () => {
    expect(() => parse(['--inptu', 'a', '--out', 'o'])).toThrow("unknown flag '--inptu' (did you mean --input?); see wit crawl --help");
    expect(() => parse(['--url-list', 'a', '--out', 'o'])).toThrow("unknown flag '--url-list' (did you mean --input, img2dataset's --url_list?)");
    expect(() => parse(['--input', 'a', '--out', 'o', '--image_sizes', '3'])).toThrow("unknown flag '--image_sizes' (did you mean --image-size?)");
  });
});

describe("img2dataset's resize modes, as its resizer defines them", () => {
  it.each([
    // mode, original w x h, size -> stored w x h (img2dataset: smallest_max_size / longest_max_size / pad / center_crop / resize)
    ['keep_ratio', 400, 200, 100, 200, 100],
    ['keep_ratio_largest', 400, 200, 100, 100, 50],
    ['center_crop', 400, 200, 100, 100, 100],
    ['border', 400, 200, 100, 100, 100],
    ['fixed', 400, 200, 100, 100, 100],
    ['no', 400, 200, 100, 400, 200],
    ['keep_ratio', 50, 80, 100, 100, 160], // upscaled unless --resize-only-if-bigger
  ] as const)('%s: %ix%i at %i is %ix%i', async (mode, w, h, size, ew, eh) => {
    const r = await processImage(await makeJpeg(w, h, 3), { imageSize: size, resizeMode: mode });
    expect(r.ok && [r.width, r.height, r.originalWidth, r.originalHeight]).toEqual([ew, eh, w, h]);
  });

  it('--resize-only-if-bigger measures the side the mode scales (shorter for keep_ratio/center_crop, longer otherwise)', async () => {
    expect(fitFor('keep_ratio', 100, 50, 80, true)).toBeUndefined();
    expect(fitFor('keep_ratio', 100, 150, 80, true)).toBeUndefined(); // shorter side 80 <= 100
    expect(fitFor('keep_ratio_largest', 100, 150, 80, true)).toEqual({ width: 100, height: 53, fit: 'fill' });
    expect(fitFor('border', 100, 100, 80, true)).toBeUndefined();
    const r = await processImage(await makeJpeg(60, 40, 1), { imageSize: 100, resizeMode: 'border', resizeOnlyIfBigger: true });
    expect(r.ok && [r.width, r.height]).toEqual([60, 40]); // img2dataset: no pad either when not resized
  });

  it('border pads with white, centre; png is stored as png', async () => {
    const r = await processImage(await makeJpeg(80, 40, 2), { imageSize: 40, resizeMode: 'border', encode: 'png' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const meta = await sharp(r.image).metadata();
    expect(meta.format).toBe('png');
    const { data } = await sharp(r.image).raw().toBuffer({ resolveWithObject: true });
    expect([...data.subarray(0, 3)]).toEqual([255, 255, 255]); // top-left corner is padding
  });
});

describe("img2dataset's command line on the real CLI", () => {
  let srv: TestServer;
  let dir: string;
  beforeAll(async () => {
    srv = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), 'wit-img2dataset-'));
  });
  afterAll(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

  it('`wit crawl --url_list urls.csv --output_folder out --output_format webdataset` makes the tars wit\'s own flags make; `--output_format files` their members, unpacked', async () => {
    // a url-only list, as img2dataset takes one without --caption_col, plus a uid to carry; the last
    // row is the first row's image under another url: 13 pairs, 12 distinct images
    const rows = ['url,uid', ...Array.from({ length: 12 }, (_, i) => `${srv.url(`/img/i2d${i}.jpg?seed=${i}&w=${40 + i}&h=30`)},u${i}`), `${srv.url('/status/404')},gone`, `${srv.url('/img/again.jpg?seed=0&w=40&h=30')},again`];
    const list = join(dir, 'urls.csv');
    writeFileSync(list, rows.join('\n') + '\n');
    const common = ['--allow-private-network', '--json'];
    const theirs = await runWit(['crawl', '--url_list', list, '--output_folder', join(dir, 'theirs'), '--output_format', 'webdataset',
      '--image_size', '32', '--resize_mode', 'keep_ratio_largest', '--number_sample_per_shard', '5', '--save_additional_columns', '["uid"]',
      '--thread_count', '4', '--timeout', '5', '--retries', '0', '--enable_wandb', 'False', ...common]);
    expect(theirs.code, theirs.stderr).toBe(0);
    expect(theirs.stderr).toMatch(/--enable_wandb False \(img2dataset\) ignored/);
    const ours = await runWit(['crawl', '--input', list, '--out', join(dir, 'ours'), '--output-format', 'webdataset',
      '--image-size', '32', '--resize-mode', 'keep_ratio_largest', '--shard-size', '5', '--save-additional-columns', 'uid',
      '--concurrency', '4', '--timeout-ms', '5000', '--retries', '0', ...common]);
    expect(ours.code, ours.stderr).toBe(0);
    const tars = async (d: string) => (await readdir(d)).filter((n) => n.endsWith('.tar')).sort();
    expect(await tars(join(dir, 'theirs'))).toEqual(['00000.tar', '00001.tar', '00002.tar']);
    expect(await tars(join(dir, 'ours'))).toEqual(await tars(join(dir, 'theirs')));
    for (const t of await tars(join(dir, 'ours'))) expect(sha(readFileSync(join(dir, 'theirs', t))), t).toBe(sha(readFileSync(join(dir, 'ours', t))));
    // img2dataset's `files` format: the same members, unpacked, a folder NNNNN/ per tar, the metadata
    // and completion record beside it
    const files = await runWit(['crawl', '--url_list', list, '--output_folder', join(dir, 'files'), '--output_format', 'files',
      '--image_size', '32', '--resize_mode', 'keep_ratio_largest', '--number_sample_per_shard', '5', '--save_additional_columns', '["uid"]',
      '--thread_count', '4', '--timeout', '5', '--retries', '0', ...common]);
    expect(files.code, files.stderr).toBe(0);
    expect((await readdir(join(dir, 'files'))).filter((n) => /^\d{5}/.test(n)).sort()).toEqual([
      '00000', '00000.parquet', '00000_stats.json', '00001', '00001.parquet', '00001_stats.json', '00002', '00002.parquet', '00002_stats.json',
    ]);
    for (const t of await tars(join(dir, 'ours'))) {
      const inTar = new Map<string, string>();
      for await (const m of readTar(join(dir, 'ours', t))) inTar.set(m.name, sha(m.data!));
      const folder = join(dir, 'files', t.replace(/\.tar$/, ''));
      const inFolder = new Map<string, string>();
      for (const n of await readdir(folder)) inFolder.set(n, sha(readFileSync(join(folder, n))));
      expect(inTar.size, t).toBeGreaterThan(0);
      expect(new Map([...inFolder].sort()), t).toEqual(new Map([...inTar].sort()));
    }
    const c = JSON.parse(files.stdout) as Record<string, unknown>;
    // a url-only list has no captions: open_clip's csv file beside the folders lists none, and says why
    expect(c.open_clip_note).toBe('no pair has a caption, so open_clip_train.csv lists none: open_clip trains on captioned pairs');
    expect(c.open_clip_command).toBeUndefined();
    expect(readFileSync(join(dir, 'files', 'open_clip_train.csv'), 'utf8')).toBe('filepath,title\n');
    const a = JSON.parse(theirs.stdout) as Record<string, unknown>;
    const b = JSON.parse(ours.stdout) as Record<string, unknown>;
    for (const k of ['candidates', 'kept', 'shards', 'distinct_images', 'failed', 'skipped', 'bad_items']) expect(c[k], k).toEqual(b[k]);
    expect(a).toMatchObject({ kept: 13, distinct_images: 12, shards: 3, failed: { http_4xx: 1 } });
    for (const k of ['candidates', 'kept', 'shards', 'failed', 'skipped', 'bad_items']) expect(a[k], k).toEqual(b[k]);
    // the last progress line is the summary (issue 29, point 3): its counts and its one rate, with the
    // url list's total (img2dataset's bar shows one)
    const last = ours.stderr.trim().split('\n').filter((l) => l.startsWith('crawl:')).pop()!;
    expect(last).toMatch(new RegExp(`^crawl: 14 of 14 \\(100\\.0%, ETA 0s\\) candidates \\(${formatCount(b.candidates_per_sec as number).replace('.', '\\.')}/s\\) · 14 matched · 14 admitted · 13 kept \\(${formatCount(b.images_per_sec as number).replace('.', '\\.')} img/s\\) · ok 92\\.9% · failed: http_4xx 1 · 3 shards$`));
    expect(b).toMatchObject({ candidates: 14, kept: 13, shards: 3 });
    // convert re-shards 13 pairs into 4 shards: its last line is its summary too
    const conv = await runWit(['convert', '--shards', join(dir, 'ours'), '--output-format', 'parquet', '--shard-size', '4', '--out', join(dir, 'conv'), '--json']);
    expect(conv.code, conv.stderr).toBe(0);
    const cs = JSON.parse(conv.stdout) as ConvertSummary;
    expect(cs).toMatchObject({ shards: 4, pairs: 13, distinct_images: 12 });
    expect(conv.stderr.trim().split('\n').filter((l) => l.startsWith('convert:')).pop()).toBe(convertLine(cs));
  }, 120_000);
});

describe('a resume that differs names the flag, not the library key (issue 29, point 7)', () => {
  it('imageSize is --image-size, minSize --min-image-side, the queries their file', async () => {
    const { fingerprintName } = await import('../../src/crawl/run-dir.js');
    expect(fingerprintName('imageSize')).toBe('--image-size');
    expect(fingerprintName('minSize')).toBe('--min-image-side');
    expect(fingerprintName('respectRobots')).toBe('--robots');
    expect(fingerprintName('queries_sha256')).toBe('the query list (--queries)');
    expect(fingerprintName('caseSensitive')).toBe('--case-insensitive');
  });
});

describe('distinct images (issue 29, point 4)', () => {
  it('counts each sha256 once, exactly, past growth; ignores a missing digest', async () => {
    const { DistinctCounter, countDistinct } = await import('../../src/util/distinct.js');
    const c = new DistinctCounter();
    const digest = (i: number) => createHash('sha256').update(String(i)).digest('hex');
    for (let i = 0; i < 5000; i++) c.add(digest(i % 3000));
    expect(c.size).toBe(3000);
    expect(c.add(digest(7).toUpperCase())).toBe(false);
    expect(c.add('')).toBe(false);
    expect(countDistinct([digest(1), digest(1), digest(2)])).toBe(2);
  });
});

describe("the demo's stage counter counts the stages it runs (issue 29, point 3)", () => {
  it('without --compare: 9 stages, report is 9/9 (it used to jump from 8/10 to 10/10)', async () => {
    const { demoStages, stageTag } = await import('../../src/demo/index.js');
    const stages = demoStages(false);
    expect(stages.map((s) => stageTag(stages, s).split(' ')[0])).toEqual(Array.from({ length: 9 }, (_, i) => `[${i + 1}/9]`));
    expect(stageTag(stages, 'report')).toBe('[9/9] report');
    expect(stageTag(demoStages(true), 'report')).toBe('[10/10] report');
  });
});

describe('a WARC that holds the images (issue 29, point 5)', () => {
  it('crawls with no network: the images it holds are used (from_warc), only the missing one is looked up; --refetch fetches all', async () => {
    const { makeWarc } = await import('../helpers/warc.js');
    const { crawl } = await import('../../src/crawl/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'wit-warc-images-'));
    try {
      const html = '<html><body><img src="/a.jpg" alt="a red apple"><img src="/b.png" alt="a green apple"><img src="/gone.jpg" alt="a blue apple"><img src="/opted-out.jpg" alt="a pink apple"></body></html>';
      const png = await sharp({ create: { width: 30, height: 20, channels: 3, background: { r: 9, g: 200, b: 9 } } }).png().toBuffer();
      const warc = join(dir, 'site.warc.gz');
      writeFileSync(warc, await makeWarc([
        { url: 'http://photos.example/page.html', body: html, contentType: 'text/html' },
        { url: 'http://photos.example/a.jpg', body: await makeJpeg(40, 30, 5), contentType: 'image/jpeg' },
        { url: 'http://photos.example/b.png', body: png, contentType: 'image/png' },
        { url: 'http://photos.example/opted-out.jpg', body: await makeJpeg(40, 30, 6), contentType: 'image/jpeg', headers: { 'X-Robots-Tag': 'noai' } },
      ], { gzip: true }));
      const lookups: string[] = [];
      // no network: every name lookup fails
      const resolver = async (host: string) => { lookups.push(host); throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }); };
      const s = await crawl({ queries: ['apple'], inputs: [warc], out: join(dir, 'out'), retries: 0, imageSize: 16, resolver });
      // the stored response that opts out (X-Robots-Tag: noai) is not used: it is fetched, and fails offline
      expect(s).toMatchObject({ candidates: 4, kept: 2, from_warc: 2, failed_total: 2, distinct_images: 2 });
      expect(new Set(lookups)).toEqual(new Set(['photos.example'])); // for gone.jpg, opted-out.jpg (and robots.txt) only
      const refetched = await crawl({ queries: ['apple'], inputs: [warc], out: join(dir, 'refetch'), retries: 0, imageSize: 16, resolver, refetch: true });
      expect(refetched).toMatchObject({ candidates: 4, kept: 0, from_warc: 0, failed_total: 4 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("the filter histogram's threshold label (issue 29, point 7)", () => {
  it('sits above every bar, the tallest included, inside the chart', async () => {
    const { histogramChart } = await import('../../src/report/svg.js');
    const svg = histogramChart({ title: 'Similarity', edges: [0, 0.1, 0.2, 0.3, 0.4], counts: [3, 50, 7, 1], markers: [{ x: 0.15, label: 'threshold 0.150' }, { x: 0.35, label: 'kept 0.35' }] });
    const barTop = Math.min(...[...svg.matchAll(/<rect class="bar"[^>]* y="([\d.]+)"/g)].map((m) => Number(m[1])));
    const labels = [...svg.matchAll(/<text class="marker" x="([\d.]+)" y="([\d.]+)" text-anchor="(\w+)"/g)];
    expect(labels).toHaveLength(2);
    for (const [, , y] of labels) expect(Number(y)).toBeLessThan(barTop - 4);
    expect(labels[1]![3]).toBe('end'); // right of the middle: it runs leftwards, not off the chart
  });
});

describe('the compare plot (issue 29, point 7)', () => {
  it("keeps a name at the right edge whole (`raw`, not `r`) and no ring on an axis' tick", async () => {
    const { dotChart } = await import('../../src/report/svg.js');
    const W = 560;
    const H = 300;
    const svg = dotChart({ title: 'top-1 vs pairs', width: W, height: H, groups: [
      { name: 'raw', points: [[1000, 10], [1000, 12]], mean: [1000, 11] },
      { name: 'filtered', points: [[400, 20], [400, 22]], mean: [400, 21] },
      { name: 'balanced', points: [[0, 0]], mean: [0, 0] },
    ] });
    const means = [...svg.matchAll(/<g class="mean"><circle cx="([\d.]+)" cy="([\d.]+)" r="7"[^]*?<text x="([\d.]+)" y="[\d.]+"( text-anchor="end")?[^>]*>([^<]+)<\/text>/g)];
    expect(means.map((m) => m[5])).toEqual(['raw', 'filtered', 'balanced']);
    for (const [, cx, cy, tx, end, name] of means) {
      // the label lies inside the chart: it ends before the right edge, or runs leftwards from the ring
      if (end) expect(Number(tx)).toBeLessThan(Number(cx));
      else expect(Number(tx) + 7 * name!.length).toBeLessThanOrEqual(W);
      // the ring (r 7) clears the y axis (x = 56) and the x axis (y = H - 40)
      expect(Number(cx) - 7).toBeGreaterThan(56);
      expect(Number(cy) + 7).toBeLessThan(H - 40);
    }
    expect(means[0]![4]).toBe(' text-anchor="end"');
  });
});
