/**
 * bench/embed: image and text embeddings per second of CLIP ViT-B/32 (224 px, 77 tokens; random
 * weights, the shapes of OpenAI's checkpoint, QuickGELU) with wit's model on the tfjs wasm backend,
 * side by side with the same model, batch and thread count in PyTorch on the CPU
 * (bench/embed_torch.py). This is the inference `wit filter --model` runs on an imported model.
 * Medians over --repeat timed batches after --warmup; prints a table and the wasm/PyTorch ratio.
 * PyTorch is the Python of $WIT_TORCH_PYTHON, else /work/venv-openclip/bin/python when it exists (pip's
 * torch 2.13: MKL and oneDNN), else /usr/bin/python3 (Debian's torch); the table names its version,
 * BLAS, oneDNN and CPU capability. Both sides run --threads threads.
 * On a shared machine wall time swings with the neighbours' load: --rounds N alternates the sides N times
 * (medians over rounds), and each side also reports items per CPU-second (all its threads), which the
 * load moves far less; compare ratios from one run.
 *
 *   npm run bench:embed [-- --batch 8 --threads 2 --repeat 5 --warmup 1 --rounds 1 --no-torch]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/train/backend/index.js';
import { ARCHS } from '../src/train/config.js';
import { ClipModel, parameterSpecs } from '../src/train/model.js';
import { l2Normalize } from '../src/train/nn.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '8' },
    threads: { type: 'string', default: '2' },
    repeat: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '1' },
    'no-torch': { type: 'boolean', default: false },
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
function timed(fn: () => void): { wall: number; cpu: number } {
  for (let i = 0; i < warmup; i++) fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
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
}

/** The wasm side: builds the model once; each call of the returned function measures one round. */
async function wasmSide(): Promise<{ measure: () => Rates; detail: string }> {
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
  const measure = (): Rates => {
    const img = timed(() => run(() => model.encodeImage(images)));
    process.stderr.write(`bench/embed: images ${img.wall.toFixed(2)}/s (${img.cpu.toFixed(2)} per CPU-s)\n`);
    const txt = timed(() => run(() => model.encodeText(ids, eos)));
    process.stderr.write(`bench/embed: texts ${txt.wall.toFixed(2)}/s (${txt.cpu.toFixed(2)} per CPU-s)\n`);
    return { images: img.wall, texts: txt.wall, imagesCpu: img.cpu, textsCpu: txt.cpu };
  };
  return { measure, detail: info.detail };
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
});
const wasmRunner = await wasmSide();
const wasmRounds: Rates[] = [];
const torchRounds: TorchResult[] = [];
let torchFailure = args['no-torch'] ? 'PyTorch skipped (--no-torch)' : '';
for (let r = 0; r < rounds; r++) {
  wasmRounds.push(wasmRunner.measure());
  if (torchFailure) continue;
  const t = torchSide();
  if (typeof t === 'string') torchFailure = t;
  else torchRounds.push(t);
}
const wasm = medianRates(wasmRounds);
console.log(`bench/embed: CLIP ViT-B/32, 224 px, 77 tokens, batch ${batch}, ${threads} thread(s), ${rounds} round(s) alternating the sides, medians`);
console.log(`wasm backend: ${wasmRunner.detail}`);
console.log('');
console.log('side              images/s    texts/s   images/CPU-s  texts/CPU-s');
console.log(`tfjs wasm (wit) ${fmt(wasm.images)} ${fmt(wasm.texts)} ${fmt(wasm.imagesCpu)}    ${fmt(wasm.textsCpu)}`);
if (torchFailure) console.log(torchFailure);
else {
  const first = torchRounds[0]!;
  const torch = medianRates(torchRounds.map((t) => ({ images: t.images_per_s, texts: t.texts_per_s, imagesCpu: t.images_per_cpu_s, textsCpu: t.texts_per_cpu_s })));
  console.log(`PyTorch ${first.torch.padEnd(8)}${fmt(torch.images)} ${fmt(torch.texts)} ${fmt(torch.imagesCpu)}    ${fmt(torch.textsCpu)}`);
  console.log(`ratio wasm/torch ${fmt(wasm.images / torch.images)} ${fmt(wasm.texts / torch.texts)} ${fmt(wasm.imagesCpu / torch.imagesCpu)}    ${fmt(wasm.textsCpu / torch.textsCpu)}   (target >= 0.50)`);
  console.log('');
  console.log(`PyTorch ${first.torch} (${first.python}), ${first.threads} thread(s), CPU capability ${first.cpu_capability || 'not reported'}`);
  console.log(`PyTorch BLAS: ${first.blas_info || 'not reported'}; libraries loaded: ${first.blas.join(', ') || 'none found'}`);
  console.log(`PyTorch oneDNN (mkldnn): ${first.mkldnn ? `available${first.onednn ? `, ${first.onednn}` : ''}` : 'not available'}`);
}
