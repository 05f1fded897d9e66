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
}

export type FlagSpecs = Record<string, FlagSpec>;

/** Parsed values, keyed by the flag's camelCase name. */
export type ParsedFlags = Record<string, unknown>;

import { camel } from '../util/options.js';
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
      const s = suggest(name, Object.keys(all));
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
function collectValues(cmd: string, tokens: ArgTokens, specs: FlagSpecs, all: FlagSpecs, out: ParsedFlags): Map<string, string[]> {
  const rawValues = new Map<string, string[]>();
  let lastList: string | undefined;
  for (const tok of tokens) {
    if (tok.kind === 'option') {
      const spec = all[tok.name];
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
 * Returns camelCase keys with defaults filled in, plus `help` and `json`.
 * Throws UsageError (exit 2) on an unknown flag, a missing value, a bad number or choice.
 */
export function parseFlags(cmd: string, argv: string[], specs: FlagSpecs): ParsedFlags {
  const all = withCommonFlags(specs);
  const out: ParsedFlags = {};
  const rawValues = collectValues(cmd, tokenize(cmd, argv, all), specs, all, out);
  for (const [name, spec] of Object.entries(all)) {
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

/** The --help text of one command: usage line, then every flag with its default. */
export function formatHelp(cmd: string, summary: string, specs: FlagSpecs, usage?: string): string {
  const all = withCommonFlags(specs);
  const rows = Object.entries(all).map(([name, s]) => {
    const meta = s.type === 'boolean' ? '' : ` ${s.metavar ?? (s.choices ? s.choices.join('|') : s.type.replace('[]', '…').toUpperCase())}`;
    const left = `${s.short ? `-${s.short}, ` : '    '}--${name}${meta}`;
    const def = s.required ? ' (required)' : s.default !== undefined && !(Array.isArray(s.default) && s.default.length === 0) ? ` (default: ${Array.isArray(s.default) ? s.default.join(' ') : String(s.default)})` : '';
    return [left, `${s.description}${def}`] as const;
  });
  const w = Math.min(40, Math.max(...rows.map(([l]) => l.length)) + 2);
  const lines = rows.map(([l, r]) => (l.length + 2 > w ? `  ${l}\n  ${' '.repeat(w)}${r}` : `  ${l.padEnd(w)}${r}`));
  return `${usage ?? `wit ${cmd} [flags]`}\n\n${summary}\n\nFlags:\n${lines.join('\n')}\n`;
}
