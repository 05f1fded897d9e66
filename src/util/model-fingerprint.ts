import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Fingerprint of a model directory: a hash of the contents of its weights, config and tokenizer
 * (top-level config.json, tokenizer.json, model.json, *.bin, *.safetensors), so a rerun after
 * retraining is not taken for a resume, while a model rewritten with the same weights still is. Logs,
 * checkpoints and filter rounds stored inside the directory do not count. Used by filter and embed.
 */
export async function modelFingerprint(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const n of (await readdir(dir)).sort()) {
    if (!['config.json', 'tokenizer.json', 'model.json'].includes(n) && !n.endsWith('.bin') && !n.endsWith('.safetensors')) continue;
    if (!(await stat(join(dir, n))).isFile()) continue;
    h.update(`${n}\n`);
    await new Promise<void>((res, rej) => createReadStream(join(dir, n)).on('data', (c) => h.update(c)).on('end', res).on('error', rej));
  }
  return h.digest('hex').slice(0, 16);
}
