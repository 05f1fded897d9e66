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
  /** Another tool's name of the flag named here (img2dataset's `url_list`): parsed as it, silently. */
  compatOf?: string;
  /** The tool of a `compatOf` or `unsupported` flag. */
  tool?: string;
  /** `compatOf`: values the tool spells differently, mapped before validation. */
  values?: Readonly<Record<string, string>>;
  /** `compatOf`: a number in another unit, multiplied by this. */
  scale?: number;
  /** Other tools' names of this flag, shown in --help (`img2dataset --url_list`). */
  otherNames?: readonly string[];
  /** Another tool's flag wit does not take: a use is refused with `why`, or noted for a harmless value. */
  unsupported?: { why: string; harmless: readonly string[] };
}

/** A flag --help does not list: a deprecated name, another tool's name, or another tool's unsupported flag. */
export function hiddenFlag(s: FlagSpec): boolean {
  return Boolean(s.aliasOf || s.compatOf || s.unsupported);
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

/**
 * Closest known name, for "did you mean" (flags and commands): `_` and `-` count as the same, so that
 * `--url-list` finds img2dataset's `--url_list`. Undefined when nothing is close.
 */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const norm = (x: string) => x.toLowerCase().replace(/_/g, '-');
  for (const k of known) {
    const d = editDistance(norm(name), norm(k));
    if (d < bestD) { bestD = d; best = k; }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** "did you mean --input?" for an unknown flag, naming the wit flag when the nearest is another tool's name. */
function flagHint(name: string, all: FlagSpecs): string {
  const s = suggest(name, Object.keys(all).filter((k) => !all[k]!.aliasOf));
  if (!s) return '';
  const spec = all[s]!;
  if (spec.compatOf) return ` (did you mean --${spec.compatOf}, ${spec.tool}'s --${s}?)`;
  if (spec.unsupported) return ` (${spec.tool}'s --${s} is not taken: ${spec.unsupported.why})`;
  return ` (did you mean --${s}?)`;
}

const PY_BOOLEAN = /^(true|false|1|0|yes|no)$/i;

/**
 * Other tools' ways of writing flags, rewritten before parsing (docs/ARCHITECTURE.md, "Other tools'
 * flags"): a boolean given a value as Python's fire takes it (`--resize_only_if_bigger False`,
 * `--x=True`) becomes `--flag` / `--no-flag`; an unsupported flag of another tool is refused with its
 * one line, or dropped with a note when its value changes nothing in wit.
 */
function foreignSyntax(cmd: string, argv: string[], all: FlagSpecs, onNote?: (line: string) => void): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { out.push(...argv.slice(i)); break; }
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(a);
    const spec = m ? all[m[1]!] : undefined;
    if (!m || !spec || !(spec.unsupported || (spec.compatOf && spec.type === 'boolean'))) { out.push(a); continue; }
    const name = m[1]!;
    let value = m[2];
    const next = argv[i + 1];
    if (value === undefined && next !== undefined && (spec.unsupported ? !next.startsWith('--') : PY_BOOLEAN.test(next))) { value = next; i++; }
    if (spec.unsupported) {
      const v = value ?? 'True';
      const { why, harmless } = spec.unsupported;
      if (harmless.includes('*') || harmless.some((h) => h.toLowerCase() === v.toLowerCase())) {
        onNote?.(`wit ${cmd}: --${name} ${v} (${spec.tool}) ignored: ${why}`);
        continue;
      }
      throw new UsageError(cmd, `--${name} is ${spec.tool}'s and wit does not take it: ${why}`);
    }
    if (value !== undefined && !PY_BOOLEAN.test(value)) throw new UsageError(cmd, `--${name} expects True or False, got '${value}'`);
    out.push(value === undefined || /^(true|1|yes)$/i.test(value) ? `--${spec.compatOf}` : `--no-${spec.compatOf}`);
  }
  return out;
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
function tokenize(cmd: string, argv: string[], all: FlagSpecs, onNote?: (line: string) => void): ArgTokens {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, s] of Object.entries(all)) {
    options[name] = { type: s.type === 'boolean' ? 'boolean' : 'string', multiple: s.type.endsWith('[]') };
    if (s.short) options[name]!.short = s.short;
    // --no-foo for booleans that default to true
    if (s.type === 'boolean') options[`no-${name}`] = { type: 'boolean' };
  }
  try {
    return parseArgs({ args: joinNegativeNumbers(foreignSyntax(cmd, argv, all, onNote), all), options, strict: true, allowPositionals: true, tokens: true, allowNegative: false } as Parameters<typeof parseArgs>[0]).tokens ?? [];
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    const m = /Unknown option '(--?[^']+)'/.exec(msg);
    if (m) {
      const name = m[1]!.replace(/^-+/, '').split('=')[0]!;
      throw new UsageError(cmd, `unknown flag '${m[1]}'${flagHint(name, all)}; see wit ${cmd} --help`);
    }
    const m2 = /Option '(?:-\w, )?(--[^ ]+) <value>' argument missing/.exec(msg);
    if (m2) throw new UsageError(cmd, `${m2[1]} needs a value`);
    const m3 = /Option '(?:-\w, )?(--[^ ']+)' does not take an argument/.exec(msg);
    if (m3) throw new UsageError(cmd, `${m3[1]} takes no value`);
    throw new UsageError(cmd, msg.replace(/\. To specify.*$/s, ''));
  }
}

/** A value given under another tool's flag name, in wit's spelling and unit. */
function compatValue(cmd: string, compat: FlagSpec, v: string): string {
  const mapped = compat.values?.[v] ?? v;
  if (!compat.scale) return mapped;
  const n = Number(mapped);
  if (mapped.trim() === '' || !Number.isFinite(n)) throw new UsageError(cmd, `--${compat.compatOf} (${compat.tool}'s name) expects a number, got '${v}'`);
  return String(n * compat.scale);
}

/**
 * A list given as JSON, as img2dataset's fire takes it (`--save_additional_columns '["uid","key"]'`):
 * its elements, each as text. Throws UsageError when it is not a JSON list of strings or numbers.
 */
function jsonList(cmd: string, flag: string, v: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw new UsageError(cmd, `--${flag}: '${v}' starts like a JSON list but is not one`);
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string' || typeof x === 'number')) throw new UsageError(cmd, `--${flag} expects a list of text or numbers, got '${v}'`);
  return parsed.map(String);
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
      let compat: FlagSpec | undefined;
      if (spec?.aliasOf) {
        onDeprecated?.(`wit ${cmd}: --${tok.name} is deprecated, use --${spec.aliasOf} (same meaning)`);
        (tok as { name: string }).name = spec.aliasOf;
        spec = all[spec.aliasOf];
      } else if (spec?.compatOf) {
        compat = spec;
        (tok as { name: string }).name = spec.compatOf;
        spec = all[spec.compatOf];
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
      let v = tok.value ?? '';
      if (v.startsWith('--') && tok.inlineValue !== true) throw new UsageError(cmd, `--${tok.name} needs a value, got the flag '${v}'`);
      if (compat) v = compatValue(cmd, compat, v);
      const list = rawValues.get(tok.name) ?? [];
      if (!spec.type.endsWith('[]')) list.length = 0; // last one wins for scalars
      if (spec.type.endsWith('[]') && v.trimStart().startsWith('[')) list.push(...jsonList(cmd, tok.name, v));
      else list.push(v);
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
  const rawValues = collectValues(cmd, tokenize(cmd, argv, all, onDeprecated), specs, all, out, onDeprecated);
  for (const [name, spec] of Object.entries(all)) {
    if (hiddenFlag(spec)) continue;
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
  const other = s.otherNames?.length ? ` [${s.otherNames.join(', ')}]` : '';
  return `${s.description}${def}${other}`;
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
    if (hiddenFlag(s)) continue;
    const g = common.has(name) ? 'common' : s.group ?? 'other';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push([name, s]);
  }
  for (const last of ['other', 'common']) {
    const rows = groups.get(last);
    if (rows) { groups.delete(last); groups.set(last, rows); }
  }
  const labels = Object.entries(all).filter(([, s]) => !hiddenFlag(s)).map(([n, s]) => flagLabel(n, s).length);
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
