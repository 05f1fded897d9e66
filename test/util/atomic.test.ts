import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic, writeJsonAtomic } from '../../src/util/atomic.js';
import { runWit } from '../crawl/run-wit.js';

describe('atomic writes', () => {
  it('replaces a regular file and leaves no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wit-atomic-'));
    const p = join(dir, 'a.json');
    await writeFile(p, 'old');
    await writeJsonAtomic(p, { a: 1 });
    expect(JSON.parse(await readFile(p, 'utf8'))).toEqual({ a: 1 });
    expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).trim()).toBe('a.json');
  });

  it('never renames over a pipe (or a device such as /dev/full) that --out names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wit-atomic-'));
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    await expect(writeFileAtomic(fifo, 'x')).rejects.toThrow(/pipe: is not a regular file/);
    expect((await stat(fifo)).isFIFO()).toBe(true);
    expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).trim()).toBe('pipe');
  });

  it('wit report --out PIPE is one clear line with exit 2 and the pipe stays', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wit-atomic-'));
    const fifo = join(dir, 'report.html');
    execFileSync('mkfifo', [fifo]);
    const run = join(dir, 'run');
    execFileSync('mkdir', [run]);
    await writeFile(join(run, 'queries.tsv'), 'query\tsource\tcount\ncat\tunigram\t120\n');
    const r = await runWit(['report', '--run', run, '--out', fifo]);
    expect(r.code).toBe(2);
    const errors = r.stderr.trim().split('\n').filter((l) => l.startsWith('wit report:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^wit report: .*report\.html: is not a regular file/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect((await stat(fifo)).isFIFO()).toBe(true);
  });
});
