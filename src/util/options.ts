/**
 * Options declared once (docs/ARCHITECTURE.md, "Options"). Each stage writes one schema: per option its
 * type, default, bounds, choices and help text. From it come
 *   - the library's option types (`OptionsInput<typeof schema>` for callers, `Resolved…` after defaults),
 *   - validation with defaults filled in (`resolveOptions`), used by the library entry point,
 *   - the CLI flags and `--help` (`flagSpecs`), and the mapping back from parsed flags (`optionsFromFlags`).
 * A default or a bound therefore exists in exactly one place, as img2dataset's one `download(...)`
 * signature does for its CLI.
 */
import type { FlagSpec, FlagSpecs, ParsedFlags } from '../cli/args.js';
import { UsageError } from './errors.js';

export type OptionType = 'string' | 'int' | 'number' | 'boolean' | 'string[]' | 'number[]';

/** One option of a stage. */
export interface OptionSpec {
  type: OptionType;
  /** One line for --help and the doc comment of the library field. */
  help: string;
  default?: string | number | boolean | readonly string[] | readonly number[];
  /** Allowed values (string options). */
  choices?: readonly string[];
  /** Inclusive bounds (numbers, and each element of number lists). */
  min?: number;
  max?: number;
  /** Must be given (no default). */
  required?: boolean;
  /** Placeholder in --help, e.g. FILE. */
  metavar?: string;
  /** One-letter alias on the CLI. */
  short?: string;
  /** CLI flag name when it is not the kebab-case of the key (e.g. key `inputs`, flag `input`). */
  flag?: string;
  /** false: a library-only option, no CLI flag (tuning knobs, tests). */
  cli?: false;
  /** The CLI also takes it as a bare argument (`wit search "a red apple"`). */
  positional?: boolean;
  /** Heading of the flag in --help (input, matching, download, output, …); a command may also group its flags. */
  group?: string;
  /**
   * Earlier CLI names of the flag: still accepted, hidden from --help, each use prints a deprecation
   * line (docs/ARCHITECTURE.md, "One vocabulary").
   */
  aliases?: readonly string[];
  /**
   * Names another tool gives the same option (img2dataset's `--url_list` for `--input`): parsed as
   * this flag without a deprecation line, validated as it, named in --help (docs/ARCHITECTURE.md,
   * "Other tools' flags").
   */
  compat?: readonly CompatName[];
}

/** A flag name of another tool that means the same as a wit option, and how its values map. */
export interface CompatName {
  /** The flag as the other tool spells it, without dashes (`url_list`). */
  name: string;
  /** The tool, for --help and messages (`img2dataset`). */
  tool: string;
  /** Values the tool spells differently (`{ 'csv.gz': 'csv' }`), mapped before validation. */
  values?: Readonly<Record<string, string>>;
  /** A number given in another unit: multiplied by this (img2dataset's `--timeout` seconds to ms: 1000). */
  scale?: number;
}

/**
 * A flag of another tool that wit does not take, with why and what to use instead (one line). Values
 * in `harmless` (compared ignoring case; `*` for any) change nothing in wit: accepted with a note.
 */
export interface ForeignFlag {
  tool: string;
  why: string;
  harmless?: readonly string[];
}

export type OptionsSchema = Record<string, OptionSpec>;

type ScalarOf<S extends OptionSpec> = S['type'] extends 'int' | 'number'
  ? number
  : S['type'] extends 'boolean'
    ? boolean
    : S['type'] extends 'string[]'
      ? string[]
      : S['type'] extends 'number[]'
        ? number[]
        : S extends { choices: readonly (infer C)[] }
          ? C
          : string;

/** The value type of one option. */
export type OptionValue<S extends OptionSpec> = ScalarOf<S>;

type RequiredKeys<T extends OptionsSchema> = { [K in keyof T]: T[K] extends { required: true } ? K : never }[keyof T];
type DefaultedKeys<T extends OptionsSchema> = { [K in keyof T]: T[K] extends { default: unknown } ? K : never }[keyof T];

/** What a library caller passes: required options required, the rest optional. */
export type OptionsInput<T extends OptionsSchema> = { [K in RequiredKeys<T>]: OptionValue<T[K]> } & {
  [K in Exclude<keyof T, RequiredKeys<T>>]?: OptionValue<T[K]>;
};

/** After `resolveOptions`: options with a default or required are always present. */
export type ResolvedOptions<T extends OptionsSchema> = { [K in RequiredKeys<T> | DefaultedKeys<T>]: OptionValue<T[K]> } & {
  [K in Exclude<keyof T, RequiredKeys<T> | DefaultedKeys<T>>]?: OptionValue<T[K]>;
};

/** Declares a stage's schema, keeping literal types of defaults and choices for inference. */
export function defineOptions<const T extends OptionsSchema>(schema: T): T {
  return schema;
}

/** "min-count" -> "minCount". */
export function camel(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** "minCount" -> "min-count". */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The CLI flag name of an option. */
export function flagName(key: string, spec: OptionSpec): string {
  return spec.flag ?? kebab(key);
}

function describe(key: string, spec: OptionSpec): string {
  return spec.cli === false ? `option '${key}'` : `--${flagName(key, spec)}`;
}

function checkOne(stage: string, key: string, spec: OptionSpec, v: unknown): unknown {
  const name = describe(key, spec);
  const num = (x: unknown): number => {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new UsageError(stage, `${name} expects a number, got ${JSON.stringify(x)}`);
    if (spec.type === 'int' && !Number.isInteger(x)) throw new UsageError(stage, `${name} expects an integer, got ${x}`);
    if (spec.min !== undefined && x < spec.min) throw new UsageError(stage, `${name} must be >= ${spec.min}, got ${x}`);
    if (spec.max !== undefined && x > spec.max) throw new UsageError(stage, `${name} must be <= ${spec.max}, got ${x}`);
    return x;
  };
  const str = (x: unknown): string => {
    if (typeof x !== 'string') throw new UsageError(stage, `${name} expects text, got ${JSON.stringify(x)}`);
    if (spec.choices && !spec.choices.includes(x)) throw new UsageError(stage, `${name} must be one of ${spec.choices.join(', ')}, got '${x}'`);
    return x;
  };
  switch (spec.type) {
    case 'int':
    case 'number':
      return num(v);
    case 'boolean':
      if (typeof v !== 'boolean') throw new UsageError(stage, `${name} expects true or false, got ${JSON.stringify(v)}`);
      return v;
    case 'string':
      return str(v);
    case 'string[]':
      if (!Array.isArray(v)) throw new UsageError(stage, `${name} expects a list of text`);
      return v.map(str);
    case 'number[]':
      if (!Array.isArray(v)) throw new UsageError(stage, `${name} expects a list of numbers`);
      return v.map(num);
  }
}

/**
 * Fills defaults and validates every declared option of `input` against `schema`; keys the schema does
 * not declare (callbacks, signals, injected resources) pass through unchanged.
 * Throws UsageError (exit 2) naming the stage and the flag on a missing, mistyped or out-of-range value.
 */
export function resolveOptions<T extends OptionsSchema, I extends OptionsInput<T>>(stage: string, schema: T, input: I): ResolvedOptions<T> & Omit<I, keyof T> {
  const out: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const [key, spec] of Object.entries(schema)) {
    let v = out[key];
    if (v === undefined && spec.default !== undefined) v = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    if (v === undefined || (spec.required && Array.isArray(v) && v.length === 0)) {
      if (spec.required) throw new UsageError(stage, `${describe(key, spec)} is required`);
      delete out[key];
      continue;
    }
    out[key] = checkOne(stage, key, spec, v);
  }
  return out as ResolvedOptions<T> & Omit<I, keyof T>;
}

/** The CLI flags of a schema (options with `cli: false` have none), for parseFlags and --help. */
export function flagSpecs(schema: OptionsSchema): FlagSpecs {
  const flags: FlagSpecs = {};
  for (const [key, spec] of Object.entries(schema)) {
    if (spec.cli === false) continue;
    const f: FlagSpec = { type: spec.type, description: spec.help };
    if (spec.default !== undefined) f.default = (Array.isArray(spec.default) ? [...spec.default] : spec.default) as FlagSpec['default'];
    if (spec.choices) f.choices = spec.choices;
    if (spec.min !== undefined) f.min = spec.min;
    if (spec.max !== undefined) f.max = spec.max;
    if (spec.required) f.required = true;
    if (spec.metavar) f.metavar = spec.metavar;
    if (spec.short) f.short = spec.short;
    if (spec.positional) f.positional = true;
    if (spec.group) f.group = spec.group;
    const name = flagName(key, spec);
    if (spec.compat?.length) f.otherNames = spec.compat.map((c) => `${c.tool}\u00a0--${c.name}`); // kept on one line when wrapped
    flags[name] = f;
    for (const alias of spec.aliases ?? []) flags[alias] = { type: spec.type, description: `deprecated name of --${name}`, aliasOf: name };
    for (const c of spec.compat ?? []) {
      flags[c.name] = { type: spec.type, description: `${c.tool}'s name of --${name}`, compatOf: name, tool: c.tool, ...(c.values ? { values: c.values } : {}), ...(c.scale ? { scale: c.scale } : {}) };
    }
  }
  return flags;
}

/**
 * Flags of other tools that wit does not take (`ForeignFlag`): hidden from --help, and a use gets one
 * line saying why and what to use instead (exit 2), or a note when the value changes nothing.
 */
export function foreignFlagSpecs(table: Readonly<Record<string, ForeignFlag>>): FlagSpecs {
  const flags: FlagSpecs = {};
  for (const [name, f] of Object.entries(table)) flags[name] = { type: 'string', description: f.why, tool: f.tool, unsupported: { why: f.why, harmless: f.harmless ?? [] } };
  return flags;
}

/**
 * Sets the --help group of a command's flags: `groups` maps a heading to its flag names, in display
 * order. Throws on a name the command does not have, so that a renamed flag cannot drop out of its group.
 */
export function groupFlags(flags: FlagSpecs, groups: Record<string, readonly string[]>): FlagSpecs {
  const out: FlagSpecs = {};
  for (const [group, names] of Object.entries(groups)) {
    for (const name of names) {
      const f = flags[name];
      if (!f || f.aliasOf || f.compatOf || f.unsupported) throw new Error(`groupFlags: no flag --${name}`);
      out[name] = { ...f, group };
    }
  }
  for (const [name, f] of Object.entries(flags)) if (!out[name]) out[name] = f;
  return out;
}

/** Parsed flags (camelCase of the flag names) back to the schema's keys; undeclared flags are dropped. */
export function optionsFromFlags<T extends OptionsSchema>(schema: T, flags: ParsedFlags): OptionsInput<T> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    if (spec.cli === false) continue;
    const v = flags[camel(flagName(key, spec))];
    if (v !== undefined) out[key] = v;
  }
  return out as OptionsInput<T>;
}

/**
 * Validates one option's value against its schema entry (for a class that takes the value directly,
 * so the bound stays the schema's). Throws UsageError as resolveOptions does.
 */
export function checkOption<T extends OptionsSchema, K extends keyof T & string>(stage: string, schema: T, key: K, value: unknown): OptionValue<T[K]> {
  return checkOne(stage, key, schema[key]!, value) as OptionValue<T[K]>;
}

/** The default of one option, typed (for code that needs it outside resolveOptions, e.g. the demo). */
export function defaultOf<T extends OptionsSchema, K extends keyof T & string>(schema: T, key: K): OptionValue<T[K]> {
  const d = schema[key]!.default;
  if (d === undefined) throw new Error(`option ${key} has no default`);
  return d as OptionValue<T[K]>;
}
