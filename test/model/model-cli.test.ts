import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, truncateSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadClip } from '../../src/train/clip.js';
import { SafetensorsReader, writeSafetensors } from '../../src/model/safetensors.js';
import { runWit } from '../crawl/run-wit.js';
import { makeWitModel, PLAIN_CAPTIONS } from './wit-model.js';

/** The CLI round trip and its bad inputs, with Node alone (the PyTorch checks are in openclip.test.ts). */

let root: string;
let exported: string;
const weights = (): string => join(exported, 'open_clip_model.safetensors');
const config = (): string => join(exported, 'open_clip_config.json');
const vocab = (): string => join(exported, 'bpe_vocab.txt.gz');

async function importWith(args: Record<string, string>, out: string) {
  const a = { weights: weights(), config: config(), vocab: vocab(), ...args };
  return runWit(['model', 'import', '--weights', a.weights, '--config', a.config, '--vocab', a.vocab, '--out', out]);
}

async function rewrite(src: string, dst: string, edit: (names: string[]) => Array<{ name: string; from?: string; shape?: number[] }>): Promise<void> {
  const r = await SafetensorsReader.open(src);
  const items = edit([...r.entries.keys()]).map((e) => {
    const from = r.entries.get(e.from ?? e.name)!;
    return { name: e.name, shape: e.shape ?? from.shape, data: () => r.read(from.name) };
  });
  await writeSafetensors(dst, items);
  await r.close();
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wit-model-cli-'));
  await makeWitModel(join(root, 'wit'));
  exported = join(root, 'exported');
  const r = await runWit(['model', 'export', '--model', join(root, 'wit'), '--out', exported, '--json']);
  expect(r.code, r.stderr).toBe(0);
}, 600_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('wit model export/import round trip (Node only)', () => {
  test('export writes open_clip files in torch layout, and the tokenizer note', async () => {
    const cfg = JSON.parse(readFileSync(config(), 'utf8'));
    expect(cfg.model_cfg).toMatchObject({ embed_dim: 16, quick_gelu: true, vision_cfg: { image_size: 32, patch_size: 8, width: 32, head_width: 8, layers: 2 }, text_cfg: { context_length: 12, width: 32, heads: 4 } });
    expect(cfg.preprocess_cfg).toMatchObject({ interpolation: 'bicubic', resize_mode: 'shortest' });
    const r = await SafetensorsReader.open(weights());
    expect(r.entries.get('visual.conv1.weight')!.shape).toEqual([32, 3, 8, 8]);
    expect(r.entries.get('visual.transformer.resblocks.0.mlp.c_fc.weight')!.shape).toEqual([128, 32]);
    // wit's [PAD] row is dropped: CLIP's vocabulary is one smaller.
    expect(r.entries.get('token_embedding.weight')!.shape).toEqual([cfg.model_cfg.text_cfg.vocab_size, 32]);
    await r.close();
    const again = await runWit(['model', 'export', '--model', join(root, 'wit'), '--out', join(root, 'exported2')]);
    expect(again.code).toBe(0);
    // a tokenizer of version 2 (what wit train writes) tokenizes as open_clip: no note, and how to load it there
    expect(again.stderr).not.toMatch(/note:/);
    expect(again.stderr).toContain(`get_tokenizer('local-dir:${join(root, 'exported2')}')`);
    // one trained by an older wit (version 1, or no version field) says which captions differ
    const old = join(root, 'wit-v1');
    cpSync(join(root, 'wit'), old, { recursive: true });
    const tok = JSON.parse(readFileSync(join(old, 'tokenizer.json'), 'utf8'));
    delete tok.version;
    writeFileSync(join(old, 'tokenizer.json'), JSON.stringify(tok));
    const v1 = await runWit(['model', 'export', '--model', old, '--out', join(root, 'exported-v1'), '--json']);
    expect(v1.code, v1.stderr).toBe(0);
    expect(JSON.parse(v1.stdout).tokenizer_note).toMatch(/version 1.*curly quotes, entities, mojibake/);
  });

  test('import of the export gives the same image and text embeddings (wit BPE -> CLIP BPE ids)', async () => {
    const r = await importWith({}, join(root, 'back'));
    expect(r.code, r.stderr).toBe(0);
    const a = await loadClip(join(root, 'wit'), { backend: 'wasm', decodeWorkers: 0 });
    const b = await loadClip(join(root, 'back'), { backend: 'keep', decodeWorkers: 0 });
    const px = [new Uint8Array(32 * 32 * 3).map((_, i) => (i * 37) % 256), new Uint8Array(32 * 32 * 3).map((_, i) => (i * 11) % 251)];
    const [ia, ib] = [await a.embedPixels(px), await b.embedPixels(px)];
    const [ta, tb] = [await a.embedTexts(PLAIN_CAPTIONS), await b.embedTexts(PLAIN_CAPTIONS)];
    for (let i = 0; i < px.length; i++) for (let j = 0; j < 16; j++) expect(Math.abs(ia[i]![j]! - ib[i]![j]!)).toBeLessThan(1e-5);
    for (let i = 0; i < PLAIN_CAPTIONS.length; i++) for (let j = 0; j < 16; j++) expect(Math.abs(ta[i]![j]! - tb[i]![j]!)).toBeLessThan(1e-5);
    expect(b.config.tokenizer.type).toBe('clip-bpe');
    await a.dispose();
    await b.dispose();
  }, 600_000);

  test('import refuses a non-empty --out', async () => {
    const r = await importWith({}, join(root, 'wit'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already holds a model import run/);
  });
});

describe('wit model import: bad input names the file and the first offending key', () => {
  test('missing key', async () => {
    const f = join(root, 'missing.safetensors');
    await rewrite(weights(), f, (names) => names.filter((n) => n !== 'visual.ln_pre.bias').map((name) => ({ name })));
    const r = await importWith({ weights: f }, join(root, 'x1'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing\.safetensors.*missing key visual\.ln_pre\.bias \(the config needs shape \[32\]\)/);
    expect(existsSync(join(root, 'x1'))).toBe(false);
  });
  test('extra key', async () => {
    const f = join(root, 'extra.safetensors');
    await rewrite(weights(), f, (names) => [...names.map((name) => ({ name })), { name: 'visual.head.weight', from: 'visual.ln_pre.bias' }]);
    const r = await importWith({ weights: f }, join(root, 'x2'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/extra\.safetensors.*unexpected key visual\.head\.weight \(shape \[32\]\)/);
  });
  test('shape mismatch names both shapes', async () => {
    const cfg = JSON.parse(readFileSync(config(), 'utf8'));
    cfg.model_cfg.vision_cfg.image_size = 40;
    const f = join(root, 'bigger.json');
    writeFileSync(f, JSON.stringify(cfg));
    const r = await importWith({ config: f }, join(root, 'x3'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/key visual\.positional_embedding has shape \[17,32\] but the config needs \[26,32\]/);
  });
  test('truncated file and bad header name the file', async () => {
    const t = join(root, 'cut.safetensors');
    copyFileSync(weights(), t);
    truncateSync(t, readFileSync(t).length - 100);
    const r1 = await importWith({ weights: t }, join(root, 'x4'));
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/cut\.safetensors: truncated: tensor \S+ ends at byte \d+ but the file has \d+ bytes/);
    const g = join(root, 'garbage.safetensors');
    writeFileSync(g, Buffer.concat([Buffer.from([20, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a": not json at all')]));
    const r2 = await importWith({ weights: g }, join(root, 'x5'));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/garbage\.safetensors: not a valid safetensors file: header is not JSON/);
  });
  test("vocab size that does not match the config's vocab_size", async () => {
    const cfg = JSON.parse(readFileSync(config(), 'utf8'));
    cfg.model_cfg.text_cfg.vocab_size += 5;
    const f = join(root, 'vocab.json');
    writeFileSync(f, JSON.stringify(cfg));
    const r = await importWith({ config: f }, join(root, 'x6'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bpe_vocab\.txt\.gz: vocabulary has \d+ ids \(\d+ merges\) but the model config's vocab_size is \d+/);
  });
  test.each([
    ['ResNet', { embed_dim: 1024, vision_cfg: { image_size: 224, layers: [3, 4, 6, 3], width: 64 }, text_cfg: {} }, /ResNet image tower/],
    ['ConvNeXt (timm)', { embed_dim: 640, vision_cfg: { timm_model_name: 'convnext_base', image_size: 224 }, text_cfg: {} }, /timm image tower \(convnext_base/],
    ['CoCa', { embed_dim: 512, multimodal_cfg: { width: 512 }, vision_cfg: {}, text_cfg: {} }, /CoCa/],
    ['attentional pooling', { embed_dim: 512, vision_cfg: { attentional_pool: true }, text_cfg: {} }, /vision_cfg\.attentional_pool = true/],
  ])('unsupported architecture: %s is a clear error listing what is supported', async (_n, cfg, msg) => {
    const f = join(root, 'unsupported.json');
    writeFileSync(f, JSON.stringify(cfg));
    const r = await importWith({ config: f }, join(root, 'x7'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).toMatch(/not supported; wit runs ViT image towers \(ViT-B\/32, ViT-B\/16, ViT-L\/14/);
  });
});

describe('wit model export: what open_clip cannot express is an error', () => {
  test.each([
    ['tanh GELU', { act: 'gelu' as const }, /tanh-approximated GELU/],
    ['ResNet tower', { vision: { type: 'resnet' as const, image_size: 32, width: 8, stages: [1, 1], heads: 2 } }, /ResNet with GroupNorm/],
  ])('%s', async (_n, overrides, msg) => {
    const dir = join(root, `bad-${_n.replace(/\W/g, '')}`);
    await makeWitModel(dir, overrides);
    const out = join(root, `bad-out-${_n.replace(/\W/g, '')}`);
    const r = await runWit(['model', 'export', '--model', dir, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(existsSync(join(out, 'open_clip_model.safetensors'))).toBe(false);
  }, 600_000);
});
