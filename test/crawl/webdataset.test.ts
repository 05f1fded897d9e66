/**
 * `wit crawl --output-format webdataset` and url lists as img2dataset users bring them, on the real
 * CLI: DataComp-style (uid,url,text; zstd Parquet) and LAION-style (URL,TEXT; csv.gz) lists, no
 * queries, into both formats; the tars read by Python's tarfile; kill -9 and --resume; train on tars.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { makeJpeg, startTestServer, type TestServer } from '../helpers/http-server.js';
import { delimitedList, parquetList } from '../helpers/url-lists.js';
import { runWit, WIT } from './run-wit.js';
import { metadataPathFor, readShards, readStatusRows, statusPathFor, type PairRecord, type StatusRow } from '../../src/shards/index.js';

let srv: TestServer;
let dir: string;
beforeAll(async () => {
  srv = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'wit-wds-crawl-'));
});
afterAll(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Python's tarfile, grouping members by key as WebDataset does; image bytes as sha256. */
function pythonSamples(tar: string): Array<Record<string, string>> {
  const py = `
import sys, tarfile, json, hashlib, re
out = []
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        base, ext = re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$", m.name).groups()
        data = t.extractfile(m).read()
        if not out or out[-1]["__key__"] != base: out.append({"__key__": base})
        out[-1][ext] = data.decode("utf8") if ext in ("txt", "json") else hashlib.sha256(data).hexdigest()
keys = [s["__key__"] for s in out]
assert len(keys) == len(set(keys)), "members of a pair are not consecutive"
print(json.dumps(out))
`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', py, tar], { encoding: 'utf8' })) as Array<Record<string, string>>;
}

async function tarSamples(out: string): Promise<Array<Record<string, string>>> {
  const tars = (await readdir(out)).filter((n) => n.endsWith('.tar')).sort();
  return tars.flatMap((t) => pythonSamples(join(out, t)));
}

async function records(out: string): Promise<PairRecord[]> {
  const r: PairRecord[] = [];
  for await (const x of readShards(out)) r.push(x);
  return r;
}

async function statusRows(out: string, format: 'parquet' | 'webdataset'): Promise<StatusRow[]> {
  const names = (await readdir(out)).filter((n) => n.endsWith(format === 'webdataset' ? '.tar' : '.parquet') && !n.startsWith('.')).sort();
  const rows: StatusRow[] = [];
  for (const n of names) rows.push(...(await readStatusRows(format === 'webdataset' ? metadataPathFor(join(out, n)) : statusPathFor(join(out, n)))).rows);
  return rows;
}

/** A DataComp-style list: 24 good rows, 2 that 404, 1 bad url, 1 duplicate, 1 with a wrong published sha256. */
async function dataCompList(): Promise<{ path: string; uids: string[]; good: Map<string, string> }> {
  const uids: string[] = [];
  const urls: string[] = [];
  const texts: string[] = [];
  const hashes: string[] = [];
  const good = new Map<string, string>(); // uid -> sha256 of the bytes served
  for (let i = 0; i < 24; i++) {
    uids.push(createHash('md5').update(`uid${i}`).digest('hex'));
    urls.push(srv.url(`/img/dc${i}.jpg?seed=${i}&w=40&h=30`));
    texts.push(`photo number ${i} of a thing`);
    const h = sha(await makeJpeg(40, 30, i));
    hashes.push(i === 5 ? 'ff'.repeat(32) : h.toUpperCase()); // row 5: the list's hash is wrong
    if (i !== 5) good.set(uids[i]!, h);
  }
  const add = (uid: string, url: string, text: string) => { uids.push(uid); urls.push(url); texts.push(text); hashes.push(''); };
  add('gone-1', srv.url('/status/404'), 'missing one');
  add('gone-2', srv.url('/status/404?x=2'), 'missing two');
  add('bad-url', 'not a url at all', 'broken');
  add('dup-of-3', urls[3]!, texts[3]!);
  const path = join(dir, 'datacomp.parquet');
  writeFileSync(path, parquetList({ uid: uids, url: urls, text: texts, sha256: hashes }, { uid: 'STRING', url: 'STRING', text: 'STRING', sha256: 'STRING' }, 'ZSTD', 10));
  return { path, uids, good };
}

const crawlArgs = (input: string, out: string, format: string, extra: string[] = []) => [
  'crawl', '--input', input, '--out', out, '--output-format', format, '--allow-private-network', '--image-size', '24',
  '--shard-size', '8', '--retries', '0', '--timeout-ms', '30000', '--json', ...extra,
];

describe('url lists into WebDataset and Parquet shards', () => {
  it('a DataComp-style zstd Parquet list (uid,url,text), no queries: both formats hold the same pairs and image bytes, uid kept, every row accounted for', async () => {
    const { path, uids, good } = await dataCompList();
    const cols = ['--url-col', 'url', '--caption-col', 'text', '--save-additional-columns', 'uid', '--verify-hash-col', 'sha256'];
    const outs = { parquet: join(dir, 'dc-pq'), webdataset: join(dir, 'dc-wds') };
    const summaries: Record<string, Record<string, unknown>> = {};
    for (const [format, out] of Object.entries(outs)) {
      const r = await runWit(crawlArgs(path, out, format, cols));
      expect(r.code, r.stderr).toBe(0);
      summaries[format] = JSON.parse(r.stdout) as Record<string, unknown>;
    }
    for (const s of Object.values(summaries)) {
      expect(s).toMatchObject({ candidates: 27, kept: 23, failed: { http_4xx: 2, hash_mismatch: 1 }, skipped: { duplicate: 1 }, bad_items: { bad_url: 1 } });
    }
    // the Parquet shards and the tars hold the same pairs, in the same order, with the same bytes
    const pq = await records(outs.parquet);
    const samples = await tarSamples(outs.webdataset);
    expect(samples.map((s) => s.__key__)).toEqual(pq.map((r) => r.key));
    samples.forEach((s, i) => {
      const p = pq[i]!;
      expect(Object.keys(s).sort()).toEqual(['__key__', 'jpg', 'json', 'txt']);
      expect(s.jpg).toBe(sha(p.image));
      expect(s.txt).toBe(p.caption);
      const json = JSON.parse(s.json!) as Record<string, unknown>;
      expect(json).toMatchObject({ key: p.key, url: p.url, caption: p.caption, uid: p.extra!.uid, sha256: p.sha256, width: p.width, height: p.height });
    });
    // sha256 is the digest of the bytes as downloaded (the list's published hash), uid carried through
    expect(new Map(pq.map((r) => [String(r.extra!.uid), r.sha256]))).toEqual(good);
    // every row that reached the crawl has a status; the bad url is a counted bad item
    for (const format of ['parquet', 'webdataset'] as const) {
      const rows = await statusRows(outs[format], format);
      const byUid = new Map(rows.map((r) => [String(r.extra?.uid), r]));
      // 27 candidates and the refused row (a bad url): every row of the list is listed (issue 20)
      expect(rows.length).toBe(28);
      expect(byUid.get('bad-url')).toMatchObject({ status: 'bad_url' });
      expect(new Set(byUid.keys())).toEqual(new Set(uids));
      expect(byUid.get('gone-1')).toMatchObject({ status: 'http_4xx', error_message: expect.stringMatching(/404/) });
      expect(byUid.get(uids[5]!)).toMatchObject({ status: 'hash_mismatch', error_message: expect.stringMatching(/the list says f+/) });
      expect(rows.filter((r) => r.status === 'duplicate').map((r) => r.url)).toEqual([srv.url('/img/dc3.jpg?seed=3&w=40&h=30')]);
      expect(rows.filter((r) => r.status === 'success').map((r) => r.key)).toEqual(pq.map((r) => r.key));
    }
    expect((await readdir(outs.webdataset)).filter((n) => n.startsWith('.') && n !== '.wit-output.json')).toEqual([]);
  });

  it('a LAION-style URL,TEXT csv.gz list with SAMPLE_ID, and queries: matching and caps work as before, into tars; its similarity column stored renamed (SRC:DEST)', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => ({ uid: String(1000 + i), url: srv.url(`/img/la${i}.jpg?seed=${50 + i}`), text: i % 2 ? `a red fox number ${i}` : `a blue whale number ${i}`, sim: `0.3${i}` }));
    const list = join(dir, 'laion.csv.gz');
    writeFileSync(list, gzipSync(delimitedList(rows, { SAMPLE_ID: 'uid', URL: 'url', TEXT: 'text', similarity: 'sim' })));
    const queries = join(dir, 'q.txt');
    writeFileSync(queries, 'fox\nwhale\n');
    const out = join(dir, 'laion');
    const r = await runWit(crawlArgs(list, out, 'webdataset', ['--queries', queries, '--cap', '4', '--url-col', 'URL', '--caption-col', 'TEXT', '--save-additional-columns', 'SAMPLE_ID,similarity:laion_similarity']));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ candidates: 12, kept: 8, skipped: { cap_reached: 4 } });
    const samples = await tarSamples(out);
    // LAION's similarity under the name given, beside wit's own columns (wit has a similarity column)
    expect(samples.map((s) => (JSON.parse(s.json!) as { laion_similarity: string }).laion_similarity)).toEqual(rows.slice(0, 8).map((x) => x.sim));
    expect((await statusRows(out, 'webdataset')).map((x) => x.extra?.laion_similarity)).toEqual(rows.map((x) => x.sim));
    expect(samples.map((s) => (JSON.parse(s.json!) as { SAMPLE_ID: string }).SAMPLE_ID)).toEqual(['1000', '1001', '1002', '1003', '1004', '1005', '1006', '1007']);
    expect(samples.map((s) => JSON.parse(s.json!).queries)).toEqual(rows.slice(0, 8).map((x) => [x.text.includes('fox') ? 'fox' : 'whale']));
    const status = await statusRows(out, 'webdataset');
    expect(status.map((x) => [x.extra?.SAMPLE_ID, x.status])).toEqual(rows.map((x, i) => [x.uid, i < 8 ? 'success' : 'cap_reached']));
  });

  it('bad list input is exit 2 before any download: a missing column names the columns present; a pass-through column named like a wit column', async () => {
    const list = join(dir, 'bad.csv');
    writeFileSync(list, `URL,TEXT\n${srv.url('/img/never.jpg')},x\n`);
    const missing = await runWit(crawlArgs(list, join(dir, 'bad1'), 'webdataset'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/bad\.csv: CSV header has no url column \(--url-col\) "url" \(columns: URL, TEXT\)/);
    const extra = await runWit(crawlArgs(list, join(dir, 'bad2'), 'parquet', ['--url-col', 'URL', '--caption-col', 'TEXT', '--save-additional-columns', 'uid']));
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/no column \(--save-additional-columns\) "uid" \(columns: URL, TEXT\)/);
    const clash = await runWit(crawlArgs(list, join(dir, 'bad3'), 'parquet', ['--url-col', 'URL', '--caption-col', 'TEXT', '--save-additional-columns', 'TEXT,caption']));
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/--save-additional-columns caption: a shard column of wit has that name/);
    expect(srv.hits.get('/img/never.jpg')).toBeUndefined();
    const noQueries = await runWit(['crawl', '--input', join(dir, 'x.warc.gz'), '--out', join(dir, 'bad4')]);
    expect(noQueries.code).toBe(2);
    expect(noQueries.stderr).toMatch(/--queries is required unless every input is a url list/);
  });

  it('kill -9 mid-crawl, then --resume, gives the same tars as an uninterrupted run; train, eval, filter and report read the tars', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify({ url: srv.url(`/slow/k${i}.jpg?ms=150&seed=${i}`), caption: `kite ${i}`, uid: `k-${i}` }));
    const list = join(dir, 'slow.jsonl');
    writeFileSync(list, lines.join('\n') + '\n');
    const args = (out: string) => [...crawlArgs(list, out, 'webdataset', ['--save-additional-columns', 'uid', '--concurrency', '2']), '--shard-size', '5'];
    const whole = join(dir, 'whole');
    const r = await runWit(args(whole));
    expect(r.code, r.stderr).toBe(0);

    const killed = join(dir, 'killed');
    const child = spawn(process.execPath, [WIT, ...args(killed)], { stdio: 'ignore' });
    for (let i = 0; i < 3000; i++) {
      const names = await readdir(killed).catch(() => [] as string[]);
      if (names.some((n) => /^\d{5}\.tar$/.test(n)) && names.some((n) => /^\.\d{5}\.tar\.tmp-/.test(n))) break;
      await sleep(10);
    }
    child.kill('SIGKILL');
    await new Promise((res) => child.on('close', res));
    const left = await readdir(killed);
    // Every tar under its final name has its completion record. The record is written first (docs/ARCHITECTURE.md,
    // "Crash safety"), so a kill between the two leaves one record more than tars, which no reader lists.
    const leftTars = left.filter((n) => n.endsWith('.tar'));
    const records = left.filter((n) => n.endsWith('_stats.json'));
    for (const t of leftTars) expect(records, t).toContain(t.replace(/\.tar$/, '_stats.json'));
    expect(records.length - leftTars.length).toBeLessThanOrEqual(1);
    expect(left.filter((n) => n.endsWith('.tar')).length).toBeLessThan(6);
    const resumed = await runWit([...args(killed), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ candidates: 30, kept: 30, shards: 6 });
    const tars = (await readdir(whole)).filter((n) => n.endsWith('.tar')).sort();
    expect(tars.length).toBe(6);
    expect((await readdir(killed)).filter((n) => n.endsWith('.tar')).sort()).toEqual(tars);
    for (const t of tars) expect(sha(await readFile(join(killed, t))), t).toBe(sha(await readFile(join(whole, t))));
    expect((await readdir(killed)).filter((n) => n.startsWith('.') && n !== '.wit-output.json')).toEqual([]);

    // wit train reads the tars
    const model = join(dir, 'model');
    const t = await runWit(['train', '--shards', whole, '--out', model, '--arch', 'vit-micro', '--steps', '2', '--batch-size', '8', '--backend', 'wasm', '--context-length', '8', '--json'], { timeoutMs: 120_000 });
    expect(t.code, t.stderr).toBe(0);
    expect(JSON.parse(t.stdout)).toMatchObject({ steps: 2 });
    // eval, filter and report read the tars too; filter writes the format it reads, uid kept
    const e = await runWit(['eval', '--model', model, '--shards', whole, '--backend', 'wasm', '--json'], { timeoutMs: 120_000 });
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout)).toMatchObject({ retrieval: { samples: 30 } });
    const filtered = join(dir, 'filtered');
    const f = await runWit(['filter', '--shards', whole, '--out', filtered, '--min-caption-words', '2', '--json']);
    expect(f.code, f.stderr).toBe(0);
    const kept = await tarSamples(filtered);
    expect(kept.length).toBe(30);
    expect(kept.map((s) => (JSON.parse(s.json!) as { uid: string }).uid)).toEqual(Array.from({ length: 30 }, (_, i) => `k-${i}`));
    const rep = await runWit(['report', '--run', whole, '--out', join(dir, 'report.html'), '--json']);
    expect(rep.code, rep.stderr).toBe(0);
    expect(JSON.parse(rep.stdout)).toMatchObject({ images: expect.any(Number) });
    expect((JSON.parse(rep.stdout) as { images: number }).images).toBeGreaterThan(0);
  }, 600_000);
});
