import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { InputError } from '../../src/util/errors.js';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embed, serve, type SearchServer } from '../../src/search/index.js';
import { readShards } from '../../src/shards/index.js';
import { runWit } from '../crawl/run-wit.js';
import { writeEmojiShards } from '../helpers/emoji-shards.js';
import { writeRandomModel } from './helpers.js';
import { needs, programPath } from '../helpers/needs.js';

let dir: string;
let shards: string;
let index: string;
let server: SearchServer;
const images = new Map<string, Uint8Array>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-serve-'));
  shards = join(dir, 'shards');
  const written = await writeEmojiShards(shards, { sets: ['google', 'openmoji'], limit: 12, size: 48, perShard: 10 });
  const model = join(dir, 'model');
  await writeRandomModel(model, written.emoji.map((e) => e.name));
  index = join(dir, 'index');
  await embed({ model, shards: [shards], out: index, backend: 'cpu' });
  for await (const rec of readShards(shards)) images.set(rec.key, rec.image);
  // A file next to the shards that must never be served.
  await writeFile(join(dir, 'secret.txt'), 'SECRET');
  server = await serve({ index, port: 0, backend: 'cpu' });
}, 600_000);

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A raw GET (no URL normalisation by the client, so traversal attempts reach the server as typed). */
function rawGet(port: number, path: string): Promise<{ status: number; body: Buffer; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), type: String(res.headers['content-type'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('wit serve', () => {
  it('binds 127.0.0.1, answers searches and serves each result\'s image from the shards', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await rawGet(server.port, '/');
    expect(page.status).toBe(200);
    expect(page.body.toString()).not.toMatch(/https?:\/\//);
    const r = await rawGet(server.port, `/api/search?q=${encodeURIComponent('red heart')}`);
    const body = JSON.parse(r.body.toString()) as { results: { id: string; key: string; similarity: number; caption: string; url: string; queries: string[] }[] };
    expect(body.results.length).toBe(24);
    const { key, id } = body.results[0]!;
    const img = await rawGet(server.port, `/image/${encodeURIComponent(id)}`);
    expect(img.status).toBe(200);
    expect(img.type).toBe('image/png');
    expect(Buffer.compare(img.body, Buffer.from(images.get(key)!))).toBe(0);
    const nb = JSON.parse((await rawGet(server.port, `/api/neighbours?id=${encodeURIComponent(id)}`)).body.toString()) as { pair: { key: string }; results: { key: string }[] };
    expect(nb.pair.key).toBe(key);
    expect(nb.results.map((h) => h.key)).not.toContain(key);
    expect((await rawGet(server.port, '/api/search?q=%20')).status).toBe(400);
  });

  it('never serves a file outside the shards and its own assets (path traversal)', async () => {
    const secret = join(dir, 'secret.txt');
    const attempts = [
      '/../secret.txt',
      '/../../../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/image/..%2F..%2Fsecret.txt',
      `/image/${encodeURIComponent(secret)}`,
      '/image/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/app.js/../../package.json',
      '/image/%2e%2e',
      `/${encodeURIComponent(join(shards, '00000.parquet'))}`,
      '/image/%ZZ',
    ];
    for (const path of attempts) {
      const r = await rawGet(server.port, path);
      expect([400, 404], path).toContain(r.status);
      expect(r.body.toString()).not.toMatch(/SECRET|root:|PAR1/);
    }
  });

  it('names the port when it is in use (CLI: exit 2)', async () => {
    await expect(serve({ index, port: server.port, backend: 'cpu' })).rejects.toThrow(new RegExp(`port ${server.port} on 127.0.0.1 is in use`));
    const r = await runWit(['serve', '--index', index, '--port', String(server.port), '--backend', 'cpu'], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`serve: port ${server.port} on 127.0.0.1 is in use`));
  }, 600_000);

  it('serves the images from --shards when the shards moved, and nothing from a folder that lacks them', async () => {
    const moved = join(dir, 'moved');
    await mkdir(moved);
    const name = '00001.parquet';
    await writeFile(join(moved, name), await readFile(join(shards, name)));
    const other = await serve({ index, port: 0, shards: [moved], backend: 'cpu' });
    try {
      // ids are shard number - row: shard 1's first row, shard 0's first row
      expect((await rawGet(other.port, '/image/1-2')).status).toBe(200);
      expect((await rawGet(other.port, '/image/0-0')).status).toBe(404);
    } finally {
      await other.close();
    }
  }, 600_000);
});

// The page in a real browser: a query returns images, a click shows neighbours, no console errors,
// no request leaves the server.
describe.skipIf(!needs('chromium'))('wit serve in headless Chromium', () => {
  it('a query shows a grid of images; a click on one shows its neighbours', async () => {
    const { chromium } = await import('playwright-core');
    const profile = await mkdtemp(join(tmpdir(), 'wit-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: programPath('chromium')!,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const foreign: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => { if (!r.url().startsWith(server.url) && !r.url().startsWith('data:')) foreign.push(r.url()); });
      await page.goto(`${server.url}/`, { waitUntil: 'load' });
      await page.waitForFunction(() => /pairs indexed/.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('status').textContent));
      await page.fill('#q', 'red heart');
      await page.press('#q', 'Enter');
      await page.waitForSelector('#grid .card img');
      type Img = { complete: boolean; naturalWidth: number };
      const loaded = async () => {
        await page.waitForFunction(() => [...(globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<Img> } }).document.querySelectorAll('#grid img')].every((i) => i.complete));
        return page.$$eval('#grid img', (els) => els.map((i) => (i as unknown as Img).naturalWidth));
      };
      const widths = await loaded();
      expect(widths.length).toBe(24);
      for (const w of widths) expect(w).toBe(48);
      const firstCards = await page.$$eval('#grid .card', (cs) => cs.map((c) => (c as unknown as { dataset: { key: string } }).dataset.key));
      const texts = await page.$$eval('#grid .card', (cs) => cs.map((c) => (c as unknown as { textContent: string }).textContent));
      expect(texts[0]).toMatch(/similarity -?\d\.\d{3}/);
      expect(texts[0]).toMatch(/example\.invalid/);
      expect(texts[0]).toMatch(/queries: /);
      const clicked = firstCards[3]!;
      await page.click(`#grid .card:nth-child(4) img`);
      await page.waitForSelector('#anchor:not([hidden])');
      await page.waitForFunction((k) => /like /.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('status').textContent) && k.length > 0, clicked);
      const after = await page.$$eval('#grid .card', (cs) => cs.map((c) => (c as unknown as { dataset: { key: string } }).dataset.key));
      expect(after).not.toContain(clicked);
      expect(after.length).toBe(23);
      expect(await page.textContent('#status')).toContain(`like ${clicked}`);
      for (const w of await loaded()) expect(w).toBe(48);
      expect(errors).toEqual([]);
      expect(foreign).toEqual([]);
      await mkdir('test-output', { recursive: true });
      await page.screenshot({ path: 'test-output/serve.png', fullPage: true });
    } finally {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    }
  }, 600_000);
});

/** One raw HTTP/1.1 request as typed (headers included), the status line of the answer. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(text));
    let got = '';
    sock.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    sock.on('end', () => resolve(got.split('\r\n')[0] ?? ''));
    sock.on('error', reject);
  });
}

describe('wit serve: requests and index metadata from others (issue 26)', () => {
  it('answers a request with two Host headers with 400, whichever comes first', async () => {
    const ok = `GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`;
    expect(await rawRequest(server.port, ok)).toMatch(/^HTTP\/1\.1 200/);
    const two = `GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`;
    expect(await rawRequest(server.port, two)).toMatch(/^HTTP\/1\.1 400/);
    const twoReversed = `GET /api/info HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`;
    expect(await rawRequest(server.port, twoReversed)).toMatch(/^HTTP\/1\.1 400/);
  });

  it('refuses an index whose wit-index.json lists /etc/passwd or ../../x, naming it, before opening anything', async () => {
    // a folder is a shard only when it is a files shard (its NAME_stats.json beside it): /etc, /tmp and the run folder are not
    for (const bad of ['/etc/passwd', '../../x.parquet', 'relative/00000.parquet', '/a/../../etc/x.parquet', '/etc', '/tmp', dir, join(shards, 'nope'), '/etc/passwd/']) {
      const copy = join(dir, `edited-${Math.random().toString(36).slice(2)}`);
      await cp(index, copy, { recursive: true });
      const metaFile = join(copy, 'wit-index.json');
      const meta = JSON.parse(await readFile(metaFile, 'utf8')) as { shards: string[]; finished: Record<string, unknown>; shard_sets?: Record<string, string> };
      const first = meta.shards[0]!;
      meta.shards[0] = bad;
      meta.finished[bad] = meta.finished[first];
      delete meta.finished[first];
      if (meta.shard_sets?.[first]) { meta.shard_sets[bad] = meta.shard_sets[first]!; delete meta.shard_sets[first]; }
      await writeFile(metaFile, JSON.stringify(meta));
      const err = await serve({ index: copy, port: 0, backend: 'cpu' }).then((s) => s.close().then(() => undefined), (e: unknown) => e);
      expect(err, bad).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain('wit-index.json');
      expect((err as Error).message).toContain('not an absolute, normalised path');
    }
  });

  it("serves the images of img2dataset's files shards (a folder per shard), one member read per image", async () => {
    const { convert } = await import('../../src/shards/convert.js');
    const files = join(dir, 'files-shards');
    await convert({ shards, to: 'files', out: files });
    const model = join(dir, 'model');
    const idx = join(dir, 'files-index');
    await embed({ model, shards: [files], out: idx, backend: 'cpu' });
    const meta = JSON.parse(await readFile(join(idx, 'wit-index.json'), 'utf8')) as { shards: string[] };
    expect(meta.shards).toEqual([join(files, '00000'), join(files, '00001'), join(files, '00002')]);
    const s = await serve({ index: idx, port: 0, backend: 'cpu' });
    try {
      const r = await rawGet(s.port, `/api/search?q=${encodeURIComponent('red heart')}`);
      const body = JSON.parse(r.body.toString()) as { results: { id: string; key: string }[] };
      expect(body.results.length).toBe(24);
      for (const { id, key } of body.results) {
        const img = await rawGet(s.port, `/image/${encodeURIComponent(id)}`);
        expect(img.status, id).toBe(200);
        expect(img.type).toBe('image/png');
        expect(Buffer.compare(img.body, Buffer.from(images.get(key)!)), key).toBe(0);
      }
    } finally {
      await s.close();
    }
  }, 600_000);

  it('refuses an index whose counts are not counts', async () => {
    const copy = join(dir, 'edited-counts');
    await cp(index, copy, { recursive: true });
    const metaFile = join(copy, 'wit-index.json');
    const meta = JSON.parse(await readFile(metaFile, 'utf8')) as { finished: Record<string, { rows: number; skipped: number }> };
    Object.values(meta.finished)[0]!.rows = -5;
    await writeFile(metaFile, JSON.stringify(meta));
    await expect(serve({ index: copy, port: 0, backend: 'cpu' })).rejects.toThrow(/rows is -5, not a count/);
  });
});
