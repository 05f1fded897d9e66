/**
 * A WARC (or WAT) file cut short must not read as complete: on the real CLI, a record whose declared
 * Content-Length runs past the end of the file is an error naming the file and offset (exit 2), or
 * with --on-truncated skip a counted truncated_record while the run goes on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { makeWarc, makeWat, type WarcPage } from '../helpers/warc.js';
import { runWit } from './run-wit.js';

let dir: string;
let queries: string;
let whole: Buffer;
let lastStart: number;
let cuts: Record<'mid-payload' | 'mid-WARC-header' | 'mid-HTTP-header', number>;

// image urls on a loopback address: refused as blocked_address without any connection
const img = (i: number, alt: string) => `<img src="http://127.0.0.1:9/img/${i}.jpg" alt="${alt}">`;
const pages: WarcPage[] = [
  { url: 'http://example.com/1.html', body: `<html><body>${img(1, 'a cat on a mat')}${img(2, 'another cat')}</body></html>` },
  { url: 'http://example.com/2.html', body: `<html><body>${img(3, 'a grey cat')}</body></html>` },
  // the last page: its first image comes early, so a half page would still yield it
  { url: 'http://example.com/3.html', body: `<html><body>${img(4, 'the cut cat')}${'<p>filler text</p>'.repeat(200)}${img(5, 'a late cat')}</body></html>` },
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-warc-cut-'));
  queries = join(dir, 'queries.txt');
  await writeFile(queries, 'cat\n');
  whole = await makeWarc(pages);
  lastStart = whole.lastIndexOf('WARC/1.1\r\n');
  const warcHeaderEnd = whole.indexOf('\r\n\r\n', lastStart);
  const httpHeaderEnd = whole.indexOf('\r\n\r\n', warcHeaderEnd + 4);
  cuts = {
    'mid-payload': httpHeaderEnd + 4 + 1500,
    'mid-WARC-header': lastStart + 40,
    'mid-HTTP-header': warcHeaderEnd + 4 + 20,
  };
  expect(whole.subarray(httpHeaderEnd + 4, cuts['mid-payload']).toString()).toContain('the cut cat');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function crawl(name: string, bytes: Buffer, ...extra: string[]) {
  const input = join(dir, name);
  await writeFile(input, bytes);
  const out = join(dir, `out-${name}-${extra.join('')}`);
  const r = await runWit(['crawl', '--queries', queries, '--input', input, '--out', out, '--retries', '0', '--json', ...extra]);
  // These inputs point at addresses the crawler refuses, so nothing is kept: since issue 20 that is exit 1
  // with the summary. What is tested here is the reading; a read that ended with nothing kept counts as 0.
  const read = r.code === 0 || (r.code === 1 && /nothing kept from/.test(r.stderr));
  return { ...r, code: read ? 0 : r.code, input, summary: read ? JSON.parse(r.stdout) : undefined };
}

describe('truncated .warc on the CLI', () => {
  it('the whole file reads fine: 5 candidates, no truncated_record', async () => {
    const r = await crawl('whole.warc', whole);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary.candidates).toBe(5);
    expect(r.summary.bad_items?.truncated_record).toBeUndefined();
  });

  for (const where of ['mid-payload', 'mid-WARC-header', 'mid-HTTP-header'] as const) {
    it(`cut ${where}: exit 2 with one line naming the file and the record's offset`, async () => {
      const r = await crawl(`${where}.warc`, whole.subarray(0, cuts[where]));
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^wit crawl: /);
      expect(lines[0]).toContain(r.input);
      expect(lines[0]).toContain(`offset ${lastStart}`);
      expect(lines[0]).toMatch(/truncated/);
    });

    it(`cut ${where}: --on-truncated skip counts one truncated_record and keeps only whole records`, async () => {
      const r = await crawl(`${where}-skip.warc`, whole.subarray(0, cuts[where]), '--on-truncated', 'skip');
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary.bad_items).toMatchObject({ truncated_record: 1 });
      // the three images of the two whole pages; nothing of the cut page
      expect(r.summary.candidates).toBe(3);
      expect(r.summary.kept + r.summary.failed_total + r.summary.skipped_total).toBe(3);
    });
  }
});

describe('truncated .warc.gz and .wat on the CLI', () => {
  it('a gzip stream cut mid-member is an error naming the file, or a counted truncated_record', async () => {
    const gz = await makeWarc(pages, { gzip: true });
    const cut = gz.subarray(0, gz.length - 300);
    const r = await crawl('cut.warc.gz', cut);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(r.input);
    expect(r.stderr).toMatch(/truncated gzip/);
    const s = await crawl('cut-skip.warc.gz', cut, '--on-truncated', 'skip');
    expect(s.code, s.stderr).toBe(0);
    expect(s.summary.bad_items).toMatchObject({ truncated_record: 1 });
    expect(s.summary.candidates).toBe(3);
  });

  it('a .jsonl.gz url list cut mid-member: an error, or with skip the lines before the cut and one truncated_record', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ url: `http://127.0.0.1:9/${i}.jpg`, caption: `cat number ${i}` })).join('\n');
    const gz = gzipSync(lines);
    const cut = gz.subarray(0, Math.floor(gz.length / 2));
    const r = await crawl('cut.jsonl.gz', cut);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('wit '))).toEqual([expect.stringMatching(/cut\.jsonl\.gz: truncated gzip data/)]);
    const s = await crawl('cut-skip.jsonl.gz', cut, '--on-truncated', 'skip');
    expect(s.code, s.stderr).toBe(0);
    expect(s.summary.bad_items).toMatchObject({ truncated_record: 1 });
    // whole lines only: no bad_record from a half line
    expect(s.summary.bad_items.bad_record).toBeUndefined();
    expect(s.summary.candidates).toBeGreaterThan(100);
    expect(s.summary.candidates).toBeLessThan(2000);
  });

  it('a WAT cut mid-record is an error naming the file and offset', async () => {
    const wat = await makeWat([
      { url: 'http://example.com/a', images: [{ url: 'http://127.0.0.1:9/a.jpg', alt: 'a cat' }] },
      { url: 'http://example.com/b', images: [{ url: 'http://127.0.0.1:9/b.jpg', alt: 'b cat' }] },
    ]);
    const start = wat.lastIndexOf('WARC/1.0\r\n');
    const cut = wat.subarray(0, wat.length - 100);
    const r = await crawl('cut.wat', cut);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${r.input}: WARC record`);
    expect(r.stderr).toContain(`offset ${start}`);
    const s = await crawl('cut-skip.wat', cut, '--on-truncated', 'skip');
    expect(s.code, s.stderr).toBe(0);
    expect(s.summary).toMatchObject({ candidates: 1, bad_items: { truncated_record: 1 } });
  });
});
