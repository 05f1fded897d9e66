import { describe, expect, it } from 'vitest';
import { defineOptions, flagSpecs, optionsFromFlags, resolveOptions, type OptionsInput } from '../../src/util/options.js';
import { parseFlags, formatHelp } from '../../src/cli/args.js';
import { UsageError } from '../../src/util/errors.js';

const schema = defineOptions({
  inputs: { type: 'string[]', required: true, flag: 'input', help: 'inputs', metavar: 'FILE…' },
  cap: { type: 'int', min: 1, default: 20000, help: 'pairs per query' },
  balance: { type: 'string', choices: ['cap', 'sample'], default: 'cap', help: 'balancing' },
  maxAspect: { type: 'number', min: 1, help: 'largest aspect' },
  caseInsensitive: { type: 'boolean', default: false, help: 'ignore case' },
  bloomBits: { type: 'int', min: 10, default: 28, cli: false, help: 'library only' },
});

describe('options declared once', () => {
  it('fills defaults, keeps undeclared keys, and types the result', () => {
    const input: OptionsInput<typeof schema> & { extra: string } = { inputs: ['a'], extra: 'x' };
    const r = resolveOptions('crawl', schema, input);
    const cap: number = r.cap;
    const balance: 'cap' | 'sample' = r.balance;
    expect([cap, balance, r.caseInsensitive, r.bloomBits, r.extra, r.maxAspect]).toEqual([20000, 'cap', false, 28, 'x', undefined]);
  });
  it('rejects the same bad values in the library as on the CLI, naming the flag', () => {
    expect(() => resolveOptions('crawl', schema, { inputs: ['a'], cap: 0 })).toThrow(/crawl: --cap must be >= 1, got 0/);
    expect(() => resolveOptions('crawl', schema, { inputs: ['a'], cap: 1.5 })).toThrow(/--cap expects an integer/);
    expect(() => resolveOptions('crawl', schema, { inputs: ['a'], balance: 'x' as 'cap' })).toThrow(/--balance must be one of cap, sample/);
    expect(() => resolveOptions('crawl', schema, { inputs: [] })).toThrow(UsageError);
    expect(() => resolveOptions('crawl', schema, { inputs: ['a'], bloomBits: 3 })).toThrow(/option 'bloomBits' must be >= 10/);
    expect(() => parseFlags('crawl', ['--input', 'a', '--cap', '0'], flagSpecs(schema))).toThrow(/--cap must be >= 1/);
  });
  it('derives flags and help from the schema and maps parsed flags back to keys', () => {
    const flags = flagSpecs(schema);
    expect(Object.keys(flags)).toEqual(['input', 'cap', 'balance', 'max-aspect', 'case-insensitive']);
    const help = formatHelp('crawl', 'summary', flags);
    expect(help).toMatch(/--cap INT\s+pairs per query \(default: 20000\)/);
    const parsed = parseFlags('crawl', ['--input', 'a', 'b', '--case-insensitive', '--max-aspect=2.5'], flags);
    const opts = optionsFromFlags(schema, parsed);
    expect(opts).toEqual({ inputs: ['a', 'b'], cap: 20000, balance: 'cap', maxAspect: 2.5, caseInsensitive: true });
  });
});
