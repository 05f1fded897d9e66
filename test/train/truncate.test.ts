/**
 * Captions and labels are cut before tokenizing (src/train/tokenizer.ts, truncateForTokenizer in the
 * one batch encoder): a 40 MB caption costs what a normal one does, and rows are identical for
 * every text whose first contextLength tokens fit the cut, i.e. every real caption.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHARS_PER_TOKEN, encodeRows, trainTokenizer, truncateForTokenizer } from '../../src/train/tokenizer.js';
import { ClipTokenizer } from '../../src/train/clip-tokenizer.js';
import { Rng } from '../../src/util/rng.js';

const WORDS = ['a', 'red', 'apple', 'on', 'the', 'table', 'photo', 'of', 'cat', 'dog', 'über', 'naïve', "it's", '2024', 'x-ray', 'Straße', '東京', 'emoji🙂', 'long-hyphenated-word', '...'];
function captions(n: number, seed: number, maxWords: number): string[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: 1 + rng.below(maxWords) }, () => WORDS[rng.below(WORDS.length)]).join(rng.below(5) ? ' ' : '  \n\t'));
}

async function clipTok(ctx: number): Promise<ClipTokenizer> {
  const dir = mkdtempSync(join(tmpdir(), 'wit-trunc-'));
  const file = join(dir, 'v.txt');
  writeFileSync(file, '#version: 0.2\nt h\nth e</w>\na p\nap p\nl e</w>\nr e\nre d</w>\n');
  return ClipTokenizer.fromMergesFile(file, 514 + 7, ctx);
}

describe('truncateForTokenizer', () => {
  it('keeps short texts as they are and cuts long ones at a word boundary under the bound', () => {
    expect(truncateForTokenizer('a red apple', 77)).toBe('a red apple');
    const long = 'word '.repeat(10_000);
    const cut = truncateForTokenizer(long, 77);
    expect(cut.length).toBeLessThanOrEqual(77 * CHARS_PER_TOKEN);
    expect(cut.length).toBeGreaterThan(77 * CHARS_PER_TOKEN - 10);
    expect(cut.endsWith('word')).toBe(true);
    expect(truncateForTokenizer('x'.repeat(10_000), 77).length).toBe(77 * CHARS_PER_TOKEN); // one giant word: cut where it must be
  });

  it('rows are identical with and without the cut, for normal and for long captions, with both tokenizers', async () => {
    const texts = [...captions(300, 1, 40), ...captions(20, 2, 3000)]; // the last 20 run far past the context
    expect(texts.some((t) => t.length > 16 * CHARS_PER_TOKEN)).toBe(true);
    const wit = trainTokenizer(captions(200, 3, 20), { vocabSize: 600, contextLength: 16 });
    for (const tok of [wit, await clipTok(16)]) {
      const want = texts.map((t) => tok.encode(t)); // the tokenizer on the whole text, then sliced
      const got = encodeRows(tok, texts);
      texts.forEach((_, i) => {
        expect([...got.ids.subarray(i * 16, (i + 1) * 16)], `text ${i}`).toEqual([...want[i]!.ids]);
        expect(got.eos[i]).toBe(want[i]!.eos);
      });
    }
  });

  it('a 40 MB caption: the BPE sees a few KB of it, and the row is that of its start', () => {
    const tok = trainTokenizer(captions(200, 3, 20), { vocabSize: 600, contextLength: 77 });
    const huge = 'a red apple on the table '.repeat(1_700_000); // ~42 MB
    const seen: number[] = [];
    const spy = { contextLength: 77, encode: (t: string) => (seen.push(t.length), tok.encode(t)) };
    const r = encodeRows(spy, [huge]);
    expect(seen[0]).toBeLessThanOrEqual(77 * CHARS_PER_TOKEN); // before: all 42 MB (3 GB and 102 s in wit eval)
    expect(r.eos[0]).toBe(76);
    expect([...r.ids.subarray(0, 77)]).toEqual([...tok.encode('a red apple on the table '.repeat(40)).ids]);
  });
});
