/**
 * Hostile shards of issue 26, class 3 (`npm run bench:hostile-decode`): a shard whose image column
 * holds small SVGs declaring a huge canvas, and one whose caption is 50 MB. Runs `wit train --steps 1`
 * and `wit report` on each and prints exit code, peak RSS (GNU time) and wall time as a table.
 * Usage: node dist/bench/hostile-decode.js [--make-only DIR]
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { ShardWriter, shardPath } from '../src/shards/index.js';

const WIT = process.env.WIT_BIN ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'wit.cjs');

async function png(i: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 40 * i, g: 10, b: 200 - 20 * i } } }).png().toBuffer());
}

/** Eight pairs; `image(i)` and `caption(i)` give each one. */
async function writeShard(dir: string, image: (i: number) => Promise<Uint8Array>, caption: (i: number) => string): Promise<string> {
  const w = await ShardWriter.open(shardPath(dir, 0), { imageFormat: 'png' });
  for (let i = 0; i < 8; i++) {
    const img = await image(i);
    await w.write({ key: `k${i}`, url: `https://example.invalid/${i}.png`, page_url: null, caption: caption(i), queries: ['shape'], image: img, width: 32, height: 32, original_width: 32, original_height: 32, sha256: createHash('sha256').update(img).digest('hex') });
  }
  await w.close();
  return dir;
}

/** An SVG of ~130 bytes declaring a 16000 x 16000 canvas (256 Mpx: under libvips' 2^28 default limit). */
export const BIG_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="16000" height="16000"><rect width="16000" height="16000" fill="red"/></svg>';

export async function makeHostileShards(root: string): Promise<{ svg: string; caption: string }> {
  const svg = await writeShard(join(root, 'svg'), async () => new TextEncoder().encode(BIG_SVG), (i) => `a shape ${i}`);
  const big = 'word '.repeat(10 << 20); // 50 MB
  const caption = await writeShard(join(root, 'caption'), png, (i) => (i === 3 ? big : `a shape ${i}`));
  return { svg, caption };
}

/**
 * Runs the CLI under GNU time (the child's peak RSS); past `timeoutS` the node process (time's child)
 * is killed, so that time still reports its peak.
 */
function run(args: string[], dir: string, timeoutS: number): Promise<{ code: string; rssMb: number; seconds: number; files: string }> {
  const rss = join(dir, `.rss-${Math.random().toString(36).slice(2)}`);
  const t0 = Date.now();
  return new Promise((resolveRun) => {
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rss, process.execPath, WIT, ...args], { stdio: 'ignore' });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const k of kids) process.kill(Number(k), 'SIGKILL');
    }, timeoutS * 1000);
    child.on('close', (status) => {
      clearTimeout(timer);
      const seconds = (Date.now() - t0) / 1000;
      const rssMb = existsSync(rss) ? Number(readFileSync(rss, 'utf8').trim().split('\n').pop()) / 1024 : NaN;
      const out = args[args.indexOf('--out') + 1]!;
      const files = existsSync(out) ? (statSync(out).isFile() ? `${(statSync(out).size / 1e6).toFixed(2)} MB` : 'folder') : '-';
      resolveRun({ code: killed ? `killed at ${timeoutS} s` : String(status), rssMb, seconds, files });
    });
  });
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'wit-hostile-decode-'));
  const timeoutS = Number(process.env.WIT_BENCH_TIMEOUT ?? 240);
  try {
    const { svg, caption } = await makeHostileShards(root);
    const rows: string[][] = [];
    for (const [name, shards] of [['svg', svg], ['50 MB caption', caption]] as const) {
      const t = await run(['train', '--shards', shards, '--arch', 'vit-micro', '--steps', '1', '--batch-size', '8', '--backend', 'wasm', '--out', join(root, `train-${name.length}`)], root, timeoutS);
      rows.push([name, 'train --steps 1', t.code, t.rssMb.toFixed(0), t.seconds.toFixed(1), t.files]);
      const r = await run(['report', '--run', shards, '--out', join(root, `report-${name.length}.html`)], root, timeoutS);
      rows.push([name, 'report', r.code, r.rssMb.toFixed(0), r.seconds.toFixed(1), r.files]);
    }
    const head = ['input', 'command', 'exit', 'peak RSS MB', 'seconds', 'output'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
