import { parseArgs } from 'node:util';
import { UsageError } from '../util/errors.js';

/** Kinds of value a flag takes. Lists accept `--f a b` and `--f a --f b`. */
export type FlagType = 'string' | 'int' | 'number' | 'boolean' | 'string[]' | 'number[]';

/** One flag of a command, with everything `--help` shows and validation needs. */
export interface FlagSpec {
  type: FlagType;
  /** One line for --help. */
  description: string;
  /** Default value, shown by --help; absent = no default (undefined when not given). */
  default?: string | number | boolean | string[] | number[];
  /** Allowed values for string flags. */
  choices?: readonly string[];
  /** Inclusive bounds for numbers. */
  min?: number;
  max?: number;
  /** Must be given. */
  required?: boolean;
  /** Placeholder in help, e.g. FILE. */
  metavar?: string;
  /** One-letter alias. */
  short?: string;
  /** Takes a bare argument not consumed by a list flag (`wit search "a red apple"`); one per command. */
  positional?: boolean;
  /** Heading this flag is listed under in --help (input, matching, download, output, …). */
  group?: string;
  /**
   * A deprecated name of the flag named here: hidden from --help, still parsed (as that flag), and a
   * deprecation line goes to stderr (docs/ARCHITECTURE.md, "One vocabulary").
   */
  aliasOf?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

/** Parsed values, keyed by the flag's camelCase name. */
export type ParsedFlags = Record<string, unknown>;

import { camel } from '../util/options.js';
import { inputLimitsHelp } from '../util/input.js';
export { camel };

function convert(cmd: string, flag: string, spec: FlagSpec, raw: string): string | number {
  if (spec.type === 'int' || spec.type === 'number' || spec.type === 'number[]') {
    const v = Number(raw.replace(/_/g, ''));
    if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(cmd, `--${flag} expects a number, got '${raw}'`);
    if (spec.type === 'int' && !Number.isInteger(v)) throw new UsageError(cmd, `--${flag} expects an integer, got '${raw}'`);
    if (spec.min !== undefined && v < spec.min) throw new UsageError(cmd, `--${flag} must be >= ${spec.min}, got ${raw}`);
    if (spec.max !== undefined && v > spec.max) throw new UsageError(cmd, `--${flag} must be <= ${spec.max}, got ${raw}`);
    return v;
  }
  if (spec.choices && !spec.choices.includes(raw)) {
    throw new UsageError(cmd, `--${flag} must be one of ${spec.choices.join(', ')}, got '${raw}'`);
  }
  return raw;
}

/** Closest known flag, for "did you mean". */
function suggest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) { bestD = d; best = k; }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

/** The flags every command has besides its own. */
function withCommonFlags(specs: FlagSpecs): FlagSpecs {
  return {
    ...specs,
    json: { type: 'boolean', description: 'print the summary as JSON on stdout', default: false },
    // every command reads its inputs through src/util/input.ts (docs/ARCHITECTURE.md, "Reading inputs")
    'max-input-size': { type: 'string[]', metavar: 'KIND=SIZE…', description: inputLimitsHelp() },
    help: { type: 'boolean', description: 'show this help', default: false, short: 'h' },
  };
}

type ArgTokens = NonNullable<ReturnType<typeof parseArgs>['tokens']>;

const NEGATIVE_NUMBER = /^-(?:\d|\.\d|Infinity$)/;

/**
 * node's parseArgs refuses `--min-similarity -1` as ambiguous (a value that looks like a flag). A
 * negative number after a numeric flag (and after the values of a numeric list flag) is its value:
 * rewritten as `--flag=-1`, which parseArgs takes. Anything else is left as it was.
 */
function joinNegativeNumbers(argv: string[], all: FlagSpecs): string[] {
  const numeric = (name: string | undefined): FlagSpec | undefined => {
    const s = name === undefined ? undefined : all[name];
    return s && (s.type === 'int' || s.type === 'number' || s.type === 'number[]') ? s : undefined;
  };
  const byShort = new Map(Object.entries(all).filter(([, s]) => s.short).map(([n, s]) => [s.short!, n]));
  const out: string[] = [];
  let pending: string | undefined; // a numeric flag just seen, its value not yet
  let list: string | undefined; // a numeric list flag whose values go on
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { out.push(...argv.slice(i)); break; }
    if ((pending || list) && NEGATIVE_NUMBER.test(a)) {
      const name = (pending ?? list)!;
      if (pending) out.pop();
      out.push(`--${name}=${a}`);
      pending = undefined;
      continue;
    }
    pending = undefined;
    const long = /^--([^=]+)$/.exec(a)?.[1];
    const name = long ?? (/^-([^-])$/.test(a) ? byShort.get(a[1]!) : undefined);
    const spec = numeric(name);
    if (spec) {
      pending = name;
      list = spec.type === 'number[]' ? name : undefined;
    } else if (a.startsWith('-')) list = undefined;
    out.push(a);
  }
  return out;
}

/** node's parseArgs over argv, its errors turned into UsageErrors that say what to do. */
function tokenize(cmd: string, argv: string[], all: FlagSpecs): ArgTokens {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, s] of Object.entries(all)) {
    options[name] = { type: s.type === 'boolean' ? 'boolean' : 'string', multiple: s.type.endsWith('[]') };
    if (s.short) options[name]!.short = s.short;
    // --no-foo for booleans that default to true
    if (s.type === 'boolean') options[`no-${name}`] = { type: 'boolean' };
  }
  try {
    return parseArgs({ args: joinNegativeNumbers(argv, all), options, strict: true, allowPositionals: true, tokens: true, allowNegative: false } as Parameters<typeof parseArgs>[0]).tokens ?? [];
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const m = /Unknown option '(--?[^']+)'/.exec(msg);
    if (m) {
      const name = m[1]!.replace(/^-+/, '').split('=')[0]!;
      const s = suggest(name, Object.keys(all).filter((k) => !all[k]!.aliasOf));
      throw new UsageError(cmd, `unknown flag '${m[1]}'${s ? ` (did you mean --${s}?)` : ''}; see wit ${cmd} --help`);
    }
    const m2 = /Option '(?:-\w, )?(--[^ ]+) <value>' argument missing/.exec(msg);
    if (m2) throw new UsageError(cmd, `${m2[1]} needs a value`);
    const m3 = /Option '(?:-\w, )?(--[^ ']+)' does not take an argument/.exec(msg);
    if (m3) throw new UsageError(cmd, `${m3[1]} takes no value`);
    throw new UsageError(cmd, msg.replace(/\. To specify.*$/s, ''));
  }
}

/**
 * Walks the tokens: booleans go straight into `out`, valued flags into raw strings per flag. List
 * flags take the positionals that follow them (`--f a b`); a command's `positional` flag takes a bare
 * argument.
 */
function collectValues(cmd: string, tokens: ArgTokens, specs: FlagSpecs, all: FlagSpecs, out: ParsedFlags, onDeprecated?: (line: string) => void): Map<string, string[]> {
  const rawValues = new Map<string, string[]>();
  let lastList: string | undefined;
  for (const tok of tokens) {
    if (tok.kind === 'option') {
      let spec = all[tok.name];
      if (spec?.aliasOf) {
        onDeprecated?.(`wit ${cmd}: --${tok.name} is deprecated, use --${spec.aliasOf} (same meaning)`);
        (tok as { name: string }).name = spec.aliasOf;
        spec = all[spec.aliasOf];
      }
      if (tok.name.startsWith('no-') && !spec) {
        out[camel(tok.name.slice(3))] = false;
        lastList = undefined;
        continue;
      }
      if (!spec) continue;
      if (spec.type === 'boolean') {
        if (tok.value !== undefined) throw new UsageError(cmd, `--${tok.name} takes no value`);
        out[camel(tok.name)] = true;
        lastList = undefined;
        continue;
      }
      const v = tok.value ?? '';
      if (v.startsWith('--') && tok.inlineValue !== true) throw new UsageError(cmd, `--${tok.name} needs a value, got the flag '${v}'`);
      const list = rawValues.get(tok.name) ?? [];
      if (!spec.type.endsWith('[]')) list.length = 0; // last one wins for scalars
      list.push(v);
      rawValues.set(tok.name, list);
      lastList = spec.type.endsWith('[]') ? tok.name : undefined;
    } else if (tok.kind === 'positional') {
      const bare = lastList ? undefined : Object.keys(specs).find((n) => specs[n]!.positional && !rawValues.has(n));
      if (bare) {
        rawValues.set(bare, [tok.value]);
        continue;
      }
      if (!lastList) throw new UsageError(cmd, `unexpected argument '${tok.value}'; see wit ${cmd} --help`);
      rawValues.get(lastList)!.push(tok.value);
    } else {
      lastList = undefined; // '--' terminator
    }
  }
  return rawValues;
}

/**
 * Parses argv for one command against its flag specs (node's util.parseArgs underneath).
 * Returns camelCase keys with defaults filled in, plus `help` and `json`. A deprecated flag name
 * (`aliasOf`) counts as the flag it names; `onDeprecated` gets one line for each use.
 * Throws UsageError (exit 2) on an unknown flag, a missing value, a bad number or choice.
 */
export function parseFlags(cmd: string, argv: string[], specs: FlagSpecs, onDeprecated?: (line: string) => void): ParsedFlags {
  const all = withCommonFlags(specs);
  const out: ParsedFlags = {};
  const rawValues = collectValues(cmd, tokenize(cmd, argv, all), specs, all, out, onDeprecated);
  for (const [name, spec] of Object.entries(all)) {
    if (spec.aliasOf) continue;
    const key = camel(name);
    const raw = rawValues.get(name);
    if (raw) {
      const vals = raw.map((r) => convert(cmd, name, spec, r));
      out[key] = spec.type.endsWith('[]') ? vals : vals[vals.length - 1];
    } else if (out[key] === undefined && spec.default !== undefined) {
      out[key] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    }
  }
  if (!out.help) {
    for (const [name, spec] of Object.entries(all)) {
      const v = out[camel(name)];
      if (spec.required && (v === undefined || (Array.isArray(v) && v.length === 0))) {
        throw new UsageError(cmd, `--${name} is required; see wit ${cmd} --help`);
      }
    }
  }
  return out;
}

/** One example of a command's --help: what it does, and the command line (which a test parses). */
export interface HelpExample {
  what: string;
  cmd: string;
}

/** Layout of --help. */
export interface HelpOptions {
  /** Line width (the terminal's columns; 100 when stdout is not a terminal). */
  width?: number;
  examples?: readonly HelpExample[];
  /** Order of the flag groups; groups not named here follow in first-seen order, "other" last. */
  groupOrder?: readonly string[];
}

/** The width --help wraps to: the terminal's columns, 100 when stdout is not a terminal (a pipe, a file). */
export function helpWidth(): number {
  const c = process.stdout.isTTY ? process.stdout.columns : undefined;
  return c && c >= 40 ? Math.min(c, 160) : 100;
}

/**
 * Word-wraps `text` to `width` columns: the first line starts after `first` characters already on it,
 * the following ones are indented by `indent`. A word longer than a line (a url) is broken.
 */
export function wrap(text: string, width: number, indent: number, first = indent): string[] {
  const lines: string[] = [];
  let line = '';
  let room = width - first;
  const push = () => {
    lines.push(line);
    line = '';
    room = width - indent;
  };
  for (let word of text.split(/[ \t\n\r]+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > room) push();
    while (word.length > room) {
      if (line) push();
      lines.push(word.slice(0, room));
      word = word.slice(room);
      room = width - indent;
    }
    line = line ? `${line} ${word}` : word;
  }
  if (line || !lines.length) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : ' '.repeat(indent) + l).replace(/\u00a0/g, ' '));
}

/** Paragraphs (split at blank lines) of `text`, each word-wrapped to `width`. */
function paragraphs(text: string, width: number, indent = 0): string {
  return text.split(/\n\s*\n/).map((p) => wrap(p, width, indent, indent).map((l, i) => (i === 0 ? ' '.repeat(indent) + l : l)).join('\n')).join('\n\n');
}

/** The left column of a flag in --help: `-h, --help`, `    --out DIR`. */
function flagLabel(name: string, s: FlagSpec): string {
  const meta = s.type === 'boolean' ? '' : ` ${s.metavar ?? (s.choices ? s.choices.join('|') : s.type.replace('[]', '…').toUpperCase())}`;
  return `${s.short ? `-${s.short}, ` : '    '}--${name}${meta}`;
}

/** The description of a flag in --help, with its default (or "required"). */
function flagText(s: FlagSpec): string {
  const hasDefault = s.default !== undefined && !(Array.isArray(s.default) && s.default.length === 0) && !(s.type === 'boolean' && s.default === false);
  // a no-break space keeps "(default: X)" on one line when wrapped (wrap turns it back into a space)
  const def = s.required ? ' (required)' : hasDefault ? ` (default:\u00a0${Array.isArray(s.default) ? s.default.join(' ') : String(s.default)})` : '';
  return `${s.description}${def}`;
}

/**
 * The --help text of one command: usage, summary, the flags under their group headings (deprecated
 * names hidden), and examples; every line fits `width` (docs/ARCHITECTURE.md, "Help").
 */
export function formatHelp(cmd: string, summary: string, specs: FlagSpecs, usage?: string, opts: HelpOptions = {}): string {
  const width = Math.max(40, opts.width ?? helpWidth());
  const all = withCommonFlags(specs);
  const groups = new Map<string, [string, FlagSpec][]>();
  for (const g of opts.groupOrder ?? []) groups.set(g, []);
  const common = new Set(['json', 'max-input-size', 'help']);
  for (const [name, s] of Object.entries(all)) {
    if (s.aliasOf) continue;
    const g = common.has(name) ? 'common' : s.group ?? 'other';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push([name, s]);
  }
  for (const last of ['other', 'common']) {
    const rows = groups.get(last);
    if (rows) { groups.delete(last); groups.set(last, rows); }
  }
  const labels = Object.entries(all).filter(([, s]) => !s.aliasOf).map(([n, s]) => flagLabel(n, s).length);
  // the description column: after the longest label, within reason for narrow terminals
  const col = Math.min(Math.max(...labels) + 4, Math.max(24, Math.floor(width * 0.4)));
  const out: string[] = [];
  // each usage form on its own line after 'Usage: ', continuations indented below it
  const usageLines = (usage ?? `wit ${cmd} [flags]`).split('\n').flatMap((u, k) => wrap(u.trim(), width, 11, 7).map((l, i) => (i === 0 ? `${k === 0 ? 'Usage: ' : '       '}${l}` : l)));
  out.push(...usageLines, '', paragraphs(summary, width), '');
  for (const [group, rows] of groups) {
    if (!rows.length) continue;
    out.push(`${group[0]!.toUpperCase()}${group.slice(1)}${group === 'common' ? ' flags' : ''}:`);
    for (const [name, s] of rows) {
      const label = `  ${flagLabel(name, s)}`;
      if (label.length + 2 > col) {
        out.push(...(label.length <= width ? [label] : wrap(label.trim(), width, 6, 2).map((l, i) => (i === 0 ? `  ${l}` : l))));
        out.push(...wrap(flagText(s), width, col, col).map((l, i) => (i === 0 ? ' '.repeat(col) + l : l)));
      } else {
        out.push(...wrap(flagText(s), width, col, col).map((l, i) => (i === 0 ? label.padEnd(col) + l : l)));
      }
    }
    out.push('');
  }
  if (opts.examples?.length) {
    out.push('Examples:');
    for (const e of opts.examples) {
      out.push(...wrap(`# ${e.what}`, width, 4, 2).map((l, i) => (i === 0 ? `  ${l}` : l.replace(/^ {4}/, '  # '))));
      // a long command continues on the next line after ' \\', so that it still pastes into a shell
      out.push(...wrap(e.cmd, width - 2, 6, 2).map((l, i, a) => (i === 0 ? `  ${l}` : l) + (i < a.length - 1 ? ' \\' : '')));
    }
    out.push('');
  }
  return out.join('\n').replace(/\n+$/, '') + '\n';
}
