/**
 * End-to-end crawl benchmark on 127.0.0.1: N candidates whose images are 800x600 JPEGs served by
 * a local server (in a worker thread, so it does not share the crawl's event loop), crawled by
 * `crawl()` (download, validate, resize, encode, write shards), side by side with the same
 * images resized by sharp alone in the same process (the machine's floor). RSS is sampled over the
 * crawl (start / peak / end) to show memory stays flat.
 *
 *   npm run bench:crawl-e2e                      # N = 2000
 *   node dist/bench/crawl-e2e.js --n 100000      # memory flatness on a long run
 *   options: --n N  --concurrency C  --image-concurrency K  --image-size S  --distinct D
 */
import { Worker } from 'node:worker_threads';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

/** The image server, run from source text in a worker thread. */
const SERVER = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const imgs = workerData.images.map((b) => Buffer.from(b));
const server = http.createServer((req, res) => {
  const m = /^\\/img\\/(\\d+)\\.jpg/.exec(req.url);
  if (!m) { res.writeHead(404); res.end(); return; }
  const b = imgs[Number(m[1]) % imgs.length];
  res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': b.length });
  res.end(b);
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
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
async function sharpAlone(images: Buffer[], count: number, conc: number): Promise<{ n: number; sec: number; rate: number }> {
  const q = new PQueue({ concurrency: conc });
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const b = images[i % images.length]!;
    void q.add(() => sharp(b).resize(SIZE, SIZE, { fit: 'contain', background: '#ffffff' }).jpeg({ quality: 95 }).toBuffer());
    if (q.size > conc * 4) await q.onSizeLessThan(conc * 2);
  }
  await q.onIdle();
  const sec = (performance.now() - t0) / 1000;
  return { n: count, sec, rate: count / sec };
}

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(0)} MB`;
}

async function main(): Promise<void> {
  const images = await makeImages(DISTINCT);
  const avgKb = images.reduce((s, b) => s + b.length, 0) / images.length / 1024;
  const worker = new Worker(SERVER, { eval: true, workerData: { images: images.map((b) => new Uint8Array(b)) } });
  const [port] = (await once(worker, 'message')) as [number];
  const dir = await mkdtemp(join(tmpdir(), 'wit-bench-e2e-'));
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
    const s = await crawl({
      queries: ['cat'], inputs: [list], out, allowPrivateNetwork: true, cap: N + 1, concurrency: CONCURRENCY,
      perHostConcurrency: CONCURRENCY, imageConcurrency: IMAGE_CONCURRENCY, imageSize: SIZE, resizeMode: 'border', quality: 95,
      shardSize: Math.max(1000, Math.ceil(N / 20)), retries: 0,
      signal: new AbortController().signal, // as the CLI passes one (per-request listeners must not pile up)
    });
    const e2eSec = (performance.now() - t1) / 1000;
    clearInterval(timer);
    sample();
    const e2eRate = s.kept / e2eSec;
    const peak = Math.max(...rss);
    const after = await sharpAlone(images, floorN, IMAGE_CONCURRENCY);
    const floorRate = (before.rate + after.rate) / 2;
    const rows: Array<[string, string, string, string, string]> = [
      ['stage', 'images', 'seconds', 'images/s', 'vs floor'],
      ['sharp alone, before', String(before.n), before.sec.toFixed(2), before.rate.toFixed(1), `${(before.rate / floorRate).toFixed(2)}x`],
      ['crawl end to end', String(s.kept), e2eSec.toFixed(2), e2eRate.toFixed(1), `${(e2eRate / floorRate).toFixed(2)}x`],
      ['sharp alone, after', String(after.n), after.sec.toFixed(2), after.rate.toFixed(1), `${(after.rate / floorRate).toFixed(2)}x`],
    ];
    const w = [0, 1, 2, 3, 4].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
    console.log(`\ncrawl e2e on 127.0.0.1: N=${N} candidates, 800x600 JPEGs (~${avgKb.toFixed(0)} KB, ${DISTINCT} distinct) -> ${SIZE}px border jpg q95; concurrency ${CONCURRENCY}, image concurrency ${IMAGE_CONCURRENCY}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}, sharp.concurrency ${sharp.concurrency()}, ${availableParallelism()} cores\n`);
    for (const r of rows) console.log(`| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`);
    const at = (f: number) => mb(rss[Math.min(rss.length - 1, Math.floor(f * (rss.length - 1)))]!);
    console.log(`\nRSS over the crawl: start ${mb(rss[0]!)}, peak ${mb(peak)}, end ${mb(rss[rss.length - 1]!)}; at 25/50/75% of the run ${at(0.25)} / ${at(0.5)} / ${at(0.75)} (${rss.length} samples)`);
    console.log(`outcomes: kept ${s.kept}, failed ${JSON.stringify(s.failed)}, skipped ${JSON.stringify(s.skipped)}, shards ${s.shards}`);
    if (s.kept !== N) console.log(`WARNING: ${N - s.kept} candidates were not kept`);
  } finally {
    await worker.terminate();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
