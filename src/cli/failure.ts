/**
 * The one line a failed command prints (README.md, "Exit codes and errors"): `wit COMMAND: what went
 * wrong`, the prefix naming the command the user ran (not the library stage that raised the error),
 * no stack trace unless WIT_DEBUG is set.
 */
import { WitError, errorMessage } from '../util/errors.js';

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
};

/** Out of space or file handles: the run failed (1); every other path problem is the user's to fix (2). */
const RUN_FAILURES = new Set(['ENOSPC', 'EDQUOT', 'EMFILE']);

const VERBS: Record<string, string> = {
  mkdir: 'create the folder',
  open: 'open',
  write: 'write',
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

/** A Node file-system error (code, syscall, path), as one sentence; undefined for anything else. */
export function describeFsError(err: unknown): { text: string; exitCode: number } | undefined {
  const e = err as (NodeJS.ErrnoException & { dest?: string }) | undefined;
  if (!e || typeof e.code !== 'string' || !(e.code in FS_REASONS) || typeof e.syscall !== 'string') return undefined;
  const verb = VERBS[e.syscall] ?? e.syscall;
  const path = e.path ? ` ${shownPath(e.path)}${e.dest ? ` to ${shownPath(e.dest)}` : ''}` : '';
  return { text: `cannot ${verb}${path}: ${FS_REASONS[e.code]}`, exitCode: RUN_FAILURES.has(e.code) ? 1 : 2 };
}

/**
 * The line for an error thrown by command `command` (e.g. "eval", "model import"). A WitError's
 * own stage prefix is replaced by the command (library stages such as `train` raise errors while
 * `wit eval` loads a model); `wit demo`, which runs every stage, keeps the stage after its name.
 * File-system errors name the path and the reason (exit 2, or 1 when the disk is full); anything
 * else is a failure of the run (exit 1).
 */
export function describeFailure(command: string, err: unknown): Failure {
  const stack = err instanceof Error ? err.stack : undefined;
  if (err instanceof WitError) {
    const own = `${err.stage}: `;
    const rest = err.message.startsWith(own) ? err.message.slice(own.length) : err.message;
    const stage = command === 'demo' && err.stage !== 'demo' && err.stage !== 'cli' ? `${err.stage}: ` : '';
    return { line: `wit ${command}: ${stage}${oneLine(rest)}`, exitCode: err.exitCode, stack };
  }
  const fs = describeFsError(err) ?? describeFsError((err as { cause?: unknown } | undefined)?.cause);
  if (fs) return { line: `wit ${command}: ${fs.text}`, exitCode: fs.exitCode, stack };
  return { line: `wit ${command}: ${oneLine(errorMessage(err))}`, exitCode: 1, stack };
}

/** Keeps a message on one line (multi-line library messages are joined). */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
