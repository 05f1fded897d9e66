import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ShardWriter, shardPath, writeManifest } from '../../src/shards/index.js';
import { runWit } from '../crawl/run-wit.js';
import { writeEmojiShards } from '../helpers/emoji-shards.js';
import { sharedWitModel } from '../model/wit-model.js';

/**
 * Every command claims its --out through src/util/output.ts (docs/ARCHITECTURE.md, "Claiming an
 * output"). Each test here is a defect of issue 20 that failed before the claim existed.
 */

let root: string;
let model: string;
let exported: string;
let shards: string;
let tars: string;

/** A hash of everything under a path (names, kinds and file bytes): "nothing changed" is an equal hash. */
function treeHash(p: string): string {
  const h = createHash('sha256');
  const walk = (x: string): void => {
    const st = lstatSync(x);
    h.update(`${relative(p, x)}|${st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : 'o'}|`);
    if (st.isFile()) h.update(readFileSync(x));
    if (st.isDirectory()) for (const n of readdirSync(x).sort()) walk(join(x, n));
  };
  walk(p);
  return h.digest('hex');
}

const importArgs = (weights: string, out: string, dir = exported) =>
  ['model', 'import', '--weights', weights, '--config', join(dir, 'open_clip_config.json'), '--vocab', join(dir, 'bpe_vocab.txt.gz'), '--out', out];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wit-claim-cli-'));
  // the model and its export are shared with other files (test/helpers/shared-fixtures.ts): read-only here
  ({ model, exported } = await sharedWitModel());
  shards = join(root, 'shards');
  await writeEmojiShards(shards, { sets: ['google'], limit: 8, size: 32, perShard: 4 });
  tars = join(root, 'tars');
  const c = await runWit(['convert', '--shards', shards, '--output-format', 'webdataset', '--out', tars]);
  expect(c.code, c.stderr).toBe(0);
}, 600_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('model import --out', () => {
  test('a regular file is kept and the import exits 2', async () => {
    const f = join(root, 'precious.txt');
    writeFileSync(f, 'not yours\n');
    const r = await runWit(importArgs(join(exported, 'open_clip_model.safetensors'), f));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^wit model import: .*precious\.txt: is a regular file, not a folder/);
    expect(readFileSync(f, 'utf8')).toBe('not yours\n');
  });

  test('a FIFO (a device-like path) is kept and the import exits 2', async () => {
    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const r = await runWit(importArgs(join(exported, 'open_clip_model.safetensors'), fifo));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/fifo: is a FIFO \(named pipe\), not a folder/);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  test('a symbolic link to a file is kept, and so is its target', async () => {
    const target = join(root, 'target.txt');
    writeFileSync(target, 'keep me\n');
    const link = join(root, 'link');
    symlinkSync(target, link);
    const r = await runWit(importArgs(join(exported, 'open_clip_model.safetensors'), link));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/link: is a symbolic link to a regular file, not a folder/);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('keep me\n');
  });

  test('a folder of another command is refused, naming what it holds', async () => {
    const r = await runWit(importArgs(join(exported, 'open_clip_model.safetensors'), tars));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tars: holds a convert run, not a model import run/);
  });
});

describe('model export is published as one set', () => {
  test('killed between files: no folder import accepts; the rerun sweeps the leftover and completes', async () => {
    const out = join(root, 'killed-export');
    const killed = await runWit(['model', 'export', '--model', model, '--out', out], { env: { WIT_TEST_KILL_AT: 'model-export:weights-written' } });
    expect(killed.code).toBe(null); // SIGKILL
    expect(existsSync(out)).toBe(false);
    const leftovers = readdirSync(root).filter((n) => n.startsWith('.killed-export.wit-tmp-'));
    expect(leftovers).toHaveLength(1);
    const partial = join(root, leftovers[0]!);
    expect(existsSync(join(partial, 'open_clip_model.safetensors'))).toBe(true);
    // The weights of the partial set are refused even when named directly.
    const imp = await runWit(importArgs(join(partial, 'open_clip_model.safetensors'), join(root, 'from-partial')));
    expect(imp.code).toBe(2);
    expect(imp.stderr).toMatch(/is in a partial export/);
    expect(existsSync(join(root, 'from-partial'))).toBe(false);
    const again = await runWit(['model', 'export', '--model', model, '--out', out]);
    expect(again.code, again.stderr).toBe(0);
    expect(readdirSync(root).filter((n) => n.startsWith('.killed-export.wit-'))).toEqual([]);
    expect(readdirSync(out).sort()).toEqual(['.wit-output.json', 'bpe_vocab.txt.gz', 'open_clip_config.json', 'open_clip_model.safetensors', 'wit-export.json']);
    const back = await runWit(importArgs(join(out, 'open_clip_model.safetensors'), join(root, 'from-complete'), out));
    expect(back.code, back.stderr).toBe(0);
  }, 600_000);

  test('a rerun replaces its own earlier export, but not a folder where someone added a file', async () => {
    const out = join(root, 'export-twice');
    expect((await runWit(['model', 'export', '--model', model, '--out', out])).code).toBe(0);
    expect((await runWit(['model', 'export', '--model', model, '--out', out])).code).toBe(0);
    writeFileSync(join(out, 'notes.txt'), 'mine\n');
    const r = await runWit(['model', 'export', '--model', model, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/notes\.txt, which wit did not write/);
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine\n');
  }, 600_000);
});

describe('convert --out', () => {
  test("into another run's folder: refused, nothing changed", async () => {
    const other = join(root, 'other-crawl');
    for (const s of [0, 1]) {
      const w = await ShardWriter.open(shardPath(other, s, '', 'webdataset'), { imageFormat: 'png' });
      await w.close({ note: 'another run' });
    }
    await writeManifest(other, { stage: 'crawl', version: '0', created: 'then', options: {}, inputs: ['x'], shards: ['00000.tar', '00001.tar'], totals: { kept: 0 } });
    const before = treeHash(other);
    const r = await runWit(['convert', '--shards', shards, '--output-format', 'webdataset', '--out', other]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/other-crawl: holds a crawl run, not a convert run/);
    expect(treeHash(other)).toBe(before);
  });

  test('tars -> Parquet into the input folder: refused, nothing changed', async () => {
    const before = treeHash(tars);
    const r = await runWit(['convert', '--shards', tars, '--output-format', 'parquet', '--out', tars]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tars: is also an input/);
    expect(treeHash(tars)).toBe(before);
  });

  test('a folder inside the input is refused before it is made', async () => {
    const inner = join(tars, 'pq');
    const r = await runWit(['convert', '--shards', tars, '--output-format', 'parquet', '--out', inner]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/lies inside the input/);
    expect(existsSync(inner)).toBe(false);
  });

  test('its own earlier run resumes', async () => {
    const r = await runWit(['convert', '--shards', shards, '--output-format', 'webdataset', '--out', tars, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ shards: 0, skipped_shards: 2 });
  });

  // Issue 26, class 5: a stopped convert left a tar under its final name without its stats (read as
  // complete later) and its .NNNNN.tar.tmp-PID after a successful rerun.
  test('killed between a shard\'s stats and its final name: no tar without stats; the rerun finishes and leaves no temporary', async () => {
    const out = join(root, 'killed-tars');
    const killed = await runWit(['convert', '--shards', shards, '--output-format', 'webdataset', '--out', out], { env: { WIT_TEST_KILL_AT: 'shards:stats-written' } });
    expect(killed.code, killed.stderr).toBe(null); // SIGKILLed at the hook
    const names = readdirSync(out);
    expect(names.filter((n) => n.endsWith('.tar')), 'a tar under its final name without its stats').toEqual([]);
    expect(names.filter((n) => /^\.\d{5}\.tar\.tmp-\d+@[0-9a-f]{8}$/.test(n))).toHaveLength(1);
    // A reader finds no finished shard there.
    const early = await runWit(['convert', '--shards', out, '--output-format', 'parquet', '--out', join(root, 'from-killed')]);
    expect(early.code).toBe(2);
    const again = await runWit(['convert', '--shards', shards, '--output-format', 'webdataset', '--out', out, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ shards: 2, pairs: 8 });
    expect(readdirSync(out).filter((n) => n.includes('.tmp-')), 'temporaries of the killed run').toEqual([]);
    expect(existsSync(join(root, '.killed-tars.wit-lock'))).toBe(false);
  });

  test('a tar without its stats file (an older wit stopped by a full disk) is never read as finished', async () => {
    const cut = join(root, 'cut-tars');
    execFileSync('cp', ['-r', tars, cut]);
    const stats = readdirSync(cut).filter((n) => n.endsWith('_stats.json')).sort();
    rmSync(join(cut, stats.at(-1)!));
    const r = await runWit(['convert', '--shards', cut, '--output-format', 'parquet', '--out', join(root, 'from-cut')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`cut-tars/${stats.at(-1)!.replace('_stats.json', '')}\\.tar: an unfinished shard: its completion record ${stats.at(-1)} is missing`));
    expect(existsSync(join(root, 'from-cut'))).toBe(false);
    const t = await runWit(['train', '--shards', cut, '--arch', 'vit-micro', '--steps', '1', '--batch-size', '4', '--backend', 'wasm', '--out', join(root, 'cut-model')]);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/an unfinished shard/);
  });
});

describe('embed --out', () => {
  test('a non-empty folder wit did not make is refused, nothing changed', async () => {
    const foreign = join(root, 'photos');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'holiday.jpg'), 'jpeg bytes');
    const before = treeHash(foreign);
    const r = await runWit(['embed', '--model', model, '--shards', shards, '--out', foreign]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/photos: is not empty and was not made by wit/);
    expect(treeHash(foreign)).toBe(before);
  });
});

describe('eval --out (MODEL/eval.json is what the report shows)', () => {
  test('an evaluation of other shards is not replaced without --overwrite; a file that is no eval summary neither', async () => {
    const out = join(root, 'eval.json');
    const first = await runWit(['eval', '--model', model, '--shards', shards, '--out', out, '--backend', 'cpu']);
    expect(first.code, first.stderr).toBe(0);
    const before = readFileSync(out, 'utf8');
    const other = join(root, 'other-heldout');
    await writeEmojiShards(other, { sets: ['openmoji'], limit: 4, size: 32, perShard: 4 });
    const refused = await runWit(['eval', '--model', model, '--shards', other, '--out', out, '--backend', 'cpu']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/eval\.json: holds the evaluation on other shards .*--overwrite to replace it/);
    expect(readFileSync(out, 'utf8')).toBe(before);
    // The same shards again: a rerun replaces it.
    const rerun = await runWit(['eval', '--model', model, '--shards', shards, '--out', out, '--backend', 'cpu']);
    expect(rerun.code, rerun.stderr).toBe(0);
    const forced = await runWit(['eval', '--model', model, '--shards', other, '--out', out, '--backend', 'cpu', '--overwrite']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).shards).toEqual([other]);
    const notes = join(root, 'notes.json');
    writeFileSync(notes, '{"mine": true}\n');
    const r = await runWit(['eval', '--model', model, '--shards', shards, '--out', notes, '--backend', 'cpu']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/notes\.json: exists and holds JSON \(\d+ bytes\), not a wit eval summary/);
    expect(readFileSync(notes, 'utf8')).toBe('{"mine": true}\n');
  }, 600_000);

  test('a FIFO as --out is refused', async () => {
    const fifo = join(root, 'eval-fifo');
    execFileSync('mkfifo', [fifo]);
    const r = await runWit(['eval', '--model', model, '--shards', shards, '--out', fifo]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/eval-fifo: is not a regular file \(a FIFO \(named pipe\)\)/);
    expect(statSync(fifo).isFIFO()).toBe(true);
  });
});
