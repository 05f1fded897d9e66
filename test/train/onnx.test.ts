/**
 * The onnx backend (src/train/onnx/): every architecture wit runs (ViT with each activation, ResNet
 * with its attention pool, the causal text tower) as an ONNX graph whose embeddings equal the wasm
 * backend's within 1e-5 on the same pixels and captions; the graph cached in MODEL/onnx/ keyed by the
 * weights; backend selection (auto takes onnx when installed, wasm otherwise).
 */
import { mkdtemp, readdir, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadClip, type ClipHandle } from '../../src/train/clip.js';
import { pickInferenceBackend, setBackendAnnouncer } from '../../src/train/backend/index.js';
import { loadOrt } from '../../src/train/onnx/runtime.js';
import { PLAIN_CAPTIONS, makeWitModel } from '../model/wit-model.js';
import type { Activation, ClipConfig } from '../../src/train/config.js';
import { exportModel } from '../../src/model/index.js';
import { normalizeInto } from '../../src/train/preprocess.js';
import { Message, concat, varint } from '../../src/train/onnx/proto.js';

const ort = await loadOrt();
const skip = ort.ok ? false : `onnxruntime-node ${ort.reason}`;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(os.tmpdir(), 'wit-onnx-test-'));
  setBackendAnnouncer(null);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((row, i) => {
    expect(row.length).toBe(b[i]!.length);
    row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i]![j]!))));
  });
  return m;
}

/** Random RGB bytes for n images of side s (deterministic). */
function pixels(n: number, s: number): Uint8Array[] {
  let x = 12345;
  return Array.from({ length: n }, () => Uint8Array.from({ length: s * s * 3 }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) & 255));
}

const CAPTIONS = [...PLAIN_CAPTIONS, '', 'a much longer caption that runs past the context length of the tiny model for sure'];

async function embedBoth(dir: string, size: number): Promise<{ wasm: Float32Array[][]; onnx: Float32Array[][]; handle: ClipHandle }> {
  const px = pixels(5, size);
  const wasm = await loadClip(dir, { backend: 'wasm', batchSize: 3 });
  const w = [await wasm.embedPixels(px), await wasm.embedTexts(CAPTIONS)];
  await wasm.dispose();
  const onnx = await loadClip(dir, { backend: 'onnx', batchSize: 3, threads: 1 });
  const o = [await onnx.embedPixels(px), await onnx.embedTexts(CAPTIONS)];
  return { wasm: w, onnx: o, handle: onnx };
}

const resnet: Partial<ClipConfig> = { vision: { type: 'resnet', image_size: 32, width: 16, stages: [1, 2], heads: 4 } };
const cases: Array<[string, Partial<ClipConfig>]> = [
  ...(['quick_gelu', 'gelu_erf', 'gelu'] as Activation[]).map((act): [string, Partial<ClipConfig>] => [`ViT, ${act}`, { act }]),
  ['ResNet (GroupNorm, anti-aliased strides, attention pool)', resnet],
];

describe.skipIf(skip)('onnx backend', () => {
  test.each(cases)('%s: embeddings equal wasm within 1e-5', async (name, overrides) => {
    const dir = join(root, name.replace(/\W+/g, '-'));
    const cfg = await makeWitModel(dir, overrides);
    const { wasm, onnx, handle } = await embedBoth(dir, cfg.vision.image_size);
    expect(handle.backend.name).toBe('onnx');
    const img = maxAbsDiff(wasm[0]!, onnx[0]!);
    const txt = maxAbsDiff(wasm[1]!, onnx[1]!);
    expect(img, 'image').toBeLessThanOrEqual(1e-5);
    expect(txt, 'text').toBeLessThanOrEqual(1e-5);
    // The comparison can fail: other captions give other embeddings.
    expect(maxAbsDiff(wasm[1]!.slice(1), onnx[1]!.slice(0, -1))).toBeGreaterThan(1e-2);
    expect(handle.logitScale()).toBeCloseTo(1 / 0.07, 3);
    await handle.dispose();
  });

  test('the graphs are cached in MODEL/onnx/ under the weights fingerprint, rebuilt when the weights change', async () => {
    const dir = join(root, 'cache');
    const cfg = await makeWitModel(dir);
    const px = pixels(2, cfg.vision.image_size);
    const first = await loadClip(dir, { backend: 'onnx' });
    const a = await first.embedPixels(px);
    await first.dispose();
    const files = (await readdir(join(dir, 'onnx'))).sort();
    expect(files.map((f) => f.replace(/-[0-9a-f]{16}/, '-KEY'))).toEqual(['image-KEY.onnx', 'image-KEY.onnx.data', 'meta-KEY.json', 'text-KEY.onnx', 'text-KEY.onnx.data']);
    // A second load uses the cache (same files, same embeddings).
    const second = await loadClip(dir, { backend: 'onnx' });
    expect(maxAbsDiff(a, await second.embedPixels(px))).toBe(0);
    await second.dispose();
    expect((await readdir(join(dir, 'onnx'))).sort()).toEqual(files);
    // New weights in the same directory: a new key, the old set removed, other embeddings.
    await makeWitModel(dir, { act: 'gelu' });
    const third = await loadClip(dir, { backend: 'onnx' });
    expect(maxAbsDiff(a, await third.embedPixels(px))).toBeGreaterThan(1e-3);
    await third.dispose();
    const after = (await readdir(join(dir, 'onnx'))).sort();
    expect(after).toHaveLength(5);
    expect(after.some((f) => files.includes(f))).toBe(false);
  });

  test('a read-only model directory runs from a temporary copy of its graphs', async () => {
    if (process.getuid?.() === 0) return; // root writes anywhere
    const dir = join(root, 'readonly');
    await makeWitModel(dir);
    await chmod(dir, 0o555);
    try {
      const h = await loadClip(dir, { backend: 'onnx' });
      expect((await h.embedTexts(['a dog']))[0]).toHaveLength(16);
      await h.dispose();
    } finally {
      await chmod(dir, 0o755);
    }
  });

  test('wit model export --format onnx: graphs another ONNX Runtime user runs to the same embeddings', async () => {
    if (!ort.ok) return;
    const dir = join(root, 'export-src');
    const cfg = await makeWitModel(dir, { act: 'gelu_erf' });
    const out = join(root, 'export-out');
    const s = await exportModel({ model: dir, out, format: 'onnx' });
    expect(s.format).toBe('onnx');
    expect(s.files.sort()).toEqual(['image.onnx', 'onnx_config.json', 'text.onnx', 'tokenizer.json']);
    const meta = JSON.parse(await readFile(join(out, 'onnx_config.json'), 'utf8'));
    expect(meta.text.inputs.ids.shape).toEqual(['batch', 12]);
    // Run the exported image graph directly and normalise as a user would.
    const session = await ort.ort.InferenceSession.create(join(out, 'image.onnx'));
    const px = pixels(2, 32);
    const buf = new Float32Array(2 * 32 * 32 * 3);
    px.forEach((p, i) => normalizeInto(p, buf, i * 32 * 32 * 3, cfg.image_mean, cfg.image_std));
    const res = await session.run({ pixels: new ort.ort.Tensor('float32', buf, [2, 32, 32, 3]) });
    const f = res.image_features!.data as Float32Array;
    const rows = [0, 1].map((i) => {
      const r = f.slice(i * 16, (i + 1) * 16);
      const n = Math.hypot(...r);
      return r.map((v) => v / n);
    });
    await session.release();
    const wasm = await loadClip(dir, { backend: 'wasm' });
    expect(maxAbsDiff(rows, await wasm.embedPixels(px))).toBeLessThanOrEqual(1e-5);
    await wasm.dispose();
    // A second export into the same folder replaces the set; an export into the model is refused.
    await exportModel({ model: dir, out, format: 'onnx' });
    await expect(exportModel({ model: dir, out: join(dir, 'x'), format: 'onnx' })).rejects.toThrow(/inside|input/);
  });

  test('auto picks onnx; a cached graph that is not ONNX fails with a clear error', async () => {
    expect(await pickInferenceBackend('auto')).toEqual({ kind: 'onnx', device: 'auto' });
    expect(await pickInferenceBackend('wasm')).toEqual({ kind: 'tfjs', tfjs: 'wasm' });
    await expect(pickInferenceBackend('wasm', { device: 'cuda' })).rejects.toThrow(/--device cuda runs on the onnx backend/);
    const dir = join(root, 'corrupt');
    await makeWitModel(dir);
    const h = await loadClip(dir, { backend: 'onnx' });
    await h.dispose();
    const image = (await readdir(join(dir, 'onnx'))).find((f) => f.startsWith('image-'))!;
    await writeFile(join(dir, 'onnx', image), 'not a model');
    await expect(loadClip(dir, { backend: 'onnx' })).rejects.toThrow(/ONNX Runtime cannot load the model's graph/);
  });
});

describe('protobuf writer (src/train/onnx/proto.ts)', () => {
  test('varints, negative int64 as ten bytes, nested lengths', () => {
    expect([...varint(0)]).toEqual([0]);
    expect([...varint(300)]).toEqual([0xac, 0x02]);
    expect([...varint(-1)]).toEqual([255, 255, 255, 255, 255, 255, 255, 255, 255, 1]);
    const inner = new Message().int(1, 150);
    const outer = new Message().message(3, inner).string(2, 'ab');
    expect([...concat(outer)]).toEqual([0x1a, 3, 0x08, 0x96, 0x01, 0x12, 2, 0x61, 0x62]);
    expect(outer.length).toBe(9);
  });
});
