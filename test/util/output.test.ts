import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { claimOutput, OUTPUT_MARKER, readOutputMarker, sweepLeftovers } from '../../src/util/output.js';

let root: string;
let n = 0;
const fresh = (name = 'p'): string => join(root, `${name}-${n++}`);

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'wit-claim-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The claim's rejection message (UsageError, exit code 2). */
async function refusal(path: string, opts: Parameters<typeof claimOutput>[1]): Promise<string> {
  try {
    await claimOutput(path, opts);
  } catch (err) {
    expect((err as { exitCode?: number }).exitCode).toBe(2);
    return (err as Error).message;
  }
  throw new Error(`claim of ${path} was not refused`);
}

describe('claimOutput: folders', () => {
  test('nothing there: claimed, nothing written until create(), which writes the marker', async () => {
    const p = join(fresh(), 'deep', 'out');
    const c = await claimOutput(p, { command: 'convert' });
    expect(c.found).toBe('new');
    expect(existsSync(p)).toBe(false);
    await c.create();
    const m = await readOutputMarker(p);
    expect(m).toMatchObject({ format: 'wit-output', command: 'convert', complete: true });
    expect((m as { created_by: string }).created_by).toMatch(/^wit \d+\.\d+\.\d+/);
  });

  test('an empty folder is claimed; its own earlier run is claimed again', async () => {
    const p = fresh();
    mkdirSync(p);
    expect((await claimOutput(p, { command: 'crawl' })).found).toBe('empty');
    await (await claimOutput(p, { command: 'crawl' })).create();
    writeFileSync(join(p, '00000.parquet'), 'x');
    expect((await claimOutput(p, { command: 'crawl' })).found).toBe('own');
  });

  test('every kind of non-folder is refused, and left as it was', async () => {
    const file = fresh('file');
    writeFileSync(file, 'data');
    expect(await refusal(file, { command: 'embed' })).toMatch(/file-\d+: is a regular file, not a folder/);
    const fifo = fresh('fifo');
    execFileSync('mkfifo', [fifo]);
    expect(await refusal(fifo, { command: 'embed' })).toMatch(/is a FIFO \(named pipe\), not a folder/);
    expect(await refusal('/dev/null', { command: 'embed' })).toMatch(/\/dev\/null: is a device, not a folder/);
    const sock = fresh('sock');
    const server = createServer();
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      expect(await refusal(sock, { command: 'embed' })).toMatch(/is a socket, not a folder/);
    } finally {
      await new Promise((r) => server.close(r));
    }
    const toFile = fresh('link');
    symlinkSync(file, toFile);
    expect(await refusal(toFile, { command: 'embed' })).toMatch(/is a symbolic link to a regular file, not a folder/);
    const toDev = fresh('link');
    symlinkSync('/dev/null', toDev);
    expect(await refusal(toDev, { command: 'embed' })).toMatch(/is a symbolic link to a device, not a folder/);
    const broken = fresh('link');
    symlinkSync(join(root, 'nowhere'), broken);
    expect(await refusal(broken, { command: 'embed' })).toMatch(/is a broken symbolic link/);
    expect(readFileSync(file, 'utf8')).toBe('data');
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(existsSync(join(root, 'nowhere'))).toBe(false);
  });

  test('a link to a folder is the folder (resolved)', async () => {
    const dir = fresh('real');
    mkdirSync(dir);
    const link = fresh('link');
    symlinkSync(dir, link);
    const c = await claimOutput(link, { command: 'embed' });
    expect(c.path).toBe(dir);
  });

  test('a non-empty folder: foreign, another command, a corrupt marker, a legacy run', async () => {
    const foreign = fresh();
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'a.txt'), 'x');
    expect(await refusal(foreign, { command: 'filter' })).toMatch(/is not empty and was not made by wit/);

    const crawl = fresh();
    await (await claimOutput(crawl, { command: 'crawl' })).create();
    expect(await refusal(crawl, { command: 'convert' })).toMatch(/holds a crawl run, not a convert run/);

    const corrupt = fresh();
    mkdirSync(corrupt);
    writeFileSync(join(corrupt, OUTPUT_MARKER), '{oops');
    expect(await refusal(corrupt, { command: 'crawl' })).toMatch(/unreadable \.wit-output\.json/);

    // Runs of older wit, by their own state files.
    const legacy = (files: Record<string, string>): string => {
      const d = fresh('legacy');
      mkdirSync(d);
      for (const [k, v] of Object.entries(files)) {
        if (k.endsWith('/')) mkdirSync(join(d, k));
        else writeFileSync(join(d, k), v);
      }
      return d;
    };
    const oldCrawl = legacy({ 'manifest.json': JSON.stringify({ stage: 'crawl', complete: false }) });
    expect((await claimOutput(oldCrawl, { command: 'crawl' })).found).toBe('own');
    expect(await refusal(oldCrawl, { command: 'filter' })).toMatch(/holds a crawl run, not a filter run/);
    const oldConvert = legacy({ 'manifest.json': JSON.stringify({ stage: 'crawl', converted_from: { dir: 'x', format: 'parquet' } }) });
    expect((await claimOutput(oldConvert, { command: 'convert' })).found).toBe('own');
    expect(await refusal(oldConvert, { command: 'crawl' })).toMatch(/holds a convert run, not a crawl run/);
    const oldTrain = legacy({ 'metrics.jsonl': '', 'checkpoints/': '' });
    expect((await claimOutput(oldTrain, { command: 'train' })).found).toBe('own');
    const oldIndex = legacy({ 'wit-index.json': '{}' });
    expect((await claimOutput(oldIndex, { command: 'embed' })).found).toBe('own');
    expect((await claimOutput(oldIndex, { command: 'embed merge' })).found).toBe('own');
    const oldFilter = legacy({ '.filter-work/': '' });
    expect((await claimOutput(oldFilter, { command: 'filter' })).found).toBe('own');
    const oldDemo = legacy({ '.wit-demo': '' });
    expect((await claimOutput(oldDemo, { command: 'demo' })).found).toBe('own');
    expect(await refusal(oldDemo, { command: 'train' })).toMatch(/holds a demo run, not a train run/);
  });

  test('reuse: false refuses the command\'s own earlier run', async () => {
    const p = fresh();
    await (await claimOutput(p, { command: 'model import' })).create();
    writeFileSync(join(p, 'model.json'), '{}');
    expect(await refusal(p, { command: 'model import', stage: 'model', reuse: false })).toMatch(/^model: .*already holds a model import run/);
  });

  test('inputs: the output may not be, contain or lie inside one', async () => {
    const input = fresh('in');
    mkdirSync(input);
    writeFileSync(join(input, '00000.tar'), 'x');
    expect(await refusal(input, { command: 'convert', inputs: [input] })).toMatch(/is also an input/);
    expect(await refusal(join(input, 'sub'), { command: 'convert', inputs: [input] })).toMatch(/lies inside the input/);
    expect(await refusal(root, { command: 'convert', inputs: [input] })).toMatch(/contains the input|not empty/);
    const empty = fresh('parent');
    mkdirSync(join(empty, 'x'), { recursive: true });
    rmSync(join(empty, 'x'), { recursive: true });
    expect(await refusal(empty, { command: 'convert', inputs: [join(empty, 'later.tar')] })).toMatch(/contains the input/);
    // Through a link to the input.
    const link = fresh('link');
    symlinkSync(input, link);
    expect(await refusal(join(link, 'sub'), { command: 'convert', inputs: [input] })).toMatch(/lies inside the input/);
    expect(existsSync(join(input, 'sub'))).toBe(false);
  });
});

describe('claimOutput: files', () => {
  test('nothing there or a regular file: claimed; create() makes the parent only', async () => {
    const p = join(fresh(), 'sub', 'eval.json');
    const c = await claimOutput(p, { command: 'eval', kind: 'file' });
    expect(c.found).toBe('new');
    await c.create();
    expect(existsSync(join(p, '..'))).toBe(true);
    expect(existsSync(p)).toBe(false);
    writeFileSync(p, '{}');
    expect((await claimOutput(p, { command: 'eval', kind: 'file' })).found).toBe('file');
  });

  test('a folder, device, FIFO or link is refused', async () => {
    const dir = fresh();
    mkdirSync(dir);
    expect(await refusal(dir, { command: 'report', kind: 'file' })).toMatch(/is not a regular file \(a folder\)/);
    expect(await refusal('/dev/null', { command: 'report', kind: 'file' })).toMatch(/is not a regular file \(a device\)/);
    const fifo = fresh('fifo');
    execFileSync('mkfifo', [fifo]);
    expect(await refusal(fifo, { command: 'report', kind: 'file' })).toMatch(/is not a regular file \(a FIFO/);
    const target = fresh('t');
    writeFileSync(target, 'x');
    const link = fresh('link');
    symlinkSync(target, link);
    expect(await refusal(link, { command: 'report', kind: 'file' })).toMatch(/is a symbolic link to a regular file/);
  });

  test('an input file and a replaces() veto are refused', async () => {
    const input = fresh('in');
    writeFileSync(input, 'x');
    expect(await refusal(input, { command: 'querygen', kind: 'file', inputs: [input] })).toMatch(/is also an input/);
    expect(await refusal(input, { command: 'eval', kind: 'file', replaces: async () => 'holds something else' })).toMatch(/holds something else/);
  });
});

describe('publish: a multi-file output as one set', () => {
  test('written in a hidden sibling, renamed into place; a failed write leaves nothing', async () => {
    const p = fresh('set');
    const c = await claimOutput(p, { command: 'model export', files: ['a', 'b'] });
    await expect(c.publish(async (dir) => {
      writeFileSync(join(dir, 'a'), '1');
      throw new Error('disk on fire');
    })).rejects.toThrow(/disk on fire/);
    expect(existsSync(p)).toBe(false);
    expect(readdirSync(root).filter((x) => x.startsWith(`.${p.split('/').pop()}.wit-`))).toEqual([]);
    await c.publish(async (dir) => {
      writeFileSync(join(dir, 'a'), '1');
      writeFileSync(join(dir, 'b'), '2');
    });
    expect(readdirSync(p).sort()).toEqual([OUTPUT_MARKER, 'a', 'b']);
    expect(await readOutputMarker(p)).toMatchObject({ command: 'model export', complete: true });
    // Its own earlier set is replaced as a whole.
    const again = await claimOutput(p, { command: 'model export', files: ['a', 'b'] });
    await again.publish(async (dir) => writeFileSync(join(dir, 'a'), 'new'));
    expect(readdirSync(p).sort()).toEqual([OUTPUT_MARKER, 'a']);
    expect(readFileSync(join(p, 'a'), 'utf8')).toBe('new');
  });

  test('sweeps only wit-named leftovers of dead processes that carry this command\'s marker', async () => {
    const p = fresh('swept');
    const dead = 2 ** 22 + 12345; // above Linux's default pid_max: never a live process
    const mk = (name: string, marker?: string): string => {
      const d = join(root, name);
      mkdirSync(d);
      if (marker) writeFileSync(join(d, OUTPUT_MARKER), marker);
      return d;
    };
    const base = p.split('/').pop();
    const ours = mk(`.${base}.wit-tmp-${dead}-abc123`, JSON.stringify({ format: 'wit-output', command: 'model export', complete: false }));
    const live = mk(`.${base}.wit-tmp-${process.pid}-abc123`, JSON.stringify({ format: 'wit-output', command: 'model export', complete: false }));
    const unmarked = mk(`.${base}.wit-tmp-${dead}-def456`);
    const other = mk(`.${base}.wit-old-${dead}-aaa111`, JSON.stringify({ format: 'wit-output', command: 'crawl', complete: true }));
    const user = mk(`.${base}.backup`);
    expect(await sweepLeftovers(p, 'model export')).toEqual([ours]);
    for (const d of [live, unmarked, other, user]) expect(existsSync(d)).toBe(true);
  });
});
