import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { claimOutput, hostTag, lockPathFor, OUTPUT_MARKER, readOutputMarker, sweepLeftovers, sweepTemporaries, tempOwner, type LockHolder } from '../../src/util/output.js';
import { tempPathFor } from '../../src/util/atomic.js';
import { ShardWriter } from '../../src/shards/index.js';

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
    writeFileSync(p, JSON.stringify({ shards: ['x'], zero_shot: { top1: 0.5 } }));
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
    const own = fresh('eval');
    writeFileSync(own, JSON.stringify({ shards: ['x'], zero_shot: {} }));
    expect(await refusal(own, { command: 'eval', kind: 'file', replaces: async () => 'holds something else' })).toMatch(/holds something else/);
  });

  // Issue 26, class 1: a trained model's weights became an HTML page, a finished shard a query list.
  test('an existing file wit did not write for this command is refused, naming what it holds', async () => {
    const dir = fresh('model');
    mkdirSync(dir);
    const weights = join(dir, 'model.weights.bin');
    writeFileSync(weights, Buffer.from([0, 0, 128, 63, 0, 0, 0, 64, 1, 2, 3]));
    expect(await refusal(weights, { command: 'report', kind: 'file' })).toMatch(/model\.weights\.bin: exists and holds binary data \(11 bytes\), not a wit report: wit replaces only its own earlier output/);
    const shard = fresh('shard.parquet');
    writeFileSync(shard, Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(20), Buffer.from('PAR1')]));
    expect(await refusal(shard, { command: 'querygen', kind: 'file' })).toMatch(/holds a Parquet file \(28 bytes\), not a query list of wit querygen/);
    const page = fresh('page.html');
    writeFileSync(page, '<!doctype html><html><body>my page</body></html>');
    expect(await refusal(page, { command: 'report', kind: 'file' })).toMatch(/holds an HTML page that wit did not write/);
    // Another command's file is not this command's: a query list is no report, a report no eval summary.
    const tsv = fresh('q.tsv');
    writeFileSync(tsv, 'query\tsource\tcount\nred\tpmi\t3\n');
    expect(await refusal(tsv, { command: 'report', kind: 'file' })).toMatch(/holds text/);
    expect(await refusal(tsv, { command: 'eval', kind: 'file' })).toMatch(/not a wit eval summary/);
    expect(readFileSync(weights)).toHaveLength(11);
    expect(readFileSync(tsv, 'utf8')).toMatch(/^query/);
  });

  test("the command's own earlier file is replaced: a report (and an older one), a query list, summaries", async () => {
    const report = fresh('r.html');
    writeFileSync(report, `<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n<meta name="generator" content="wit 0.1.0 report">\n`);
    expect((await claimOutput(report, { command: 'report', kind: 'file' })).found).toBe('file');
    const older = fresh('old.html');
    writeFileSync(older, `<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">\n`);
    expect((await claimOutput(older, { command: 'report', kind: 'file' })).found).toBe('file');
    const tsv = fresh('q.tsv');
    writeFileSync(tsv, 'query\tsource\tcount\nred\tpmi\t3\n');
    expect((await claimOutput(tsv, { command: 'querygen', kind: 'file' })).found).toBe('file');
    const summary = fresh('q.summary.json');
    writeFileSync(summary, JSON.stringify({ out: tsv, summary_file: summary, queries: 1, by_source: {} }));
    expect((await claimOutput(summary, { command: 'querygen', signature: 'querygen summary', kind: 'file' })).found).toBe('file');
    expect(await refusal(tsv, { command: 'querygen', signature: 'querygen summary', kind: 'file' })).toMatch(/not a summary of wit querygen/);
  });

  test('a file inside an input folder may not take a name its readers read (a shard, stats, model files)', async () => {
    const run = fresh('run');
    mkdirSync(run);
    writeFileSync(join(run, '00000.parquet'), 'PAR1');
    for (const name of ['00001.parquet', '00000_stats.json', 'model.weights.bin', 'manifest.json']) {
      expect(await refusal(join(run, name), { command: 'report', kind: 'file', inputs: [run] })).toMatch(/lies inside the input .*, where .* is read as part of it/);
    }
    expect(existsSync(join(run, '00001.parquet'))).toBe(false);
    // The demo's report.html inside its own run folder is fine.
    expect((await claimOutput(join(run, 'report.html'), { command: 'report', kind: 'file', inputs: [run] })).found).toBe('new');
  });
});

const DEAD = 2 ** 22 + 12345; // above Linux's default pid_max: never a live process

/** A lock file of `out` as another process would have written it. */
function plantLock(out: string, holder: Partial<LockHolder>): string {
  const lock = lockPathFor(out);
  mkdirSync(join(lock, '..'), { recursive: true });
  writeFileSync(lock, JSON.stringify({ format: 'wit-lock', pid: DEAD, host: hostname(), started: new Date().toISOString(), command: 'crawl', output: out, id: 'planted1', ...holder }));
  return lock;
}

describe('one writer per output: the lock', () => {
  test('a claim holds .NAME.wit-lock beside the output until released; the same process may claim again', async () => {
    const p = fresh('locked');
    const c = await claimOutput(p, { command: 'crawl' });
    const lock = join(root, `.${p.split('/').pop()}.wit-lock`);
    expect(c.lock.path).toBe(lock);
    const holder = JSON.parse(readFileSync(lock, 'utf8')) as LockHolder;
    expect(holder).toMatchObject({ format: 'wit-lock', pid: process.pid, host: hostname(), command: 'crawl' });
    expect(Date.parse(holder.started)).toBeGreaterThan(Date.now() - 60_000);
    const again = await claimOutput(p, { command: 'crawl' });
    await again.release();
    expect(existsSync(lock)).toBe(true);
    await c.release();
    await c.release();
    expect(existsSync(lock)).toBe(false);
    // no temporary of the lock is left beside it
    expect(readdirSync(root).filter((n) => n.startsWith(`.${p.split('/').pop()}.wit-lock`))).toEqual([]);
  });

  test('folders made only to hold the lock go again when the run wrote nothing (a refused run leaves nothing)', async () => {
    const top = fresh('top');
    const c = await claimOutput(join(top, 'a', 'eval.json'), { command: 'eval', kind: 'file' });
    expect(existsSync(join(top, 'a'))).toBe(true);
    await c.release();
    expect(existsSync(top)).toBe(false);
    const kept = fresh('kept');
    const d = await claimOutput(join(kept, 'a', 'eval.json'), { command: 'eval', kind: 'file' });
    await d.create();
    writeFileSync(join(kept, 'a', 'eval.json'), '{}');
    await d.release();
    expect(existsSync(join(kept, 'a', 'eval.json'))).toBe(true);
  });

  test('a lock of a running process is refused, naming pid, host and start', async () => {
    const p = fresh('busy');
    const started = new Date(Date.now() - 1000).toISOString();
    const lock = plantLock(p, { pid: process.ppid, started, command: 'crawl' });
    expect(await refusal(p, { command: 'crawl' })).toMatch(new RegExp(`busy-\\d+: is being written by another run \\(wit crawl, pid ${process.ppid} on ${hostname()}, started ${started.replace(/[.]/g, '\\.')}\\)`));
    expect(await refusal(p, { command: 'report', kind: 'file' })).toMatch(/is being written by another run/);
    expect(JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(process.ppid);
    expect(existsSync(p)).toBe(false);
  });

  test('a stale lock (dead pid, or a pid reused since) is taken over with a one-line notice', async () => {
    for (const holder of [{ pid: DEAD }, { pid: process.ppid, started: '2001-01-01T00:00:00.000Z' }]) {
      const p = fresh('stale');
      const lock = plantLock(p, holder);
      const notices: string[] = [];
      const c = await claimOutput(p, { command: 'crawl', onNotice: (l) => notices.push(l) });
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(new RegExp(`^wit crawl: note: .*stale-\\d+: took over the lock of a run that no longer runs \\(wit crawl, pid ${holder.pid} on `));
      expect(JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(process.pid);
      await c.release();
      expect(existsSync(lock)).toBe(false);
    }
  });

  test("another host's lock is refused naming the host and the way out; an unreadable lock too", async () => {
    const p = fresh('remote');
    const lock = plantLock(p, { host: 'elsewhere.example', pid: 1 });
    expect(await refusal(p, { command: 'crawl' })).toMatch(/pid 1 on elsewhere\.example.*cannot be checked from here.*delete .*\.wit-lock/);
    writeFileSync(lock, 'garbage');
    expect(await refusal(p, { command: 'crawl' })).toMatch(/which is not a lock wit can read; if no wit run writes there, delete/);
    expect(readFileSync(lock, 'utf8')).toBe('garbage');
  });

  test('released when the process exits; a SIGKILLed holder leaves a lock the next claim takes over', () => {
    const mod = fileURLToPath(new URL('../../dist/src/util/output.js', import.meta.url)); // the built module (npm run build)
    const script = (out: string, end: string) => `import { claimOutput } from ${JSON.stringify(mod)}; await claimOutput(${JSON.stringify(out)}, { command: 'crawl' }); ${end}`;
    const run = (code: string) => spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    const exited = fresh('exited');
    const r = run(script(exited, 'process.exitCode = 0;'));
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(lockPathFor(exited))).toBe(false);
    const failed = fresh('failed');
    const f = run(script(failed, "throw new Error('boom');"));
    expect(f.status).not.toBe(0);
    expect(existsSync(lockPathFor(failed))).toBe(false);
    const killed = fresh('killed');
    const k = run(script(killed, "process.kill(process.pid, 'SIGKILL');"));
    expect(k.signal).toBe('SIGKILL');
    const left = JSON.parse(readFileSync(lockPathFor(killed), 'utf8')) as LockHolder;
    expect(left.pid).toBe(k.pid);
    const notices: string[] = [];
    return claimOutput(killed, { command: 'crawl', onNotice: (l) => notices.push(l) }).then(async (c) => {
      expect(notices.join('\n')).toMatch(new RegExp(`pid ${k.pid} `));
      await c.release();
    });
  }, 60_000);
});

describe('leftovers: create() sweeps the temporaries of killed runs', () => {
  test('only names wit gives them, of processes no longer running; a swapped-out folder only beside its original', async () => {
    const p = fresh('run');
    mkdirSync(join(p, 'checkpoints', 'step-000002'), { recursive: true });
    const put = (rel: string, dir = false): string => {
      const f = join(p, rel);
      if (dir) mkdirSync(f, { recursive: true });
      else writeFileSync(f, 'x');
      return f;
    };
    const gone = [
      put(`.00001.tar.tmp-${DEAD}`), // a killed convert's tar
      put(`.00001.parquet.tmp-${DEAD}-ab12cd`), // an atomic write's temporary
      put(`checkpoints/step-000003.tmp-${DEAD}`, true), // a killed train's checkpoint
      put(`checkpoints/step-000002.old-${DEAD}`, true), // swapped out, its original is there
      put(`.x.wit-lock-tmp-${DEAD}-abcdef12`),
    ];
    const kept = [
      put(`.00002.tar.tmp-${process.pid}`), // a live run's
      put(`checkpoints/step-000004.old-${DEAD}`, true), // the only copy: its original is missing
      put('notes.tmp-draft'), // not a pid
      put('holiday.tmp'),
      put('00000.parquet'),
    ];
    await (await claimOutput(p, { command: 'train' })).create();
    for (const f of gone) expect(existsSync(f), f).toBe(false);
    for (const f of kept) expect(existsSync(f), f).toBe(true);
    // A file output sweeps only its own name's temporaries beside it.
    const dir = fresh('files');
    mkdirSync(dir);
    const mine = join(dir, `.report.html.tmp-${DEAD}-abc123`);
    const theirs = join(dir, `.other.html.tmp-${DEAD}-abc123`);
    writeFileSync(mine, 'x');
    writeFileSync(theirs, 'x');
    await (await claimOutput(join(dir, 'report.html'), { command: 'report', kind: 'file' })).create();
    expect(existsSync(mine)).toBe(false);
    expect(existsSync(theirs)).toBe(true);
    expect(await sweepTemporaries(dir)).toEqual([theirs]);
  });
});

describe('temporaries on a file system shared by several hosts', () => {
  test('names carry the writer\u2019s pid and host tag; a sweep leaves another host\u2019s alone (its pid means nothing here)', async () => {
    expect(hostTag()).toMatch(/^[0-9a-f]{8}$/);
    expect(tempOwner()).toBe(`${process.pid}@${hostTag()}`);
    expect(tempPathFor('/a/b.json')).toMatch(new RegExp(`^/a/\\.b\\.json\\.tmp-${process.pid}@${hostTag()}-[a-z0-9]+$`));
    // a shard being written (the writers every command shares) carries the tag too
    const p = fresh('hosts');
    mkdirSync(p);
    const w = await ShardWriter.open(join(p, '00000.parquet'), { imageFormat: 'jpg' });
    expect(readdirSync(p).filter((n) => n.includes('.tmp-'))).toEqual([`.00000.parquet.tmp-${tempOwner()}`]);
    await w.abort();
    const other = hostTag() === 'abcdef01' ? '12345678' : 'abcdef01';
    const put = (name: string): string => {
      writeFileSync(join(p, name), 'x');
      return join(p, name);
    };
    const gone = [
      put(`.00001.parquet.tmp-${DEAD}@${hostTag()}`), // this host's, its process gone
      put(`.00002.parquet.tmp-${DEAD}`), // wit before the tag: judged by its pid, as then
      put(`.x.json.tmp-${DEAD}@${hostTag()}-ab12cd`),
      put(`.x.wit-lock-tmp-${DEAD}@${hostTag()}-abcdef12`),
    ];
    const kept = [
      put(`.00003.parquet.tmp-${DEAD}@${other}`), // another host's live writer (a distributed crawl's worker): never swept
      put(`.y.json.tmp-${DEAD}@${other}-ab12cd`),
      put(`.y.wit-lock-tmp-${DEAD}@${other}-abcdef12`),
      put(`.00004.parquet.tmp-${process.pid}@${hostTag()}`), // this run's own
    ];
    expect((await sweepTemporaries(p)).sort()).toEqual(gone.sort());
    for (const f of kept) expect(existsSync(f), f).toBe(true);
    // published sets' temporary folders: the same rule
    const base = p.split('/').pop();
    const marked = (name: string): string => {
      const d = join(root, name);
      mkdirSync(d);
      writeFileSync(join(d, OUTPUT_MARKER), JSON.stringify({ format: 'wit-output', command: 'model export', complete: false }));
      return d;
    };
    const ours = marked(`.${base}.wit-tmp-${DEAD}@${hostTag()}-abc123`);
    const theirs = marked(`.${base}.wit-tmp-${DEAD}@${other}-abc123`);
    expect(await sweepLeftovers(p, 'model export')).toEqual([ours]);
    expect(existsSync(theirs)).toBe(true);
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
    // (the claim's own lock, .NAME.wit-lock, is held until released)
    expect(readdirSync(root).filter((x) => x.startsWith(`.${p.split('/').pop()}.wit-`) && x !== `.${p.split('/').pop()}.wit-lock`)).toEqual([]);
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
