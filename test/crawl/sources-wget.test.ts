/**
 * A WARC written by Debian's wget (`wget --warc-file`) from a site served on 127.0.0.1 by this test,
 * read back by the WARC source: the format as a real crawler writes it (gzip per record, request,
 * response, metadata and resource records, wget's own log inside).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSource } from '../../src/crawl/sources/index.js';
import type { Candidate } from '../../src/crawl/types.js';
import { needs, programPath } from '../helpers/needs.js';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xd9]);

const SITE: Record<string, { type: string; body: Buffer }> = {
  '/': {
    type: 'text/html; charset=utf-8',
    body: Buffer.from(`<!doctype html><html><head><title>Home</title></head><body>
      <h1>Animals</h1>
      <img src="img/cat.jpg" alt="A black cat on a sofa">
      <img src="/img/dog.jpg" alt="">
      <a href="/birds/">Birds</a> <a href="/docs/manual.pdf">manual</a>
    </body></html>`),
  },
  '/birds/': {
    type: 'text/html; charset=windows-1252',
    body: Buffer.from(`<html><head><base href="/img/"></head><body>
      <img src="robin.jpg" alt="Rouge-gorge au jardin \xe9t\xe9">
      <img data-src="owl.jpg" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="An owl at night">
    </body></html>`, 'latin1'),
  },
  '/img/cat.jpg': { type: 'image/jpeg', body: JPEG },
  '/img/dog.jpg': { type: 'image/jpeg', body: JPEG },
  '/img/robin.jpg': { type: 'image/jpeg', body: JPEG },
  '/img/owl.jpg': { type: 'image/jpeg', body: JPEG },
  '/docs/manual.pdf': { type: 'application/pdf', body: Buffer.from('%PDF-1.4\n%%EOF\n') },
  '/robots.txt': { type: 'text/plain', body: Buffer.from('User-agent: *\nAllow: /\n') },
};

let server: Server;
let base: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wit-wget-'));
  server = createServer((req, res) => {
    const page = SITE[new URL(req.url ?? '/', 'http://x').pathname];
    if (!page) {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<img src="/nf.jpg" alt="not found">');
      return;
    }
    res.writeHead(200, { 'content-type': page.type, 'content-length': page.body.length }).end(page.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

// Without wget the test is skipped (and vitest then runs no beforeAll/afterAll).
describe.skipIf(!needs('wget'))('WARC written by wget --warc-file', () => {
  it('yields the <img> alt texts of every archived page', async () => {
    const warc = join(dir, 'site');
    await promisify(execFile)(programPath('wget')!, [
      '--quiet', '--recursive', '--level=2', '--no-parent', '--tries=1', '--timeout=10',
      `--directory-prefix=${join(dir, 'mirror')}`, `--warc-file=${warc}`, `${base}/`,
    ], { timeout: 60_000 });
    const path = `${warc}.warc.gz`;
    expect(existsSync(path)).toBe(true);
    const cands: Candidate[] = [];
    const bad: string[] = [];
    for await (const c of readSource(path, { onBadItem: (r) => bad.push(r) })) cands.push(c);
    const got = cands.map((c) => [c.page_url, c.url, c.caption]).sort();
    expect(got).toEqual([
      [`${base}/`, `${base}/img/cat.jpg`, 'A black cat on a sofa'],
      [`${base}/birds/`, `${base}/img/owl.jpg`, 'An owl at night'],
      [`${base}/birds/`, `${base}/img/robin.jpg`, 'Rouge-gorge au jardin été'],
    ].sort());
    expect(bad).toEqual([]);
    for (const c of cands) expect(c.source).toBe(path);
  });
});
