/**
 * Issue 20's url-list and refused-download defects: an unterminated quote never merges rows, every
 * row (refused ones too) is in its shard's status table, a blocked address reads as one, and a crawl
 * whose downloads were all refused exits 1 naming the flag, and does not block the corrected rerun.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { readSource } from '../../src/crawl/sources/index.js';
import { readStatusRows } from '../../src/shards/reader.js';
import type { Candidate } from '../../src/crawl/types.js';
import { runWit } from './run-wit.js';

let srv: TestServer;
let dir: string;

beforeAll(async () => {
  srv = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'wit-list-outcomes-'));
});
afterAll(async () => {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});

async function read(path: string, keepRefused = false): Promise<{ cands: Candidate[]; bad: [string, string][] }> {
  const bad: [string, string][] = [];
  const cands: Candidate[] = [];
  for await (const c of readSource(path, { onBadItem: (r, d) => bad.push([r, d]), keepRefused })) cands.push(c);
  return { cands, bad };
}

describe('url lists: rows are never merged or lost silently', () => {
  it('a quote left open at the end of a csv is one bad_record per line it swallowed, never a caption', async () => {
    const p = join(dir, 'open-quote.csv');
    await writeFile(p, 'url,caption\nhttp://a.example/0.jpg,first\nhttp://a.example/1.jpg,"open\nhttp://a.example/2.jpg,two\nhttp://a.example/3.jpg,three\n');
    const { cands, bad } = await read(p);
    expect(cands.map((c) => c.caption)).toEqual(['first']);
    expect(bad.map(([r]) => r)).toEqual(['bad_record', 'bad_record', 'bad_record']);
    expect(bad[0]![1]).toMatch(/open-quote\.csv:3: quoted field never closed .*lines 3-5/);
  });

  it('the same in a tsv without a final line break; a closed quote spanning lines is still one good row', async () => {
    const p = join(dir, 'open-quote.tsv');
    await writeFile(p, 'url\tcaption\nhttp://a.example/0.jpg\t"two\nlines"\nhttp://a.example/1.jpg\t"never closed\nhttp://a.example/2.jpg\tlast');
    const { cands, bad } = await read(p);
    expect(cands.map((c) => c.caption)).toEqual(['two lines']);
    expect(bad).toHaveLength(2);
  });

  it('with keepRefused, rows refused before they are candidates come through marked, with their reason', async () => {
    const p = join(dir, 'refused.jsonl');
    await writeFile(p, [
      { url: 'javascript:alert(1)', caption: 'x' }, { url: null, caption: 'y' }, { url: 'http://a.example/ok.jpg', caption: 'ok' },
    ].map((o) => JSON.stringify(o)).join('\n') + '\n');
    const { cands, bad } = await read(p, true);
    expect(bad).toEqual([]);
    expect(cands.map((c) => [c.url, c.refused?.reason])).toEqual([['javascript:alert(1)', 'bad_url'], ['', 'bad_url'], ['http://a.example/ok.jpg', undefined]]);
  });
});

describe('wit crawl: every row listed, refusals named', () => {
  it('lists file:, javascript:, data: and empty urls in the status table with their reason', async () => {
    const list = join(dir, 'mixed.csv');
    await writeFile(list, [
      'uid,url,caption',
      `a,${srv.url('/img/a.jpg?w=40&h=30&seed=1')},a cat`,
      'b,file:///etc/passwd,a file',
      'c,javascript:alert(1),a script',
      'd,data:image/png;base64,iVBORw0KGgo=,inline',
      'e,,no url',
      `f,${srv.url('/img/f.jpg?w=40&h=30&seed=2')},a dog`,
    ].join('\n') + '\n');
    const out = join(dir, 'mixed-out');
    const r = await runWit(['crawl', '--input', list, '--out', out, '--allow-private-network', '--save-additional-columns', 'uid', '--image-size', '32', '--timeout-ms', '30000', '--retries', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ candidates: 2, kept: 2, bad_items: { bad_url: 4 } });
    const { rows } = await readStatusRows(join(out, 'status', '00000.parquet'));
    expect(rows.map((x) => [x.extra?.uid, x.status])).toEqual([['a', 'success'], ['b', 'bad_url'], ['c', 'bad_url'], ['d', 'bad_url'], ['e', 'bad_url'], ['f', 'success']]);
    expect(rows.find((x) => x.extra?.uid === 'b')).toMatchObject({ url: 'file:///etc/passwd', key: null });
    expect(rows.find((x) => x.extra?.uid === 'e')!.error_message).toMatch(/missing url/);
  });

  it('all addresses private: blocked_address (not robots.txt), exit 1 naming --allow-private-network; the rerun with it replaces the empty run', async () => {
    const list = join(dir, 'private.jsonl');
    await writeFile(list, [0, 1, 2].map((i) => JSON.stringify({ url: srv.url(`/img/p${i}.jpg?w=40&h=30&seed=${i}`), caption: `pic ${i}` })).join('\n') + '\n');
    const out = join(dir, 'private-out');
    const base = ['crawl', '--input', list, '--out', out, '--image-size', '32', '--timeout-ms', '30000', '--retries', '0', '--json'];
    const r = await runWit(base);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^wit crawl: nothing kept from 3 candidates: .*--allow-private-network/m);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ kept: 0, failed: { blocked_address: 3 } });
    const { rows } = await readStatusRows(join(out, 'status', '00000.parquet'));
    expect(rows.map((x) => x.status)).toEqual(['blocked_address', 'blocked_address', 'blocked_address']);
    for (const x of rows) expect(x.error_message).not.toMatch(/robots/);
    expect(rows[0]!.error_message).toMatch(/--allow-private-network/);

    const again = await runWit([...base, '--allow-private-network']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ candidates: 3, kept: 3, shards: 1 });
    const { rows: now } = await readStatusRows(join(out, 'status', '00000.parquet'));
    expect(now.map((x) => x.status)).toEqual(['success', 'success', 'success']);
  });

  it('files shards: the rerun replaces an empty run\'s folder, metadata and stats', async () => {
    const list = join(dir, 'private-files.jsonl');
    await writeFile(list, [0, 1, 2].map((i) => JSON.stringify({ url: srv.url(`/img/pf${i}.jpg?w=40&h=30&seed=${i}`), caption: `pic ${i}` })).join('\n') + '\n');
    const out = join(dir, 'private-files-out');
    const base = ['crawl', '--input', list, '--out', out, '--output-format', 'files', '--image-size', '32', '--timeout-ms', '30000', '--retries', '0', '--json'];
    const r = await runWit(base);
    expect(r.code, r.stderr).toBe(1);
    expect((await readStatusRows(join(out, '00000.parquet'))).rows.map((x) => x.status)).toEqual(['blocked_address', 'blocked_address', 'blocked_address']);
    expect(await readdir(join(out, '00000'))).toEqual([]);
    const again = await runWit([...base, '--allow-private-network']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ candidates: 3, kept: 3, shards: 1 });
    expect((await readStatusRows(join(out, '00000.parquet'))).rows.map((x) => x.status)).toEqual(['success', 'success', 'success']);
    expect((await readdir(join(out, '00000'))).length).toBe(9);
  });

  it('a run that kept pairs is still a crawl already here (use --resume)', async () => {
    const list = join(dir, 'one.jsonl');
    await writeFile(list, JSON.stringify({ url: srv.url('/img/one.jpg?w=40&h=30&seed=9'), caption: 'one' }) + '\n');
    const out = join(dir, 'one-out');
    const args = ['crawl', '--input', list, '--out', out, '--allow-private-network', '--image-size', '32', '--retries', '0'];
    expect((await runWit(args)).code).toBe(0);
    const r = await runWit(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already holds a crawl/);
  });
});
