/**
 * bench/embed: image and text embeddings per second of CLIP ViT-B/32 (224 px, 77 tokens; random
 * weights, the shapes of OpenAI's checkpoint, QuickGELU) with wit's model on the tfjs wasm backend,
 * side by side with the same model, batch and thread count in PyTorch on the CPU
 * (bench/embed_torch.py). This is the inference `wit filter --model` runs on an imported model.
 * Medians over --repeat timed batches after --warmup; prints a table and the wasm/PyTorch ratio.
 * PyTorch is the Python of $WIT_TORCH_PYTHON, else /work/venv-openclip/bin/python when it exists (pip's
 * torch 2.13: MKL and oneDNN), else /usr/bin/python3 (Debian's torch); the table names its version,
 * BLAS, oneDNN and CPU capability. Both sides run --threads threads.
 *
 *   npm run bench:embed [-- --batch 8 --threads 2 --repeat 5 --warmup 1 --no-torch]
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
    'no-torch': { type: 'boolean', default: false },
  },
});
const batch = Number(args.batch);
const threads = Number(args.threads);
const repeat = Number(args.repeat);
const warmup = Number(args.warmup);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Items per second of `fn` on batches of `batch` (median of `repeat` after `warmup`). */
function timed(fn: () => void): number {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    fn();
    ts.push((performance.now() - t0) / 1000);
  }
  return batch / median(ts);
}

async function wasmSide(): Promise<{ images: number; texts: number; detail: string }> {
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
  const img = timed(() => tf.tidy(() => l2Normalize(model.encodeImage(images)).dataSync()));
  process.stderr.write(`bench/embed: images ${img.toFixed(2)}/s\n`);
  const txt = timed(() => tf.tidy(() => l2Normalize(model.encodeText(ids, eos)).dataSync()));
  process.stderr.write(`bench/embed: texts ${txt.toFixed(2)}/s\n`);
  model.dispose();
  return { images: img, texts: txt, detail: info.detail };
}

interface TorchResult {
  images_per_s: number;
  texts_per_s: number;
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
const wasm = await wasmSide();
const torch = args['no-torch'] ? 'PyTorch skipped (--no-torch)' : torchSide();
console.log(`bench/embed: CLIP ViT-B/32, 224 px, 77 tokens, batch ${batch}, ${threads} thread(s)`);
console.log(`wasm backend: ${wasm.detail}`);
console.log('');
console.log('side              images/s    texts/s');
console.log(`tfjs wasm (wit) ${fmt(wasm.images)} ${fmt(wasm.texts)}`);
if (typeof torch === 'string') console.log(torch);
else {
  console.log(`PyTorch ${torch.torch.padEnd(8)}${fmt(torch.images_per_s)} ${fmt(torch.texts_per_s)}`);
  console.log(`ratio wasm/torch ${fmt(wasm.images / torch.images_per_s)} ${fmt(wasm.texts / torch.texts_per_s)}   (target >= 0.50)`);
  console.log('');
  console.log(`PyTorch ${torch.torch} (${torch.python}), ${torch.threads} thread(s), CPU capability ${torch.cpu_capability || 'not reported'}`);
  console.log(`PyTorch BLAS: ${torch.blas_info || 'not reported'}; libraries loaded: ${torch.blas.join(', ') || 'none found'}`);
  console.log(`PyTorch oneDNN (mkldnn): ${torch.mkldnn ? `available${torch.onednn ? `, ${torch.onednn}` : ''}` : 'not available'}`);
}
