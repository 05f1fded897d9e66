import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UsageError } from '../util/errors.js';

/**
 * Which files `wit model import` reads (docs/ARCHITECTURE.md, "Models in open_clip's format"): a
 * folder (what `wit model export` writes, or a Hugging Face open_clip repository), --weights and
 * --config, or both (the flags win over the folder's files). The vocabulary is --vocab, else the first
 * of CLIP's file name or the export's next to the weights, the config or in the folder.
 */

const STAGE = 'model';
/** Name of CLIP's merges file next to weights, as open_clip ships it. */
export const CLIP_VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';
/** The vocabulary `wit model export` writes. */
export const EXPORT_VOCAB_FILE = 'bpe_vocab.txt.gz';
/** Weights and config names of an export and of open_clip's Hugging Face repositories, best first. */
const WEIGHTS_FILES = ['open_clip_model.safetensors', 'model.safetensors'];
const CONFIG_FILES = ['open_clip_config.json'];

const isFile = (p: string): Promise<boolean> => stat(p).then((s) => s.isFile(), () => false);

/** The one file of a folder with this name (the first listed that exists) or, failing that, the only one with this extension. */
async function pick(dir: string, names: readonly string[], ext: string, what: string, flag: string): Promise<string> {
  for (const n of names) if (await isFile(join(dir, n))) return join(dir, n);
  const found = (await readdir(dir)).filter((n) => n.endsWith(ext)).sort();
  if (found.length === 1) return join(dir, found[0]!);
  const listed = found.length ? `${found.length} ${ext} files (${found.slice(0, 4).join(', ')}${found.length > 4 ? ', …' : ''}), none named ${names.join(' or ')}` : `no ${names.join(' or ')}`;
  throw new UsageError(STAGE, `cannot tell which ${what} to import: ${listed}; pass ${flag}`, { file: dir });
}

/** Weights, config and vocabulary for an import; throws UsageError naming what is missing. */
export async function importFiles(o: { from?: string; weights?: string; config?: string; vocab?: string }): Promise<{ weights: string; config: string; vocab: string }> {
  if (o.from !== undefined) {
    const st = await stat(o.from).catch(() => undefined);
    if (!st) throw new UsageError(STAGE, 'no such folder', { file: o.from });
    if (!st.isDirectory()) throw new UsageError(STAGE, 'not a folder: pass the folder of a `wit model export` (or an open_clip download), or --weights and --config', { file: o.from });
  } else if (o.weights === undefined || o.config === undefined) {
    throw new UsageError(STAGE, `needs the folder to import (wit model import DIR --out OUT), or --weights and --config; missing ${o.weights === undefined ? '--weights' : '--config'}`);
  }
  const weights = o.weights ?? (await pick(o.from!, WEIGHTS_FILES, '.safetensors', 'weights', '--weights FILE.safetensors'));
  const config = o.config ?? (await pick(o.from!, CONFIG_FILES, '.json', 'model config', '--config MODEL.json'));
  if (o.vocab !== undefined) return { weights, config, vocab: o.vocab };
  const dirs = [...new Set([o.from, dirname(weights), dirname(config)].filter((d): d is string => d !== undefined))];
  for (const dir of dirs) {
    for (const name of [CLIP_VOCAB_FILE, EXPORT_VOCAB_FILE]) if (await isFile(join(dir, name))) return { weights, config, vocab: join(dir, name) };
  }
  throw new UsageError(STAGE, `no CLIP vocabulary (${CLIP_VOCAB_FILE} or ${EXPORT_VOCAB_FILE}) in ${dirs.join(' or ')}: pass --vocab FILE (open_clip ships ${CLIP_VOCAB_FILE} in src/open_clip/)`);
}
