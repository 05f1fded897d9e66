/**
 * bench/filter-e2e: `wit filter` of the demo crawl with an imported CLIP ViT-B/32, end to end (the CLI a
 * user runs: start-up, model load, ONNX graphs where onnx runs, read, decode, both towers, selection,
 * writing), on the onnx backend against the wasm backend, the same threads.
 *
 *   npm run bench:filter-e2e [-- --crawl DIR --threads 2 --repeat 2 --backends onnx,wasm]
 *
 * The crawl: --crawl DIR (shards of any wit crawl), else `wit demo` is run once into a temporary folder
 * and its crawl used. The model: with the open_clip venv (/work/venv-openclip, or $WIT_TORCH_PYTHON),
 * open_clip 3.3's own ViT-B-32 (random init: the rate does not depend on the weights) saved as
 * safetensors with its model config and CLIP's BPE, then brought in by `wit model import`, as a user
 * imports a downloaded checkpoint; without the venv (or with WIT_NEEDS_HIDE=open_clip), a wit-native
 * model of the same shapes (the table says which). Each run is `wit filter --keep-fraction 0.85 --no-dedup` (the demo's filter) under GNU
 * time: wall seconds, CPU seconds (user + system, all threads) and peak resident memory. The first onnx
 * run also writes the model's ONNX graphs into MODEL/onnx/ (the cache every later run reuses): it is
 * reported on its own row, and the warm rows are medians over the other runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    crawl: { type: 'string' },
    threads: { type: 'string', default: '2' },
    repeat: { type: 'string', default: '2' },
    backends: { type: 'string', default: 'onnx,wasm' },
    keep: { type: 'boolean', default: false },
  },
});
const threads = Number(args.threads);
const repeat = Math.max(1, Number(args.repeat));
const backends = args.backends!.split(',').map((s) => s.trim()).filter(Boolean);
const root = fileURLToPath(new URL('../..', import.meta.url)); // dist/bench -> checkout
const wit = join(root, 'bin', 'wit.cjs');
const work = mkdtempSync(join(os.tmpdir(), 'wit-bench-filter-e2e-'));

function run(cmd: string, argv: string[], what: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${(r.stderr ?? '').slice(-3000)}`);
  return r.stdout;
}

function torchPython(): string | undefined {
  // WIT_NEEDS_HIDE=open_clip: as on a machine without the venv (the tests' switch, test/helpers/needs.ts)
  if ((process.env.WIT_NEEDS_HIDE ?? '').split(',').map((x) => x.trim()).includes('open_clip')) return undefined;
  const cands = [process.env.WIT_TORCH_PYTHON, '/work/venv-openclip/bin/python'].filter((p): p is string => !!p);
  for (const p of cands) {
    if (!existsSync(p)) continue;
    const ok = spawnSync(p, ['-c', 'import open_clip, safetensors'], { encoding: 'utf8' });
    if (ok.status === 0) return p;
  }
  return undefined;
}

/** open_clip's ViT-B-32 (random init), saved as a download would be, then `wit model import`. */
function importedVitB32(py: string, out: string): string {
  const src = join(work, 'openclip-vit-b-32');
  const script = `
import json, os, sys, shutil, torch, open_clip
from safetensors.torch import save_file
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
model = open_clip.create_model('ViT-B-32', pretrained=None)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, 'open_clip_model.safetensors'))
cfg = open_clip.get_model_config('ViT-B-32')
json.dump({'model_cfg': cfg, 'preprocess_cfg': {}}, open(os.path.join(out, 'open_clip_config.json'), 'w'))
vocab = os.path.join(os.path.dirname(open_clip.__file__), 'bpe_simple_vocab_16e6.txt.gz')
shutil.copy(vocab, os.path.join(out, 'bpe_simple_vocab_16e6.txt.gz'))
print(open_clip.__version__)
`;
  const version = run(py, ['-c', script, src], 'open_clip ViT-B-32').trim();
  run(process.execPath, [wit, 'model', 'import', src, '--out', out], 'wit model import');
  return `open_clip ${version} ViT-B-32, imported by wit model import`;
}

/** A wit-native ViT-B/32 of the same shapes (random init), when open_clip is not installed. */
async function nativeVitB32(out: string): Promise<string> {
  const { initBackend } = await import('../src/train/backend/index.js');
  const { ARCHS } = await import('../src/train/config.js');
  const { ClipModel } = await import('../src/train/model.js');
  const { saveModelDir } = await import('../src/train/model-dir.js');
  const { trainTokenizer } = await import('../src/train/tokenizer.js');
  await initBackend('wasm');
  const base = ARCHS['ViT-B/32']!;
  const tok = trainTokenizer(['a photo of an emoji', 'a red apple', 'the flag of a country'], { vocabSize: 600, contextLength: base.text.context_length });
  const model = ClipModel.create({ ...base, text: { ...base.text, vocab_size: tok.vocabSize } }, 'clip', 0);
  await saveModelDir(out, model, tok);
  model.dispose();
  return 'wit-native ViT-B-32 (no open_clip venv: not an import)';
}

interface Timing { wall: number; cpu: number; rssMiB: number; pairs: number }

function timedFilter(backend: string, crawl: string, model: string, out: string): Timing {
  const timeFile = join(work, 'time.txt');
  const argv = ['-f', '%e %U %S %M', '-o', timeFile, process.execPath, wit, 'filter', '--shards', crawl, '--model', model, '--backend', backend,
    '--threads', String(threads), '--keep-fraction', '0.85', '--no-dedup', '--out', out, '--json'];
  const summary = JSON.parse(run('/usr/bin/time', argv, `wit filter --backend ${backend}`)) as { scored: number };
  const [wall, user, sys, rss] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(/\s+/).map(Number);
  rmSync(out, { recursive: true, force: true });
  return { wall: wall!, cpu: user! + sys!, rssMiB: rss! / 1024, pairs: summary.scored };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  let crawl = args.crawl;
  if (!crawl) {
    const demo = join(work, 'demo');
    process.stderr.write('bench: running wit demo once for its crawl…\n');
    run(process.execPath, [wit, 'demo', '--out', demo], 'wit demo');
    crawl = join(demo, 'crawl');
  }
  const model = join(work, 'model');
  const py = torchPython();
  const modelNote = py ? importedVitB32(py, model) : await nativeVitB32(model);
  const rows: Array<{ label: string; t: Timing }> = [];
  const warm = new Map<string, Timing>();
  for (const b of backends) {
    const runs: Timing[] = [];
    for (let i = 0; i < repeat + (b === 'onnx' ? 1 : 0); i++) {
      process.stderr.write(`bench: wit filter --backend ${b} (${i + 1})…\n`);
      runs.push(timedFilter(b, crawl, model, join(work, `out-${b}-${i}`)));
    }
    if (b === 'onnx') rows.push({ label: 'onnx, first run (writes MODEL/onnx/)', t: runs.shift()! });
    const m: Timing = { wall: median(runs.map((r) => r.wall)), cpu: median(runs.map((r) => r.cpu)), rssMiB: median(runs.map((r) => r.rssMiB)), pairs: runs[0]!.pairs };
    warm.set(b, m);
    rows.push({ label: `${b}${b === 'onnx' ? ', warm' : ''} (median of ${runs.length})`, t: m });
  }
  const lines = [
    `wit filter end to end: ${modelNote}; ${threads} threads; load average ${os.loadavg()[0]!.toFixed(1)}; ${os.cpus()[0]?.model ?? ''}`,
    `crawl: ${crawl}`,
    '',
    '| run | pairs scored | wall s | pairs/s | CPU s | pairs/CPU-s | peak MiB |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(({ label, t }) => `| ${label} | ${t.pairs} | ${t.wall.toFixed(1)} | ${(t.pairs / t.wall).toFixed(2)} | ${t.cpu.toFixed(1)} | ${(t.pairs / t.cpu).toFixed(2)} | ${t.rssMiB.toFixed(0)} |`),
  ];
  const o = warm.get('onnx');
  const w = warm.get('wasm');
  if (o && w) lines.push(`| wasm / onnx (speed-up of onnx) | | ${(w.wall / o.wall).toFixed(2)}x | | ${(w.cpu / o.cpu).toFixed(2)}x | | ${(o.rssMiB / w.rssMiB).toFixed(2)}x memory |`);
  process.stdout.write(`${lines.join('\n')}\n`);
  writeFileSync(join(work, 'table.md'), `${lines.join('\n')}\n`);
}

try {
  await main();
} finally {
  if (!args.keep) rmSync(work, { recursive: true, force: true });
}
