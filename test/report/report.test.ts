import { cp, mkdtemp, readFile, rm, mkdir, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { report, discoverRuns } from '../../src/report/index.js';
import { niceTicks, logTicks } from '../../src/report/svg.js';
import { esc } from '../../src/report/html.js';
import { writeFixtureRun, HOSTILE } from './fixtures.js';
import { needs, programPath } from '../helpers/needs.js';
import { WIT } from '../crawl/run-wit.js';
import { writeRandomModel } from '../search/helpers.js';
import { InputError } from '../../src/util/errors.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-report-'));
  await writeFixtureRun(join(dir, 'run'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('report helpers', () => {
  it('escapes HTML', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
  it('makes round ticks', () => {
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0.13, 0.71, 4)).toEqual([0.2, 0.4, 0.6]);
    expect(logTicks(3, 250)).toEqual([1, 10, 100, 1000]);
  });
});

describe('discoverRuns', () => {
  it('finds every kind of output in a run folder', async () => {
    const inv = await discoverRuns([join(dir, 'run')]);
    expect(inv.queries.map((q) => q.tsv)).toEqual([resolve(dir, 'run', 'queries.tsv')]);
    expect(inv.queries[0]!.summary).toBe(resolve(dir, 'run', 'queries.summary.json'));
    expect(inv.shards.map((s) => [s.stage, s.dir]).sort()).toEqual([['crawl', resolve(dir, 'run', 'crawl')], ['filter', resolve(dir, 'run', 'filtered')]]);
    expect(inv.models.map((m) => m.dir)).toEqual([resolve(dir, 'run', 'model')]);
    expect(inv.evals).toEqual([resolve(dir, 'run', 'eval.json')]);
  });
  it('takes the parts given one by one', async () => {
    const inv = await discoverRuns([join(dir, 'run', 'crawl'), join(dir, 'run', 'queries.tsv'), join(dir, 'run', 'model')]);
    expect(inv.shards).toHaveLength(1);
    expect(inv.queries).toHaveLength(1);
    expect(inv.models).toHaveLength(1);
  });
  it('refuses a missing path', async () => {
    await expect(discoverRuns([join(dir, 'nope')])).rejects.toThrow(/no such file/);
  });
});

describe('report', () => {
  it('writes one self-contained page with every section', async () => {
    const out = join(dir, 'report.html');
    const s = await report({ runs: [join(dir, 'run')], out, samples: 12, extremes: 4 });
    expect(s.sections).toEqual({ queries: 'ok', crawl: 'ok', shards: 'ok', training: 'ok', eval: 'ok', filter: 'ok' });
    const html = await readFile(out, 'utf8');
    // No network: no external url in any src/href, no script at all.
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain(HOSTILE);
    expect(html).toContain(esc(HOSTILE).slice(0, 40));
    // Numbers from the fixtures.
    expect(html).toContain('31.0%'); // zero-shot top-1
    expect(html).toMatch(/Tail: lowest counts of each source[\s\S]*face with tears/); // the one bigram
    expect(html).toContain('cap 3');
    expect(html).toContain('img1.example.test');
    expect(html).toContain('failed: http_4xx');
    expect(html).toContain('threshold 0.100');
    expect(html).toContain('Dropped by the filter');
    expect(s.charts).toBeGreaterThanOrEqual(10);
    expect(s.images).toBeGreaterThanOrEqual(12 + 12 + 8);
    expect(s.zero_shot).toEqual({ top1: 0.31, top5: 0.62, classes: 30 });
  });

  it('runs as `wit report` with several run paths', () => {
    const out = join(dir, 'cli.html');
    const r = spawnSync(process.execPath, [WIT, 'report', '--run', join(dir, 'run', 'crawl'), join(dir, 'run', 'model'), '--out', out, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.out).toBe(out);
    expect(j.sections).toMatchObject({ crawl: 'ok', shards: 'ok', training: 'ok', queries: 'empty', eval: 'empty', filter: 'empty' });
    expect(existsSync(out)).toBe(true);
  });

  it('says which sections have no data', async () => {
    const out = join(dir, 'only-model.html');
    const s = await report({ runs: [join(dir, 'run', 'model')], out });
    expect(s.sections.training).toBe('ok');
    expect(s.sections.queries).toBe('empty');
    expect(s.sections.filter).toBe('empty');
    expect(await readFile(out, 'utf8')).toContain('No query list');
    // each training run has its heading (the demo's scorer had none; issue 29)
    const training = (await readFile(out, 'utf8')).split('<section id="training">')[1]!.split('</section>')[0]!;
    expect(training).toMatch(/^\s*<h2>Training<\/h2>\s*<h3>model <span class="note">\(/);
  });

  it('a model whose weights are cut short or overwritten: the page is written, exit 2 naming the weights file', async () => {
    const good = join(dir, 'real-model');
    await writeRandomModel(good, ['a cat', 'a dog']);
    const ok = spawnSync(process.execPath, [WIT, 'report', '--run', good, '--out', join(dir, 'real.html'), '--json'], { encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(await readFile(join(dir, 'real.html'), 'utf8')).toMatch(/weights<\/dt><dd>[\d,]+ values in \d+ tensors, all finite/);
    const weights = (d: string) => join(d, 'model.weights.bin');
    const cut = join(dir, 'cut-model');
    await cp(good, cut, { recursive: true });
    await truncate(weights(cut), Math.floor((await stat(weights(good))).size / 2));
    const junk = join(dir, 'junk-model');
    await cp(good, junk, { recursive: true });
    const bytes = await readFile(weights(good));
    await writeFile(weights(junk), Buffer.from(bytes.map((_, i) => (i * 2654435761 + 11) >>> 24)));
    for (const [model, why] of [[cut, /weights file has \d+ bytes, manifest needs \d+ \(truncated\?\)/], [junk, /tensor \S+ holds a non-finite value/]] as const) {
      const out = join(dir, `${model.split('/').pop()}.html`);
      const r = spawnSync(process.execPath, [WIT, 'report', '--run', model, '--out', out], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('wit '));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]!.startsWith(`wit report: ${weights(model)}: `), lines[0]).toBe(true);
      expect(lines[0]).toMatch(why);
      expect(lines[0]).toContain(`the page was written to ${out}`);
      expect(await readFile(out, 'utf8')).toMatch(/unusable: /);
    }
    // Two unreadable inputs: the first is named, the other counted.
    const both = spawnSync(process.execPath, [WIT, 'report', '--run', cut, junk, '--out', join(dir, 'both.html')], { encoding: 'utf8' });
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/; 1 more input could not be read/);
  }, 600_000);

  it('a section that cannot read its run is an error section; the page is still written, then exit 2 naming the file', async () => {
    const run = join(dir, 'bad-config');
    await mkdir(run, { recursive: true });
    await cp(join(dir, 'run', 'model'), join(run, 'model'), { recursive: true });
    await writeFile(join(run, 'model', 'config.json'), '{"arch": ');
    const out = join(dir, 'bad-config.html');
    const err = await report({ runs: [run], out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).file).toBe(resolve(run, 'model'));
    expect(await readFile(out, 'utf8')).toMatch(/Could not read this part of the run: /);
  });

  it('refuses runs with nothing in them', async () => {
    await mkdir(join(dir, 'empty'), { recursive: true });
    await expect(report({ runs: [join(dir, 'empty')], out: join(dir, 'x.html') })).rejects.toThrow(/nothing to report/);
    expect(existsSync(join(dir, 'x.html'))).toBe(false);
  });
});

// A real browser opens the report: no console errors, every chart drawn, every image decoded.
describe.skipIf(!needs('chromium'))('report in headless Chromium', () => {
  it('renders every chart and image without errors', async () => {
    const { chromium } = await import('playwright-core');
    const out = join(dir, 'browser.html');
    await report({ runs: [join(dir, 'run')], out });
    const profile = await mkdtemp(join(tmpdir(), 'wit-chromium-'));
    // A fresh profile directory (playwright passes it as --user-data-dir).
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: programPath('chromium')!,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url()); });
      await page.goto(pathToFileURL(out).href, { waitUntil: 'load' });
      const charts = await page.$$eval('svg.chart', (svgs) => svgs.map((s) => {
        const r = s.getBoundingClientRect();
        return { w: r.width, h: r.height, marks: s.querySelectorAll('path.series, g.series circle, rect.bar').length };
      }));
      expect(charts.length).toBeGreaterThanOrEqual(10);
      for (const c of charts) {
        expect(c.w).toBeGreaterThan(100);
        expect(c.h).toBeGreaterThan(50);
        expect(c.marks).toBeGreaterThan(0);
      }
      // (No DOM lib in this tsconfig: the callbacks run in the page, typed structurally here.)
      type Img = { complete: boolean; naturalWidth: number };
      const imgs = await page.$$eval('img', (els) => els.map((i) => ({ ok: (i as unknown as Img).complete, w: (i as unknown as Img).naturalWidth })));
      expect(imgs.length).toBeGreaterThan(20);
      for (const i of imgs) {
        expect(i.ok).toBe(true);
        expect(i.w).toBeGreaterThan(0);
      }
      expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      await mkdir('test-output', { recursive: true });
      await page.screenshot({ path: 'test-output/report.png', fullPage: true });
    } finally {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    }
  });
});

describe('distinct images (README.md, "Coming from img2dataset")', () => {
  it('shows distinct images beside pairs in the crawl, shards and filter sections', async () => {
    const { default: sharp } = await import('sharp');
    const { createHash } = await import('node:crypto');
    const { ShardWriter, shardPath, writeManifest } = await import('../../src/shards/index.js');
    const { filter } = await import('../../src/filter/index.js');
    const run = join(dir, 'distinct-run');
    const crawl = join(run, 'crawl');
    const png = async (c: string) => new Uint8Array(await sharp({ create: { width: 24, height: 24, channels: 3, background: c } }).png().toBuffer());
    const images = [await png('#c04020'), await png('#2040c0'), await png('#20c040')];
    // 7 pairs of 3 images: the first under 5 captions (one of them too short for the filter), the others once each
    const which = [0, 0, 1, 0, 2, 0, 0];
    const w = await ShardWriter.open(shardPath(crawl, 0), { imageFormat: 'png' });
    for (const [i, n] of which.entries()) {
      const image = images[n]!;
      await w.write({ key: `p${i}`, url: `http://img.example.test/${n}.png`, page_url: null, caption: i === 6 ? 'red' : `picture number ${i}`, queries: ['picture'], image, width: 24, height: 24, original_width: 24, original_height: 24, sha256: createHash('sha256').update(image).digest('hex') });
    }
    await w.close({ stage: 'crawl' });
    await writeManifest(crawl, { stage: 'crawl', version: '0.1.0', created: new Date().toISOString(), options: {}, inputs: [], shards: ['00000.parquet'], totals: { candidates: 7, kept: 7, failed: {}, skipped: {} } });
    const s = await filter({ shards: [crawl], out: join(run, 'filtered'), dedup: false, minCaptionChars: 6 });
    expect([s.input, s.distinct_images_in, s.kept, s.distinct_images]).toEqual([7, 3, 6, 3]);
    const out = join(dir, 'distinct.html');
    await report({ runs: [run], out, samples: 4 });
    const html = await readFile(out, 'utf8');
    const section = (id: string) => html.split(`<section id="${id}">`)[1]!.split('</section>')[0]!;
    const fact = (label: string, value: number) => `<dt>${label}</dt><dd>${value}</dd>`;
    expect(section('crawl')).toContain(fact('kept (pairs)', 7) + '</div><div>' + fact('distinct images', 3));
    const shards = section('shards');
    expect(shards.split(fact('pairs', 7))).toHaveLength(2); // the crawl's shards
    expect(shards).toContain(fact('pairs', 7) + '</div><div>' + fact('distinct images', 3));
    expect(shards).toContain(fact('pairs', 6) + '</div><div>' + fact('distinct images', 3));
    const f = section('filter');
    expect(f).toContain(fact('input pairs', 7) + '</div><div>' + fact('distinct images in', 3));
    expect(f).toContain(fact('kept', 6) + '</div><div>' + fact('distinct images kept', 3));
  }, 60_000);
});
