import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { WitError } from '../util/errors.js';
import { tempOwner } from '../util/output.js';

let bzip2Path: string | null | undefined;

/** Path of a `bzip2` (or `lbzip2`) executable on PATH, or null when there is none. */
export function findBzip2(): string | null {
  if (bzip2Path !== undefined) return bzip2Path;
  bzip2Path = null;
  for (const name of ['lbzip2', 'bzip2']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) {
      bzip2Path = r.stdout.trim();
      break;
    }
  }
  return bzip2Path;
}

/**
 * Compresses `src` into `dst` with the system's bzip2 (a subprocess: the real tool makes the real
 * format). The output appears under its final name only when complete. Throws WitError when no
 * bzip2 is installed or it fails.
 */
export async function bzip2File(src: string, dst: string): Promise<void> {
  const bin = findBzip2();
  if (!bin) throw new WitError('demo', 'bzip2 is not installed (apt-get install bzip2)');
  const tmp = join(dirname(dst), `.${basename(dst)}.tmp-${tempOwner()}`);
  const child = spawn(bin, ['-c', '-9'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  try {
    await Promise.all([pipeline(createReadStream(src), child.stdin), pipeline(child.stdout, createWriteStream(tmp))]);
    const code = await exited;
    if (code !== 0) throw new WitError('demo', `${bin} exited with ${code}: ${stderr.trim()}`, { file: src });
    await rename(tmp, dst);
  } catch (err) {
    child.kill();
    await rm(tmp, { force: true });
    throw err;
  }
}
