import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsvParser, detectInputFormat, readSource, type SourceOptions } from '../../src/crawl/sources/index.js';
import type { Candidate } from '../../src/crawl/types.js';
import { InputError, UsageError } from '../../src/util/errors.js';
import { makeWarc, makeWat } from '../helpers/warc.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wit-sources-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, data: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

async function collect(input: string, opts: SourceOptions = {}): Promise<{ cands: Candidate[]; bad: [string, string][] }> {
  const bad: [string, string][] = [];
  const cands: Candidate[] = [];
  for await (const c of readSource(input, { onBadItem: (r, d) => bad.push([r, d]), ...opts })) cands.push(c);
  return { cands, bad };
}

const pair = (c: Candidate) => [c.url, c.caption];

describe('detectInputFormat', () => {
  it('tells kinds from names and urls', () => {
    expect(detectInputFormat('a.warc')).toBe('warc');
    expect(detectInputFormat('/x/CC-MAIN-1.warc.gz')).toBe('warc');
    expect(detectInputFormat('CC-MAIN-1.warc.wat.gz')).toBe('wat');
    expect(detectInputFormat('x.wat')).toBe('wat');
    expect(detectInputFormat('list.JSONL.gz')).toBe('jsonl');
    expect(detectInputFormat('list.csv')).toBe('csv');
    expect(detectInputFormat('list.tsv.gz')).toBe('tsv');
    expect(detectInputFormat('part-0.parquet')).toBe('parquet');
    expect(detectInputFormat('https://example.com/')).toBe('seed');
    expect(detectInputFormat('https://data.example.com/x.warc.gz?sig=1')).toBe('warc');
    expect(detectInputFormat('whatever.bin', 'csv')).toBe('csv');
    expect(detectInputFormat('urls.txt.zst')).toBe('txt');
    expect(detectInputFormat('list.csv.zst')).toBe('csv');
    expect(() => detectInputFormat('notes.doc')).toThrow(UsageError);
    expect(() => detectInputFormat('x', 'zip' as never)).toThrow(UsageError);
  });
});

describe('WARC (written by warcio)', () => {
  const pages = [
    {
      url: 'http://example.com/dir/index.html',
      body: '<html><body><img src="cat.jpg" alt="a black cat"><img src="/logo.png" alt=""><img src="https://cdn.example.org/dog.jpg" alt="dog" title="good dog"></body></html>',
    },
    { url: 'http://example.com/img/photo.jpg', body: new Uint8Array([0xff, 0xd8, 0xff, 0xe0]), contentType: 'image/jpeg' },
    { url: 'http://example.com/missing', body: '<img src="nf.jpg" alt="not found page">', status: 404 },
    {
      url: 'http://example.com/latin1.html',
      body: Buffer.from('<img src="c.jpg" alt="caf\xe9 au lait">', 'latin1'),
      contentType: 'text/html; charset=ISO-8859-1',
    },
    { url: 'http://example.com/xhtml', body: '<img src="x.jpg" alt="xhtml page"/>', contentType: 'application/xhtml+xml' },
  ];
  const expected = [
    ['http://example.com/dir/cat.jpg', 'a black cat'],
    ['https://cdn.example.org/dog.jpg', 'dog'],
    ['http://example.com/c.jpg', 'café au lait'],
    ['http://example.com/x.jpg', 'xhtml page'],
  ];

  it('reads HTML response records of a plain .warc', async () => {
    const p = file('a.warc', await makeWarc(pages));
    const { cands, bad } = await collect(p);
    expect(cands.map(pair)).toEqual(expected);
    expect(cands[0]).toEqual({ url: 'http://example.com/dir/cat.jpg', caption: 'a black cat', page_url: 'http://example.com/dir/index.html', source: p });
    expect(bad).toEqual([]);
  });

  it('reads a per-record gzipped .warc.gz, and takes titles when asked', async () => {
    const p = file('a.warc.gz', await makeWarc(pages, { gzip: true }));
    expect((await collect(p)).cands.map(pair)).toEqual(expected);
    const withTitle = await collect(p, { useTitle: true });
    expect(withTitle.cands.map((c) => c.caption)).toContain('good dog');
  });

  it('detects gzip by magic bytes, not by name', async () => {
    const p = file('gz-without-suffix.warc', await makeWarc(pages, { gzip: true }));
    expect((await collect(p)).cands.map(pair)).toEqual(expected);
  });

  it('reads a gzip-encoded HTTP body and counts an unsupported encoding', async () => {
    const gz = gzipSync(Buffer.from('<img src="z.jpg" alt="zipped body">'));
    const p = file('enc.warc', await makeWarc([
      { url: 'http://example.com/gz', body: gz, headers: { 'Content-Encoding': 'gzip' } },
      { url: 'http://example.com/br', body: 'xx', headers: { 'Content-Encoding': 'zstd' } },
    ]));
    const { cands, bad } = await collect(p);
    expect(cands.map(pair)).toEqual([['http://example.com/z.jpg', 'zipped body']]);
    expect(bad.map((b) => b[0])).toEqual(['unsupported_encoding']);
  });

  it('decodes a chunked body kept raw in the record', async () => {
    const html = '<img src="chunk.jpg" alt="chunked transfer">';
    const chunked = `${(20).toString(16)}\r\n${html.slice(0, 20)}\r\n${(html.length - 20).toString(16)}\r\n${html.slice(20)}\r\n0\r\n\r\n`;
    const p = file('chunked.warc', await makeWarc([
      { url: 'http://example.com/c', body: chunked, headers: { 'Transfer-Encoding': 'chunked' } },
    ]));
    expect((await collect(p)).cands.map(pair)).toEqual([['http://example.com/chunk.jpg', 'chunked transfer']]);
  });

  it('parses only maxHtmlBytes of a huge page and goes on with the next record', async () => {
    const huge = '<img src="first.jpg" alt="early">' + '<p>filler</p>'.repeat(20_000) + '<img src="late.jpg" alt="late">';
    for (const gzip of [false, true]) {
      const p = file(`huge${gzip ? '.warc.gz' : '.warc'}`, await makeWarc([
        { url: 'http://example.com/huge', body: huge },
        { url: 'http://example.com/next', body: '<img src="n.jpg" alt="next page">' },
      ], { gzip }));
      const { cands } = await collect(p, { maxHtmlBytes: 10_000 });
      expect(cands.map((c) => c.caption)).toEqual(['early', 'next page']);
    }
  });

  it('rejects a file that is not WARC, naming it', async () => {
    const p = file('not.warc', 'hello world\nthis is not a warc file\n\n');
    await expect(collect(p)).rejects.toThrow(InputError);
    await expect(collect(p)).rejects.toThrow(/not\.warc/);
  });

  it('gives a clear error for truncated and corrupt .warc.gz', async () => {
    const whole = await makeWarc(pages, { gzip: true });
    const trunc = file('trunc.warc.gz', whole.subarray(0, whole.length - 40));
    await expect(collect(trunc)).rejects.toThrow(/trunc\.warc\.gz.*(corrupt|truncated)/);
    const corrupt = Buffer.from(whole);
    for (let i = 30; i < 200; i++) corrupt[i] = (corrupt[i]! * 7 + 13) & 0xff;
    const c = file('corrupt.warc.gz', corrupt);
    const err = await collect(c).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(String(err)).toMatch(/corrupt\.warc\.gz/);
  });

  it('names a missing file', async () => {
    await expect(collect(join(dir, 'nope.warc'))).rejects.toThrow(/nope\.warc: no such file/);
  });

  it('reads an http(s) input through openUrl', async () => {
    const data = await makeWarc(pages, { gzip: true });
    const seen: string[] = [];
    const { cands } = await collect('https://data.example.com/x.warc.gz', {
      openUrl: async (u) => {
        seen.push(u);
        return Readable.from([data.subarray(0, 100), data.subarray(100)]);
      },
    });
    expect(seen).toEqual(['https://data.example.com/x.warc.gz']);
    expect(cands.map(pair)).toEqual(expected);
    await expect(collect('https://data.example.com/x.warc.gz')).rejects.toThrow(UsageError);
  });
});

describe('WAT (Common Crawl layout)', () => {
  const pages = [
    {
      url: 'https://news.example.com/2024/story.html',
      links: ['/other', 'https://elsewhere.org/'],
      images: [
        { url: '/media/lead.jpg', alt: 'The  city skyline at night', title: 'skyline' },
        { url: 'thumb.png', alt: '' },
        { url: 'data:image/png;base64,AAA', alt: 'inline' },
        { url: 'https://cdn.example.net/a.webp', alt: 'a red bicycle' },
        { url: 'nothing.gif' },
      ],
    },
    { url: 'https://blog.example.org/p/1', base: 'https://static.example.org/files/', images: [{ url: 'pic.jpg', alt: 'based' }] },
  ];

  it('yields IMG@/src links with alt, resolving relative urls and <base>', async () => {
    for (const gzip of [false, true]) {
      const p = file(`cc${gzip ? '.warc.wat.gz' : '.wat'}`, await makeWat(pages, { gzip, extra: ['{not json', '{"Envelope": 3}'] }));
      const { cands, bad } = await collect(p);
      expect(cands.map(pair)).toEqual([
        ['https://news.example.com/media/lead.jpg', 'The city skyline at night'],
        ['https://cdn.example.net/a.webp', 'a red bicycle'],
        ['https://static.example.org/files/pic.jpg', 'based'],
      ]);
      expect(cands[0]!.page_url).toBe('https://news.example.com/2024/story.html');
      expect(bad.map((b) => b[0])).toEqual(['bad_record', 'bad_record']);
      const t = await collect(p, { useTitle: true });
      expect(t.cands.map((c) => c.caption)).toContain('skyline');
    }
  });
});

describe('url lists', () => {
  const rows = [
    { url: 'http://img.example.com/1.jpg', caption: 'first, with comma' },
    { url: 'https://img.example.com/2.jpg', caption: 'second "quoted"\nmultiline' },
    { url: 'https://img.example.com/3.jpg', caption: '  third\ttabbed  ' },
  ];
  const expected = [
    ['http://img.example.com/1.jpg', 'first, with comma'],
    ['https://img.example.com/2.jpg', 'second "quoted" multiline'],
    ['https://img.example.com/3.jpg', 'third tabbed'],
  ];
  const csvCell = (s: string) => (/[",\n\r\t]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

  it('reads JSON Lines, plain and gzipped, counting bad lines', async () => {
    const lines = [
      ...rows.map((r) => JSON.stringify({ ...r, extra: 1 })),
      '',
      '{broken json',
      '[1,2]',
      JSON.stringify({ url: 'ftp://x/y.jpg', caption: 'ftp' }),
      JSON.stringify({ url: 'not a url', caption: 'x' }),
      JSON.stringify({ url: 'http://img.example.com/4.jpg', caption: '   ' }),
      JSON.stringify({ caption: 'no url' }),
    ].join('\n');
    for (const [name, data] of [['l.jsonl', lines], ['l.jsonl.gz', gzipSync(lines)]] as const) {
      const { cands, bad } = await collect(file(name, data));
      expect(cands.map(pair)).toEqual(expected);
      expect(bad.map((b) => b[0])).toEqual(['bad_record', 'bad_record', 'bad_url', 'bad_url', 'empty_caption', 'bad_url']);
      expect(bad[0]![1]).toMatch(new RegExp(`${name.replace('.', '\\.')}:5`));
    }
  });

  it('reads CSV (RFC 4180) and TSV, plain and gzipped, with configurable columns', async () => {
    const csv = '\ufeffkey,url,caption\r\n' + rows.map((r, i) => `${i},${csvCell(r.url)},${csvCell(r.caption)}`).join('\r\n') + '\r\nshort\n5,http://img.example.com/5.jpg,"unterminated\n';
    const { cands, bad } = await collect(file('l.csv', csv));
    // A quote still open at the end of the file is a bad record (issue 20), not a caption that swallows the rest.
    expect(cands.map(pair)).toEqual(expected);
    expect(bad.map((b) => b[0])).toEqual(['bad_record', 'bad_record']);
    expect((await collect(file('l.csv.gz', gzipSync(csv)))).cands.map(pair)).toEqual(cands.map(pair));

    const tsv = 'URL\tTEXT\n' + rows.map((r) => `${csvCell(r.url)}\t${csvCell(r.caption)}`).join('\n');
    const t = await collect(file('l.tsv.gz', gzipSync(tsv)), { urlColumn: 'URL', captionColumn: 'TEXT' });
    expect(t.cands.map(pair)).toEqual(expected);
    await expect(collect(file('l2.tsv', tsv))).rejects.toThrow(/l2\.tsv: TSV header has no url column \(--url-col\) "url" \(columns: URL, TEXT\)/);
  });

  it('reads Parquet row group by row group', async () => {
    const n = 2500;
    const urls = Array.from({ length: n }, (_, i) => (i === 7 ? 'bad url' : `https://img.example.com/${i}.jpg`));
    const caps = Array.from({ length: n }, (_, i) => `caption number ${i}`);
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'url', data: urls, type: 'STRING' },
        { name: 'caption', data: caps, type: 'STRING' },
        { name: 'width', data: Array.from({ length: n }, () => 100), type: 'INT32' },
      ],
      rowGroupSize: 1000,
    });
    const p = file('l.parquet', new Uint8Array(buf));
    const { cands, bad } = await collect(p);
    expect(cands).toHaveLength(n - 1);
    expect(cands[0]).toEqual({ url: 'https://img.example.com/0.jpg', caption: 'caption number 0', source: p, row: { extra: {} } });
    expect(cands[n - 2]!.caption).toBe(`caption number ${n - 1}`);
    expect(bad).toEqual([['bad_url', `${p}: row 7: bad url`]]);
    await expect(collect(p, { captionColumn: 'TEXT' })).rejects.toThrow(/no caption column \(--caption-col\) "TEXT" \(columns: url, caption, width\)/);
    await expect(collect(file('fake.parquet', 'PAR1 not really'))).rejects.toThrow(/fake\.parquet.*not a readable Parquet/);
  });

  it('gives a clear error naming the file for truncated and corrupt gzip', async () => {
    const gz = gzipSync(rows.map((r) => JSON.stringify(r)).join('\n').repeat(50));
    const t = file('t.jsonl.gz', gz.subarray(0, gz.length - 30));
    await expect(collect(t)).rejects.toThrow(InputError);
    await expect(collect(t)).rejects.toThrow(/t\.jsonl\.gz: truncated gzip data: the file ends after \d+ bytes inside a gzip member/);
    const bad = Buffer.from(gz);
    bad.fill(0x41, 12, 60);
    await expect(collect(file('c.csv.gz', bad))).rejects.toThrow(/c\.csv\.gz: corrupt or truncated gzip/);
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    const lines = Array.from({ length: 100_000 }, (_, i) => JSON.stringify({ url: `http://x/${i}.jpg`, caption: `c ${i}` })).join('\n');
    const p = file('big.jsonl', lines);
    let n = 0;
    const run = async () => {
      for await (const _ of readSource(p, { signal: ac.signal })) if (++n === 10) ac.abort(new Error('stop'));
    };
    await expect(run()).rejects.toThrow('stop');
    expect(n).toBeLessThan(100_000);
  });
});

describe('CsvParser', () => {
  it('splits quoted fields across chunk boundaries exactly like a whole parse', () => {
    const text = 'a,b,c\n"x,1","he said ""hi""",3\r\n"multi\nline",,\n\n"q"x,y,"z"\n';
    const whole = new CsvParser(',').push(text);
    for (let cut = 1; cut < text.length; cut++) {
      const p = new CsvParser(',');
      const recs = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut)), ...p.end()];
      expect(recs.map((r) => r.fields), `cut ${cut}`).toEqual(whole.map((r) => r.fields));
    }
    expect(whole.map((r) => r.fields)).toEqual([
      ['a', 'b', 'c'], ['x,1', 'he said "hi"', '3'], ['multi\nline', '', ''], [''], ['qx', 'y', 'z'],
    ]);
    expect(whole.map((r) => r.line)).toEqual([1, 2, 3, 5, 6]);
  });

  it('bounds a record with an unbalanced quote to one bad record', () => {
    const p = new CsvParser(',', 50);
    const recs = [...p.push('a,b\n1,"never closed ' + 'x'.repeat(100) + '\n2,ok\n'), ...p.end()];
    expect(recs.map((r) => (r.tooLong ? 'TOO LONG' : r.fields.join('|')))).toEqual(['a|b', 'TOO LONG', '2|ok']);
  });
});
