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

/**
 * Time of `big` over time of `small`, each the best of `rounds` runs taken alternately, so that a
 * busy machine slows both alike: the growth of the cost with the input, not a duration.
 */
async function costRatio(small: () => unknown, big: () => unknown, rounds = 3): Promise<number> {
  let bestSmall = Infinity;
  let bestBig = Infinity;
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await small();
    bestSmall = Math.min(bestSmall, performance.now() - t);
    t = performance.now();
    await big();
    bestBig = Math.min(bestBig, performance.now() - t);
  }
  return bestBig / bestSmall;
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

  it('a 50 MB single-line pageview file: a bad line, and 10x the data costs about 10x the time (not 100x)', async () => {
    const small = hugeLineFile('pageviews-small', 5 << 20);
    const big = hugeLineFile('pageviews-big', 50 << 20);
    const opts = { domains: ['en'], minHourlyViews: 50 };
    const r = await parsePageviewFile(big, opts);
    expect([...r.titles]).toEqual([['Before', 100], ['After', 100]]);
    expect(r.lines).toBe(3);
    expect(r.badLines).toBe(1);
    expect(r.badExamples[0]).toMatch(/^line 2: line of 52428809 characters, longer than 2048: 'en xxx/);
    // quadratic splitting made this ratio ~100 (105 s for 50 MB); linear is ~10
    expect(await costRatio(() => parsePageviewFile(small, opts), () => parsePageviewFile(big, opts))).toBeLessThan(30);
  }, 120_000);

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
  }, 90_000);

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
    const feed = (xml: string) => {
      let pages = 0;
      const sc = new PageScanner(() => pages++);
      for (let i = 0; i < xml.length; i += 65536) sc.push(xml.slice(i, i + 65536));
      sc.end();
      return pages;
    };
    const small = pageOf(4);
    const big = pageOf(40);
    expect(feed(big)).toBe(1);
    // joining and rescanning on every piece made this ratio ~130; linear is ~10
    expect(await costRatio(() => feed(small), () => feed(big))).toBeLessThan(30);
  }, 120_000);

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
