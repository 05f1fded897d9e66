/**
 * Inputs read over http(s) are held to --max-input-bytes and --input-timeout-ms, and a compressed
 * Parquet page is decompressed with an output cap (its declared size, and --max-page-bytes): on the
 * real CLI, each is one line naming the input and the limit, exit 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { runWit } from './run-wit.js';

let dir: string;
let queries: string;
let server: http.Server;
let origin: string;
let parquetFiles: Map<string, Buffer>;

const line = (i: number) => `${JSON.stringify({ url: `http://127.0.0.1:9/${i}.jpg`, caption: `a cat ${i}` })}\n`;

/** Writes lines until the client goes away, respecting backpressure. */
function endless(res: http.ServerResponse, delayMs: number): void {
  let i = 0;
  let open = true;
  res.on('close', () => { open = false; });
  const more = (): void => {
    while (open) {
      const ok = res.write(line(i++));
      if (delayMs > 0) { setTimeout(more, delayMs); return; }
      if (!ok) { res.once('drain', more); return; }
    }
  };
  more();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-input-limits-'));
  queries = join(dir, 'queries.txt');
  await writeFile(queries, 'cat\n');
  parquetFiles = new Map();
  server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    if (p === '/endless.jsonl' || p === '/endless.parquet') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return endless(res, 0);
    }
    if (p === '/endless.warc') {
      // one record that declares a terabyte of payload, then bytes without end
      res.writeHead(200, { 'content-type': 'application/warc' });
      res.write('WARC/1.1\r\nWARC-Type: resource\r\nWARC-Target-URI: http://example.com/\r\nContent-Type: text/html\r\nContent-Length: 1000000000000\r\n\r\n');
      return endless(res, 0);
    }
    if (p === '/slow.jsonl') {
      res.writeHead(200, { 'content-type': 'application/jsonl' });
      return endless(res, 100);
    }
    if (p === '/declared-huge.jsonl') {
      res.writeHead(200, { 'content-length': String(50 * 1024 ** 3) });
      res.write(line(0));
      return; // the rest never comes
    }
    if (p === '/small.jsonl') {
      const body = [0, 1, 2].map(line).join('');
      res.writeHead(200, { 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
      return;
    }
    const pq = parquetFiles.get(p);
    if (pq) {
      res.writeHead(200, { 'content-length': String(pq.length) });
      res.end(pq);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

async function crawl(name: string, input: string, ...extra: string[]) {
  const out = join(dir, `out-${name}`);
  return runWit(['crawl', '--queries', queries, '--input', input, '--out', out, '--allow-private-network', '--retries', '0', '--json', ...extra], { timeoutMs: 30_000 });
}

/** The one error line (progress lines aside), checked to be alone and without a stack trace. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => !/^crawl: \d/.test(l));
  expect(lines, stderr).toHaveLength(1);
  return lines[0]!;
}

describe('limits on inputs read over http(s)', () => {
  it('an endless url list stops at --max-input-bytes', async () => {
    const url = `${origin}/endless.jsonl`;
    const r = await crawl('endless', url, '--max-input-bytes', '200000');
    expect(r.code, r.stderr).toBe(2);
    const msg = oneLine(r.stderr);
    expect(msg).toMatch(/^wit crawl: /);
    expect(msg).toContain(url);
    expect(msg).toMatch(/more than 200000 bytes.*--max-input-bytes/);
  });

  it('an endless remote Parquet file stops at --max-input-bytes while it is downloaded', async () => {
    const url = `${origin}/endless.parquet`;
    const r = await crawl('endless-parquet', url, '--max-input-bytes', '300000');
    expect(r.code, r.stderr).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/endless\.parquet.*--max-input-bytes/);
  });

  it('an endless remote WARC stops at --max-input-bytes', async () => {
    const url = `${origin}/endless.warc`;
    const r = await crawl('endless-warc', url, '--max-input-bytes', '300000');
    expect(r.code, r.stderr).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/endless\.warc.*more than 300000 bytes.*--max-input-bytes/);
  });

  it('a declared Content-Length over the limit is refused before the body', async () => {
    const url = `${origin}/declared-huge.jsonl`;
    const r = await crawl('declared', url);
    expect(r.code, r.stderr).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/Content-Length 53687091200 is over the input limit of 17179869184 bytes \(--max-input-bytes\)/);
  });

  it('a slow body that never stalls long enough for --timeout-ms stops at --input-timeout-ms', async () => {
    const url = `${origin}/slow.jsonl`;
    // the stall timeout far above the whole-input one, so that a starved test server (a loaded machine) cannot trip it first
    const r = await crawl('slow', url, '--input-timeout-ms', '1500', '--timeout-ms', '120000');
    expect(r.code, r.stderr).toBe(2);
    const msg = oneLine(r.stderr);
    expect(msg).toContain(url);
    expect(msg).toMatch(/not finished after 1500 ms \(--input-timeout-ms\)/);
  });

  it('an input within the limits reads as before', async () => {
    const r = await crawl('small', `${origin}/small.jsonl`, '--max-input-bytes', '1000');
    // read in full; its urls point at a closed port, so nothing is kept: exit 1 with the summary (issue 20)
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/nothing kept from 3 candidates/);
    expect(JSON.parse(r.stdout).candidates).toBe(3);
  });
});

describe('decompression cap of Parquet pages', () => {
  const n = 3;
  const urls = Array.from({ length: n }, (_, i) => `http://127.0.0.1:9/${i}.jpg`);

  it('a GZIP page that inflates beyond its declared size (a bomb) is refused, local or remote', async () => {
    // the writer's "compressor" appends 16 MiB of zeros: the header declares the real page size
    const bomb = Buffer.from(parquetWriteBuffer({
      columnData: [
        { name: 'url', data: urls, type: 'STRING' },
        { name: 'caption', data: urls.map((_, i) => `a cat ${i}`), type: 'STRING' },
      ],
      codec: 'GZIP',
      compressors: { GZIP: (page: Uint8Array) => gzipSync(Buffer.concat([page, Buffer.alloc(16 * 1024 * 1024)])) },
    }));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const local = join(dir, 'bomb.parquet');
    await writeFile(local, bomb);
    const r = await crawl('bomb', local);
    expect(r.code, r.stderr).toBe(2);
    const msg = oneLine(r.stderr);
    expect(msg).toContain(local);
    expect(msg).toMatch(/GZIP page inflates beyond its declared \d+ bytes/);
    parquetFiles.set('/bomb.parquet', bomb);
    const remote = await crawl('bomb-remote', `${origin}/bomb.parquet`);
    expect(remote.code, remote.stderr).toBe(2);
    expect(oneLine(remote.stderr)).toMatch(/bomb\.parquet.*inflates beyond its declared/);
  });

  it('a page that declares more than --max-page-bytes is refused before it is inflated', async () => {
    const big = 'a cat '.repeat(400_000); // 2.4 MB of caption in one page, a few KB compressed
    const file = Buffer.from(parquetWriteBuffer({
      columnData: [
        { name: 'url', data: ['http://127.0.0.1:9/big.jpg'], type: 'STRING' },
        { name: 'caption', data: [big], type: 'STRING' },
      ],
      codec: 'GZIP',
      compressors: { GZIP: (page: Uint8Array) => gzipSync(page) },
    }));
    const local = join(dir, 'bigpage.parquet');
    await writeFile(local, file);
    const r = await crawl('bigpage', local, '--max-page-bytes', String(1024 * 1024));
    expect(r.code, r.stderr).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/bigpage\.parquet.*GZIP page declares \d+ uncompressed bytes, over the limit of 1048576 \(--max-page-bytes\)/);
    // under the default limit the same file reads (the caption is then too long: counted, not fatal)
    const ok = await crawl('bigpage-ok', local);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).bad_items).toMatchObject({ long_caption: 1 });
  });
});
