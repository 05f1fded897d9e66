/**
 * bench/train: one CLIP training step (forward, backward, AdamW) of vit-tiny at batch 64 on the
 * tfjs wasm backend with wit's kernels, side by side with the same model and batch in PyTorch on
 * the CPU (bench/train_torch.py) as the peer. Prints ms/step, samples/s, achieved GFLOP/s (matmul
 * FLOPs counted analytically, forward + backward) and the ratio to PyTorch; medians over --repeat runs,
 * tfjs and PyTorch alternating so both see the same machine load.
 *
 *   npm run bench:train [-- --steps 5 --repeat 3 --threads 1,2 --batch 64 --stock --no-torch --profile]
 *
 * Each thread count runs both sides with that many threads; ratios compare equal thread counts.
 *
 * --stock also times tfjs wasm as shipped (one thread, no wit kernels) in a child process.
 * --profile prints the slowest kernels of one step (CPU time).
 * --ops times single ops of the vit-tiny step (forward and gradient shapes), as shipped vs wit's kernels.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';

/** The shapes the benchmark needs (a subset of src/train/config.ts's ClipConfig). */
export interface BenchArch {
  embed_dim: number;
  vision: { image_size: number; patch_size: number; width: number; layers: number; heads: number; mlp_ratio?: number };
  text: { context_length: number; vocab_size: number; width: number; heads: number; layers: number; mlp_ratio?: number };
}

/** vit-tiny, the configuration the issue measured (src/train/configs/vit-tiny.json). */
export const VIT_TINY: BenchArch = {
  embed_dim: 128,
  vision: { image_size: 64, patch_size: 8, width: 128, layers: 4, heads: 4, mlp_ratio: 4 },
  text: { context_length: 32, vocab_size: 4096, width: 128, heads: 4, layers: 4, mlp_ratio: 4 },
};

/**
 * Matmul FLOPs of one training step (forward + backward), counted per matmul: 2·M·K·N forward and
 * the same again for each operand that needs a gradient (pixels and token ids do not).
 */
export function stepFlops(a: BenchArch, batch: number): number {
  const v = a.vision;
  const t = a.text;
  const mm = (m: number, k: number, n: number, grads: number): number => 2 * m * k * n * (1 + grads);
  const tower = (tokens: number, width: number, layers: number, heads: number, mlpRatio: number): number => {
    const rows = batch * tokens;
    const hidden = width * mlpRatio;
    const dh = width / heads;
    const perLayer =
      mm(rows, width, 3 * width, 2) + // qkv
      mm(batch * heads * tokens, dh, tokens, 2) + // q·kᵀ
      mm(batch * heads * tokens, tokens, dh, 2) + // p·v
      mm(rows, width, width, 2) + // out proj
      mm(rows, width, hidden, 2) +
      mm(rows, hidden, width, 2);
    return layers * perLayer;
  };
  const patches = (v.image_size / v.patch_size) ** 2;
  const patchDim = 3 * v.patch_size * v.patch_size;
  const vision =
    mm(batch * patches, patchDim, v.width, 1) +
    tower(patches + 1, v.width, v.layers, v.heads, v.mlp_ratio ?? 4) +
    mm(batch, v.width, a.embed_dim, 2);
  const text = tower(t.context_length, t.width, t.layers, t.heads, t.mlp_ratio ?? 4) + mm(batch, t.width, a.embed_dim, 2);
  const logits = mm(batch, a.embed_dim, batch, 2);
  return vision + text + logits;
}

/**
 * Runs `steps` training steps after `warmup` ones; resolves to the medians over the timed steps of
 * wall ms and CPU ms (all threads of the process) per step, and the last loss.
 */
export async function timeSteps(batch: number, steps: number, warmup: number): Promise<{ msPerStep: number; cpuMsPerStep: number; loss: number }> {
  const step = await witStep(batch);
  const times: number[] = [];
  const cpu: number[] = [];
  let loss = NaN;
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    loss = await step.run();
    if (i >= warmup) {
      times.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
  }
  step.dispose();
  return { msPerStep: median(times), cpuMsPerStep: median(cpu), loss };
}

interface Stepper { run(): Promise<number>; dispose(): void }

/** wit's own model, optimiser and training step (src/train) on one synthetic batch. */
async function witStep(batch: number): Promise<Stepper> {
  const { ClipModel, AdamW, decays, trainStep, ARCHS } = await import('../src/train/index.js');
  const cfg = ARCHS['vit-tiny']!;
  const model = ClipModel.create(cfg, 'clip', 1);
  const opt = new AdamW(model.params, decays);
  const s = cfg.vision.image_size;
  const l = cfg.text.context_length;
  const images = new Float32Array(batch * s * s * 3);
  for (let i = 0; i < images.length; i++) images[i] = Math.sin(i * 12.9898) * 1.5;
  const ids = new Int32Array(batch * l);
  const eos = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    eos[b] = l / 2 + (b % (l / 2 - 1));
    for (let j = 0; j < l; j++) ids[b * l + j] = j === eos[b] ? 2 : j < eos[b]! ? 3 + ((b * 131 + j * 71) % (cfg.text.vocab_size - 3)) : 0;
  }
  const data = { images, ids, eos, n: batch } as Parameters<typeof trainStep>[2];
  return {
    run: async () => (await trainStep(model, opt, data, 5e-4, 1.0)).loss,
    dispose: () => {
      model.dispose();
      for (const m of [opt.m, opt.v]) for (const t of m.values()) t.dispose();
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface RunResult { label: string; msPerStep: number; cpuMsPerStep: number; loss?: number; detail: string }

/** Initialises wasm as shipped (stock) or through initBackend; returns the description. */
async function startWasm(stock: boolean, threads: number): Promise<string> {
  if (stock) {
    const tfwasm = await import('@tensorflow/tfjs-backend-wasm');
    const { wasmDistDir } = await import('../src/train/backend/wasm-threads.js');
    tfwasm.setWasmPaths(wasmDistDir());
    await tf.setBackend('wasm');
    return `tfjs ${tf.version.tfjs} wasm as shipped (SIMD, ${tfwasm.getThreadsCount()} thread)`;
  }
  const { initBackend } = await import('../src/train/backend/index.js');
  return (await initBackend('wasm', { threads })).detail;
}

async function runTfjs(stock: boolean, threads: number, batch: number, steps: number, warmup: number): Promise<RunResult> {
  const detail = await startWasm(stock, threads);
  const r = await timeSteps(batch, steps, warmup);
  return { label: stock ? 'tfjs wasm (as shipped)' : 'tfjs wasm (wit)', msPerStep: r.msPerStep, cpuMsPerStep: r.cpuMsPerStep, loss: r.loss, detail };
}

/** Runs this file in a child process (own backend, own memory) and parses its JSON line. */
function child(args: string[]): RunResult {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`bench child failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as RunResult;
}

function torch(batch: number, steps: number, warmup: number, threads: number): RunResult {
  const script = fileURLToPath(new URL('../../bench/train_torch.py', import.meta.url));
  // Debian's python3-torch lives in the system interpreter, whatever python3 is first on PATH.
  const python = process.env['WIT_BENCH_PYTHON'] ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const r = spawnSync(python, [script, '--json', '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads)], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`bench_torch failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as RunResult;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      repeat: { type: 'string', default: '3' },
      batch: { type: 'string', default: '64' },
      threads: { type: 'string', default: '1,2' },
      stock: { type: 'boolean', default: false },
      'no-torch': { type: 'boolean', default: false },
      child: { type: 'boolean', default: false },
      'child-stock': { type: 'boolean', default: false },
      ops: { type: 'boolean', default: false },
      'child-ops': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
    },
  });
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  const batch = Number(values.batch);
  const threads = Number(String(values.threads).split(',')[0]);
  if (values.child) {
    const r = await runTfjs(values['child-stock'], threads, batch, steps, warmup);
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (values.profile) {
    await profileStep(threads, batch);
    return;
  }
  if (values['child-ops']) {
    process.stdout.write(JSON.stringify(await timeOps(values['child-stock'], threads)) + '\n');
    return;
  }
  if (values.ops) {
    printOps(threads);
    return;
  }
  const threadCounts = String(values.threads).split(',').map(Number);
  const runs = new Map<string, RunResult[]>();
  const add = (r: RunResult, t: number): void => {
    const key = `${r.label}, ${t} thread${t === 1 ? '' : 's'}`;
    runs.set(key, [...(runs.get(key) ?? []), { ...r, label: key }]);
  };
  const repeat = Number(values.repeat);
  for (let i = 0; i < repeat; i++) {
    for (const t of threadCounts) {
      const common = ['--batch', String(batch), '--threads', String(t)];
      add(child([...common, '--steps', String(steps), '--warmup', String(warmup)]), t);
      if (!values['no-torch']) add(torch(batch, steps, warmup, t), t);
    }
    // As shipped is ~40x slower (and single-threaded): one timed step per repeat is plenty.
    if (values.stock) add(child(['--batch', String(batch), '--threads', '1', '--child-stock', '--steps', '1', '--warmup', '1']), 1);
  }
  const flops = stepFlops(VIT_TINY, batch);
  const modelName = "wit's model, AdamW and trainStep (src/train)";
  process.stdout.write(`vit-tiny CLIP, batch ${batch}, ${(flops / 1e9).toFixed(1)} GFLOP/step (matmuls, fwd+bwd), ${modelName}; median of ${repeat} runs x ${steps} steps\n\n`);
  const med = (label: string, f: (r: RunResult) => number): number => {
    const rs = runs.get(label);
    return rs ? median(rs.map(f)) : NaN;
  };
  const rows = [['backend', 'ms/step', 'samples/s', 'GFLOP/s', 'vs PyTorch', 'CPU ms/step', 'vs PyTorch (CPU)', 'runs (ms/step)']];
  for (const [label, rs] of runs) {
    const ms = med(label, (r) => r.msPerStep);
    const cpuMs = med(label, (r) => r.cpuMsPerStep);
    const t = label.slice(label.lastIndexOf(', ') + 2);
    const torchMs = med(`pytorch (cpu), ${t}`, (r) => r.msPerStep);
    const torchCpu = med(`pytorch (cpu), ${t}`, (r) => r.cpuMsPerStep);
    rows.push([
      label,
      ms.toFixed(0),
      ((batch * 1000) / ms).toFixed(1),
      (flops / ms / 1e6).toFixed(1),
      Number.isFinite(torchMs) ? `${(torchMs / ms).toFixed(2)}x` : '-',
      cpuMs.toFixed(0),
      Number.isFinite(torchCpu) ? `${(torchCpu / cpuMs).toFixed(2)}x` : '-',
      rs.map((r) => r.msPerStep.toFixed(0)).join(' '),
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) process.stdout.write(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ') + '\n');
  process.stdout.write('\n');
  for (const [label, rs] of runs) process.stdout.write(`${label}: ${rs[0]!.detail}\n`);
  const load = loadavg();
  process.stdout.write(
    `\nsamples/s = ${batch} / (ms/step); GFLOP/s = matmul FLOPs / wall time; "vs PyTorch" = PyTorch ms/step / this ms/step (throughput ratio).\n` +
      `CPU ms/step is the CPU time of all the process's threads: the fair measure when other jobs share the machine ` +
      `(load average during the run: ${load.map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} CPUs).\n`,
  );
}

/** Single ops of a vit-tiny step at batch 64, by the shapes the profile shows. */
const OPS: { name: string; inputs: number[][]; int?: number; run: (xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[] }[] = [
  { name: 'linear [4160,128]x[128,512]', inputs: [[4160, 128], [128, 512]], run: ([a, b]) => tf.matMul(a!, b!) },
  { name: 'linear + bias (fused)', inputs: [[4160, 128], [128, 512], [512]], run: ([a, b, c]) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: c }) },
  { name: 'input grad [4160,512]x[128,512]^T', inputs: [[4160, 512], [128, 512]], run: ([a, b]) => tf.matMul(a!, b!, false, true) },
  { name: 'weight grad [4160,128]^T x[4160,512]', inputs: [[4160, 128], [4160, 512]], run: ([a, b]) => tf.matMul(a!, b!, true, false) },
  { name: 'attention q.k^T [256,65,32]', inputs: [[256, 65, 32], [256, 65, 32]], run: ([a, b]) => tf.matMul(a!, b!, false, true) },
  { name: 'attention p.v [256,65,65]x[256,65,32]', inputs: [[256, 65, 65], [256, 65, 32]], run: ([a, b]) => tf.matMul(a!, b!) },
  { name: 'bias grad: sum [4160,512] axis 0', inputs: [[4160, 512]], run: ([a]) => tf.sum(a!, 0) },
  { name: 'qkv split [64,65,384] -> 3', inputs: [[64, 65, 384]], run: ([a]) => tf.split(a!, 3, -1) },
  { name: 'clone [4160,512]', inputs: [[4160, 512]], run: ([a]) => tf.clone(a!) },
  { name: 'embedding grad (gather) [4096,128]', inputs: [[4096, 128], [2048]], int: 1, run: ([t, i]) => tf.grad((x: tf.Tensor) => tf.sum(tf.gather(x, i!)))(t!) },
];

/** CPU ms per call (median of 5 after one warm-up) of each op in OPS; NaN where the backend fails. */
async function timeOps(stock: boolean, threads: number): Promise<{ detail: string; ms: Record<string, number> }> {
  const detail = await startWasm(stock, threads);
  const ms: Record<string, number> = {};
  for (const op of OPS) {
    const xs = op.inputs.map((shape, i) => (i === op.int ? tf.randomUniform(shape, 0, 4096, 'int32') : tf.randomNormal(shape)));
    try {
      const once = (): number => {
        const c0 = process.cpuUsage();
        // wasm kernels run synchronously inside the call: no read-back needed (it would time a heap copy).
        const out = op.run(xs);
        for (const t of Array.isArray(out) ? out : [out]) t.dispose();
        const c = process.cpuUsage(c0);
        return (c.user + c.system) / 1000;
      };
      once();
      ms[op.name] = median(Array.from({ length: 5 }, once));
    } catch {
      ms[op.name] = NaN;
    }
    tf.dispose(xs);
  }
  return { detail, ms };
}

function printOps(threads: number): void {
  const run = (stock: boolean): { detail: string; ms: Record<string, number> } => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child-ops', '--threads', String(threads), ...(stock ? ['--child-stock'] : [])], { encoding: 'utf8' });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) throw new Error(`ops child failed (${r.status}): ${r.stderr.slice(-2000)}`);
    return JSON.parse(line, (_k, v) => (v === null ? NaN : v)) as { detail: string; ms: Record<string, number> };
  };
  const before = run(true);
  const after = run(false);
  const rows = [['op (CPU ms per call)', 'as shipped', 'wit', 'speedup']];
  for (const op of OPS) {
    const b = before.ms[op.name]!;
    const a = after.ms[op.name]!;
    rows.push([op.name, Number.isFinite(b) ? b.toFixed(2) : 'fails', a.toFixed(2), Number.isFinite(b) ? `${(b / a).toFixed(1)}x` : '-']);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) process.stdout.write(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ') + '\n');
  process.stdout.write(`\nas shipped: ${before.detail}\nwit: ${after.detail}\n`);
}

/**
 * Prints the kernels of one step (forward + backward, after a warm-up step) by CPU time of this
 * process (all its threads): wall time is meaningless on a machine shared with other jobs.
 */
async function profileStep(threads: number, batch: number): Promise<void> {
  const { initBackend } = await import('../src/train/backend/index.js');
  process.stdout.write(`${(await initBackend('wasm', { threads })).detail}\n`);
  const byName = new Map<string, { us: number; n: number }>();
  const byShape = new Map<string, { us: number; n: number }>();
  for (const cfg of tf.getKernelsForBackend('wasm')) {
    const inner = cfg.kernelFunc;
    tf.unregisterKernel(cfg.kernelName, 'wasm');
    tf.registerKernel({
      ...cfg,
      kernelFunc: (args) => {
        const t0 = process.cpuUsage();
        const r = inner(args);
        const d = process.cpuUsage(t0);
        const us = d.user + d.system;
        const shapes = Object.values(args.inputs).map((t) => t?.shape);
        for (const [map, key] of [[byName, cfg.kernelName], [byShape, `${cfg.kernelName} ${JSON.stringify(shapes)}`]] as const) {
          const e = map.get(key) ?? { us: 0, n: 0 };
          e.us += us;
          e.n++;
          map.set(key, e);
        }
        return r;
      },
    });
  }
  const stepper = await witStep(batch);
  const step = (): Promise<number> => stepper.run();
  await step();
  byName.clear();
  byShape.clear();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await step();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const total = [...byName.values()].reduce((s, e) => s + e.us, 0);
  process.stdout.write(`one training step (forward, backward, optimiser): wall ${wall.toFixed(0)} ms, CPU ${((c.user + c.system) / 1000).toFixed(0)} ms, in kernels ${(total / 1000).toFixed(0)} ms CPU\n`);
  for (const [k, e] of [...byName].sort((x, y) => y[1].us - x[1].us).slice(0, 25)) process.stdout.write(`${(e.us / 1000).toFixed(1).padStart(9)} ms ${String(e.n).padStart(4)}x  ${k}\n`);
  process.stdout.write('\n');
  for (const [k, e] of [...byShape].sort((x, y) => y[1].us - x[1].us).slice(0, 40)) process.stdout.write(`${(e.us / 1000).toFixed(1).padStart(9)} ms ${String(e.n).padStart(4)}x  ${k}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
  process.exit(0);
}
