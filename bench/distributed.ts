/**
 * bench/distributed: crawl throughput (candidates/s, images/s) of the distributed crawl with 1 and 2
 * worker processes on 127.0.0.1, beside a one-process crawl of the same input, and the scaling
 * factor: "wall" is from spawning the workers to the manifest (process start, planning, polling
 * included); "work" is from the first job's start to the last job's commit. The input is a url list of N candidates whose small JPEGs come from a local HTTP server
 * (in this process); Redis is a throwaway `redis-server` (Debian's package) on a free port.
 * Every worker is a real `node bin/wit.cjs crawl --redis … --role worker` process.
 *
 * A second table measures the matching/balancing side alone: a url list where every query is full
 * after a few pairs (cap 5), so nearly every candidate is decided by the shared Redis counters
 * (a Lua reserve per matched candidate, plus the run-wide dedupe claims) and never downloaded.
 *
 *   npm run bench:distributed [-- --candidates 3000 --balance-candidates 20000 --chunk-rows 250 --image-px 320 --concurrency 16]
 *
 * On a machine with fewer cores than workers + server + Redis the scaling is bounded by the cores:
 * read the factor together with the core count printed above the table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, connect } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { crawl, type CrawlOptions } from '../src/crawl/index.js';
import { runCoordinator } from '../src/crawl/distributed/index.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const BIN = join(ROOT, 'bin', 'wit.cjs');

const { values: args } = parseArgs({
  options: {
    candidates: { type: 'string', default: '3000' },
    'balance-candidates': { type: 'string', default: '20000' },
    'chunk-rows': { type: 'string', default: '250' },
    'image-px': { type: 'string', default: '320' },
    concurrency: { type: 'string', default: '16' },
  },
});
const N = Number(args.candidates);
const NB = Number(args['balance-candidates']);
const CHUNK = Number(args['chunk-rows']);
const PX = Number(args['image-px']);
const CONC = Number(args.concurrency);

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createNetServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(p));
    });
  });
}

async function startRedis(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  await new Promise<void>((res, rej) => { p.once('spawn', res); p.once('error', (e) => rej(new Error(`redis-server: ${e.message} (apt-get install -y redis-server)`))); });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); res(true); });
      s.on('error', () => res(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () => new Promise<void>((res) => { p.once('exit', () => res()); p.kill('SIGTERM'); }),
  };
}

/** Serves 64 distinct JPEGs of PX x 0.75 PX under /img/N.jpg (N mod 64). */
async function startImageServer(): Promise<{ origin: string; server: Server }> {
  const imgs: Buffer[] = [];
  for (let i = 0; i < 64; i++) {
    imgs.push(await sharp({ create: { width: PX, height: Math.round(PX * 0.75), channels: 3, background: { r: (i * 37) % 256, g: (i * 91) % 256, b: (i * 53) % 256 } } })
      .composite([{ input: Buffer.from(`<svg width="${PX}" height="${Math.round(PX * 0.75)}"><circle cx="${PX / 2}" cy="${PX / 3}" r="${PX / 4}" fill="#fff"/></svg>`) }])
      .jpeg({ quality: 85 }).toBuffer());
  }
  const server = createHttpServer((req, res) => {
    const m = /^\/img\/(\d+)\.jpg/.exec(req.url ?? '');
    if (!m) { res.writeHead(404); res.end(); return; }
    const body = imgs[Number(m[1]) % imgs.length]!;
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return { origin: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, server };
}

const WORDS = ['cat', 'dog', 'bird', 'tree', 'house', 'river', 'mountain', 'car', 'boat', 'flower'];

function flags(o: CrawlOptions): string[] {
  return [
    'crawl', '--queries', String(o.queries), '--input', ...o.inputs, '--out', o.out, '--balance', String(o.balance), '--cap', String(o.cap),
    '--shard-size', String(o.shardSize), '--allow-private-network', '--image-size', String(o.imageSize), '--concurrency', String(o.concurrency), '--no-robots',
  ];
}

async function distributed(redisUrl: string, o: CrawlOptions, workers: number, chunkRows: number): Promise<Row> {
  const procs: ChildProcess[] = [];
  const exits: Promise<number | null>[] = [];
  for (let i = 0; i < workers; i++) {
    const p = spawn(process.execPath, [BIN, ...flags(o), '--redis', redisUrl, '--role', 'worker', '--json'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d) => { err = (err + d.toString()).slice(-4000); });
    procs.push(p);
    exits.push(new Promise((r) => p.on('exit', (c) => {
      if (c !== 0) console.error(`worker exited ${c}: ${err}`);
      r(c);
    })));
  }
  // time from when the workers exist until the coordinator wrote the manifest (process start included,
  // as a real worker fleet pays it once per run)
  const t0 = performance.now();
  try {
    const s = await runCoordinator({ redisUrl, crawl: o, chunkRows, pollMs: 100 });
    const seconds = (performance.now() - t0) / 1000;
    await Promise.all(exits);
    return { name: `${workers} worker process${workers > 1 ? 'es' : ''}`, seconds, work: s.work_seconds, candidates: s.candidates, kept: s.kept };
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

interface Row { name: string; seconds: number; work: number; candidates: number; kept: number }

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wit-bench-dist-'));
  const redis = await startRedis(dir);
  const { origin, server } = await startImageServer();
  try {
    const queries = join(dir, 'queries.txt');
    await writeFile(queries, WORDS.join('\n') + '\n');
    const list = join(dir, 'list.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < N; i++) lines.push(JSON.stringify({ url: `${origin}/img/${i}.jpg?i=${i}`, caption: `a ${WORDS[i % WORDS.length]} and a ${WORDS[(i * 7 + 3) % WORDS.length]} photo ${i}` }));
    await writeFile(list, lines.join('\n') + '\n');
    const listB = join(dir, 'list-balance.jsonl');
    const linesB: string[] = [];
    for (let i = 0; i < NB; i++) linesB.push(JSON.stringify({ url: `${origin}/img/${i}.jpg?b=${i}`, caption: `a ${WORDS[i % WORDS.length]} and a ${WORDS[(i * 7 + 3) % WORDS.length]} photo ${i}` }));
    await writeFile(listB, linesB.join('\n') + '\n');
    const base = (out: string, input = list, cap = 1_000_000): CrawlOptions => ({
      queries, inputs: [input], out: join(dir, out), balance: 'cap', cap, shardSize: 500,
      allowPrivateNetwork: true, imageSize: 128, concurrency: CONC, respectRobots: false,
    });
    console.log(`bench/distributed on ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), shared by the image server, Redis, the coordinator and the workers`);
    const table = async (title: string, input: string, cap: number, chunk: number): Promise<void> => {
      console.log(`\n${title}`);
      const rows: Row[] = [];
      const t0 = performance.now();
      const local = await crawl(base(`local-${cap}`, input, cap));
      const ls = (performance.now() - t0) / 1000;
      rows.push({ name: 'one process (no Redis)', seconds: ls, work: ls, candidates: local.candidates, kept: local.kept });
      const d1 = await distributed(redis.url, base(`w1-${cap}`, input, cap), 1, chunk);
      const d2 = await distributed(redis.url, base(`w2-${cap}`, input, cap), 2, chunk);
      rows.push(d1, d2);
      console.log('| run                     | wall s | work s | candidates | kept  | candidates/s (wall) | candidates/s (work) | work vs 1 worker |');
      console.log('|-------------------------|-------:|-------:|-----------:|------:|--------------------:|--------------------:|-----------------:|');
      const ref = d1.candidates / d1.work;
      for (const r of rows) {
        console.log(`| ${r.name.padEnd(23)} | ${r.seconds.toFixed(2).padStart(6)} | ${r.work.toFixed(2).padStart(6)} | ${String(r.candidates).padStart(10)} | ${String(r.kept).padStart(5)} | ${(r.candidates / r.seconds).toFixed(0).padStart(19)} | ${(r.candidates / r.work).toFixed(0).padStart(19)} | ${((r.candidates / r.work) / ref).toFixed(2).padStart(15)}x |`);
      }
      console.log(`scaling 1 -> 2 workers: ${((d2.candidates / d2.work) / ref).toFixed(2)}x (work span), ${((d2.candidates / d2.seconds) / (d1.candidates / d1.seconds)).toFixed(2)}x (wall, with process start and planning)`);
    };
    await table(`downloads: ${N} candidates (${PX}x${Math.round(PX * 0.75)} JPEGs from 127.0.0.1 -> 128 px), chunks of ${CHUNK} rows, download concurrency ${CONC} per process`, list, 1_000_000, CHUNK);
    await table(`balancing: ${NB} candidates, cap 5 on ${WORDS.length} queries (nearly all cap_reached), chunks of ${Math.max(CHUNK, Math.ceil(NB / 8))} rows`, listB, 5, Math.max(CHUNK, Math.ceil(NB / 8)));
  } finally {
    server.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
