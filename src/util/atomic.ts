/**
 * Atomic file writes: the content goes to a hidden temporary name in the same directory and is
 * renamed over the final name only when complete, so a crash or kill never leaves half a file that
 * looks finished (docs/ARCHITECTURE.md, "Crash safety"). Every whole-file output of wit goes through here.
 */
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UsageError } from './errors.js';

/** The hidden temporary name used for `path` (`dir/.name.tmp-PID-RAND`); readers never list it. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

/**
 * Refuses a target that exists and is not a regular file: renaming over it would replace a device
 * (`--out /dev/full` as root), a pipe or a socket with our file. Throws UsageError (exit 2).
 */
async function checkTarget(path: string): Promise<void> {
  const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (st && !st.isFile()) {
    const kind = st.isDirectory() ? 'a folder' : 'not a regular file (a device, pipe or socket)';
    throw new UsageError('output', `is ${kind}; refusing to replace it`, { file: path });
  }
}

/** Writes `data` to `path` atomically (temp file, optional fsync, rename); never replaces a non-file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { sync?: boolean } = {}): Promise<void> {
  await checkTarget(path);
  const tmp = tempPathFor(path);
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      if (opts.sync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Renames a finished temporary file over `path` (streamed writers), refusing a target that is not a regular file. */
export async function renameIntoPlace(tmp: string, path: string): Promise<void> {
  await checkTarget(path);
  await rename(tmp, path);
}

/** Writes JSON (2-space indented, trailing newline) atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}
