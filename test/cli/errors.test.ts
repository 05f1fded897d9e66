/**
 * Every failure path is one clear line and a non-zero exit, prefixed by the command the user ran:
 * an --out that cannot be written, for every command; errors raised by a library stage (the model
 * loader is `train`'s) under `wit eval` and `wit filter`; and the live crawl counts the `<img>` it drops.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/train/backend/index.js';
import { resolveArch, withOverrides } from '../../src/train/config.js';
import { ClipModel } from '../../src/train/model.js';
import { saveModelDir } from '../../src/train/model-dir.js';
import { trainTokenizer } from '../../src/train/tokenizer.js';
import { writeShapeShards } from '../train/synthetic-shards.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { makeWarc } from '../helpers/warc.js';
import { runWit } from '../crawl/run-wit.js';

let root: string;
let shards: string;
let model: string;
let blocker: string;

beforeAll(async () => {
  await initBackend('cpu');
  root = mkdtempSync(join(tmpdir(), 'wit-errors-'));
  shards = join(root, 'shards');
  const { captions } = await writeShapeShards(shards, { perClass: 2, shards: 1 });
  const tokenizer = trainTokenizer(captions, { vocabSize: 600, contextLength: 8 });
  const cfg = withOverrides(resolveArch('vit-micro'), { contextLength: 8 });
  cfg.text.vocab_size = tokenizer.vocabSize;
  const clip = ClipModel.create(cfg, 'clip', 0);
  model = join(root, 'model');
  await saveModelDir(model, clip, tokenizer);
  clip.dispose();
  // --out paths below this plain file cannot be created
  blocker = join(root, 'a-file');
  writeFileSync(blocker, 'not a folder\n');
  writeFileSync(join(root, 'queries.txt'), 'cat\n');
  writeFileSync(join(root, 'pageviews-20240101-000000'), 'en Red_Circle 100 0\nen Blue_Square 90 0\n');
  writeFileSync(join(root, 'pages.warc'), await makeWarc([{ url: 'http://example.com/', body: '<img src="http://127.0.0.1:9/a.jpg" alt="a cat">' }]));
}, 600_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The lines of stderr that are not progress (progress lines start with the stage and a colon, not "wit "). */
function failureLines(stderr: string): string[] {
  return stderr.trim().split('\n').filter((l) => /^wit /.test(l) || /^\s+at /.test(l) || /Error\b/.test(l));
}

/** Asserts one failure line for `command`, naming `path`, and no stack trace. */
function expectOneLine(r: { code: number | null; stderr: string }, command: string, path?: string): string {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code, r.stderr).not.toBeNull();
  const lines = failureLines(r.stderr);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]!.startsWith(`wit ${command}: `), r.stderr).toBe(true);
  if (path) expect(lines[0]).toContain(path);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

describe('an --out that cannot be written: one line, no stack trace, for every command', () => {
  const cases: Array<[string, (out: string) => string[]]> = [
    ['querygen', (out) => ['querygen', '--pageviews', join(root, 'pageviews-20240101-000000'), '--wordnet', 'none', '--min-count', '1', '--out', join(out, 'q.tsv')]],
    ['crawl', (out) => ['crawl', '--queries', join(root, 'queries.txt'), '--input', join(root, 'pages.warc'), '--out', out]],
    ['train', (out) => ['train', '--shards', shards, '--out', out, '--arch', 'vit-micro', '--epochs', '1', '--backend', 'wasm']],
    ['filter', (out) => ['filter', '--shards', shards, '--out', out]],
    ['eval', (out) => ['eval', '--model', model, '--shards', shards, '--backend', 'wasm', '--out', join(out, 'eval.json')]],
    ['embed', (out) => ['embed', '--model', model, '--shards', shards, '--backend', 'wasm', '--out', out]],
    ['report', (out) => ['report', '--run', shards, '--out', join(out, 'report.html')]],
    ['model export', (out) => ['model', 'export', '--model', model, '--out', out]],
    ['demo', (out) => ['demo', '--out', out]],
  ];
  for (const [command, args] of cases) {
    it(`wit ${command}`, async () => {
      const out = join(blocker, command.replace(/ /g, '-'));
      const r = await runWit(args(out), { timeoutMs: 120_000 });
      const line = expectOneLine(r, command, blocker);
      if (!/^wit embed/.test(line)) {
        expect(r.code).toBe(2);
        expect(line).toMatch(/a part of the path is a file, not a folder|not a directory/i);
      }
    }, 600_000);
  }
});

describe('an --out that cannot be written: wit model import', () => {
  it('names the folder it could not create, not a temporary name', async () => {
    const exported = join(root, 'exported-ok');
    const e = await runWit(['model', 'export', '--model', model, '--out', exported], { timeoutMs: 120_000 });
    expect(e.code, e.stderr).toBe(0);
    const out = join(blocker, 'imported');
    const r = await runWit(['model', 'import', '--weights', join(exported, 'open_clip_model.safetensors'), '--config', join(exported, 'open_clip_config.json'),
      '--vocab', join(exported, 'bpe_vocab.txt.gz'), '--out', out], { timeoutMs: 120_000 });
    expect(r.code).toBe(2);
    const line = expectOneLine(r, 'model import', out);
    expect(line).not.toMatch(/\.tmp-/);
  }, 600_000);
});

describe('the prefix names the command that ran, not the library stage', () => {
  it('wit eval and wit filter with a folder that is not a model', async () => {
    const notModel = join(root, 'not-a-model');
    mkdirSync(notModel, { recursive: true });
    const e = await runWit(['eval', '--model', notModel, '--shards', shards, '--backend', 'wasm'], { timeoutMs: 120_000 });
    expect(e.code).toBe(2);
    const line = expectOneLine(e, 'eval', notModel);
    expect(line).not.toMatch(/\btrain:/);
    const f = await runWit(['filter', '--model', notModel, '--shards', shards, '--out', join(root, 'filtered')], { timeoutMs: 120_000 });
    expect(f.code).toBe(2);
    expect(expectOneLine(f, 'filter', notModel)).not.toMatch(/\btrain:/);
  }, 600_000);

  it('wit model export names its subcommand', async () => {
    const r = await runWit(['model', 'export', '--model', join(root, 'nope'), '--out', join(root, 'exported')], { timeoutMs: 120_000 });
    expect(r.code).toBe(2);
    expect(expectOneLine(r, 'model export', join(root, 'nope'))).not.toMatch(/\btrain:/);
  }, 600_000);
});

describe('the live crawl counts what it drops', () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer(); });
  afterAll(async () => { await srv.close(); });

  it('an over-long <img> attribute and images past the per-page cap are bad_items, not silently gone', async () => {
    const longAlt = 'a cat '.repeat(12_000); // 72 KB, over the 64 KiB attribute cap
    const many = Array.from({ length: 1005 }, (_, i) => `<img src="/img/n${i}.jpg" alt="picture ${i}">`).join('');
    srv.setPage('/long.html', `<html><body><img src="/img/a.jpg?w=40&h=40" alt="${longAlt}"><img src="/img/b.jpg?w=40&h=40" alt="a small cat"></body></html>`);
    srv.setPage('/many.html', `<html><body>${many}</body></html>`);
    const out = join(root, 'live');
    const r = await runWit(['crawl', '--queries', join(root, 'queries.txt'), '--input', srv.url('/long.html'), srv.url('/many.html'), '--out', out,
      '--allow-private-network', '--max-depth', '0', '--retries', '0', '--image-size', '16', '--json'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.bad_items).toMatchObject({ long_attribute: 1, too_many_images: 1 });
    expect(s.pages).toMatchObject({ ok: 2 });
    expect(s.kept).toBe(1);
    // 1 from the first page, 1000 (the cap) from the second
    expect(s.candidates).toBe(1001);
  }, 600_000);
});
