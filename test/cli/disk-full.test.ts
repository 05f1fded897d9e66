/**
 * Disk full and read-only (issue 26, class 4): one line naming the file and the real reason, exit 1,
 * no stack trace. The shared mechanism is tested on its own (errors of writes get their path,
 * Node's ENOENT for a recursive mkdir on a read-only mount is told apart); the commands run against
 * a real full tmpfs and a real read-only bind mount where this machine lets the tests mount them
 * (root with CAP_SYS_ADMIN), and are skipped with the reason where it does not.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure, realMkdirCode } from '../../src/cli/failure.js';
import { withPath } from '../../src/util/errors.js';
import { writeFileAtomic } from '../../src/util/atomic.js';
import { claimOutput } from '../../src/util/output.js';
import { runWit } from '../crawl/run-wit.js';
import { writeShapeShards } from '../train/synthetic-shards.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';

let root: string;
let full: string | undefined;
let readOnly: string | undefined;
let whyNot = '';
let shards: string;
let srv: TestServer;
let queries: string;

function tryMount(args: string[]): boolean {
  try {
    execFileSync('mount', args, { stdio: 'ignore' });
    return true;
  } catch (err) {
    whyNot = `cannot mount here (${(err as Error).message.split('\n')[0]}): needs root with CAP_SYS_ADMIN`;
    return false;
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wit-disk-full-'));
  shards = join(root, 'shards');
  await writeShapeShards(shards, { perClass: 1, shards: 1 });
  srv = await startTestServer();
  const imgs = Array.from({ length: 40 }, (_, i) => `<img src="/img/cat-${i}.jpg?w=${200 + i}&h=200&seed=${i}" alt="a cat number ${i}">`).join('');
  srv.setPage('/', `<html><body>${imgs}</body></html>`);
  queries = join(root, 'queries.tsv');
  writeFileSync(queries, 'query\tsource\tcount\ncat\twordnet\t10\n');
  const f = join(root, 'full');
  const r = join(root, 'ro');
  mkdirSync(f);
  mkdirSync(r);
  if (tryMount(['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', f])) {
    full = f;
    // fill it: every later write fails with ENOSPC
    try { writeFileSync(join(f, 'fill'), Buffer.alloc(1 << 20)); } catch { /* full */ }
  }
  if (tryMount(['-o', 'bind,ro', r, r])) readOnly = r;
}, 120_000);

afterAll(async () => {
  await srv?.close();
  for (const m of [full, readOnly]) if (m) try { execFileSync('umount', [m]); } catch { /* left to the OS */ }
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('the shared error path', () => {
  it('gives an error of a write on an open file the path it is about', () => {
    const e = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
    withPath(e, '/out/00000.parquet');
    expect(describeFailure('convert', e)).toEqual({ line: 'wit convert: cannot write /out/00000.parquet: no space left on the device', exitCode: 1, stack: e.stack });
    // a path already there stays
    const named = Object.assign(new Error('x'), { code: 'ENOSPC', syscall: 'open', path: '/a/b' });
    expect((withPath(named, '/c') as NodeJS.ErrnoException).path).toBe('/a/b');
  });

  it('names --out when a write still names no file, and says read-only with exit 1', () => {
    const e = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
    expect(describeFailure('export', e, { out: '/mnt/full/model' }).line).toBe('wit export: cannot write /mnt/full/model: no space left on the device');
    const ro = Object.assign(new Error('EROFS'), { code: 'EROFS', syscall: 'open', path: '/ro/x' });
    expect(describeFailure('filter', ro)).toMatchObject({ line: 'wit filter: cannot open /ro/x: read-only file system', exitCode: 1 });
  });

  it('writeFileAtomic names the final file of a failed write', async () => {
    if (!full) return console.warn(`skipped: ${whyNot}`);
    const err = await writeFileAtomic(join(full, 'summary.json'), Buffer.alloc(1 << 20)).catch((e: unknown) => e);
    expect(describeFailure('eval', err).line).toBe(`wit eval: cannot write ${join(full, 'summary.json')}: no space left on the device`);
  });

  it('tells a read-only file system from a missing folder (Node says ENOENT for a recursive mkdir there)', () => {
    if (!readOnly) return console.warn(`skipped: ${whyNot}`);
    expect(realMkdirCode(join(readOnly, 'out', 'deeper'))).toBe('EROFS');
    expect(realMkdirCode(join(root, 'no', 'such'))).toBe('ENOENT');
  });
});

describe('the output lock on a full disk and a read-only mount', () => {
  it('names the output, not the lock’s temporary file (.NAME.wit-lock-tmp-…)', async () => {
    if (!full || !readOnly) return console.warn(`skipped: ${whyNot}`);
    for (const [where, reason] of [[full, 'no space left on the device'], [readOnly, 'read-only file system']] as const) {
      for (const kind of ['folder', 'file'] as const) {
        const out = join(where, `claimed-${kind}`);
        const err = await claimOutput(out, { command: 'crawl', kind }).then(() => undefined, (e: unknown) => e);
        expect(describeFailure('crawl', err)).toMatchObject({ line: `wit crawl: cannot write ${out}: ${reason}`, exitCode: 1 });
      }
      // nothing of the lock is left beside the outputs (not even the empty file a full disk leaves)
      expect(readdirSync(where).filter((n) => n.includes('.wit-lock'))).toEqual([]);
    }
    // and through the CLI: the line a user reads
    const out = join(readOnly, 'crawl-lock-out');
    const r = await runWit(['crawl', '--queries', queries, '--input', srv.url('/'), '--out', out, '--allow-private-network'], { timeoutMs: 120_000, env: { WIT_DEBUG: '' } });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('wit '))).toEqual([`wit crawl: cannot write ${out}: read-only file system`]);
  }, 300_000);
});

describe('commands on a full disk and a read-only mount', () => {
  const cases: Array<[string, (out: string) => string[]]> = [
    ['crawl', (out) => ['crawl', '--queries', queries, '--input', srv.url('/'), '--out', out, '--allow-private-network', '--image-size', '32', '--shard-size', '2', '--retries', '0']],
    ['convert', (out) => ['convert', '--shards', shards, '--output-format', 'webdataset', '--out', out]],
    ['report', (out) => ['report', '--run', shards, '--out', `${out}.html`]],
    ['train', (out) => ['train', '--shards', shards, '--arch', 'vit-micro', '--steps', '1', '--batch-size', '4', '--backend', 'wasm', '--out', out]],
  ];
  for (const [name, args] of cases) {
    it(`wit ${name}: one line naming the file and the reason, exit 1`, async () => {
      if (!full || !readOnly) return console.warn(`skipped: ${whyNot}`);
      for (const [where, reason] of [[full, 'no space left on the device'], [readOnly, 'read-only file system']] as const) {
        const r = await runWit(args(join(where, `${name}-out`)), { timeoutMs: 120_000, env: { WIT_DEBUG: '' } });
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('wit '));
        expect(r.code, r.stderr).toBe(1);
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toContain(where);
        expect(lines[0]).toContain(reason);
        expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
      }
    }, 300_000);
  }
});

describe('a disk that fills in the middle of a run', () => {
  it('wit crawl: the shard being written is named, exit 1, no stack trace', async () => {
    if (!full) return console.warn(`skipped: ${whyNot}`);
    const m = join(root, 'filling');
    mkdirSync(m);
    if (!tryMount(['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', m])) return console.warn(`skipped: ${whyNot}`);
    try {
      // 40 KiB left whatever the page size and the shards' exact bytes: the run's marker, lock and
      // manifest and its first one-pair shards fit (tmpfs counts whole 4 KiB pages), its eighth does not
      const st = statfsSync(m);
      writeFileSync(join(m, 'filler'), Buffer.alloc(Math.max(0, st.bavail * st.bsize - 40 * 1024)));
      const out = join(m, 'out');
      const r = await runWit(['crawl', '--queries', queries, '--input', srv.url('/'), '--out', out, '--allow-private-network', '--image-size', '64', '--shard-size', '1', '--retries', '0'], { timeoutMs: 120_000, env: { WIT_DEBUG: '' } });
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('wit '));
      expect(r.code, r.stderr).toBe(1);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^wit crawl: cannot write ${out}/\\S+: no space left on the device$`));
      expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    } finally {
      execFileSync('umount', [m]);
    }
  }, 300_000);
});

