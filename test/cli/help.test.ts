import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/args.js';
import type { CommandDef } from '../../src/cli/command.js';
import { COMMAND_NAMES, commandHelp, loadCommand, runCli, topHelp } from '../../src/cli/main.js';
import { flagSpecs, optionsFromFlags } from '../../src/util/options.js';
import { crawlOptionsSchema } from '../../src/crawl/options.js';
import { convertSchema } from '../../src/shards/convert.js';
import { shellWords } from './shell-words.js';

/** Every command and subcommand that runs (has flags), with the argv prefix that names it. */
async function allCommands(): Promise<{ path: string[]; def: CommandDef }[]> {
  const out: { path: string[]; def: CommandDef }[] = [];
  for (const name of COMMAND_NAMES) {
    const def = (await loadCommand(name))!;
    if (Object.keys(def.flags).length) out.push({ path: [name], def });
    for (const [sub, d] of Object.entries(def.subcommands ?? {})) out.push({ path: [name, sub], def: d });
  }
  return out;
}

function capture(): { io: Parameters<typeof runCli>[1] & object; out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return { io: { stdout: (s) => { o += s; }, stderr: (s) => { e += s; }, isTTY: false }, out: () => o, err: () => e };
}

describe('help that teaches', () => {
  it('every command ends its help with 2-4 examples, and each example parses with that command\'s flags', async () => {
    const cmds = await allCommands();
    expect(cmds.length).toBeGreaterThanOrEqual(15);
    for (const { path, def } of cmds) {
      const examples = def.examples ?? [];
      expect(examples.length, path.join(' ')).toBeGreaterThanOrEqual(2);
      expect(examples.length, path.join(' ')).toBeLessThanOrEqual(4);
      const help = commandHelp(def, 100);
      expect(help, path.join(' ')).toMatch(/\nExamples:\n/);
      for (const ex of examples) {
        const words = shellWords(ex.cmd);
        expect(words.slice(0, 1 + path.length), ex.cmd).toEqual(['wit', ...path]);
        // unknown flags, missing values, bad numbers or choices and missing required flags all throw
        const parsed = parseFlags(def.name, words.slice(1 + path.length), def.flags, (line) => { throw new Error(`deprecated flag in an example: ${line}`); });
        expect(parsed.help, ex.cmd).toBe(false);
      }
    }
  });

  it('wraps every line to the width (the terminal\'s, 100 when not a terminal), from 60 to 160 columns', async () => {
    for (const width of [60, 80, 100, 160]) {
      const texts = [topHelp(width), ...(await Promise.all(COMMAND_NAMES.map(async (n) => commandHelp((await loadCommand(n))!, width))))];
      for (const { def } of await allCommands()) texts.push(commandHelp(def, width));
      for (const t of texts) for (const line of t.split('\n')) expect(line.length, `${width}: ${line}`).toBeLessThanOrEqual(width);
    }
  });

  it('groups flags under headings (crawl: input, matching, download, images, output, distributed), deprecated names hidden', async () => {
    const help = commandHelp((await loadCommand('crawl'))!, 100);
    const headings = help.split('\n').filter((l) => /^[A-Z][a-z ]+:$/.test(l));
    expect(headings).toEqual(['Input:', 'Matching:', 'Download:', 'Images:', 'Output:', 'Distributed:', 'Common flags:', 'Examples:']);
    expect(help).toMatch(/--min-image-side PX/);
    expect(help).not.toMatch(/--min-size|--dedupe-/);
    // the flags of the crawl each sit in a group of their own kind
    const lines = help.split('\n');
    const section = (h: string) => {
      const start = lines.indexOf(`${h}:`);
      const end = lines.findIndex((l, i) => i > start && /^[A-Z][a-z ]+:$/.test(l));
      return lines.slice(start, end).join('\n');
    };
    expect(section('Matching')).toMatch(/--dedup-capacity/);
    expect(section('Download')).toMatch(/--allow-private-network/);
  });

  it('wit help, wit help COMMAND and wit help COMMAND SUBCOMMAND print the same text as --help', async () => {
    for (const argv of [['crawl'], ['embed', 'merge'], ['model', 'import'], ['model']]) {
      const a = capture();
      expect(await runCli(['help', ...argv], a.io)).toBe(0);
      const b = capture();
      expect(await runCli([...argv, '--help'], b.io)).toBe(0);
      expect(a.out()).toBe(b.out());
      expect(a.out()).toMatch(/^Usage: wit /);
    }
    const top = capture();
    expect(await runCli(['help'], top.io)).toBe(0);
    expect(top.out()).toMatch(/wit help COMMAND/);
    expect(top.out()).toMatch(/demo\s+run every stage offline .* and write a report/);
    const bad = capture();
    expect(await runCli(['help', 'nope'], bad.io)).toBe(2);
    expect(bad.err()).toMatch(/unknown command 'nope'/);
    const badSub = capture();
    expect(await runCli(['help', 'model', 'nope'], badSub.io)).toBe(2);
    expect(badSub.err()).toMatch(/model has no subcommand 'nope' \(it has: import, export\)/);
  });
});

describe('one vocabulary: old flag names are hidden aliases', () => {
  const crawlFlags = flagSpecs(crawlOptionsSchema);
  it.each([
    ['--min-size', '--min-image-side', 'minSize', '200', 200],
    ['--dedupe-capacity', '--dedup-capacity', 'dedupeCapacity', '4096', 4096],
    ['--dedupe-error-rate', '--dedup-error-rate', 'dedupeErrorRate', '0.001', 0.001],
  ] as const)('crawl %s means %s, with a deprecation line', (old, now, key, raw, value) => {
    const lines: string[] = [];
    const viaOld = parseFlags('crawl', ['--input', 'a.parquet', '--out', 'o', old, raw], crawlFlags, (l) => lines.push(l));
    const viaNew = parseFlags('crawl', ['--input', 'a.parquet', '--out', 'o', now, raw], crawlFlags, (l) => lines.push(l));
    expect(optionsFromFlags(crawlOptionsSchema, viaOld)[key]).toBe(value);
    expect(optionsFromFlags(crawlOptionsSchema, viaNew)[key]).toBe(value);
    expect(lines).toEqual([`wit crawl: ${old} is deprecated, use ${now} (same meaning)`]);
    // the old name is still validated as the flag it stands for
    expect(() => parseFlags('crawl', ['--input', 'a', '--out', 'o', `${old}=-1`], crawlFlags, () => {})).toThrow(new RegExp(`${now} must be >= `));
  });

  it('convert --to is --output-format (crawl and filter name the shard format so); the CLI prints the line on stderr', async () => {
    const parsed = parseFlags('convert', ['--shards', 's', '--to', 'webdataset', '--out', 'o'], flagSpecs(convertSchema), () => {});
    expect(optionsFromFlags(convertSchema, parsed).to).toBe('webdataset');
    const c = capture();
    // a missing input is exit 2 after the flags parsed: the deprecation line comes first
    expect(await runCli(['convert', '--shards', '/nonexistent/wit-shards', '--to', 'parquet', '--out', '/nonexistent/wit-out'], c.io)).toBe(2);
    expect(c.err().split('\n')[0]).toBe('wit convert: --to is deprecated, use --output-format (same meaning)');
  });

  it('no two flags of one command, and no two commands, use two names for one idea', async () => {
    const pairs: [string, string][] = [['min-size', 'min-image-side'], ['dedupe-', 'dedup-'], ['to', 'output-format']];
    for (const { path, def } of await allCommands()) {
      const visible = Object.entries(def.flags).filter(([, s]) => !s.aliasOf).map(([n]) => n);
      for (const [old] of pairs) expect(visible.filter((n) => (old.endsWith('-') ? n.startsWith(old) : n === old)), path.join(' ')).toEqual([]);
    }
  });
});
