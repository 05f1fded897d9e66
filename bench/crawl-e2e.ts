/**
 * End-to-end crawl benchmark on 127.0.0.1: N candidates whose images are 800x600 JPEGs served by
 * a local server (in a child process, whose CPU is not counted as the crawl's), crawled by
 * `crawl()` (download, validate, resize, encode, write shards), side by side with the same
 * images resized by sharp alone in the same process (the machine's floor). RSS is sampled over the
 * crawl (start / peak / end) to show memory stays flat. CPU ms per image (this process only) is
 * reported too: on a shared or small machine it is a steadier efficiency measure than images/s.
 *
 *   npm run bench:crawl-e2e                      # N = 2000
 *   node dist/bench/crawl-e2e.js --n 100000      # memory flatness on a long run
 *   options: --n N  --concurrency C  --image-concurrency K  --image-size S  --distinct D
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import sharp from 'sharp';
import PQueue from 'p-queue';
import { crawl, tuneSharpForCrawl, defaultImageConcurrency } from '../src/crawl/index.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

const N = arg('n', 2000);
const CONCURRENCY = arg('concurrency', 32);
const IMAGE_CONCURRENCY = arg('image-concurrency', defaultImageConcurrency());
const SIZE = arg('image-size', 256);
const DISTINCT = arg('distinct', 64);

/** The image server, run from source text in a child process (its CPU is not counted as the crawl's). */
const SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const dir = process.argv[1];
const imgs = fs.readdirSync(dir).filter((n) => n.endsWith('.jpg')).sort().map((n) => fs.readFileSync(path.join(dir, n)));
const server = http.createServer((req, res) => {
  const m = /^\\/img\\/(\\d+)\\.jpg/.exec(req.url);
  if (!m) { res.writeHead(404); res.end(); return; }
  const b = imgs[Number(m[1]) % imgs.length];
  res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': b.length });
  res.end(b);
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

/** 800x600 photo-like JPEGs: a gradient and a shape under gaussian noise, so they weigh (and decode) like photos. */
async function makeImages(n: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const svg = Buffer.from(`<svg width="800" height="600"><defs><linearGradient id="g" x1="0" x2="1" y1="0" y2="1"><stop offset="0" stop-color="hsl(${(i * 37) % 360},70%,40%)"/><stop offset="1" stop-color="hsl(${(i * 91) % 360},60%,70%)"/></linearGradient></defs><rect width="800" height="600" fill="url(#g)"/><circle cx="${200 + (i * 13) % 400}" cy="300" r="${80 + (i % 5) * 20}" fill="hsl(${(i * 53) % 360},80%,50%)"/><text x="40" y="560" font-size="64" fill="white">image ${i}</text></svg>`);
    const noise = await sharp({ create: { width: 800, height: 600, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer();
    out.push(await sharp(svg).composite([{ input: noise, blend: 'soft-light' }]).jpeg({ quality: 85 }).toBuffer());
  }
  return out;
}

/** Resizes `count` of the images with sharp alone, `conc` at once; resolves with images/s. */
async function sharpAlone(images: Buffer[], count: number, conc: number): Promise<{ n: number; sec: number; rate: number; cpuMs: number }> {
  const q = new PQueue({ concurrency: conc });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const b = images[i % images.length]!;
    void q.add(() => sharp(b).resize(SIZE, SIZE, { fit: 'contain', background: '#ffffff' }).jpeg({ quality: 95 }).toBuffer());
    if (q.size > conc * 4) await q.onSizeLessThan(conc * 2);
  }
  await q.onIdle();
  const sec = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { n: count, sec, rate: count / sec, cpuMs: (c.user + c.system) / 1000 / count };
}

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(0)} MB`;
}

async function main(): Promise<void> {
  const images = await makeImages(DISTINCT);
  const avgKb = images.reduce((s, b) => s + b.length, 0) / images.length / 1024;
  const dir = await mkdtemp(join(tmpdir(), 'wit-bench-e2e-'));
  const imgDir = join(dir, 'images');
  await mkdir(imgDir);
  for (let i = 0; i < images.length; i++) await writeFile(join(imgDir, `${String(i).padStart(4, '0')}.jpg`), images[i]!);
  const server = spawn(process.execPath, ['-e', SERVER, imgDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(server.stdout!, 'data')) as [Buffer];
  const port = Number(String(chunk).trim());
  try {
    tuneSharpForCrawl(); // same process-wide sharp settings for the floor and the crawl
    // floor: sharp alone on the same images with the same parallelism, measured before and after
    // the crawl (this machine is shared and noisy); the ratio is against their mean
    const floorN = Math.min(N, 1000);
    const before = await sharpAlone(images, floorN, IMAGE_CONCURRENCY);

    // end to end
    const list = join(dir, 'list.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < N; i++) lines.push(JSON.stringify({ url: `http://127.0.0.1:${port}/img/${i}.jpg`, caption: `a photo of a cat number ${i}` }));
    await writeFile(list, lines.join('\n') + '\n');
    const out = join(dir, 'out');
    const rss: number[] = [];
    const sample = () => rss.push(process.memoryUsage().rss);
    sample();
    const timer = setInterval(sample, 200);
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    const s = await crawl({
      queries: ['cat'], inputs: [list], out, allowPrivateNetwork: true, cap: N + 1, concurrency: CONCURRENCY,
      perHostConcurrency: CONCURRENCY, imageConcurrency: IMAGE_CONCURRENCY, imageSize: SIZE, resizeMode: 'border', quality: 95,
      shardSize: Math.max(1000, Math.ceil(N / 20)), retries: 0,
      signal: new AbortController().signal, // as the CLI passes one (per-request listeners must not pile up)
    });
    const e2eSec = (performance.now() - t1) / 1000;
    const cu = process.cpuUsage(c1);
    const e2eCpuMs = (cu.user + cu.system) / 1000 / Math.max(1, s.kept);
    clearInterval(timer);
    sample();
    const e2eRate = s.kept / e2eSec;
    const peak = Math.max(...rss);
    const after = await sharpAlone(images, floorN, IMAGE_CONCURRENCY);
    const floorRate = (before.rate + after.rate) / 2;
    const floorCpu = (before.cpuMs + after.cpuMs) / 2;
    const rows: string[][] = [
      ['stage', 'images', 'seconds', 'images/s', 'vs floor', 'CPU ms/image', 'floor CPU / CPU'],
      ['sharp alone, before', String(before.n), before.sec.toFixed(2), before.rate.toFixed(1), `${(before.rate / floorRate).toFixed(2)}x`, before.cpuMs.toFixed(2), '-'],
      ['crawl end to end', String(s.kept), e2eSec.toFixed(2), e2eRate.toFixed(1), `${(e2eRate / floorRate).toFixed(2)}x`, e2eCpuMs.toFixed(2), `${(floorCpu / e2eCpuMs).toFixed(2)}x`],
      ['sharp alone, after', String(after.n), after.sec.toFixed(2), after.rate.toFixed(1), `${(after.rate / floorRate).toFixed(2)}x`, after.cpuMs.toFixed(2), '-'],
    ];
    const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    console.log(`\ncrawl e2e on 127.0.0.1: N=${N} candidates, 800x600 JPEGs (~${avgKb.toFixed(0)} KB, ${DISTINCT} distinct) -> ${SIZE}px border jpg q95; concurrency ${CONCURRENCY}, image concurrency ${IMAGE_CONCURRENCY}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}, sharp.concurrency ${sharp.concurrency()}, ${availableParallelism()} cores; the server runs in another process (its CPU is not counted)\n`);
    for (const r of rows) console.log(`| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`);
    const at = (f: number) => mb(rss[Math.min(rss.length - 1, Math.floor(f * (rss.length - 1)))]!);
    console.log(`\nRSS over the crawl: start ${mb(rss[0]!)}, peak ${mb(peak)}, end ${mb(rss[rss.length - 1]!)}; at 25/50/75% of the run ${at(0.25)} / ${at(0.5)} / ${at(0.75)} (${rss.length} samples)`);
    console.log(`outcomes: kept ${s.kept}, failed ${JSON.stringify(s.failed)}, skipped ${JSON.stringify(s.skipped)}, shards ${s.shards}`);
    if (s.kept !== N) console.log(`WARNING: ${N - s.kept} candidates were not kept`);
  } finally {
    server.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
