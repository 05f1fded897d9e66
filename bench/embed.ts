/**
 * bench/embed: image and text embeddings per second of CLIP ViT-B/32 (224 px, 77 tokens; random
 * weights, the shapes of OpenAI's checkpoint, QuickGELU) with wit's model on the tfjs wasm backend and
 * on the onnx backend (wit's ONNX graphs of the same weights, src/train/onnx/, run by onnxruntime-node),
 * side by side with the same model, batch and thread count in PyTorch on the CPU
 * (bench/embed_torch.py). Each side runs in its own process, so each reports its own peak resident
 * memory (weights, runtime and activations; the ONNX files are written beforehand, as wit's cache is). This is the inference `wit filter --model` runs on an imported model.
 * Medians over --repeat timed batches after --warmup; prints a table and the wasm/PyTorch ratio.
 * PyTorch is the Python of $WIT_TORCH_PYTHON, else /work/venv-openclip/bin/python when it exists (pip's
 * torch 2.13: MKL and oneDNN), else /usr/bin/python3 (Debian's torch); the table names its version,
 * BLAS, oneDNN and CPU capability. Both sides run --threads threads.
 * On a shared machine wall time swings with the neighbours' load: --rounds N alternates the sides N times
 * (medians over rounds), and each side also reports items per CPU-second (all its threads), which the
 * load moves far less; compare ratios from one run.
 *
 *   npm run bench:embed [-- --batch 8 --threads 2 --repeat 5 --warmup 1 --rounds 1 --no-torch --no-wasm --no-onnx]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/train/backend/index.js';
import { ARCHS } from '../src/train/config.js';
import { ClipModel, parameterSpecs } from '../src/train/model.js';
import { l2Normalize } from '../src/train/nn.js';
import { loadOrt } from '../src/train/onnx/runtime.js';
import { sessionOptions } from '../src/train/onnx/handle.js';
import { weightSource, writeTower } from '../src/train/onnx/write.js';
import type { Weight } from '../src/train/onnx/graph.js';
import { Rng } from '../src/util/rng.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '8' },
    threads: { type: 'string', default: '2' },
    repeat: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '1' },
    'no-torch': { type: 'boolean', default: false },
    'no-wasm': { type: 'boolean', default: false },
    'no-onnx': { type: 'boolean', default: false },
    side: { type: 'string' },
    'onnx-dir': { type: 'string' },
  },
});
const batch = Number(args.batch);
const threads = Number(args.threads);
const repeat = Number(args.repeat);
const warmup = Number(args.warmup);
const rounds = Number(args.rounds);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Items per second of `fn` on batches of `batch`, by wall time and per CPU-second of this process (medians of `repeat` after `warmup`). */
async function timed(fn: () => void | Promise<void>): Promise<{ wall: number; cpu: number }> {
  for (let i = 0; i < warmup; i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
  }
  return { wall: batch / median(wall), cpu: batch / median(cpu) };
}

interface Rates {
  images: number;
  texts: number;
  imagesCpu: number;
  textsCpu: number;
  /** Peak resident memory of the side's process, MiB. */
  peakMB: number;
}

/** The wasm side: builds the model once; each call of the returned function measures one round. */
async function wasmSide(): Promise<{ measure: () => Promise<Rates>; detail: string }> {
  const info = await initBackend('wasm', { threads });
  const cfg = structuredClone(ARCHS['ViT-B/32']!);
  const t0 = performance.now();
  // Random weights drawn by tfjs (seconds; ClipModel.create's seeded init takes ~20 s for 151M parameters).
  const weights: Record<string, tf.Tensor> = {};
  for (const [i, spec] of parameterSpecs(cfg, 'clip').entries()) {
    weights[spec.name] = tf.tidy(() => ('normal' in spec.init ? tf.randomNormal(spec.shape, 0, spec.init.normal, 'float32', i + 1) : tf.fill(spec.shape, spec.init.constant)));
  }
  const model = ClipModel.fromTensors(cfg, 'clip', weights);
  tf.dispose(Object.values(weights));
  process.stderr.write(`bench/embed: ViT-B/32 built (${model.parameterCount().toLocaleString('en')} parameters, ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  const s = cfg.vision.image_size;
  const l = cfg.text.context_length;
  const images = tf.randomNormal([batch, s, s, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const idsData = new Int32Array(batch * l);
  for (let i = 0; i < idsData.length; i++) idsData[i] = 1 + ((i * 7919) % 49000);
  const ids = tf.tensor2d(idsData, [batch, l], 'int32');
  const eos = tf.fill([batch], 20, 'int32') as tf.Tensor1D;
  // The embeddings are read inside the timing and freed outside it (a typed array returned from tf.tidy
  // would be walked element by element).
  const run = (f: () => tf.Tensor): void => {
    const t = tf.tidy(() => l2Normalize(f()));
    t.dataSync();
    t.dispose();
  };
  const measure = async (): Promise<Rates> => {
    const img = await timed(() => run(() => model.encodeImage(images)));
    process.stderr.write(`bench/embed: wasm images ${img.wall.toFixed(2)}/s (${img.cpu.toFixed(2)} per CPU-s)\n`);
    const txt = await timed(() => run(() => model.encodeText(ids, eos)));
    process.stderr.write(`bench/embed: wasm texts ${txt.wall.toFixed(2)}/s (${txt.cpu.toFixed(2)} per CPU-s)\n`);
    return { images: img.wall, texts: txt.wall, imagesCpu: img.cpu, textsCpu: txt.cpu, peakMB: peakMB() };
  };
  return { measure, detail: info.detail };
}

function peakMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** ViT-B/32's ONNX towers with random weights (as the wasm side's), written to `dir` as wit's cache would hold them. */
async function writeOnnxFiles(dir: string): Promise<void> {
  const cfg = structuredClone(ARCHS['ViT-B/32']!);
  const rng = new Rng(1);
  const weights = new Map<string, Weight>();
  for (const spec of parameterSpecs(cfg, 'clip')) {
    const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    if ('normal' in spec.init) for (let i = 0; i < data.length; i++) data[i] = rng.normal() * spec.init.normal;
    else data.fill(spec.init.constant);
    weights.set(spec.name, { data, shape: spec.shape });
  }
  await writeTower(join(dir, 'image.onnx'), 'image', cfg, weightSource(weights), { externalData: true });
  await writeTower(join(dir, 'text.onnx'), 'text', cfg, weightSource(weights), { externalData: true });
}

/** The onnx side: sessions over the files in `dir` with `threads` intra-op threads, as the onnx backend opens them. */
async function onnxSide(dir: string): Promise<{ measure: () => Promise<Rates>; detail: string }> {
  const r = await loadOrt();
  if (!r.ok) throw new Error(`onnxruntime-node ${r.reason}`);
  const { InferenceSession, Tensor } = r.ort;
  const opts = { ...sessionOptions(threads), executionProviders: ['cpu'] };
  const image = await InferenceSession.create(join(dir, 'image.onnx'), opts);
  const text = await InferenceSession.create(join(dir, 'text.onnx'), opts);
  const cfg = ARCHS['ViT-B/32']!;
  const s = cfg.vision.image_size;
  const l = cfg.text.context_length;
  const rng = new Rng(2);
  const pixels = Float32Array.from({ length: batch * s * s * 3 }, () => rng.normal());
  const ids = new Int32Array(batch * l);
  for (let i = 0; i < ids.length; i++) ids[i] = 1 + ((i * 7919) % 49000);
  const eot = new Int32Array(batch).fill(20);
  const measure = async (): Promise<Rates> => {
    const img = await timed(async () => void (await image.run({ pixels: new Tensor('float32', pixels, [batch, s, s, 3]) })));
    process.stderr.write(`bench/embed: onnx images ${img.wall.toFixed(2)}/s (${img.cpu.toFixed(2)} per CPU-s)\n`);
    const txt = await timed(async () => void (await text.run({ ids: new Tensor('int32', ids, [batch, l]), eot: new Tensor('int32', eot, [batch]) })));
    process.stderr.write(`bench/embed: onnx texts ${txt.wall.toFixed(2)}/s (${txt.cpu.toFixed(2)} per CPU-s)\n`);
    return { images: img.wall, texts: txt.wall, imagesCpu: img.cpu, textsCpu: txt.cpu, peakMB: peakMB() };
  };
  return { measure, detail: `ONNX Runtime ${r.version} (onnxruntime-node, CPU, ${threads} intra-op threads)` };
}

/** Runs one side in a child process of this script (its own peak memory); the rates or why not. */
function childSide(side: 'wasm' | 'onnx', onnxDir: string): { rates: Rates; detail: string } | string {
  const self = fileURLToPath(import.meta.url);
  const pass = ['--batch', String(batch), '--threads', String(threads), '--repeat', String(repeat), '--warmup', String(warmup)];
  const r = spawnSync(process.execPath, [self, '--side', side, '--onnx-dir', onnxDir, ...pass], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  if (r.status !== 0) return `${side} side failed (exit ${r.status ?? r.signal})`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

if (args.side) {
  const runner = args.side === 'wasm' ? await wasmSide() : await onnxSide(args['onnx-dir']!);
  const rates = await runner.measure();
  console.log(JSON.stringify({ rates, detail: runner.detail }));
  process.exit(0);
}

interface TorchResult {
  images_per_s: number;
  texts_per_s: number;
  images_per_cpu_s: number;
  texts_per_cpu_s: number;
  threads: number;
  torch: string;
  python: string;
  blas: string[];
  blas_info: string;
  mkldnn: boolean;
  onednn: string;
  cpu_capability: string;
  peak_rss_mb: number;
}

/** The Python whose torch the bench compares with (see the header). */
function torchPython(): string {
  const env = process.env['WIT_TORCH_PYTHON'];
  if (env) return env;
  const venv = '/work/venv-openclip/bin/python';
  return existsSync(venv) ? venv : '/usr/bin/python3';
}

function torchSide(): TorchResult | string {
  const script = fileURLToPath(new URL('../../bench/embed_torch.py', import.meta.url));
  const python = torchPython();
  const r = spawnSync(python, [script, '--batch', String(batch), '--threads', String(threads), '--repeat', String(repeat), '--warmup', String(warmup)], { encoding: 'utf8' });
  if (r.status !== 0) return `PyTorch not run with ${python} (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
  return { ...JSON.parse(r.stdout.trim().split('\n').pop()!), python };
}

const fmt = (x: number): string => x.toFixed(2).padStart(10);
const medianRates = (rs: Rates[]): Rates => ({
  images: median(rs.map((r) => r.images)),
  texts: median(rs.map((r) => r.texts)),
  imagesCpu: median(rs.map((r) => r.imagesCpu)),
  textsCpu: median(rs.map((r) => r.textsCpu)),
  peakMB: Math.max(...rs.map((r) => r.peakMB)),
});
const onnxDir = mkdtempSync(join(os.tmpdir(), 'wit-bench-embed-'));
const sides: Record<'wasm' | 'onnx', { rounds: Rates[]; detail: string; failure: string }> = {
  wasm: { rounds: [], detail: '', failure: args['no-wasm'] ? 'wasm skipped (--no-wasm)' : '' },
  onnx: { rounds: [], detail: '', failure: args['no-onnx'] ? 'onnx skipped (--no-onnx)' : '' },
};
if (!sides.onnx.failure) {
  const r = await loadOrt();
  if (!r.ok) sides.onnx.failure = `onnx not run: onnxruntime-node ${r.reason}`;
  else {
    const t0 = performance.now();
    await writeOnnxFiles(onnxDir);
    process.stderr.write(`bench/embed: ViT-B/32 ONNX towers written (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  }
}
const torchRounds: TorchResult[] = [];
let torchFailure = args['no-torch'] ? 'PyTorch skipped (--no-torch)' : '';
try {
  for (let r = 0; r < rounds; r++) {
    for (const side of ['wasm', 'onnx'] as const) {
      if (sides[side].failure) continue;
      const res = childSide(side, onnxDir);
      if (typeof res === 'string') sides[side].failure = res;
      else {
        sides[side].rounds.push(res.rates);
        sides[side].detail = res.detail;
      }
    }
    if (torchFailure) continue;
    const t = torchSide();
    if (typeof t === 'string') torchFailure = t;
    else torchRounds.push(t);
  }
} finally {
  rmSync(onnxDir, { recursive: true, force: true });
}
const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');
console.log(`bench/embed: CLIP ViT-B/32, 224 px, 77 tokens, batch ${batch}, ${threads} thread(s), ${rounds} round(s) alternating the sides, medians; load average ${load} on ${os.availableParallelism()} CPUs`);
for (const side of ['wasm', 'onnx'] as const) console.log(`${side} backend: ${sides[side].failure || sides[side].detail}`);
console.log('');
console.log('side                   images/s    texts/s   images/CPU-s  texts/CPU-s   peak MiB');
const row = (name: string, r: Rates): string => `${name.padEnd(20)}${fmt(r.images)} ${fmt(r.texts)} ${fmt(r.imagesCpu)}    ${fmt(r.textsCpu)} ${r.peakMB.toFixed(0).padStart(10)}`;
const measured: Partial<Record<'wasm' | 'onnx', Rates>> = {};
for (const side of ['wasm', 'onnx'] as const) {
  if (!sides[side].rounds.length) continue;
  measured[side] = medianRates(sides[side].rounds);
  console.log(row(side === 'wasm' ? 'tfjs wasm (wit)' : 'onnx (wit)', measured[side]!));
}
if (torchFailure) console.log(torchFailure);
else {
  const first = torchRounds[0]!;
  const torch = medianRates(torchRounds.map((t) => ({ images: t.images_per_s, texts: t.texts_per_s, imagesCpu: t.images_per_cpu_s, textsCpu: t.texts_per_cpu_s, peakMB: t.peak_rss_mb ?? NaN })));
  console.log(row(`PyTorch ${first.torch}`, torch));
  const ratio = (name: string, r: Rates, target: string): void =>
    console.log(`${name.padEnd(20)}${fmt(r.images / torch.images)} ${fmt(r.texts / torch.texts)} ${fmt(r.imagesCpu / torch.imagesCpu)}    ${fmt(r.textsCpu / torch.textsCpu)} ${fmt(r.peakMB / torch.peakMB)}   (${target})`);
  if (measured.wasm) ratio('ratio wasm/torch', measured.wasm, 'speed target >= 0.50');
  if (measured.onnx) ratio('ratio onnx/torch', measured.onnx, 'speed target >= 1.15, memory <= 1');
  console.log('');
  console.log(`PyTorch ${first.torch} (${first.python}), ${first.threads} thread(s), CPU capability ${first.cpu_capability || 'not reported'}`);
  console.log(`PyTorch BLAS: ${first.blas_info || 'not reported'}; libraries loaded: ${first.blas.join(', ') || 'none found'}`);
  console.log(`PyTorch oneDNN (mkldnn): ${first.mkldnn ? `available${first.onednn ? `, ${first.onednn}` : ''}` : 'not available'}`);
}
