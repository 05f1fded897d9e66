import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Parser } from 'htmlparser2';
import sharp from 'sharp';
import { WARCParser } from 'warcio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ImageCache, bzip2File, demoEmoji, parseSynsetLine, planSite, planWikiDump, readSynsets, serveSite,
  siteResponse, writeHeldout, writePageviews, writeSiteWarc, writeWikiXml, type SiteServer,
} from '../../src/demo/index.js';
import { readShards } from '../../src/shards/index.js';
import type { Emoji } from '../../src/data/emoji.js';
import { needs, programPath } from '../helpers/needs.js';

let dir: string;
let emoji: Emoji[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-demo-gen-'));
  emoji = await demoEmoji(12, 0);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('WordNet reader', () => {
  it('parses a data.noun line (lemmas, pointers, gloss with examples)', () => {
    const s = parseSynsetLine('02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 002 @ 02083346 n 0000 ~ 01322604 n 0000 | a member of the genus Canis; "the dog barked all night"; "dogs bark"  ');
    expect(s).toEqual({
      offset: '02084071', lexFile: 'noun.animal', words: ['dog', 'domestic dog', 'Canis familiaris'],
      hypernyms: ['02083346'], hyponyms: ['01322604'], definition: 'a member of the genus Canis', examples: ['the dog barked all night', 'dogs bark'],
    });
    expect(parseSynsetLine('  1 This software and database is being provided')).toBeUndefined();
    expect(() => parseSynsetLine('garbage')).toThrow(/bad synset line/);
  });
  it('reads the bundled WordNet 3.1 nouns', async () => {
    const all = await readSynsets();
    expect(all.length).toBeGreaterThan(80_000);
    expect(all.find((s) => s.words[0] === 'entity')?.definition).toMatch(/distinct existence/);
  });
});

/** Pages of a MediaWiki export, parsed as XML (the way a dump reader sees them). */
function parseDump(xml: string): { title: string; ns: string; id: string; redirect?: string; text: string }[] {
  const pages: { title: string; ns: string; id: string; redirect?: string; text: string }[] = [];
  let cur: Record<string, string> | undefined;
  const stack: string[] = [];
  let root = '';
  const p = new Parser({
    onopentag(name, attrs) {
      if (!root) root = name;
      stack.push(name);
      if (name === 'page') cur = { text: '' };
      if (name === 'redirect' && cur) cur.redirect = attrs.title!;
    },
    ontext(t) {
      const tag = stack[stack.length - 1];
      const parent = stack[stack.length - 2];
      if (!cur) return;
      if (tag === 'text') cur.text += t;
      else if (parent === 'page' && (tag === 'title' || tag === 'ns' || tag === 'id')) cur[tag] = (cur[tag] ?? '') + t;
    },
    onclosetag(name) {
      stack.pop();
      if (name === 'page' && cur) {
        pages.push(cur as never);
        cur = undefined;
      }
    },
  }, { xmlMode: true, decodeEntities: true });
  p.write(xml);
  p.end();
  expect(root).toBe('mediawiki');
  return pages;
}

describe('Wikipedia dump generator', () => {
  it('writes a MediaWiki export with articles, redirects and other namespaces', async () => {
    const synsets = await readSynsets();
    const plan = planWikiDump({ synsets, emoji, articles: 60, seed: 1 });
    const file = join(dir, 'dump.xml');
    await writeWikiXml(file, plan);
    const xml = await readFile(file, 'utf8');
    expect(xml).toMatch(/^<mediawiki xmlns="http:\/\/www.mediawiki.org\/xml\/export-0.11\/"/);
    const pages = parseDump(xml);
    expect(pages).toHaveLength(plan.pages.length);
    // Text survives escaping exactly (wikitext is full of <, >, &, quotes).
    const byTitle = new Map(plan.pages.map((pg) => [pg.title, pg]));
    for (const pg of pages) expect(pg.text).toBe(byTitle.get(pg.title)!.text);
    expect(new Set(pages.map((pg) => pg.id)).size).toBe(pages.length);
    const redirects = pages.filter((pg) => pg.redirect);
    expect(redirects.length).toBe(plan.redirects);
    for (const r of redirects) expect(r.text).toMatch(/^#REDIRECT \[\[/);
    expect(pages.filter((pg) => pg.ns !== '0').length).toBe(plan.otherNamespaces);
    expect(plan.otherNamespaces).toBeGreaterThan(3);
    const articles = pages.filter((pg) => pg.ns === '0' && !pg.redirect);
    expect(articles.length).toBe(plan.articleTitles.length);
    expect(articles.some((a) => /\{\{Infobox concept/.test(a.text) && /\[\[[^\]]+\]\]/.test(a.text) && /<ref>/.test(a.text))).toBe(true);
    // Every emoji has its article, titled by its name, which the text uses several times.
    for (const e of emoji) {
      const title = e.name.charAt(0).toUpperCase() + e.name.slice(1);
      const a = articles.find((x) => x.title === title);
      expect(a, title).toBeDefined();
      expect(a!.text.split(e.name).length - 1).toBeGreaterThanOrEqual(4);
    }
  });

  it.skipIf(!needs('bzip2'))('compresses with the system bzip2 (the real format)', async () => {
    const src = join(dir, 'small.xml');
    await writeWikiXml(src, planWikiDump({ synsets: (await readSynsets()).slice(0, 2000), emoji, articles: 20, seed: 2 }));
    await bzip2File(src, join(dir, 'small.xml.bz2'));
    const back = execFileSync(programPath('bzip2')!, ['-dc', join(dir, 'small.xml.bz2')], { maxBuffer: 1 << 28 });
    expect(back.equals(readFileSync(src))).toBe(true);
  });
});

describe('pageview generator', () => {
  it('writes hourly files in the Wikimedia format, sorted, with noise', async () => {
    const files = await writePageviews(join(dir, 'pv'), { popular: ['Grinning face', 'Red apple'], others: ['Dog', 'Cat', 'Tree'], hours: 2, seed: 3 });
    expect(files.map((f) => f.split('/').pop())).toEqual(['pageviews-20240101-000000.gz', 'pageviews-20240101-010000.gz']);
    for (const f of files) {
      const lines = gunzipSync(readFileSync(f)).toString('utf8').trim().split('\n');
      for (const l of lines) expect(l).toMatch(/^\S+ \S+ \d+ 0$/);
      const keys = lines.map((l) => l.split(' ').slice(0, 2).join(' '));
      expect(keys).toEqual([...keys].sort((a, b) => (a.split(' ')[0]! < b.split(' ')[0]! ? -1 : a.split(' ')[0]! > b.split(' ')[0]! ? 1 : a < b ? -1 : 1)));
      const en = (t: string) => Number(lines.find((l) => l.startsWith(`en ${t} `))?.split(' ')[2]);
      expect(en('Grinning_face')).toBeGreaterThanOrEqual(50);
      expect(en('Red_apple')).toBeGreaterThanOrEqual(50);
      expect(lines.some((l) => l.startsWith('en.m Grinning_face '))).toBe(true);
      expect(lines.some((l) => l.startsWith('en Special:Search '))).toBe(true);
    }
  });
});

describe('demo website', () => {
  let server: SiteServer;
  const plan = () => planSite({ emoji, sets: ['google', 'twitter'], seed: 3 });
  beforeAll(async () => {
    server = await serveSite(plan());
  });
  afterAll(async () => {
    await server.close();
  });

  it('is the same site for the same seed', () => {
    const a = plan();
    const b = plan();
    expect([...a.pages.keys()]).toEqual([...b.pages.keys()]);
    expect(JSON.stringify([...a.pages.values()])).toBe(JSON.stringify([...b.pages.values()]));
  });

  it('serves pages whose images carry names, noise and broken links', async () => {
    const p = plan();
    const index = await (await fetch(`${server.url}/`)).text();
    expect(index).toContain('href="/gallery/1.html"');
    expect(index).toContain('href="/private/index.html"');
    expect(index).not.toContain('/archive/');
    const imgs = [...p.pages.values()].filter((pg) => !pg.archived).flatMap((pg) => pg.images);
    expect(imgs.filter((i) => i.kind === 'true').length).toBeGreaterThanOrEqual(emoji.length * 2);
    for (const kind of ['swapped', 'junk', 'broken', 'none'] as const) expect(imgs.some((i) => i.kind === kind), kind).toBe(true);
    const gallery = await (await fetch(`${server.url}/gallery/1.html`)).text();
    const first = p.pages.get('/gallery/1.html')!.images[0]!;
    expect(gallery).toContain(`src="${first.src}" alt="${first.alt!.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"`);
    expect((await fetch(`${server.url}/gallery/999.html`)).status).toBe(404);
  });

  it('serves robots.txt, real PNGs, 404 and fake images, X-Robots-Tag', async () => {
    const robots = await (await fetch(`${server.url}/robots.txt`)).text();
    expect(robots).toMatch(/User-agent: \*\nDisallow: \/private\//);
    const r = await fetch(`${server.url}/img/google/${emoji[0]!.code}.png`);
    expect(r.headers.get('content-type')).toBe('image/png');
    const meta = await sharp(Buffer.from(await r.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 72, 72]);
    expect((await fetch(`${server.url}/img/google/nope.png`)).status).toBe(404);
    const p = plan();
    // seed 3 plans fake images (HTML served as image/png); the assertions below need one
    const fake = [...p.images.entries()].find(([, v]) => v.kind === 'fake')?.[0];
    expect(fake).toBeDefined();
    const f = await fetch(`${server.url}${fake}`);
    expect(f.headers.get('content-type')).toBe('image/png');
    expect((await f.text()).startsWith('<html>')).toBe(true);
    const noai = [...p.images.entries()].find(([, v]) => v.kind === 'emoji' && v.noai)?.[0];
    expect(noai).toBeDefined();
    expect((await fetch(`${server.url}${noai}`)).headers.get('x-robots-tag')).toMatch(/noai/);
  });

  it('writes a WARC of the archive pages that warcio reads back', async () => {
    const p = plan();
    const cache = new ImageCache(p.imageSize);
    const file = join(dir, 'site.warc.gz');
    const n = await writeSiteWarc(p, cache, server.url, file);
    expect(n).toBeGreaterThan(p.archivePaths.length);
    const parser = new WARCParser(createReadStream(file));
    const types: string[] = [];
    let pages = 0;
    for await (const rec of parser) {
      types.push(rec.warcType ?? '');
      if (rec.warcType !== 'response') continue;
      const url = rec.warcTargetURI!;
      expect(url.startsWith(`${server.url}/`)).toBe(true);
      const body = Buffer.from(await rec.readFully(false));
      const expected = await siteResponse(p, cache, url.slice(server.url.length));
      expect(body.equals(expected.body)).toBe(true);
      expect(rec.httpHeaders?.statusCode).toBe(expected.status);
      if (url.includes('/archive/')) pages++;
    }
    expect(types[0]).toBe('warcinfo');
    expect(types.filter((t) => t === 'response')).toHaveLength(n);
    expect(types.filter((t) => t === 'request')).toHaveLength(n);
    expect(pages).toBe(p.archivePaths.length);
  });
});

describe('held-out set', () => {
  it('writes one OpenMoji image per emoji with its name, and the labels', async () => {
    const h = await writeHeldout(join(dir, 'heldout'), emoji.slice(0, 5), { set: 'openmoji' });
    const recs = [];
    for await (const r of readShards(h.dir)) recs.push(r);
    expect(recs.map((r) => r.caption)).toEqual(emoji.slice(0, 5).map((e) => e.name));
    expect(recs.every((r) => r.queries[0] === r.caption && r.width === 64)).toBe(true);
    expect((await sharp(recs[0]!.image).metadata()).format).toBe('jpeg');
    expect(readFileSync(h.labels, 'utf8').trim().split('\n')).toEqual(emoji.slice(0, 5).map((e) => e.name));
    expect(existsSync(join(h.dir, 'manifest.json'))).toBe(true);
  });
});
