/**
 * Every command reads its inputs through src/util/input.ts: devices refused, limits per kind with
 * --max-input-size, decompression bombs stopped in bounded memory (peak RSS measured in the child),
 * tar members over the limit refused without a native abort, and a 0-byte tar the same error in
 * every command that reads shards.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveArch } from '../../src/train/config.js';
import { toOpenClipConfig } from '../../src/model/openclip-config.js';
import { makeWitModel } from '../model/wit-model.js';
import { runWitMeasured } from '../helpers/peak-rss.js';
import { gzipZerosBomb, sparseTar, zstdRleBomb } from '../helpers/bombs.js';
import { writeShapeShards } from '../train/synthetic-shards.js';

let root: string;
let model: string;
let openclipConfig: string;
let shards: string;
const RSS_BOUND_MB = 600;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wit-input-cli-'));
  model = join(root, 'model');
  await makeWitModel(model);
  shards = join(root, 'shards');
  await writeShapeShards(shards, { perClass: 1, shards: 1 });
  openclipConfig = join(root, 'open_clip_config.json');
  writeFileSync(openclipConfig, JSON.stringify(toOpenClipConfig(resolveArch('vit-micro'), 'clip', 'test')));
}, 600_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The one error line: `wit COMMAND: …`, no stack. */
function oneLine(stderr: string, command: string): string {
  const lines = stderr.trim().split('\n').filter((l) => l.startsWith('wit '));
  expect(lines.length, stderr).toBeGreaterThan(0);
  expect(stderr).not.toMatch(/\n\s+at /);
  const last = lines[lines.length - 1]!;
  expect(last.startsWith(`wit ${command}: `), last).toBe(true);
  return last;
}

describe('regular files only', () => {
  it('/dev/zero as search --image, model import --vocab and eval --labels: exit 2 naming it, in bounded memory', async () => {
    const cases: [string, string[]][] = [
      ['search', ['search', '--index', join(root, 'no-index'), '--image', '/dev/zero']],
      ['model import', ['model', 'import', '--config', openclipConfig, '--weights', join(root, 'none.safetensors'), '--vocab', '/dev/zero', '--out', join(root, 'imp')]],
      ['eval', ['eval', '--model', model, '--shards', shards, '--labels', '/dev/zero', '--out', join(root, 'e.json'), '--backend', 'wasm']],
    ];
    for (const [cmd, args] of cases) {
      const r = await runWitMeasured(args);
      expect(r.code, r.stderr).toBe(2);
      expect(oneLine(r.stderr, cmd)).toMatch(/\/dev\/zero: is a character device, not a regular file/);
      expect(r.rssMB).toBeLessThan(RSS_BOUND_MB); // before: /dev/zero was read until memory ran out (12 GB)
    }
  }, 600_000);

  it('a folder or FIFO as --vocab is refused the same way', async () => {
    const fifo = join(root, 'vocab.fifo');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    const folder = join(root, 'vocab-folder');
    mkdirSync(folder);
    for (const [vocab, what] of [[folder, 'is a folder, not a file'], [fifo, 'is a FIFO']] as const) {
      const r = await runWitMeasured(['model', 'import', '--config', openclipConfig, '--weights', join(root, 'none.safetensors'), '--vocab', vocab, '--out', join(root, 'imp2')], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(oneLine(r.stderr, 'model import')).toContain(what);
    }
  }, 600_000);
});

describe('decompression bombs', () => {
  it('a gzip-bomb vocabulary (1 MB -> 1 GiB) stops at the vocab limit, in bounded memory; --max-input-size names the kind', async () => {
    const bomb = join(root, 'bpe_simple_vocab_16e6.txt.gz');
    writeFileSync(bomb, await gzipZerosBomb(16));
    const r = await runWitMeasured(['model', 'import', '--config', openclipConfig, '--weights', join(root, 'none.safetensors'), '--vocab', bomb, '--out', join(root, 'imp3')]);
    expect(r.code, r.stderr).toBe(2);
    expect(oneLine(r.stderr, 'model import')).toMatch(/bpe_simple_vocab_16e6\.txt\.gz: decompresses to more than 64 MiB, over the vocab limit of 64 MiB \(raise it with --max-input-size vocab=SIZE\)/);
    expect(r.rssMB).toBeLessThan(RSS_BOUND_MB); // before: gunzipSync of all of it (6 GB for 13 MB)
    const lower = await runWitMeasured(['model', 'import', '--max-input-size', 'vocab=1MiB', '--config', openclipConfig, '--weights', join(root, 'none.safetensors'), '--vocab', bomb, '--out', join(root, 'imp3')]);
    expect(oneLine(lower.stderr, 'model import')).toMatch(/over the vocab limit of 1 MiB/);
    const bad = await runWitMeasured(['model', 'import', '--max-input-size', 'vocabs=1MiB', '--config', openclipConfig, '--weights', 'x', '--out', join(root, 'imp3')]);
    expect(bad.code).toBe(2);
    expect(oneLine(bad.stderr, 'model import')).toMatch(/unknown kind 'vocabs'/);
  }, 600_000);

  it('a 32 KB zstd url list that decompresses to 1 GB is read in bounded memory', async () => {
    const bomb = join(root, 'urls.txt.zst');
    writeFileSync(bomb, zstdRleBomb(8000)); // 8,000 RLE blocks of 128 KiB
    const r = await runWitMeasured(['crawl', '--input', bomb, '--out', join(root, 'crawl-bomb')], { timeoutMs: 300_000 });
    expect(r.signal).toBeNull();
    expect(r.rssMB, r.stderr).toBeLessThan(RSS_BOUND_MB); // before: 1.1 GB here, 4 GB for the 122 KB file
    // with a url-list limit, the run stops at it with one line naming the file
    const capped = await runWitMeasured(['crawl', '--max-input-size', 'url-list=16MiB', '--input', bomb, '--out', join(root, 'crawl-bomb2')]);
    expect(capped.code, capped.stderr).toBe(2);
    expect(oneLine(capped.stderr, 'crawl')).toMatch(/urls\.txt\.zst: decompresses to more than 16 MiB, over the url-list limit/);
  }, 600_000);
});

describe('shards', () => {
  const readers = (dir: string, tag: string): [string, string[]][] => [
    ['convert', ['convert', '--shards', dir, '--output-format', 'parquet', '--out', join(root, `conv-${tag}`)]],
    ['embed', ['embed', '--model', model, '--shards', dir, '--out', join(root, `idx-${tag}`), '--backend', 'wasm']],
    ['train', ['train', '--shards', dir, '--out', join(root, `train-${tag}`), '--arch', 'vit-micro', '--steps', '1', '--backend', 'wasm']],
    ['eval', ['eval', '--model', model, '--shards', dir, '--out', join(root, `eval-${tag}.json`), '--backend', 'wasm']],
    ['filter', ['filter', '--model', model, '--shards', dir, '--out', join(root, `filt-${tag}`), '--backend', 'wasm']],
  ];

  it('a 0-byte tar is exit 2 naming it in convert, embed, train, eval and filter alike', async () => {
    const dir = join(root, 'empty-tar');
    mkdirSync(dir);
    writeFileSync(join(dir, '00000.tar'), '');
    for (const [cmd, args] of readers(dir, 'empty')) {
      const r = await runWitMeasured(args);
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(2); // before: 0 in convert and embed, 2 in the others
      expect(oneLine(r.stderr, cmd)).toMatch(/00000\.tar: .*the file is empty \(0 bytes\), not a tar/);
    }
  }, 600_000);

  it('a 2 GiB tar member is a clear exit 2 in every reader, no native abort, no temporary file left', async () => {
    const dir = join(root, 'huge-member');
    mkdirSync(dir);
    await sparseTar(join(dir, '00000.tar'), '000000000.jpg', 2 ** 31 + 100); // sparse: nothing written
    for (const [cmd, args] of readers(dir, 'huge')) {
      const r = await runWitMeasured(args);
      expect(r.signal, cmd).toBeNull();
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(2); // before: exit 134 (a native assertion in fs.read)
      expect(oneLine(r.stderr, cmd)).toMatch(/00000\.tar: member "000000000\.jpg" at byte \d+ is 2 GiB \(2147483748 bytes\), over the tar-member limit of 256 MiB \(raise it with --max-input-size tar-member=SIZE\)/);
      expect(r.rssMB).toBeLessThan(RSS_BOUND_MB);
    }
    const out = join(root, 'conv-huge');
    const left = existsSync(out) ? readdirSync(out).filter((n) => n.includes('.tmp')) : [];
    expect(left).toEqual([]);
  }, 600_000);
});
