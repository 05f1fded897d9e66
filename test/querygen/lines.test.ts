import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineSplitter } from '../../src/querygen/lines.js';
import { parsePageviewFile, MAX_TITLE_BYTES } from '../../src/querygen/pageviews.js';
import { readStreamOffsets, IndexFormatError } from '../../src/querygen/multistream.js';
import { PageScanner } from '../../src/querygen/xml-pages.js';
import { lastPageClose } from '../../src/querygen/index.js';
import { runWit } from '../crawl/run-wit.js';

const dir = mkdtempSync(join(tmpdir(), 'wit-qg-lines-'));

/** Writes a pageview file whose second line is one line of `bytes` characters. */
function hugeLineFile(name: string, bytes: number): string {
  const f = join(dir, name);
  const fd = openSync(f, 'w');
  writeSync(fd, 'en Before 100 0\nen ');
  const block = Buffer.alloc(1 << 20, 'x');
  for (let left = bytes; left > 0; left -= block.length) writeSync(fd, left >= block.length ? block : block.subarray(0, left));
  writeSync(fd, ' 100 0\nen After 100 0\n');
  closeSync(fd);
  return f;
}

describe('line splitting in linear time', () => {
  it('splits lines across pieces, strips \\r, skips an overlong line without holding it', () => {
    const lines: string[] = [];
    const long: Array<[string, number]> = [];
    const sp = new LineSplitter(10, { line: (l) => lines.push(l), overlong: (h, n) => long.push([h.slice(0, 3), n]) });
    for (const piece of ['ab', 'c\r\nde', 'f\n', '0123456789', 'abc', 'def\nok\n\nlast']) sp.push(piece);
    sp.end();
    expect(lines).toEqual(['abc', 'def', 'ok', '', 'last']);
    expect(long).toEqual([['012', 16]]);
    const one: Array<[string, number]> = [];
    const sp2 = new LineSplitter(4, { line: () => undefined, overlong: (h, n) => one.push([h, n]) });
    sp2.push('toolongline');
    sp2.end();
    expect(one).toEqual([['toolongline', 11]]);
  });

  it('counts its work: searched and copied characters stay within twice the input, not input^2 / piece', () => {
    // The splitter's own meter (LineSplitter.work), checked here against splitters fed every way.
    const feed = (text: string, piece: number, maxChars = 2048) => {
      const sp = new LineSplitter(maxChars, { line: () => undefined, overlong: () => undefined });
      for (let i = 0; i < text.length; i += piece) sp.push(text.slice(i, i + piece));
      sp.end();
      return sp.work;
    };
    const oneLine = 'x'.repeat(1 << 20);
    // an overlong line: each piece searched once, the held part (at most maxChars) copied once
    expect(feed(oneLine, 1024)).toBeLessThanOrEqual(oneLine.length + 2 * 2048);
    // a line just under the limit in tiny pieces: the held line grows by a piece at a time, each
    // growth copies it (bounded by maxChars per piece), so the meter does see copying
    const under = 'y'.repeat(2000) + '\n';
    expect(feed(under, 10)).toBeGreaterThan(under.length * 50);
    // many short lines in big pieces: once over the text
    const many = 'en A 1 0\n'.repeat(100_000);
    expect(feed(many, 65536)).toBeLessThanOrEqual(many.length + 100 * 16);
  });

  it('a 50 MB single-line pageview file: a bad line, and the splitting work is linear in the size (5 MB: 1/10 of it)', async () => {
    const small = hugeLineFile('pageviews-small', 5 << 20);
    const big = hugeLineFile('pageviews-big', 50 << 20);
    const opts = { domains: ['en'], minHourlyViews: 50 };
    const r = await parsePageviewFile(big, opts);
    expect([...r.titles]).toEqual([['Before', 100], ['After', 100]]);
    expect(r.lines).toBe(3);
    expect(r.badLines).toBe(1);
    expect(r.badExamples[0]).toMatch(/^line 2: line of 52428809 characters, longer than 2048: 'en xxx/);
    // Work counted, not time (npm run bench:querygen -- --lines times it): quadratic splitting (the
    // unfinished line joined and searched again on every 64 KiB piece) made this ~2e10 for 50 MB.
    const bigChars = (50 << 20) + 40;
    expect(r.splitWork).toBeGreaterThanOrEqual(bigChars);
    expect(r.splitWork).toBeLessThan(2 * bigChars);
    const rs = await parsePageviewFile(small, opts);
    expect(rs.splitWork).toBeLessThan(2 * ((5 << 20) + 40));
    expect(r.splitWork / rs.splitWork).toBeGreaterThan(9);
    expect(r.splitWork / rs.splitWork).toBeLessThan(11);
  }, 600_000);

  it('titles over 1 KiB are bad lines (UTF-8 bytes, not characters)', async () => {
    const f = join(dir, 'pageviews-long-title');
    const ok = 'é'.repeat(MAX_TITLE_BYTES / 2);
    const tooLong = 'é'.repeat(MAX_TITLE_BYTES / 2 + 1);
    writeFileSync(f, `en ${ok} 100 0\nen ${tooLong} 100 0\n`);
    const r = await parsePageviewFile(f, { domains: ['en'], minHourlyViews: 50 });
    expect([...r.titles.keys()]).toEqual([ok]);
    expect(r.badLines).toBe(1);
    expect(r.badExamples[0]).toMatch(/^line 2: title longer than 1024 bytes/);
  });

  it('wit querygen with a 50 MB single-line pageview file counts it as a bad line and finishes', async () => {
    const f = hugeLineFile('pageviews-20240101-000000', 50 << 20);
    const out = join(dir, 'q.tsv');
    const r = await runWit(['querygen', '--pageviews', f, '--wordnet', 'none', '--out', out, '--min-views', '1', '--workers', '1', '--json'], { timeoutMs: 60_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.pageview_bad_lines).toBe(1);
    expect(s.pageview_lines).toBe(3);
    expect(readFileSync(out, 'utf8')).toBe('query\tsource\tcount\nAfter\ttitle\t100\nBefore\ttitle\t100\n');
  }, 600_000);

  it('a multistream index with an overlong line is an error naming the line, found in linear time', async () => {
    const f = join(dir, 'index.txt');
    writeFileSync(f, `0:1:A\n${'9'.repeat(20 << 20)}:2:B\n`);
    const err = await readStreamOffsets(f).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IndexFormatError);
    expect((err as IndexFormatError).line).toBe(2);
    expect((err as Error).message).toMatch(/line of 20971524 characters, longer than 4096/);
  });

  it('XML: a huge page fed in small pieces is scanned in linear time', async () => {
    const pageOf = (mb: number) => {
      const body = 'word '.repeat((mb << 20) / 5);
      return `<mediawiki>\n<page>\n<title>T</title>\n<ns>0</ns>\n<revision><text>${body}</text></revision>\n</page>\n</mediawiki>\n`;
    };
    const feed = (xml: string, piece = 65536) => {
      let pages = 0;
      const sc = new PageScanner(() => pages++);
      for (let i = 0; i < xml.length; i += piece) sc.push(xml.slice(i, i + piece));
      sc.end();
      return { pages, work: sc.work };
    };
    const small = pageOf(4);
    const big = pageOf(40);
    const b = feed(big);
    expect(b.pages).toBe(1);
    // Work counted, not time (npm run bench:querygen -- --lines times it): joining and rescanning
    // the buffer on every piece made this big.length^2 / 65536 (~640 passes over the 40 MB); linear is
    // a fixed number of passes (pieces searched, joined once, the page found, parsed, consumed: ~7).
    expect(b.work).toBeGreaterThanOrEqual(big.length);
    expect(b.work).toBeLessThan(8 * big.length);
    const s = feed(small);
    expect(b.work / s.work).toBeGreaterThan(9);
    expect(b.work / s.work).toBeLessThan(11);
    // many small pages in one piece: every page is found from where the previous one ended
    const pages = Array.from({ length: 2000 }, (_, i) => `<page>\n<title>P${i}</title>\n<ns>0</ns>\n<revision><text>word ${i}</text></revision>\n</page>\n`);
    const many = `<mediawiki>\n${pages.join('')}</mediawiki>\n`;
    const m = feed(many, many.length);
    expect(m.pages).toBe(2000);
    expect(m.work).toBeLessThan(8 * many.length);
  }, 600_000);

  it('lastPageClose finds the last </page> of a piece, also across the previous piece', () => {
    const b = (s: string) => Buffer.from(s);
    expect(lastPageClose(undefined, b('a</page>b</page>c'))).toBe(16);
    expect(lastPageClose(b('xx</pa'), b('ge>rest'))).toBe(3);
    expect(lastPageClose(b('xx</page'), b('>'))).toBe(1);
    expect(lastPageClose(b('x'), b('no close'))).toBe(-1);
  });
});

describe('files that are not pageview files', () => {
  const opts = { domains: ['en'], minHourlyViews: 1 };
  it('empty, junk-only and binary files are refused naming the file (they used to give 0 titles and exit 0)', async () => {
    const empty = join(dir, 'pageviews-empty');
    writeFileSync(empty, '');
    await expect(parsePageviewFile(empty, opts)).rejects.toThrow(/pageviews-empty: empty: no lines; not a pageview file/);
    const half = join(dir, 'pageviews-half');
    writeFileSync(half, 'en Red_circ');
    await expect(parsePageviewFile(half, opts)).rejects.toThrow(/pageviews-half: none of its 1 lines is well-formed; not a pageview file .*line 1: expected 4 space-separated fields/);
    const bin = join(dir, 'pageviews-bin');
    writeFileSync(bin, Buffer.concat([Buffer.from('en A 1 0\n'), Buffer.alloc(100)]));
    await expect(parsePageviewFile(bin, opts)).rejects.toThrow(/pageviews-bin: binary data, not a pageview file \(a NUL byte at byte 9/);
    // a file of other domains only is still a pageview file
    const de = join(dir, 'pageviews-de');
    writeFileSync(de, 'de Kreis 100 0\n');
    expect((await parsePageviewFile(de, opts)).titles.size).toBe(0);
  });

  it('an endless first line stops after the probe, not at the end of the file', async () => {
    const f = join(dir, 'pageviews-endless');
    const fd = openSync(f, 'w');
    const block = Buffer.alloc(1 << 20, 'a');
    for (let i = 0; i < 40; i++) writeSync(fd, block);
    closeSync(fd);
    await expect(parsePageviewFile(f, opts)).rejects.toThrow(/no well-formed line in the first 16 MiB; not a pageview file/);
  });
});
