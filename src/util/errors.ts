/**
 * Errors that stop a run. `exitCode` 2 means bad usage or bad input (the user can fix it),
 * anything else is a failure of the run itself (exit 1).
 */
export class WitError extends Error {
  /** Stage that raised it: cli, querygen, crawl, shards, train, filter, eval, report, demo. */
  readonly stage: string;
  /** File or input the error is about, when there is one. */
  readonly file?: string;
  readonly exitCode: number;

  constructor(stage: string, message: string, opts: { file?: string; exitCode?: number; cause?: unknown } = {}) {
    super(`${stage}: ${opts.file ? `${opts.file}: ` : ''}${message}`, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'WitError';
    this.stage = stage;
    this.file = opts.file;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** Bad usage or bad input file: exit code 2. */
export class UsageError extends WitError {
  constructor(stage: string, message: string, opts: { file?: string; cause?: unknown } = {}) {
    super(stage, message, { ...opts, exitCode: 2 });
    this.name = 'UsageError';
  }
}

/** Bad input data (a corrupt file, a malformed record): exit code 2, names the file and position. */
export class InputError extends WitError {
  constructor(stage: string, file: string, message: string, opts: { cause?: unknown } = {}) {
    super(stage, message, { ...opts, file, exitCode: 2 });
    this.name = 'InputError';
  }
}

/**
 * Message of any thrown value without a WitError's stage prefix ("train: dir: bad" -> "dir: bad"),
 * for wrapping it in the error of the stage that called (the CLI prefixes the command's name).
 */
export function messageWithoutStage(err: unknown): string {
  if (err instanceof WitError && err.message.startsWith(`${err.stage}: `)) return err.message.slice(err.stage.length + 2);
  return errorMessage(err);
}

/**
 * Message of any thrown value without a WitError's stage and file prefixes ("train: dir: bad" -> "bad"),
 * for a caller that names the file itself (a worker's reply, the report's problem list).
 */
export function messageWithoutFile(err: unknown): string {
  const m = messageWithoutStage(err);
  return err instanceof WitError && err.file && m.startsWith(`${err.file}: `) ? m.slice(err.file.length + 2) : m;
}

/** Message of any thrown value, for counting per-item failures. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Source locations native libraries put in their messages (LanceDB's Rust: `…/lance-io/src/local.rs:108:31`,
 * C++ `foo.cc:12`): they name files of the library's build machine, not the user's, and go.
 */
const SOURCE_LOCATION = /[,;]?\s*\(?(?:at\s+)?[^\s,;()'"]*\.(?:rs|cc|cpp|cxx|c|h|hpp):\d+(?::\d+)?\)?/g;

/**
 * A native library's message without its source locations (see SOURCE_LOCATION), on one line, a
 * "Caused by:" chain (Rust's) kept only for the causes that add words.
 */
export function nativeMessage(err: unknown): string {
  const parts = errorMessage(err).replace(SOURCE_LOCATION, '').split(/\s*Caused by:\s*/);
  let out = parts[0]!;
  for (const p of parts.slice(1)) {
    const bare = p.replace(/^\w*Error\(\w*\):\s*/, '').trim();
    if (bare && !out.includes(bare)) out += `: ${p}`;
  }
  return out.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * Gives a file-system error the path it is about when it has none: a write, fsync or close on an
 * open file fails with ENOSPC, EDQUOT or EIO but names no file, and "cannot write: no space left"
 * does not say which disk (docs/ARCHITECTURE.md, "Errors and dropped items"). The shared writers
 * (util/atomic.ts, the shard writers, the streamed outputs) pass their errors through it. Returns `err`.
 */
export function withPath(err: unknown, path: string): unknown {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e === 'object' && typeof e.code === 'string' && !e.path) {
    e.path = path;
    // the syscall of a FileHandle's write is 'write'; one without (a stream's) is a write too
    if (typeof e.syscall !== 'string') e.syscall = 'write';
  }
  return err;
}
