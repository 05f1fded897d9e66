/**
 * The README shows what a user types and what they get back: every `wit …` command line in its code
 * blocks parses with that command's own flags (the command exists, every flag exists under its current
 * name, values valid, required flags given), every `wit …` in its prose names real flags, and every
 * summary field a "Summary" paragraph names in backticks is a field of that command's summary type
 * (read from the TypeScript types, so a renamed or removed field fails here). Data-driven: a new
 * command or flag needs nothing here; a new command's summary needs one line in SUMMARY_TYPES.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../src/cli/args.js';
import type { CommandDef } from '../src/cli/command.js';
import { COMMAND_NAMES, loadCommand } from '../src/cli/main.js';
import { shellWords } from './cli/shell-words.js';

const README = readFileSync('README.md', 'utf8');

/** Command (as typed after `wit`) -> the file and interface of its --json summary. */
const SUMMARY_TYPES: Record<string, [string, string][]> = {
  querygen: [['src/querygen/index.ts', 'QuerygenSummary']],
  crawl: [['src/crawl/distributed/coordinator.ts', 'DistributedSummary']],
  train: [['src/train/train.ts', 'TrainSummary'], ['src/filter/rounds.ts', 'FilterRoundsSummary']],
  eval: [['src/eval/index.ts', 'EvalSummary']],
  filter: [['src/filter/types.ts', 'FilterSummary']],
  embed: [['src/search/embed.ts', 'EmbedSummary']],
  'embed merge': [['src/search/merge.ts', 'MergeSummary']],
  search: [['src/search/search.ts', 'SearchSummary']],
  report: [['src/report/index.ts', 'ReportSummary']],
  'model import': [['src/model/index.ts', 'ImportSummary']],
  'model export': [['src/model/index.ts', 'ExportSummary']],
  convert: [['src/shards/convert.ts', 'ConvertSummary']],
  demo: [['src/demo/index.ts', 'DemoSummary']],
  compare: [['src/compare/index.ts', 'CompareSummary']],
  doctor: [['src/doctor/index.ts', 'DoctorSummary']],
};

/** What wit answers itself, without a command. */
const BUILTIN = new Set(['--version', '-V', 'version', '--help', '-h']);

/** The code blocks of the README that hold shell commands. */
function shellBlocks(md: string): string[] {
  return [...md.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)].filter((m) => ['', 'sh', 'bash', 'shell', 'console'].includes(m[1]!)).map((m) => m[2]!);
}

/** Command lines of a shell block, continuations joined, `$ ` prompts and leading `VAR=x` dropped. */
function commandLines(block: string): string[] {
  return block.replace(/\\\n\s*/g, ' ').split('\n').flatMap((l) => l.split(/\s(?:&&|\|\||;)\s/)).map((l) => l.replace(/^\$ /, '').trim()).filter(Boolean);
}

/** `wit ARGS…` (or `npx wit ARGS…`) of a line, else undefined. */
function witArgs(line: string): string[] | undefined {
  let words = shellWords(line.replace(/\s&\s*(#.*)?$/, ''));
  while (words[0] && /^[A-Z_]+=/.test(words[0])) words = words.slice(1);
  if (words[0] === 'npx') words = words.slice(1);
  return words[0] === 'wit' ? words.slice(1) : undefined;
}

async function resolveCommand(args: string[]): Promise<{ def: CommandDef; name: string; rest: string[] }> {
  const [name, ...rest] = args;
  expect(COMMAND_NAMES, `wit ${args.join(' ')}`).toContain(name);
  const def = (await loadCommand(name!))!;
  const sub = def.subcommands?.[rest[0] ?? ''];
  return sub ? { def: sub, name: `${name} ${rest[0]}`, rest: rest.slice(1) } : { def, name: name!, rest };
}

/** Every property name of a type, nested objects, arrays and records' values included. */
function fieldNames(checker: ts.TypeChecker, type: ts.Type, out = new Set<string>(), seen = new Set<ts.Type>()): Set<string> {
  if (seen.has(type)) return out;
  seen.add(type);
  for (const t of type.isUnion() ? type.types : [type]) {
    const element = checker.isArrayType(t) ? checker.getTypeArguments(t as ts.TypeReference)[0] : undefined;
    if (element) { fieldNames(checker, element, out, seen); continue; }
    for (const p of checker.getPropertiesOfType(t)) {
      out.add(p.getName());
      const decl = p.valueDeclaration ?? p.declarations?.[0];
      if (decl) fieldNames(checker, checker.getTypeOfSymbolAtLocation(p, decl), out, seen);
    }
    const index = checker.getIndexInfosOfType(t);
    for (const info of index) fieldNames(checker, info.type, out, seen);
  }
  return out;
}

/** The field names of a crawl's `NNNNN_stats.json`: the writer's and the crawl's, from their types. */
function shardStatsFields(): Set<string> {
  return typeFields({ shard: [['src/shards/writer.ts', 'ShardStats'], ['src/crawl/block.ts', 'CrawlShardStats']] }).get('shard')!;
}

function summaryFields(): Map<string, Set<string>> {
  return typeFields(SUMMARY_TYPES);
}

function typeFields(SUMMARY_TYPES: Record<string, [string, string][]>): Map<string, Set<string>> {
  const files = [...new Set(Object.values(SUMMARY_TYPES).flat().map(([f]) => f))];
  const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, skipLibCheck: true, noEmit: true, types: ['node'] });
  const checker = program.getTypeChecker();
  const fields = new Map<string, Set<string>>();
  for (const [cmd, types] of Object.entries(SUMMARY_TYPES)) {
    const names = new Set<string>();
    for (const [file, typeName] of types) {
      const sf = program.getSourceFile(file);
      expect(sf, file).toBeDefined();
      const sym = checker.getSymbolAtLocation(sf!);
      const exp = checker.getExportsOfModule(sym!).find((s) => s.getName() === typeName);
      expect(exp, `${file}: ${typeName}`).toBeDefined();
      fieldNames(checker, checker.getDeclaredTypeOfSymbol(exp!), names);
    }
    fields.set(cmd, names);
  }
  return fields;
}

describe('README.md', () => {
  it('starts with the two commands: install and demo, and the tests', () => {
    const first = shellBlocks(README)[0]!;
    expect(first).toMatch(/npm install && npx wit demo/);
    expect(first).toMatch(/npm test/);
  });

  it('every wit command line in its code blocks parses with that command\'s flags', async () => {
    const lines = shellBlocks(README).flatMap(commandLines).map((l) => [l, witArgs(l)] as const).filter((x): x is readonly [string, string[]] => x[1] !== undefined);
    expect(lines.length).toBeGreaterThanOrEqual(20);
    const seen = new Set<string>();
    for (const [line, args] of lines) {
      if (BUILTIN.has(args[0]!)) continue;
      if (args[0] === 'help') { await resolveCommand(args.slice(1)); continue; }
      const { def, name, rest } = await resolveCommand(args);
      seen.add(name);
      expect(() => parseFlags(def.name, rest, def.flags, (l) => { throw new Error(l); }), line).not.toThrow();
    }
    // each command is shown at least once
    for (const name of COMMAND_NAMES) expect([...seen].some((s) => s === name || s.startsWith(`${name} `)), `no example of wit ${name}`).toBe(true);
  });

  it('every `wit …` in its prose names a command and flags that exist (under their current names)', async () => {
    const prose = README.replace(/^```[\s\S]*?^```/gm, '');
    const spans = [...prose.matchAll(/`((?:npx )?wit [^`]+)`/g)].map((m) => m[1]!);
    expect(spans.length).toBeGreaterThan(10);
    for (const span of spans) {
      const args = witArgs(span.replace(/…/g, ''))!;
      if (!args.length || /^[A-Z]/.test(args[0]!) || BUILTIN.has(args[0]!)) continue; // `wit`, `wit COMMAND --help`, `wit --version`
      if (args[0] === 'help') { if (args[1] && args[1] !== 'COMMAND') await resolveCommand(args.slice(1)); continue; }
      const { def } = await resolveCommand(args.filter((a) => !/^[A-Z_]+$/.test(a)));
      for (const a of args.filter((x) => x.startsWith('--'))) {
        const flag = a.slice(2).split('=')[0]!.replace(/^no-/, '');
        const spec = def.flags[flag] ?? (['json', 'help'].includes(flag) ? { aliasOf: undefined } : undefined);
        expect(spec, `${span}: ${a}`).toBeDefined();
        expect(spec!.aliasOf, `${span}: ${a} is a deprecated name`).toBeUndefined();
      }
    }
  });

  it('every summary field a Summary paragraph names is a field of that command\'s summary', () => {
    const fields = summaryFields();
    // "Summary (`wit crawl --json`): `a`, `b` …" up to the end of the paragraph
    const paragraphs = README.split(/\n\s*\n/).flatMap((p) => [...p.matchAll(/Summary[^:\n]*?\(`wit ([a-z]+(?: (?:merge|import|export))?)[^`]*`[^)]*\):([\s\S]*)/g)]);
    expect(paragraphs.length).toBeGreaterThanOrEqual(8);
    for (const m of paragraphs) {
      const cmd = m[1]!;
      const known = fields.get(cmd);
      expect(known, `README names the summary of wit ${cmd}: add its type to SUMMARY_TYPES`).toBeDefined();
      const named = [...m[2]!.matchAll(/`([a-z][a-z0-9_]*)`/g)].map((x) => x[1]!).filter((x) => !['null', 'true', 'false'].includes(x));
      expect(named.length, cmd).toBeGreaterThan(0);
      for (const f of named) expect(known!.has(f), `wit ${cmd} summary has no field ${f}`).toBe(true);
    }
  }, 600_000);
});

describe('README.md, "Coming from img2dataset"', () => {
  const section = README.slice(README.indexOf('## Coming from img2dataset'), README.indexOf('\n## ', README.indexOf('## Coming from img2dataset') + 5));
  /** Rows of the markdown table that follows `heading`: the backticked names of each cell. */
  const table = (heading: string): string[][][] => {
    const at = section.indexOf(heading);
    expect(at, heading).toBeGreaterThan(0);
    const lines = section.slice(at).split('\n');
    const start = lines.findIndex((l) => l.startsWith('|'));
    const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
    return lines.slice(start + 2, end < 0 ? undefined : end).map((l) => l.split('|').slice(1, -1).map((c) => [...c.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)));
  };

  it('maps each img2dataset flag to the wit flag it is parsed as, both ways, and names every flag wit does not take', async () => {
    const crawl = (await loadCommand('crawl'))!;
    const rows = table('Flags, both ways').filter((r) => r[0]!.length);
    expect(rows.length).toBeGreaterThanOrEqual(15);
    const listed = new Set<string>();
    for (const [[theirs], [ours]] of rows as [string[], string[]][]) {
      const name = theirs!.slice(2);
      listed.add(name);
      const spec = crawl.flags[name];
      expect(spec, theirs).toBeDefined();
      // img2dataset's `--retries` is wit's own flag; every other row is a compat name of the wit flag shown
      if (spec!.compatOf) expect(`--${spec!.compatOf}`, theirs).toBe(ours);
      else expect(theirs, theirs).toBe(ours);
    }
    const compat = Object.entries(crawl.flags).filter(([, s]) => s.compatOf).map(([n]) => n);
    for (const n of compat) expect(listed.has(n), `--${n} is taken but missing from the README table`).toBe(true);
    for (const [n, s] of Object.entries(crawl.flags).filter(([, f]) => f.unsupported)) {
      expect(section, `README does not name img2dataset's --${n}`).toContain(`\`--${n}\``);
      expect(s.unsupported!.why.length).toBeGreaterThan(10);
    }
  });

  it('maps img2dataset\'s stats fields to fields wit writes', () => {
    const fields = summaryFields().get('crawl')!;
    // the shard stats: the writer's fields and the crawl's (src/crawl/block.ts), read from their types
    const shard = shardStatsFields();
    const rows = table('Stats, both ways');
    expect(rows.length).toBeGreaterThanOrEqual(8);
    for (const [, ours] of rows) for (const f of ours!) expect(fields.has(f) || shard.has(f), `wit writes no field ${f}`).toBe(true);
  }, 60_000);
});
