import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseOpenClipConfig } from '../../src/model/openclip-config.js';
import { ARCH_LIMITS, archSize } from '../../src/model/validate.js';
import { ARCHS, validateConfig, type ClipConfig } from '../../src/train/config.js';
import { parameterSpecs } from '../../src/train/model.js';
import { runWit } from '../crawl/run-wit.js';
import { writeShapeShards } from '../train/synthetic-shards.js';
import { sharedWitModel } from './wit-model.js';

/**
 * The one validation of model configs and weights (src/model/validate.ts, src/model/safetensors.ts,
 * src/train/weights-io.ts), through the real CLI: architecture sizes bounded before anything is built,
 * safetensors layouts checked as the format's reference does, NaN and infinite weights refused at import,
 * export and every load. Needs `npm run build`.
 */

let root: string;
let witModel: string;
let exported: string;
let exportStderr: string;
const weights = (): string => join(exported, 'open_clip_model.safetensors');
const config = (): string => join(exported, 'open_clip_config.json');
const vocab = (): string => join(exported, 'bpe_vocab.txt.gz');

function importWith(over: { weights?: string; config?: string }, out: string) {
  return runWit(['model', 'import', '--weights', over.weights ?? weights(), '--config', over.config ?? config(), '--vocab', vocab(), '--out', out], { timeoutMs: 60_000 });
}

/** A safetensors file as header object and data bytes, to edit. */
function readRaw(file: string): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; data: Buffer } {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')), data: Buffer.from(buf.subarray(8 + n)) };
}

function writeRaw(file: string, header: unknown, data: Buffer, headerLen?: bigint): string {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLen ?? BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, data]));
  return file;
}

/** Names of tensors in file order, with their offsets. */
function byOffset(header: ReturnType<typeof readRaw>['header']): string[] {
  return Object.keys(header).filter((k) => k !== '__metadata__').sort((a, b) => header[a]!.data_offsets[0] - header[b]!.data_offsets[0]);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wit-modelguard-'));
  // the model and its export are shared with other files (test/helpers/shared-fixtures.ts): read-only here
  ({ model: witModel, exported, exportStderr } = await sharedWitModel());
}, 600_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('safetensors layout is checked as the format defines it', () => {
  type Raw = ReturnType<typeof readRaw>;
  const cases: Array<[string, (raw: Raw) => { header: unknown; data: Buffer; headerLen?: bigint }, RegExp]> = [
    ['negative offsets', ({ header, data }) => {
      header.logit_scale!.data_offsets = [-4, 0];
      return { header, data };
    }, /logit_scale: data_offsets \[-4,0\] are not two non-negative integers/],
    ['overlapping tensors', ({ header, data }) => {
      // Two [32] biases: the later one points at the earlier one's bytes.
      const biases = byOffset(header).filter((k) => header[k]!.shape.join() === '32');
      header[biases[1]!]!.data_offsets = [...header[biases[0]!]!.data_offsets];
      return { header, data };
    }, /data_offsets \[\d+, \d+\] overlap the tensor before it/],
    ['a gap between tensors', ({ header, data }) => {
      const last = header[byOffset(header).at(-1)!]!;
      const [b, e] = last.data_offsets;
      last.data_offsets = [b + 4, e + 4];
      return { header, data: Buffer.concat([data.subarray(0, b), Buffer.alloc(4), data.subarray(b)]) };
    }, /leave a gap of 4 bytes after offset \d+/],
    ['bytes after the last tensor', ({ header, data }) => ({ header, data: Buffer.concat([data, Buffer.alloc(8)]) }), /8 bytes after the last tensor \(offset \d+\) belong to no tensor/],
    ['offsets that end before they begin', ({ header, data }) => {
      header.logit_scale!.data_offsets = [header.logit_scale!.data_offsets[1], header.logit_scale!.data_offsets[0]];
      return { header, data };
    }, /logit_scale: data_offsets \[\d+, \d+\] end before they begin/],
    ['a length that does not match the shape', ({ header, data }) => {
      header['visual.proj']!.shape = [32, 15];
      return { header, data };
    }, /visual\.proj: data_offsets \[\d+, \d+\] hold 2048 bytes, but F32 \[32,15\] needs 1920/],
    ['a header length above the format limit', ({ header, data }) => ({ header, data, headerLen: 1n << 40n }), /header length 1099511627776 is above the format's limit of 100000000 bytes/],
    ['a dtype the format does not define', ({ header, data }) => {
      header.logit_scale!.dtype = 'F7';
      return { header, data };
    }, /logit_scale has dtype "F7", which the format does not define/],
    ['a NaN weight', ({ header, data }) => {
      data.writeFloatLE(NaN, header['visual.proj']!.data_offsets[0] + 5 * 4);
      return { header, data };
    }, /tensor visual\.proj holds 1 non-finite value of 512 \(NaN at index 5\); NaN or infinite weights make every score NaN/],
    ['an infinite weight', ({ header, data }) => {
      data.writeFloatLE(-Infinity, header.positional_embedding!.data_offsets[0]);
      data.writeFloatLE(Infinity, header.positional_embedding!.data_offsets[0] + 8);
      return { header, data };
    }, /tensor positional_embedding holds 2 non-finite values of \d+ \(-Infinity at index 0\)/],
  ];
  test.each(cases)('%s: exit 2, one line naming the file and the tensor, nothing written', async (name, edit, msg) => {
    const { header, data, headerLen } = edit(readRaw(weights()));
    const file = writeRaw(join(root, `${name.replace(/\W+/g, '-')}.safetensors`), header, data, headerLen);
    const out = join(root, `out-${name.replace(/\W+/g, '-')}`);
    const r = await importWith({ weights: file }, out);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^wit model import: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
    expect(r.stderr).toMatch(msg);
    expect(existsSync(out)).toBe(false);
  }, 600_000);

  test('integer buffers the format defines (OpenAI\'s input_resolution, I64) are skipped, not refused', async () => {
    const { header, data } = readRaw(weights());
    const end = data.length;
    (header as Record<string, unknown>).input_resolution = { dtype: 'I64', shape: [], data_offsets: [end, end + 8] };
    const file = writeRaw(join(root, 'with-i64.safetensors'), header, Buffer.concat([data, Buffer.alloc(8)]));
    const r = await importWith({ weights: file }, join(root, 'with-i64'));
    expect(r.code, r.stderr).toBe(0);
  }, 600_000);
});

describe('architecture sizes are bounded before anything is built', () => {
  test('an open_clip config with layers = 10^6: exit 2 naming the field, the value and the limit, at once', async () => {
    const cfg = JSON.parse(readFileSync(config(), 'utf8'));
    cfg.model_cfg.vision_cfg.layers = 1_000_000;
    const f = join(root, 'deep.json');
    writeFileSync(f, JSON.stringify(cfg));
    const out = join(root, 'deep-out');
    // Before: import built 12 million parameter specs and died of a V8 heap crash after 77 s (this runner kills at 60 s).
    const r = await importWith({ config: f }, out);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(`wit model import: ${f}: vision_cfg.layers = 1000000 is above wit's limit of 256`);
    expect(existsSync(out)).toBe(false);
  }, 600_000);

  test('a model directory whose config.json says text.layers = 10^6 is refused on load (the loader of export, eval, filter, embed, search, serve)', async () => {
    const dir = join(root, 'deep-model');
    cpSync(witModel, dir, { recursive: true });
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    c.arch.text.layers = 1_000_000;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
    const r = await runWit(['model', 'export', '--model', dir, '--out', join(root, 'deep-export')], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/config\.json: text\.layers = 1000000 is above wit's limit of 256/);
  }, 600_000);

  test('wit train --arch with an absurd width: exit 2 naming the field', async () => {
    const arch = { ...structuredClone(ARCHS['vit-micro']!), vision: { ...ARCHS['vit-micro']!.vision, width: 10 ** 9, heads: 1 } };
    const f = join(root, 'wide.json');
    writeFileSync(f, JSON.stringify(arch));
    await writeShapeShards(join(root, 'shards'), { perClass: 1, shards: 1 });
    const r = await runWit(['train', '--shards', join(root, 'shards'), '--out', join(root, 'wide-run'), '--arch', f, '--steps', '1', '--backend', 'cpu'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/architecture .*wide\.json: vision\.width = 1000000000 is above wit's limit of 16,384/);
  }, 600_000);

  test('sizes each within their limits but together too large: refused by the parameter and tensor limits', () => {
    const base = structuredClone(ARCHS['vit-micro']!);
    const wideText = { ...base, text: { ...base.text, vocab_size: ARCH_LIMITS.vocab_size, width: ARCH_LIMITS.width, heads: 128 } };
    expect(() => validateConfig(wideText, 'x')).toThrow(/token_embedding\.weight would hold 1\.72e\+10 values, above wit's limit of 1\.07e\+9 for one tensor/);
    const deep = { ...base, vision: { type: 'vit', image_size: 224, patch_size: 14, width: 8192, heads: 64, layers: 256 }, text: { ...base.text, width: 8192, heads: 64, layers: 256 } };
    expect(() => validateConfig(deep, 'x')).toThrow(/4\.12e\+11 parameters is above wit's limit of 1e\+10/);
    expect(() => validateConfig({ ...base, vision: { ...base.vision, mlp_ratio: -1 } }, 'x')).toThrow(/vision\.mlp_ratio must be a positive number, got -1/);
    expect(() => validateConfig({ ...base, text: { ...base.text, mlp_ratio: 'x' } }, 'x')).toThrow(/text\.mlp_ratio must be a positive number, got "x"/);
    expect(() => validateConfig({ ...base, vision: { type: 'resnet', image_size: 64, width: 16, stages: [1, 1, 1, 1, 1, 1, 1, 1, 1], heads: 2 } }, 'x')).toThrow(/9 stages, above wit's limit of 8/);
  });

  test("the limits admit open_clip's largest models", () => {
    const openclip: Record<string, unknown> = {
      'ViT-bigG-14': { embed_dim: 1280, vision_cfg: { image_size: 224, layers: 48, width: 1664, head_width: 104, mlp_ratio: 4.9231, patch_size: 14 }, text_cfg: { context_length: 77, vocab_size: 49408, width: 1280, heads: 20, layers: 32 } },
      'ViT-e-14': { embed_dim: 1280, vision_cfg: { image_size: 224, layers: 56, width: 1792, head_width: 112, mlp_ratio: 8.5715, patch_size: 14 }, text_cfg: { context_length: 77, vocab_size: 49408, width: 1280, heads: 20, layers: 36 } },
      'ViT-H-14-378-quickgelu': { embed_dim: 1024, quick_gelu: true, vision_cfg: { image_size: 378, layers: 32, width: 1280, head_width: 80, patch_size: 14 }, text_cfg: { context_length: 77, vocab_size: 49408, width: 1024, heads: 16, layers: 24 } },
      'ViT-L-14-336 with an i18n vocabulary': { embed_dim: 768, vision_cfg: { image_size: 336, layers: 24, width: 1024, patch_size: 14 }, text_cfg: { context_length: 248, vocab_size: 250000, width: 768, heads: 12, layers: 12 } },
    };
    for (const [name, cfg] of Object.entries(openclip)) expect(() => parseOpenClipConfig(cfg, `${name}.json`), name).not.toThrow();
    // RN50x64's sizes in wit's ResNet config.
    const rn = validateConfig({ name: 'RN50x64', embed_dim: 1024, act: 'quick_gelu', vision: { type: 'resnet', image_size: 448, width: 128, stages: [3, 15, 36, 10], heads: 64 }, text: { context_length: 77, vocab_size: 49408, width: 1024, heads: 16, layers: 12 } }, 'x');
    expect(archSize(rn).parameters).toBeGreaterThan(4e8);
  });

  test('archSize counts exactly the parameters the model builds', () => {
    const configs: ClipConfig[] = [
      ...Object.values(ARCHS),
      validateConfig({ name: 'odd', embed_dim: 24, act: 'gelu', vision: { type: 'vit', image_size: 48, patch_size: 12, width: 40, layers: 3, heads: 5, mlp_ratio: 2.5 }, text: { context_length: 9, vocab_size: 77, width: 24, heads: 3, layers: 2, mlp_ratio: 3 } }, 'x'),
      validateConfig({ name: 'rn', embed_dim: 12, act: 'gelu', vision: { type: 'resnet', image_size: 64, width: 8, stages: [2, 1, 3], heads: 4 }, text: { context_length: 9, vocab_size: 77, width: 24, heads: 3, layers: 2 } }, 'x'),
    ];
    for (const c of configs) {
      const specs = parameterSpecs(c, 'clip').filter((s) => !s.name.startsWith('logit_'));
      const count = (s: { shape: number[] }): number => s.shape.reduce((a, d) => a * d, 1);
      expect(archSize(c).parameters, c.name).toBe(specs.reduce((a, s) => a + count(s), 0));
      expect(archSize(c).largest.elements, c.name).toBe(Math.max(...specs.map(count)));
    }
  });
});

describe('NaN and infinite weights are refused at every load', () => {
  let nanModel: string;
  beforeAll(() => {
    nanModel = join(root, 'nan-model');
    cpSync(witModel, nanModel, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(nanModel, 'model.json'), 'utf8'));
    const weightsList = manifest.weightsManifest[0].weights as Array<{ name: string; shape: number[] }>;
    let at = 0;
    for (const w of weightsList) {
      if (w.name === 'text_projection') break;
      at += 4 * w.shape.reduce((a, d) => a * d, 1);
    }
    const bin = readFileSync(join(nanModel, 'model.weights.bin'));
    bin.writeFloatLE(NaN, at + 4 * 3);
    writeFileSync(join(nanModel, 'model.weights.bin'), bin);
  });

  test('wit model export refuses the model, naming the tensor, and writes nothing', async () => {
    const out = join(root, 'nan-export');
    const r = await runWit(['model', 'export', '--model', nanModel, '--out', out]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toMatch(/^wit model export: \S+model\.weights\.bin: tensor text_projection holds 1 non-finite value of 512 \(NaN at index 3\)/);
    expect(existsSync(join(out, 'open_clip_model.safetensors'))).toBe(false);
  }, 600_000);

  test('wit filter refuses it instead of scoring every pair 0 and dropping them all with exit 0', async () => {
    await writeShapeShards(join(root, 'fshards'), { perClass: 1, shards: 1 });
    const out = join(root, 'nan-filter');
    const r = await runWit(['filter', '--shards', join(root, 'fshards'), '--out', out, '--model', nanModel, '--min-similarity', '0.1', '--backend', 'wasm', '--no-dedup'], { timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^wit filter: .*model\.weights\.bin: tensor text_projection holds 1 non-finite value of 512/m);
    expect(existsSync(out) ? readdirSync(out).filter((f) => f.endsWith('.parquet')) : []).toEqual([]);
  }, 600_000);

  test('a weights manifest that points outside the model directory is refused', async () => {
    const dir = join(root, 'escape-model');
    cpSync(witModel, dir, { recursive: true });
    const m = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    m.weightsManifest[0].paths = ['../wit/model.weights.bin'];
    writeFileSync(join(dir, 'model.json'), JSON.stringify(m));
    const r = await runWit(['model', 'export', '--model', dir, '--out', join(root, 'escape-out')]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/model\.json: weightsManifest\[0\] names the file "\.\.\/wit\/model\.weights\.bin"; weights files must sit next to the manifest/);
  }, 600_000);
});

describe('wit model import takes an export folder; no library banners', () => {
  test('wit model import EXPORT_DIR --out finds config, weights and the exported vocabulary', async () => {
    const out = join(root, 'from-folder');
    const r = await runWit(['model', 'import', exported, '--out', out, '--json'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ arch: 'open_clip_config', tensors: expect.any(Number) });
    expect(existsSync(join(out, 'model.json'))).toBe(true);
  }, 600_000);

  test('--weights and --config without --vocab find bpe_vocab.txt.gz next to them', async () => {
    const dir = join(root, 'loose');
    mkdirSync(dir);
    for (const f of ['open_clip_model.safetensors', 'open_clip_config.json', 'bpe_vocab.txt.gz']) copyFileSync(join(exported, f), join(dir, f));
    const r = await runWit(['model', 'import', '--weights', join(dir, 'open_clip_model.safetensors'), '--config', join(dir, 'open_clip_config.json'), '--out', join(root, 'loose-out')]);
    expect(r.code, r.stderr).toBe(0);
  }, 600_000);

  test('a folder without weights, a file for a folder, and no input at all are one-line errors', async () => {
    const empty = join(root, 'empty-folder');
    mkdirSync(empty);
    const a = await runWit(['model', 'import', empty, '--out', join(root, 'e1')]);
    expect(a.code).toBe(2);
    expect(a.stderr.trim()).toBe(`wit model import: ${empty}: cannot tell which weights to import: no open_clip_model.safetensors or model.safetensors; pass --weights FILE.safetensors`);
    const b = await runWit(['model', 'import', config(), '--out', join(root, 'e2')]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/open_clip_config\.json: not a folder/);
    const c = await runWit(['model', 'import', '--out', join(root, 'e3')]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/needs the folder to import \(wit model import DIR --out OUT\), or --weights and --config/);
  }, 600_000);

  test("wit model export prints no TensorFlow.js banner", () => {
    expect(exportStderr).not.toMatch(/Hi, looks like/);
    expect(exportStderr).not.toMatch(/=====/);
  });
});
