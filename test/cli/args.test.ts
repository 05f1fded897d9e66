import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { formatHelp, parseFlags, type FlagSpecs } from '../../src/cli/args.js';
import { runCli } from '../../src/cli/main.js';
import { UsageError } from '../../src/util/errors.js';
import { WIT } from '../crawl/run-wit.js';

const specs: FlagSpecs = {
  input: { type: 'string[]', description: 'inputs', required: true },
  cap: { type: 'int', description: 'cap', default: 20000, min: 1 },
  'min-pmi': { type: 'number', description: 'pmi', default: 30 },
  balance: { type: 'string', description: 'mode', default: 'cap', choices: ['cap', 'sample'] },
  robots: { type: 'boolean', description: 'obey robots.txt', default: true },
  resume: { type: 'boolean', description: 'resume', default: false },
};

describe('parseFlags', () => {
  it('takes list flags as `--f a b`, `--f a --f b` and `--f=a`, with defaults filled in', () => {
    expect(parseFlags('crawl', ['--input', 'a', 'b', '--input=c', '--cap', '5'], specs)).toMatchObject({ input: ['a', 'b', 'c'], cap: 5, minPmi: 30, balance: 'cap', robots: true, resume: false });
    expect(parseFlags('crawl', ['--input', 'a', '--input', 'b', '--resume', '--no-robots'], specs)).toMatchObject({ input: ['a', 'b'], resume: true, robots: false });
  });

  it('accepts negative numbers with --flag=value', () => {
    expect(parseFlags('q', ['--input', 'x', '--min-pmi=-2.5'], specs).minPmi).toBe(-2.5);
  });

  it('accepts a negative number after a space as the value of a numeric flag (`--min-similarity -1`)', () => {
    const num: FlagSpecs = { ...specs, 'min-similarity': { type: 'number', description: 's', min: -1, max: 1 }, w: { type: 'number[]', description: 'w', short: 'w' }, name: { type: 'string', description: 'n' } };
    expect(parseFlags('q', ['--input', 'x', '--min-similarity', '-1'], num).minSimilarity).toBe(-1);
    expect(parseFlags('q', ['--min-pmi', '-2.5', '--input', 'x'], num).minPmi).toBe(-2.5);
    expect(parseFlags('q', ['--min-pmi', '-.5', '--input', 'x'], num).minPmi).toBe(-0.5);
    expect(parseFlags('q', ['--input', 'x', '--w', '-1', '2', '-3.5', '--cap', '4'], num)).toMatchObject({ w: [-1, 2, -3.5], cap: 4 });
    expect(parseFlags('q', ['--input', 'x', '-w', '-1'], num).w).toEqual([-1]);
    // Bounds still hold, and a non-numeric flag does not take a dash value.
    expect(() => parseFlags('q', ['--input', 'x', '--min-similarity', '-2'], num)).toThrow(/--min-similarity must be >= -1/);
    expect(() => parseFlags('q', ['--input', 'x', '--name', '-1'], num)).toThrow(UsageError);
    expect(() => parseFlags('q', ['--input', 'x', '--cap', '-1'], num)).toThrow(/--cap must be >= 1/);
    // The real command line: parsing happens before --help is answered.
    const r = spawnSync(process.execPath, [WIT, 'filter', '--min-similarity', '-1', '--help'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('rejects typos, bad numbers, bad choices, missing values and stray arguments with UsageError', () => {
    const bad: [string[], RegExp][] = [
      [['--input', 'x', '--cpa', '3'], /unknown flag '--cpa' \(did you mean --cap\?\)/],
      [['--input', 'x', '--cap', 'ten'], /--cap expects a number, got 'ten'/],
      [['--input', 'x', '--cap', '1.5'], /--cap expects an integer/],
      [['--input', 'x', '--cap', '0'], /--cap must be >= 1/],
      [['--input', 'x', '--balance', 'random'], /--balance must be one of cap, sample/],
      [['--cap', '3'], /--input is required/],
      [['--input', 'x', '--cap'], /--cap needs a value/],
      [['--input', 'x', '--resume', 'stray'], /unexpected argument 'stray'/],
      [['--input', 'x', '--resume=yes'], /--resume takes no value/],
    ];
    for (const [argv, re] of bad) {
      expect(() => parseFlags('crawl', argv, specs), argv.join(' ')).toThrow(UsageError);
      expect(() => parseFlags('crawl', argv, specs), argv.join(' ')).toThrow(re);
    }
  });

  it('help lists every flag with its default', () => {
    const help = formatHelp('crawl', 'the crawler', specs);
    for (const f of ['--input', '--cap', '--min-pmi', '--balance', '--robots', '--resume', '--json', '--help']) expect(help).toContain(f);
    expect(help).toContain('(default: 20000)');
    expect(help).toContain('(required)');
  });
});

describe('wit CLI', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s), isTTY: false }, out, err };
  };

  it('wit --help lists the seven commands, each with one line', async () => {
    const c = capture();
    expect(await runCli(['--help'], c.io)).toBe(0);
    for (const cmd of ['querygen', 'crawl', 'train', 'filter', 'eval', 'report', 'demo']) expect(c.out.join('')).toMatch(new RegExp(`^  ${cmd} +\\S`, 'm'));
  });

  it('an unknown command or flag exits 2 with a clear message, not a stack trace', async () => {
    const c = capture();
    expect(await runCli(['crawll'], c.io)).toBe(2);
    expect(c.err.join('')).toContain("unknown command 'crawll'");
    const r = spawnSync(process.execPath, [WIT, 'report', '--no-such-flag'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^wit report: unknown flag '--no-such-flag'/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
