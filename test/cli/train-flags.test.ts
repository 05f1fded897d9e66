import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';

describe('wit train flags', () => {
  const run = async (argv: string[]) => {
    const err: string[] = [];
    const code = await runCli(argv, { stdout: () => undefined, stderr: (s) => err.push(s), isTTY: false });
    return { code, err: err.join('') };
  };

  it('--filter-rounds and --keep-fraction go together (exit 2 with a clear message)', async () => {
    expect(await run(['train', '--shards', 'x', '--out', 'y', '--filter-rounds', '2'])).toEqual({ code: 2, err: expect.stringContaining('--filter-rounds needs --keep-fraction') });
    expect(await run(['train', '--shards', 'x', '--out', 'y', '--keep-fraction', '0.5'])).toEqual({ code: 2, err: expect.stringContaining('--keep-fraction goes with --filter-rounds') });
    expect(await run(['train', '--shards', 'x', '--out', 'y', '--filter-rounds', '1', '--keep-fraction', '1.5'])).toEqual({ code: 2, err: expect.stringContaining('--keep-fraction must be <= 1') });
  });

  it('lists --threads, --filter-rounds and --keep-fraction in --help', async () => {
    const out: string[] = [];
    expect(await runCli(['train', '--help'], { stdout: (s) => out.push(s), stderr: () => undefined, isTTY: false })).toBe(0);
    for (const f of ['--threads', '--filter-rounds', '--keep-fraction']) expect(out.join('')).toContain(f);
  });
});
