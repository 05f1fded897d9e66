/**
 * One writer per output (issue 26, class 2; docs/ARCHITECTURE.md, "Claiming an output"): two crawls
 * into one --out, and the lock a SIGKILLed crawl leaves, through the real CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readShards } from '../../src/shards/index.js';
import { makeJpeg, startTestServer, type TestServer } from '../helpers/http-server.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runWit, WIT } from '../crawl/run-wit.js';

let srv: TestServer;
let gated: Server;
let gatedOrigin: string;
/** Opened when the second crawl has been refused: images 2.. of the slow list wait for it. */
let openGate: () => void = () => undefined;
let gate: Promise<void> = Promise.resolve();
let dir: string;
let queries: string;
let slowList: string;
let otherList: string;

beforeAll(async () => {
  srv = await startTestServer();
  gated = createServer((req, res) => {
    const i = Number(/a(\d+)\.jpg/.exec(req.url ?? '')?.[1] ?? 0);
    req.resume();
    void gate.then(async () => {
      const body = await makeJpeg(40, 30, i);
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((r) => gated.listen(0, '127.0.0.1', r));
  gatedOrigin = `http://127.0.0.1:${(gated.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'wit-lock-cli-'));
  queries = join(dir, 'queries.txt');
  writeFileSync(queries, 'alpha\n');
  // 8 images that wait for the gate: the first crawl runs (and has written nothing yet) until the test opens it.
  slowList = join(dir, 'slow.jsonl');
  writeFileSync(slowList, Array.from({ length: 8 }, (_, i) => JSON.stringify({ url: `${gatedOrigin}/slow/a${i}.jpg`, caption: `an alpha picture ${i}` })).join('\n') + '\n');
  otherList = join(dir, 'other.jsonl');
  writeFileSync(otherList, Array.from({ length: 8 }, (_, i) => JSON.stringify({ url: srv.url(`/img/b${i}.jpg?w=40&h=30&seed=${50 + i}`), caption: `another alpha ${i}` })).join('\n') + '\n');
});
afterAll(async () => {
  openGate();
  gated.closeAllConnections();
  await new Promise((r) => gated.close(r));
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

const crawlArgs = (list: string, out: string) => ['crawl', '--queries', queries, '--input', list, '--out', out, '--allow-private-network', '--shard-size', '2', '--concurrency', '1', '--image-size', '24', '--retries', '0', '--json'];

function start(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
  const child = spawn(process.execPath, [WIT, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  return { child, done: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr }))) };
}

/** Waits until the run has made its --out and started its manifest (or the time is up). */
async function untilWriting(out: string, exited: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !exited(); i++) {
    if (existsSync(join(out, 'manifest.json'))) return;
    await sleep(50);
  }
}

async function urls(out: string): Promise<string[]> {
  const rows: string[] = [];
  for await (const r of readShards(out, { images: false })) rows.push(r.url);
  return rows.sort();
}

describe('two crawls into one --out', () => {
  test('the second exits 2 naming the holder; the first finishes with all its shards', async () => {
    const out = join(dir, 'shared');
    gate = new Promise((r) => { openGate = r; });
    const first = start(crawlArgs(slowList, out));
    let exited = false;
    void first.done.then(() => { exited = true; });
    await untilWriting(out, () => exited);
    expect(exited, 'the first crawl ended before the second started').toBe(false);
    const second = await runWit(crawlArgs(otherList, out));
    expect(second.code, second.stderr).toBe(2);
    const line = second.stderr.trim().split('\n').filter((l) => l.startsWith('wit '));
    expect(line).toHaveLength(1);
    expect(line[0]).toMatch(new RegExp(`^wit crawl: .*shared: is being written by another run \\(wit crawl, pid ${first.child.pid} on ${hostname()}, started \\d{4}-\\d\\d-\\d\\dT`));
    openGate();
    const r = await first.done;
    expect(r.code, r.stderr).toBe(0);
    const got = await urls(out);
    expect(got).toHaveLength(8);
    expect(got.every((u) => u.includes('/slow/a'))).toBe(true);
    expect(existsSync(join(dir, '.shared.wit-lock')), 'the lock outlived its run').toBe(false);
  }, 120_000);

  test('a SIGKILLed crawl leaves a stale lock: the rerun takes it over with a notice and finishes', async () => {
    const out = join(dir, 'killed');
    gate = new Promise((r) => { openGate = r; });
    const first = start(crawlArgs(slowList, out));
    let exited = false;
    void first.done.then(() => { exited = true; });
    await untilWriting(out, () => exited);
    first.child.kill('SIGKILL');
    const k = await first.done;
    expect(k.signal).toBe('SIGKILL');
    expect(existsSync(join(dir, '.killed.wit-lock')), 'a killed run leaves its lock').toBe(true);
    openGate();
    const again = await runWit([...crawlArgs(slowList, out), '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`^wit crawl: note: .*killed: took over the lock of a run that no longer runs \\(wit crawl, pid ${first.child.pid} on `, 'm'));
    expect(await urls(out)).toHaveLength(8);
    expect(existsSync(join(dir, '.killed.wit-lock'))).toBe(false);
    expect(readdirSync(out).filter((n) => /\.tmp-/.test(n))).toEqual([]);
  }, 120_000);
});
