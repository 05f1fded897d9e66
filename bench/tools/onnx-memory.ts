/**
 * bench/tools/onnx-memory: peak resident memory of ONNX Runtime sessions over ViT-B/32's towers under
 * session options, each in its own process (to pick the onnx backend's options).
 *   node dist/bench/tools/onnx-memory.js [DIR]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCHS } from '../../src/train/config.js';
import { parameterSpecs } from '../../src/train/model.js';
import { loadOrt } from '../../src/train/onnx/runtime.js';
import { weightSource, writeTower } from '../../src/train/onnx/write.js';
import type { Weight } from '../../src/train/onnx/graph.js';

const dir = process.argv[2] ?? '/tmp/wit-onnx-memory';
const child = process.argv[3];
const cfg = ARCHS['ViT-B/32']!;
if (child) {
  const o = JSON.parse(child) as { external: boolean; arena: boolean; pattern: boolean; opt: string };
  const r = await loadOrt();
  if (!r.ok) throw new Error(r.reason);
  const sfx = o.external ? '-ext' : '';
  const opts = { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: o.opt, enableCpuMemArena: o.arena, enableMemPattern: o.pattern, executionProviders: ['cpu'] } as never;
  const image = await r.ort.InferenceSession.create(join(dir, `image${sfx}.onnx`), opts);
  const text = await r.ort.InferenceSession.create(join(dir, `text${sfx}.onnx`), opts);
  const loaded = process.resourceUsage().maxRSS / 1024;
  const rssLoaded = process.memoryUsage().rss / 2 ** 20;
  const b = 16;
  const px = new Float32Array(b * 224 * 224 * 3).fill(0.1);
  const t0 = performance.now();
  await image.run({ pixels: new r.ort.Tensor('float32', px, [b, 224, 224, 3]) });
  const t1 = performance.now();
  await text.run({ ids: new r.ort.Tensor('int32', new Int32Array(b * 77).fill(5), [b, 77]), eot: new r.ort.Tensor('int32', new Int32Array(b).fill(20), [b]) });
  const t2 = performance.now();
  console.log(JSON.stringify({ ...o, peak_after_load: Math.round(loaded), rss_after_load: Math.round(rssLoaded), peak: Math.round(process.resourceUsage().maxRSS / 1024), image_s: ((t1 - t0) / 1000).toFixed(2), text_s: ((t2 - t1) / 1000).toFixed(2) }));
  process.exit(0);
}
if (!existsSync(join(dir, 'text-ext.onnx'))) {
  mkdirSync(dir, { recursive: true });
  const weights = new Map<string, Weight>();
  let seed = 1;
  for (const spec of parameterSpecs(cfg, 'clip')) {
    const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24 - 0.5) * 0.04;
    weights.set(spec.name, { data, shape: spec.shape });
  }
  for (const t of ['image', 'text'] as const) {
    await writeTower(join(dir, `${t}.onnx`), t, cfg, weightSource(weights));
    await writeTower(join(dir, `${t}-ext.onnx`), t, cfg, weightSource(weights), { externalData: true });
  }
}
const self = fileURLToPath(import.meta.url);
for (const o of [
  { external: false, arena: true, pattern: true, opt: 'all' },
  { external: false, arena: false, pattern: true, opt: 'all' },
  { external: false, arena: false, pattern: false, opt: 'all' },
  { external: true, arena: true, pattern: true, opt: 'all' },
  { external: true, arena: false, pattern: true, opt: 'all' },
]) {
  const r = spawnSync(process.execPath, [self, dir, JSON.stringify(o)], { encoding: 'utf8' });
  console.log(r.status === 0 ? r.stdout.trim() : `${JSON.stringify(o)} failed: ${r.stderr.slice(-500)}`);
}
