import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/util/rng.js';
import { SYSTEM_PYTHON } from '../helpers/needs.js';

/** The PyTorch reference of CLIP used by these tests. */
export const CLIP_REF = fileURLToPath(new URL('../fixtures/openclip/clip_ref.py', import.meta.url));
export const PYTHON = SYSTEM_PYTHON;

/** Runs the reference; throws with its stderr when it fails. */
export function runRef(args: string[]): void {
  const r = spawnSync(PYTHON, [CLIP_REF, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`clip_ref.py ${args[0]} failed (${r.status}):\n${r.stderr}`);
}

/** Runs several reference commands in one Python process (torch loads once). */
export function runRefBatch(dir: string, commands: string[][]): void {
  const file = `${dir}/batch-${Math.random().toString(36).slice(2)}.json`;
  writeFileSync(file, JSON.stringify(commands));
  runRef(['batch', file]);
}

const WORDS = ['a', 'the', 'dog', 'cat', 'photo', 'of', 'red', 'bridge', 'over', 'river', 'Paris', 'New', 'York', 'café', 'naïve', 'résumé', 'Zürich',
  'São', 'Paulo', 'Kraków', 'Ελλάδα', 'Москва', '東京', '北京市', 'ソウル', '서울', 'मुंबई', 'القاهرة', 'İstanbul', 'ΣΟΦΙΑ', 'straße', 'ﬁsh', 'ﬂower',
  'ＦＵＬＬ', 'ｗｉｄｔｈ', 'rock', 'n', 'roll', 'don', 'it', 'we', 'they', 'mountain', 'sunset', 'beach', 'portrait', 'painting', 'museum', 'COVID',
  'iPhone', 'x86_64', 'e-mail', 'U.S.A.', 'Dr.', 'St.', 'co-op', 'well-known', 'self', 'state', 'of-the-art', 'ñandú', 'Ærøskøbing', 'Þórr'];
const PUNCT = ['.', ',', '!', '?', '...', ';', ':', '-', '—', '–', '(', ')', '[', ']', '"', "'", '/', '#', '@', '%', '&', '*', '+', '=', '€', '$', '£', '°', '©', '®', '™', '«', '»', '…', '·'];
const EMOJI = ['😀', '🐶', '🌉', '🇫🇷', '👍🏽', '❤️', '👨‍👩‍👧', '🎉', '☕', '🚀', '⭐', '🍕', '✈️', '🏳️‍🌈', '1️⃣'];
const QUIRKS = ['&amp;', '&lt;b&gt;', '&quot;', '&#39;', '&#x2014;', '&eacute;', '&nbsp;', '&copy;', '&amp;amp;', '&hellip;', '&notit;', '&amp', '&#8217;s',
  '‘quoted’', '“double”', 'it’s', 'don’t', "we're", "they've", "I'm", "you'll", "he'd", "IT'S", '<|endoftext|>', '<|startoftext|>', '<end_of_text>', '<start_of_text>', 'x<END_OF_TEXT>y', '\t', '\n', '  ',
  '\u00a0', '\u3000', '\u200b', '\ufeff', '\u0007', 'e\u0301', 'Å', '½', '²', '٣', '①', 'Ⅻ', '\u2028'];

/** Deterministic captions with Unicode, emoji, punctuation, numbers, HTML entities and CLIP's special strings. */
export function generateCaptions(n: number, seed = 7): string[] {
  const rng = new Rng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[rng.below(xs.length)]!;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const parts: string[] = [];
    const len = 2 + rng.below(rng.chance(0.1) ? 60 : 12);
    for (let j = 0; j < len; j++) {
      const r = rng.next();
      let w: string;
      if (r < 0.55) w = pick(WORDS);
      else if (r < 0.67) w = pick(PUNCT);
      else if (r < 0.77) w = String(rng.below(rng.chance(0.5) ? 10 : 100000));
      else if (r < 0.85) w = pick(EMOJI);
      else w = pick(QUIRKS);
      if (rng.chance(0.2)) w = w.toUpperCase();
      parts.push(w);
    }
    out.push(parts.join(rng.chance(0.8) ? ' ' : ''));
  }
  return out;
}
