/**
 * Python's str.lower() and unicodedata.normalize('NFC') as open_clip's Python 3.11 runs them
 * (Unicode 14), on Node's newer ICU: characters assigned since are, to Python, unassigned code points
 * with no case, no combining class and no composition. Where a text holds none of them (nearly every
 * caption), ICU's answer is Python's; otherwise these repeat Python's treatment around them.
 * Tables: src/text/clip-regex-data.ts (scripts/gen-clip-regex-data.py).
 */
import { PY_LOWER_CHANGES, PY_UNASSIGNED } from './clip-regex-data.js';

// Assigned for ICU, unknown to Python (captured, so that split() keeps them at the odd indices).
const NEW_TO_PYTHON = new RegExp(`((?!\\p{Cn})[${PY_UNASSIGNED}])`, 'u');
const PY_LOWERS = new RegExp(`^[${PY_LOWER_CHANGES}]$`, 'u');
const CASED = /^\p{Cased}$/u;
const CASE_IGNORABLE = /^\p{Case_Ignorable}$/u;
const isNew = (ch: string): boolean => NEW_TO_PYTHON.test(ch);

/** unicodedata.normalize('NFC', text) of Python 3.11: ICU's NFC between the characters Python does not know, which stay as they are. */
export function pyNfc(text: string): string {
  if (!NEW_TO_PYTHON.test(text)) return text.normalize('NFC');
  // To Python such a character is a starter that composes with nothing: it ends one normalization
  // segment and starts the next (whose leading marks then have no starter to join).
  return text.split(NEW_TO_PYTHON).map((piece, i) => (i % 2 ? piece : piece.normalize('NFC'))).join('');
}

/** Python's final-sigma rule (unicodeobject.c, handle_capital_sigma) at code point `i` of `cps`, with Python's view of each character. */
function finalSigma(cps: readonly string[], i: number): boolean {
  const cased = (c: string) => !isNew(c) && CASED.test(c);
  const ignorable = (c: string) => !isNew(c) && CASE_IGNORABLE.test(c);
  let j = i - 1;
  while (j >= 0 && ignorable(cps[j]!)) j--;
  if (j < 0 || !cased(cps[j]!)) return false;
  j = i + 1;
  while (j < cps.length && ignorable(cps[j]!)) j++;
  return j === cps.length || !cased(cps[j]!);
}

/** Python 3.11's str.lower(): ICU's, except that characters Python does not know keep their case and decide no final sigma. */
export function pyLower(text: string): string {
  if (!NEW_TO_PYTHON.test(text)) return text.toLowerCase();
  const cps = [...text];
  let out = '';
  cps.forEach((ch, i) => {
    if (ch === '\u03a3') out += finalSigma(cps, i) ? '\u03c2' : '\u03c3';
    else if (PY_LOWERS.test(ch)) out += ch.toLowerCase();
    else out += ch;
  });
  return out;
}
