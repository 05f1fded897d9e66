import type { FlagSpecs, HelpExample, ParsedFlags } from './args.js';
import type { ProgressSink } from '../util/progress.js';

/** What a command's `run` gets besides its flags. */
export interface CommandContext {
  /** Status line on stderr (overwritten in place on a TTY, throttled lines otherwise). */
  progress: ProgressSink;
  /** A log line on stderr. */
  log: (line: string) => void;
  /** True when --json was given: stdout is reserved for the summary. */
  json: boolean;
  /** Aborted on SIGINT/SIGTERM so that stages can finish cleanly (no half-written shard). */
  signal: AbortSignal;
}

/** What a command returns: a machine-readable summary and an optional human one-screen text. */
export interface CommandResult {
  summary: Record<string, unknown>;
  /** Printed on stdout when --json is not given; defaults to a key: value rendering of summary. */
  text?: string;
  /** Non-zero to signal failure without throwing. */
  exitCode?: number;
}

/** One subcommand: flags, help, and a run function that calls the library. */
export interface CommandDef {
  name: string;
  /** One line for `wit --help`. */
  summary: string;
  /** Usage line for `wit <cmd> --help`. */
  usage?: string;
  flags: FlagSpecs;
  /** 2–4 real command lines that end --help (test/cli/help.test.ts parses each with `flags`). */
  examples?: readonly HelpExample[];
  /** Order of the flag groups in --help (docs/ARCHITECTURE.md, "Help"). */
  groupOrder?: readonly string[];
  /** `wit NAME SUB …`: the subcommand named by the first argument runs instead (e.g. `wit model import`). */
  subcommands?: Record<string, CommandDef>;
  run(flags: ParsedFlags, ctx: CommandContext): Promise<CommandResult>;
}
