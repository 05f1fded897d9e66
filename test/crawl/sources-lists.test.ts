import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectList, readSource, type SourceOptions } from '../../src/crawl/sources/index.js';
import type { Candidate } from '../../src/crawl/types.js';
import { InputError } from '../../src/util/errors.js';
import { resolveCrawlOptions } from '../../src/crawl/options.js';
import { delimitedList, parquetList, zstdCompress, type Codec } from '../helpers/url-lists.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wit-lists-'));
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

const N = 1300;
const uids = Array.from({ length: N }, (_, i) => (BigInt(i) * 0x9e3779b97f4a7c15n % (1n << 128n)).toString(16).padStart(32, '0'));
const urls = Array.from({ length: N }, (_, i) => `https://img.example.com/${i}.jpg`);
const texts = Array.from({ length: N }, (_, i) => `a photo of item ${i}, "quoted", ünïcödé`);

describe('--save-additional-columns SRC:DEST', () => {
  it('stores input column SRC under the name DEST (LAION: similarity, a name wit uses), typed as SRC came', async () => {
    const n = 4;
    const p = file('laion-sim.parquet', parquetList({ URL: urls.slice(0, n), TEXT: texts.slice(0, n), similarity: [0.31, 0.32, 0.33, 0.34] }, { URL: 'STRING', TEXT: 'STRING', similarity: 'DOUBLE' }, 'UNCOMPRESSED', 10));
    const opts = { urlColumn: 'URL', captionColumn: 'TEXT', extraColumns: ['similarity:laion_similarity'] };
    const header = await inspectList(p, opts);
    expect(header.extras).toEqual([{ name: 'laion_similarity', kind: (await inspectList(p, { ...opts, extraColumns: ['similarity'] })).extras[0]!.kind }]);
    const { cands } = await collect(p, opts);
    expect(cands.map((c) => c.row?.extra)).toEqual([0.31, 0.32, 0.33, 0.34].map((x) => ({ laion_similarity: x })));
    const csv = file('laion-sim.csv', `URL,TEXT,similarity\n${urls[0]},a cat,0.5\n`);
    expect((await collect(csv, opts)).cands[0]!.row?.extra).toEqual({ laion_similarity: '0.5' });
    // the source column must exist; the message names it as the list has it
    await expect(inspectList(csv, { ...opts, extraColumns: ['score:laion_score'] })).rejects.toThrow(/no column \(--save-additional-columns\) "score"/);
  });

  it('refuses a DEST that is a wit column (with the renaming hint) or two entries stored under one name', () => {
    const base = { inputs: ['list.parquet'], out: 'out' };
    expect(resolveCrawlOptions({ ...base, saveAdditionalColumns: ['similarity:laion_similarity', 'uid'] }).saveAdditionalColumns).toEqual(['similarity:laion_similarity', 'uid']);
    expect(() => resolveCrawlOptions({ ...base, saveAdditionalColumns: ['similarity'] })).toThrow(/similarity: a shard column of wit has that name; store it under another name with similarity:NEW_NAME/);
    expect(() => resolveCrawlOptions({ ...base, saveAdditionalColumns: ['score:caption'] })).toThrow(/score:caption: a shard column of wit has that name \(caption\)/);
    expect(() => resolveCrawlOptions({ ...base, saveAdditionalColumns: ['a:x', 'b:x'] })).toThrow(/two columns would be stored as x/);
  });
});

describe('url lists as img2dataset users bring them', () => {
  it.each(['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'ZSTD'] as Codec[])('DataComp-style Parquet (uid,url,text), %s pages: chosen columns, pass-through columns typed as they came', async (codec) => {
    const rank = Array.from({ length: N }, (_, i) => BigInt(i) * 1000000007n);
    const p = file(`datacomp-${codec}.parquet`, parquetList({ uid: uids, url: urls, text: texts, rank }, { uid: 'STRING', url: 'STRING', text: 'STRING', rank: 'INT64' }, codec, 500));
    const opts = { urlColumn: 'url', captionColumn: 'text', extraColumns: ['uid', 'rank'] };
    const header = await inspectList(p, opts);
    expect(header.extras).toEqual([{ name: 'uid', kind: 'string' }, { name: 'rank', kind: 'int64' }]);
    const { cands, bad } = await collect(p, opts);
    expect(bad).toEqual([]);
    expect(cands).toHaveLength(N);
    expect(cands.map((c) => c.row?.extra?.uid)).toEqual(uids);
    expect(cands[N - 1]).toMatchObject({ url: urls[N - 1], caption: texts[N - 1], row: { extra: { uid: uids[N - 1], rank: rank[N - 1] } } });
  });

  it('LAION-style URL,TEXT lists: csv, tsv, jsonl, each plain, gzipped or zstd-compressed', async () => {
    const rows = urls.slice(0, 50).map((url, i) => ({ uid: uids[i]!, url, text: texts[i]! }));
    const csv = delimitedList(rows, { URL: 'url', TEXT: 'text', uid: 'uid' });
    const tsv = delimitedList(rows, { URL: 'url', TEXT: 'text', uid: 'uid' }, '\t');
    const jsonl = rows.map((r) => JSON.stringify({ URL: r.url, TEXT: r.text, uid: r.uid, n: 1.5 })).join('\n');
    const opts = { urlColumn: 'URL', captionColumn: 'TEXT', extraColumns: ['uid'] };
    for (const [name, data] of [['l.csv', csv], ['l.tsv', tsv], ['l.jsonl', jsonl]] as const) {
      for (const [suffix, enc] of [['', (s: string) => s], ['.gz', (s: string) => gzipSync(s)], ['.zst', (s: string) => zstdCompress(Buffer.from(s))]] as const) {
        const p = file(name + suffix, enc(data));
        const { cands, bad } = await collect(p, opts);
        expect(bad, p).toEqual([]);
        expect(cands.map((c) => [c.url, c.caption, c.row?.extra?.uid]), p).toEqual(rows.map((r) => [r.url, r.text, r.uid]));
      }
    }
    expect((await inspectList(join(dir, 'l.jsonl.zst'), { ...opts, extraColumns: ['uid', 'n'] })).extras).toEqual([{ name: 'uid', kind: 'string' }, { name: 'n', kind: 'double' }]);
  });

  it('.txt lists: one url a line, no caption; a truncated .zst is an error naming the file', async () => {
    const txt = `\ufeff${urls[0]}\n\n${urls[1]}\r\nnot a url\n${urls[2]}`;
    for (const [name, data] of [['u.txt', txt], ['u.txt.gz', gzipSync(txt)], ['u.txt.zst', zstdCompress(Buffer.from(txt))]] as const) {
      const { cands, bad } = await collect(file(name, data));
      expect(cands.map((c) => [c.url, c.caption])).toEqual([[urls[0], ''], [urls[1], ''], [urls[2], '']]);
      expect(bad.map((b) => b[0])).toEqual(['bad_url']);
    }
    const big = zstdCompress(Buffer.from(urls.join('\n')));
    const cut = file('cut.txt.zst', big.subarray(0, big.length - 20));
    await expect(collect(cut)).rejects.toThrow(InputError);
    await expect(collect(cut)).rejects.toThrow(/cut\.txt\.zst/);
  });

  it('--verify-hash-col reads the expected digest, lowercased', async () => {
    const p = file('h.csv', 'url,caption,sha256\nhttps://a.example/1.jpg,one,ABCDEF\nhttps://a.example/2.jpg,two,\n');
    const { cands } = await collect(p, { hashColumn: 'sha256' });
    expect(cands.map((c) => c.hash)).toEqual(['abcdef', undefined]);
  });

  it('a missing column is an InputError naming it and the columns present, found from the header before any row is read', async () => {
    const p = file('m.parquet', parquetList({ uid: uids.slice(0, 3), url: urls.slice(0, 3), text: texts.slice(0, 3) }, {}, 'ZSTD'));
    await expect(inspectList(p)).rejects.toThrow(/m\.parquet: Parquet file has no caption column \(--caption-col\) "caption" \(columns: uid, url, text\)/);
    await expect(inspectList(p, { captionColumn: 'text', extraColumns: ['uid', 'score'] })).rejects.toThrow(/no column \(--save-additional-columns\) "score" \(columns: uid, url, text\)/);
    await expect(inspectList(p, { captionColumn: 'text', hashColumn: 'sha' })).rejects.toThrow(/no hash column \(--verify-hash-col\) "sha"/);
    const c = file('m.csv.zst', zstdCompress(Buffer.from('URL,TEXT\nhttps://a.example/1.jpg,x\n')));
    await expect(inspectList(c)).rejects.toThrow(/m\.csv\.zst: CSV header has no url column \(--url-col\) "url" \(columns: URL, TEXT\)/);
    const j = file('m.jsonl', '{"URL": "https://a.example/1.jpg", "TEXT": "x"}\n');
    await expect(inspectList(j, { urlColumn: 'URL', captionColumn: 'caption' })).rejects.toThrow(/m\.jsonl: JSON Lines list \(first object\) has no caption column \(--caption-col\) "caption" \(columns: URL, TEXT\)/);
    await expect(inspectList(file('m.txt', 'https://a.example/1.jpg\n'), { extraColumns: ['uid'] })).rejects.toThrow(/m\.txt: plain url list .* has no column \(--save-additional-columns\) "uid"/);
  });
});
