/**
 * bench/input: peak memory and time of wit on hostile inputs (docs/ARCHITECTURE.md, "Reading inputs").
 *
 *   npm run bench:input -- [--before /path/to/old/checkout/bin/wit.cjs] [--timeout 120] [--max-rss-mb 3000]
 *
 * Generates each input in a temporary folder (bombs are small compressed files; the tar member is
 * a sparse file), runs the CLI of this checkout on it (and, with --before, another checkout's, e.g.
 * `git worktree add /tmp/wit-main main && (cd /tmp/wit-main && npm run build)`), and prints a
 * table: exit code, peak RSS (VmHWM of the process, sampled from /proc every 50 ms) and wall time.
 * A run is stopped when it passes --max-rss-mb or --timeout (shown as "stopped"), so a "before"
 * that would eat the machine's memory does not.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { resolveArch, withOverrides } from '../src/train/config.js';
import { toOpenClipConfig } from '../src/model/openclip-config.js';
import { ClipModel } from '../src/train/model.js';
import { saveModelDir } from '../src/train/model-dir.js';
import { trainTokenizer } from '../src/train/tokenizer.js';
import { initBackend } from '../src/train/backend/index.js';
import { ShardWriter, shardPath } from '../src/shards/index.js';

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    timeout: { type: 'string', default: '180' },
    'max-rss-mb': { type: 'string', default: '3000' },
  },
});
const HERE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'wit.cjs');
const timeoutMs = Number(values.timeout) * 1000;
const maxRssKb = Number(values['max-rss-mb']) * 1024;

interface Run { code: string; rssMB: number; seconds: number }

/** Runs `node WIT args`, sampling VmHWM; stops it past the memory or time bound. */
function measure(wit: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [wit, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { if (stderr.length < 65536) stderr += d; });
    let peak = 0;
    let stopped = '';
    const sample = async () => {
      try {
        const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
        const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peak = Math.max(peak, hwm);
        if (hwm > maxRssKb && !stopped) { stopped = `stopped at ${values['max-rss-mb']} MB`; child.kill('SIGKILL'); }
      } catch { /* exited */ }
    };
    const timer = setInterval(() => void sample(), 50);
    const deadline = setTimeout(() => { stopped = `stopped at ${values.timeout} s`; child.kill('SIGKILL'); }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      clearTimeout(deadline);
      const line = stderr.trim().split('\n').filter((l) => l.startsWith('wit ')).pop() ?? '';
      resolve({ code: stopped || (signal ? `signal ${signal}` : `${code}${line ? ` (${line.slice(0, 60)}…)` : ''}`), rssMB: peak / 1024, seconds: (performance.now() - t0) / 1000 });
    });
    void sample();
  });
}

async function makeModel(dir: string): Promise<void> {
  await initBackend('cpu');
  const tok = trainTokenizer(['a red circle', 'a blue square', 'a photo of a cat'], { vocabSize: 600, contextLength: 77 });
  const cfg = withOverrides(resolveArch('vit-micro'), { contextLength: 77 });
  cfg.text.vocab_size = tok.vocabSize;
  const model = ClipModel.create(cfg, 'clip', 0);
  await saveModelDir(dir, model, tok);
  model.dispose();
}

async function captionShards(dir: string, captionBytes: number): Promise<void> {
  const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer();
  const w = await ShardWriter.open(shardPath(dir, 0), { imageFormat: 'png' });
  for (let i = 0; i < 8; i++) {
    const caption = i === 0 ? 'a red square '.repeat(Math.ceil(captionBytes / 13)) : `a red square ${i}`;
    await w.write({ key: String(i).padStart(9, '0'), url: `https://e.example/${i}.png`, page_url: null, caption, queries: ['red'], image: png, width: 32, height: 32, original_width: 32, original_height: 32, sha256: '', similarity: null });
  }
  await w.close();
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wit-bench-input-'));
  try {
    // 1. a zstd url list: 30,000 RLE blocks of 128 KiB (the issue's 122 KB file, 3.9 GB out)
    const zst = Buffer.alloc(6 + 30000 * 4);
    zst.set([0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3], 0);
    for (let i = 0; i < 30000; i++) {
      const h = (i === 29999 ? 1 : 0) | (1 << 1) | ((128 * 1024) << 3);
      zst.set([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0x61], 6 + i * 4);
    }
    await writeFile(join(dir, 'urls.txt.zst'), zst);
    // 2. a gzip-bomb vocabulary: 200 members of 64 MiB of zeros (13 MB -> 12.5 GiB)
    const member = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    await writeFile(join(dir, 'bpe_simple_vocab_16e6.txt.gz'), Buffer.concat(Array.from({ length: 200 }, () => member)));
    await writeFile(join(dir, 'open_clip_config.json'), JSON.stringify(toOpenClipConfig(resolveArch('vit-micro'), 'clip', 'bench')));
    // 3. a tar whose member declares 2 GiB (sparse)
    await mkdir(join(dir, 'huge'));
    const h = Buffer.alloc(512);
    h.write('000000000.jpg', 0);
    for (const [off, s] of [[100, '0000644\0'], [108, '0000000\0'], [116, '0000000\0'], [124, (2 ** 31 + 100).toString(8).padStart(11, '0') + '\0'], [136, '00000000000\0'], [148, '        '], [257, 'ustar\0'], [263, '00']] as const) h.write(s, off);
    h[156] = 0x30;
    h.write(h.reduce((a, b) => a + b, 0).toString(8).padStart(6, '0') + '\0 ', 148);
    const fh = await open(join(dir, 'huge', '00000.tar'), 'w');
    await fh.write(h, 0, 512, 0);
    await fh.truncate(512 + (2 ** 31 + 512) + 1024);
    await fh.close();
    // 4. a 40 MB caption, and a model to eval it with
    await makeModel(join(dir, 'model'));
    await captionShards(join(dir, 'caption'), 40 * 1024 * 1024);

    const cases: [string, (out: string) => string[]][] = [
      ['zstd url list, 122 KB -> 3.9 GB (crawl)', (o) => ['crawl', '--input', join(dir, 'urls.txt.zst'), '--out', o]],
      ['gzip-bomb vocabulary, 13 MB -> 12.5 GiB (model import)', (o) => ['model', 'import', '--config', join(dir, 'open_clip_config.json'), '--weights', join(dir, 'none.safetensors'), '--vocab', join(dir, 'bpe_simple_vocab_16e6.txt.gz'), '--out', o]],
      ['/dev/zero as --image (search)', () => ['search', '--index', join(dir, 'none'), '--image', '/dev/zero']],
      ['tar member of 2 GiB (convert)', (o) => ['convert', '--shards', join(dir, 'huge'), '--to', 'parquet', '--out', o]],
      ['40 MB caption (eval)', (o) => ['eval', '--model', join(dir, 'model'), '--shards', join(dir, 'caption'), '--out', `${o}.json`, '--template', '{}', '--backend', 'wasm']],
    ];
    const rows: string[][] = [];
    let n = 0;
    for (const [name, args] of cases) {
      for (const [which, wit] of [...(values.before ? [['before', values.before]] : []), ['after', HERE]] as [string, string][]) {
        const r = await measure(wit, args(join(dir, `out-${n++}`)));
        rows.push([name, which, r.code, r.rssMB.toFixed(0), r.seconds.toFixed(1)]);
        console.error(`${name} (${which}): ${r.code}, ${r.rssMB.toFixed(0)} MB, ${r.seconds.toFixed(1)} s`);
      }
    }
    const head = ['input', 'build', 'exit', 'peak RSS MB', 'seconds'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => Math.min(70, r[i]!.length))));
    const fmt = (r: string[]) => r.map((c, i) => (c.length > 70 ? c.slice(0, 69) + '…' : c).padEnd(w[i]!)).join('  ');
    console.log(fmt(head));
    console.log(w.map((x) => '-'.repeat(x)).join('  '));
    for (const r of rows) console.log(fmt(r));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
