/**
 * The one line a failed command prints (README.md, "Exit codes and errors"): `wit COMMAND: what went
 * wrong`, the prefix naming the command the user ran (not the library stage that raised the error),
 * no stack trace unless WIT_DEBUG is set.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { WitError, nativeMessage } from '../util/errors.js';

/** What the CLI prints and returns for an error. */
export interface Failure {
  /** One line, without the trailing newline. */
  line: string;
  exitCode: number;
  /** The stack, shown only with WIT_DEBUG. */
  stack?: string;
}

/** Reasons of file-system errors, by errno code. */
const FS_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'is a folder, not a file',
  EEXIST: 'already exists',
  ENOENT: 'no such file or folder',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EMFILE: 'too many open files',
  EIO: 'input/output error (a failing disk or a network file system)',
};

/**
 * Out of space or file handles, a read-only file system, a failing disk: the run failed (1), and a
 * rerun on another disk resumes; every other path problem is the user's to fix (2).
 */
const RUN_FAILURES = new Set(['ENOSPC', 'EDQUOT', 'EMFILE', 'EROFS', 'EIO']);

const VERBS: Record<string, string> = {
  mkdir: 'create the folder',
  open: 'open',
  write: 'write',
  fsync: 'write',
  close: 'write',
  rename: 'rename',
  unlink: 'remove',
  rmdir: 'remove',
  rm: 'remove',
  scandir: 'read the folder',
  copyfile: 'copy',
  symlink: 'link',
  access: 'reach',
  stat: 'reach',
  lstat: 'reach',
  realpath: 'reach',
  mkdtemp: 'create a temporary folder in',
};

/** The file a temporary name stands for (util/atomic.ts writes `.NAME.tmp-…` beside NAME, some writers `NAME.tmp-…`). */
function shownPath(path: string): string {
  return path.replace(/(^|[\\/])\.?([^\\/]+)\.tmp-[^\\/]*$/, '$1$2');
}

/**
 * The real reason a recursive mkdir failed with ENOENT: Node's `mkdir(p, { recursive: true })` says
 * ENOENT for a folder it cannot create on a read-only file system (or in a folder it may not write),
 * which would be reported as "no such file or folder". The nearest folder that exists is asked
 * whether it can be written (access W_OK: EROFS on a read-only mount, EACCES without permission);
 * ENOENT stays when nothing else is wrong.
 */
export function realMkdirCode(path: string): string {
  let dir = dirname(path);
  for (let i = 0; i < 256 && dir !== dirname(dir); i++, dir = dirname(dir)) {
    let st;
    try {
      st = statSync(dir);
    } catch {
      continue;
    }
    if (!st.isDirectory()) return 'ENOTDIR';
    try {
      accessSync(dir, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code && code !== 'ENOENT' && code in FS_REASONS) return code;
    }
    return 'ENOENT';
  }
  return 'ENOENT';
}

/** A Node file-system error (code, syscall, path), as one sentence; undefined for anything else. */
export function describeFsError(err: unknown): { text: string; exitCode: number } | undefined {
  const e = err as (NodeJS.ErrnoException & { dest?: string }) | undefined;
  if (!e || typeof e.code !== 'string' || !(e.code in FS_REASONS) || typeof e.syscall !== 'string') return undefined;
  const verb = VERBS[e.syscall] ?? e.syscall;
  const path = e.path ? ` ${shownPath(e.path)}${e.dest ? ` to ${shownPath(e.dest)}` : ''}` : '';
  const code = e.code === 'ENOENT' && e.syscall === 'mkdir' && e.path ? realMkdirCode(e.path) : e.code;
  return { text: `cannot ${verb}${path}: ${FS_REASONS[code]}`, exitCode: RUN_FAILURES.has(code) ? 1 : 2 };
}

/**
 * The line for an error thrown by command `command` (e.g. "eval", "model import"). A WitError's
 * own stage prefix is replaced by the command (library stages such as `train` raise errors while
 * `wit eval` loads a model); `wit demo`, which runs every stage, keeps the stage after its name.
 * File-system errors name the path and the reason (exit 2, or 1 when the disk is full); anything
 * else is a failure of the run (exit 1).
 */
export function describeFailure(command: string, err: unknown, context: { out?: string } = {}): Failure {
  const stack = err instanceof Error ? err.stack : undefined;
  if (err instanceof WitError) {
    const own = `${err.stage}: `;
    const rest = err.message.startsWith(own) ? err.message.slice(own.length) : err.message;
    const stage = command === 'demo' && err.stage !== 'demo' && err.stage !== 'cli' ? `${err.stage}: ` : '';
    return { line: escapeControls(`wit ${command}: ${stage}${oneLine(rest)}`), exitCode: err.exitCode, stack };
  }
  const fsErr = (describeFsError(err) ? err : describeFsError((err as { cause?: unknown } | undefined)?.cause) ? (err as { cause?: unknown }).cause : undefined) as NodeJS.ErrnoException | undefined;
  // A write to an open file names no path (ENOSPC from write(2)): the shared writers add theirs
  // (withPath), and whatever still has none was writing the run's output, so --out is named.
  if (fsErr && !fsErr.path && context.out && RUN_FAILURES.has(String(fsErr.code))) fsErr.path = context.out;
  const fs = fsErr && describeFsError(fsErr);
  if (fs) return { line: escapeControls(`wit ${command}: ${fs.text}`), exitCode: fs.exitCode, stack };
  return { line: escapeControls(`wit ${command}: ${oneLine(nativeMessage(err))}`), exitCode: 1, stack };
}

/**
 * Keeps a message on one line (multi-line library messages are joined) and drops the source
 * locations native libraries put in theirs (a last resort: errors of LanceDB, sharp and Arrow are
 * wrapped where the library is called, naming the user's file).
 */
function oneLine(s: string): string {
  return nativeMessage(s);
}

/**
 * Control characters that would act on the user's terminal instead of being read: C0 (ESC starts
 * the sequences that clear the screen, move the cursor or retitle the window), DEL, C1 (0x9b is a
 * one-byte CSI), and the invisible line and bidirectional-override characters that reorder text.
 */
const CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_AND_NEWLINES = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from inputs (a csv header, a caption, a file name) made safe to print: each control
 * character shown as its escape (`\x1b`, `\u202e`), so it is seen, never executed. `newlines`
 * keeps line feeds (and tabs) for multi-line output; without it they are escaped too. Every line
 * the CLI prints (errors, log and progress lines, the summary text) goes through it (src/cli/main.ts).
 */
export function escapeControls(s: string, opts: { newlines?: boolean } = {}): string {
  const re = opts.newlines ? CONTROLS : CONTROLS_AND_NEWLINES;
  return s.replace(re, (c) => {
    if (opts.newlines && c === '\t') return c;
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}
