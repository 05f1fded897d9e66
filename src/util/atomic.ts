/**
 * Atomic file writes: the content goes to a hidden temporary name in the same directory and is
 * renamed over the final name only when complete, so a crash or kill never leaves half a file that
 * looks finished (docs/ARCHITECTURE.md, "Crash safety"). Every whole-file output of wit goes through here.
 */
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { refuseNonRegularFile as checkTarget, tempOwner } from './output.js';
import { withPath } from './errors.js';

/** The hidden temporary name used for `path` (`dir/.name.tmp-PID@HOST-RAND`, util/output.ts tempOwner); readers never list it. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${tempOwner()}-${Math.random().toString(36).slice(2, 8)}`);
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
    throw withPath(err, path);
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
