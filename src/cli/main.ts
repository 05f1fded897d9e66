import { formatHelp, helpWidth, parseFlags, suggest, wrap } from './args.js';
import { VERSION } from '../util/version.js';
import type { CommandDef, CommandResult } from './command.js';
import { UsageError, WitError } from '../util/errors.js';
import { describeFailure, escapeControls } from './failure.js';
import { requestInterrupt, startSignalWatcher } from '../util/interrupt.js';
import { setInputLimits } from '../util/input.js';
import { setBackendAnnouncer } from '../train/backend/inference-options.js';

/** Subcommands in help order; each module is loaded only when used (tfjs, sharp are heavy). */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandDef> }> = {
  querygen: { summary: 'build the query list from a Wikipedia dump, pageview files and WordNet', load: async () => (await import('./commands/querygen.js')).command },
  crawl: { summary: 'find <img> alt texts that contain a query, download, resize and write Parquet shards', load: async () => (await import('./commands/crawl.js')).command },
  train: { summary: 'train a CLIP (ViT + text Transformer) in TensorFlow.js on shards', load: async () => (await import('./commands/train.js')).command },
  filter: { summary: 'score pairs with a trained CLIP and keep the good ones (plus basic filters, dedup)', load: async () => (await import('./commands/filter.js')).command },
  eval: { summary: 'zero-shot accuracy and image<->text recall@K of a model on held-out shards', load: async () => (await import('./commands/eval.js')).command },
  embed: { summary: 'image and text embeddings of every pair into a LanceDB vector index', load: async () => (await import('./commands/embed.js')).command },
  search: { summary: 'the pairs closest to a text or an image, from an index', load: async () => (await import('./commands/search.js')).command },
  serve: { summary: 'a local search page over an index', load: async () => (await import('./commands/serve.js')).command },
  compare: { summary: 'does the curation help? train each recipe of one pool at fixed compute over seeds; table vs raw', load: async () => (await import('./commands/compare.js')).command },
  report: { summary: 'one self-contained HTML page with the queries, crawl, shards, training and filtering', load: async () => (await import('./commands/report.js')).command },
  model: { summary: "open_clip models: 'model import' (safetensors -> wit model dir), 'model export'", load: async () => (await import('./commands/model.js')).command },
  convert: { summary: 'turn Parquet shards into WebDataset tars (for open_clip) or back, without re-encoding images', load: async () => (await import('./commands/convert.js')).command },
  demo: { summary: 'run every stage offline on bundled data (WordNet, emoji images) and write a report', load: async () => (await import('./commands/demo.js')).command },
  doctor: { summary: 'check Node, native packages and the optional system programs; what works without each', load: async () => (await import('./commands/doctor.js')).command },
};

/** The command names, in help order. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/** A subcommand's definition by name, or undefined (the demo runs its stages through the same flags). */
export async function loadCommand(name: string): Promise<CommandDef | undefined> {
  return COMMANDS[name]?.load();
}

/** `wit --help`: the commands, one line each, wrapped to the terminal. */
export function topHelp(width = helpWidth()): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length)) + 4;
  const rows = Object.entries(COMMANDS).flatMap(([k, v]) => wrap(v.summary, width, w, w).map((l, i) => (i === 0 ? `  ${k.padEnd(w - 2)}${l}` : l)));
  const tail = wrap("Run 'wit help COMMAND' (or 'wit COMMAND --help') for its flags and examples. Start with 'wit demo' (about 2 minutes, offline). Exit codes: 0 ok, 2 bad usage or input, 1 failure.", width, 0);
  const head = wrap(`wit ${VERSION}: build WIT-like image-text corpora and train CLIP on them`, width, 0).join('\n');
  return `${head}\n\nUsage: wit COMMAND [flags]\n\nCommands:\n${rows.join('\n')}\n\n${tail.join('\n')}\n`;
}

/** The --help text of a command definition (a command, or a subcommand such as `embed merge`). */
export function commandHelp(cmd: CommandDef, width = helpWidth()): string {
  if (Object.keys(cmd.flags).length === 0 && cmd.subcommands) {
    const w = Math.max(...Object.keys(cmd.subcommands).map((k) => k.length)) + 4;
    const rows = Object.entries(cmd.subcommands).flatMap(([k, v]) => wrap(v.summary, width, w, w).map((l, i) => (i === 0 ? `  ${k.padEnd(w - 2)}${l}` : l)));
    return `Usage: ${cmd.usage ?? `wit ${cmd.name} SUBCOMMAND [flags]`}\n\n${wrap(cmd.summary, width, 0).join('\n')}\n\nSubcommands:\n${rows.join('\n')}\n\n${wrap(`Run 'wit help ${cmd.name} SUBCOMMAND' for its flags and examples.`, width, 0).join('\n')}\n`;
  }
  const subs = cmd.subcommands ? `\n\nSubcommands: ${Object.keys(cmd.subcommands).map((k) => `wit ${cmd.name} ${k}`).join(', ')} (wit help ${cmd.name} SUBCOMMAND)` : '';
  return formatHelp(cmd.name, `${cmd.summary}${subs}`, cmd.flags, cmd.usage, { width, examples: cmd.examples, groupOrder: cmd.groupOrder });
}

/**
 * One line for a command wit does not have: the nearest command when one is close (`crawll` ->
 * `did you mean 'crawl'?`), else the list; never the whole help (a typo gets one line, not a screen).
 */
export function unknownCommandLine(name: string): string {
  const near = suggest(name, COMMAND_NAMES);
  return `wit: unknown command '${name}'; ${near ? `did you mean '${near}'?` : `commands: ${COMMAND_NAMES.join(', ')}`} (wit --help lists them)\n`;
}

/** `wit help [COMMAND [SUBCOMMAND]]`: the same text as --help; exit 2 for an unknown name. */
async function helpFor(names: string[], io: CliIO): Promise<number> {
  if (!names.length) { io.stdout(topHelp()); return 0; }
  const entry = COMMANDS[names[0]!];
  if (!entry) { io.stderr(unknownCommandLine(names[0]!)); return 2; }
  let cmd = await entry.load();
  if (names[1] !== undefined) {
    const sub = cmd.subcommands?.[names[1]];
    if (!sub) { io.stderr(`wit help: ${names[0]} has no subcommand '${names[1]}'${cmd.subcommands ? ` (it has: ${Object.keys(cmd.subcommands).join(', ')})` : ''}\n`); return 2; }
    cmd = sub;
  }
  io.stdout(commandHelp(cmd));
  return 0;
}

/** Renders a summary object as aligned "key: value" lines (nested objects flattened one level). */
export function renderSummary(summary: Record<string, unknown>): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(summary)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const inner = Object.entries(v as Record<string, unknown>).map(([a, b]) => `${a}=${typeof b === 'number' && !Number.isInteger(b) ? b.toFixed(4) : JSON.stringify(b)}`);
      lines.push(`${k}: ${inner.join(' ')}`);
    } else {
      lines.push(`${k}: ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : Array.isArray(v) ? v.join(', ') : String(v)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Output streams, injectable for tests. */
export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  isTTY: boolean;
}

const defaultIO: CliIO = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  isTTY: Boolean(process.stderr.isTTY),
};

/**
 * Runs the CLI on argv (without node and script) and returns the exit code. Never throws.
 */
export async function runCli(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    io.stdout(topHelp());
    return name ? 0 : 2;
  }
  if (name === 'help') return helpFor(rest.filter((a) => !a.startsWith('-')), io);
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout(`wit ${VERSION}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    io.stderr(unknownCommandLine(name));
    return 2;
  }
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(sig === 'SIGTERM' ? 143 : 130);
    requestInterrupt(sig); // long computations (the GEMM pool) stop at their next piece of work
    io.stderr(`\nwit ${name}: ${sig} received, finishing cleanly (again to force)\n`);
    controller.abort(new WitError(name, `interrupted by ${sig}`));
  };
  let statusShown = false;
  let lastPlain = 0;
  // off a terminal, a line every 5 s at most; the last line a stage gave is never dropped (flushed at
  // the end), so that the last progress line is the stage's last word, equal to its summary
  let held: string | undefined;
  const progress = (raw: string) => {
    flushBackend();
    const line = escapeControls(raw);
    if (io.isTTY) {
      io.stderr(`\r\x1b[2K${line}`);
      statusShown = true;
    } else if (Date.now() - lastPlain >= 5000) {
      lastPlain = Date.now();
      held = undefined;
      io.stderr(`${line}\n`);
    } else {
      held = line;
    }
  };
  const flushProgress = () => {
    if (held !== undefined) io.stderr(`${held}\n`);
    held = undefined;
  };
  const log = (line: string) => {
    flushBackend();
    if (statusShown) { io.stderr('\r\x1b[2K'); statusShown = false; }
    io.stderr(`${escapeControls(line, { newlines: true })}\n`);
  };
  // The inference backend's line (src/train/backend/inference-options.ts) waits for the command's next
  // output or its success: a failing command prints only its one error line.
  let backendLine: string | undefined;
  const flushBackend = (): void => {
    if (backendLine === undefined) return;
    const line = backendLine;
    backendLine = undefined;
    log(line);
  };
  setBackendAnnouncer((line) => {
    backendLine = line;
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let running = name;
  let out: string | undefined;
  // Hears signals while the main thread is busy in a long computation (src/util/interrupt.ts).
  const watcher = await startSignalWatcher(name);
  try {
    let cmd = await entry.load();
    let args = rest;
    // A command with subcommands and flags of its own (wit embed, wit embed merge) runs itself unless
    // the first argument names a subcommand; one without flags (wit model) needs a subcommand.
    const ownFlags = Object.keys(cmd.flags).length > 0;
    if (cmd.subcommands && (!ownFlags || cmd.subcommands[rest[0] ?? ''])) {
      const sub = cmd.subcommands[rest[0] ?? ''];
      if (!sub) {
        const list = Object.keys(cmd.subcommands).join(', ');
        if (rest[0] === '--help' || rest[0] === '-h') { io.stdout(commandHelp(cmd)); return 0; }
        const typed = rest[0] !== undefined && !rest[0].startsWith('-') ? rest[0] : undefined;
        const near = typed === undefined ? undefined : suggest(typed, Object.keys(cmd.subcommands));
        if (typed !== undefined) throw new UsageError(name, `has no subcommand '${typed}'; ${near ? `did you mean '${near}'?` : `its subcommands: ${list}`}`);
        throw new UsageError(name, `needs a subcommand: ${list}`);
      }
      cmd = sub;
      running = sub.name;
      args = rest.slice(1);
    }
    const flags = parseFlags(cmd.name, args, cmd.flags, (line) => io.stderr(`${line}\n`));
    if (typeof flags.out === 'string') out = flags.out;
    if (flags.help) {
      io.stdout(commandHelp(cmd));
      return 0;
    }
    // the input size limits of this run (src/util/input.ts); defaults unless --max-input-size is given
    setInputLimits((flags.maxInputSize as string[] | undefined) ?? [], { stage: cmd.name, reset: true });
    const result: CommandResult = await cmd.run(flags, { progress, log, json: Boolean(flags.json), signal: controller.signal });
    flushBackend();
    flushProgress();
    if (statusShown) io.stderr('\n');
    if (flags.json) io.stdout(JSON.stringify(result.summary, null, 2) + '\n');
    else io.stdout(escapeControls(result.text ?? renderSummary(result.summary), { newlines: true }));
    return result.exitCode ?? 0;
  } catch (err) {
    // a failing command prints its one error line: the held progress line is the summary of a success only
    held = undefined;
    if (statusShown) io.stderr('\n');
    const failure = describeFailure(running, err, { out });
    io.stderr(`${failure.line}\n`);
    if (process.env.WIT_DEBUG && failure.stack) io.stderr(`${failure.stack}\n`);
    return failure.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await watcher?.stop();
  }
}
