import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { ClipTokenizer, clipCleanText } from '../../src/train/clip-tokenizer.js';
import { fixText } from '../../src/text/ftfy.js';
import { needsOpenClip, runOpenClip } from '../helpers/openclip.js';

/**
 * CLIP's tokenizer on hard strings (nested and capitalised entities, C1 controls, mojibake, the
 * special tokens, ftfy's other fixes) against the real open_clip 3.3: the expected ids in
 * test/fixtures/openclip/hard-strings.json were made by open_clip itself
 * (test/fixtures/openclip/make_hard_strings.py); where the venv is present they are made again now.
 */

const FIXTURES = fileURLToPath(new URL('../fixtures/openclip/', import.meta.url));
interface Case { text: string; clean: string; ids: number[]; row: number[] }
const fixture = JSON.parse(readFileSync(join(FIXTURES, 'hard-strings.json'), 'utf8')) as { context_length: number; vocab_size: number; merges: string; cases: Case[] };

function compare(tok: ClipTokenizer, cases: Case[]): string[] {
  const bad: string[] = [];
  for (const c of cases) {
    const clean = clipCleanText(c.text);
    const ids = tok.encodeIds(c.text);
    const row = tok.encode(c.text);
    const eot = c.row.indexOf(Math.max(...c.row));
    if (clean !== c.clean || ids.join() !== c.ids.join() || [...row.ids].join() !== c.row.join() || row.eos !== eot) {
      bad.push(`${JSON.stringify(c.text)}: wit ${JSON.stringify(clean)} [${ids.join(' ')}] / open_clip ${JSON.stringify(c.clean)} [${c.ids.join(' ')}]`);
    }
  }
  return bad;
}

describe("CLIP's tokenizer on hard strings, against open_clip 3.3", () => {
  test('the fixture covers what it claims (>= 100 strings: entities, C1, mojibake, special tokens)', () => {
    const all = fixture.cases.map((c) => c.text).join(' ');
    expect(fixture.cases.length).toBeGreaterThanOrEqual(100);
    for (const probe of ['&amp;amp;amp;', '&EACUTE;', '\x93', '\x94', '\x85', 'Ã©', 'â€œ', '<end_of_text>', '<start_of_text>', '<|endoftext|>', 'ﬁ', 'Ｆ']) expect(all).toContain(probe);
    // a caption holding the end token is pooled there: open_clip's argmax stops at the first [EOT]
    const stop = fixture.cases.find((c) => c.text === 'a photo <end_of_text> of a dog')!;
    expect(stop.row.indexOf(Math.max(...stop.row))).toBe(3);
  });

  test('wit cleans and tokenizes every string as the fixture (made by open_clip) says', async () => {
    const tok = await ClipTokenizer.fromMergesFile(join(FIXTURES, fixture.merges), fixture.vocab_size, fixture.context_length);
    expect(tok.vocabSize).toBe(fixture.vocab_size);
    expect(compare(tok, fixture.cases)).toEqual([]);
  });

  test('ftfy pieces: nested entities, capitals, C1, mojibake (once and twice), inside good text', () => {
    expect(fixText('&amp;amp;amp;')).toBe('&');
    expect(fixText('&EACUTE;')).toBe('É');
    expect(fixText('\x93hi\x94 wait\x85')).toBe('"hi" wait…');
    expect(fixText('cafÃ© â€œokâ€\x9d')).toBe('café "ok"');
    expect(fixText('cafÃƒÂ©')).toBe('café');
    expect(fixText('Ã  la carte')).toBe('à la carte');
    expect(fixText('<b>&amp;</b>')).toBe('<b>&amp;</b>'); // a '<' turns HTML unescaping off
    expect(fixText('café naïve')).toBe('café naïve'); // good text is left alone
  });

  test.skipIf(!needsOpenClip())('the real open_clip, run now, gives the fixture ids (so the fixture is current)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wit-hard-strings-'));
    try {
      writeFileSync(join(dir, 'captions.json'), JSON.stringify(fixture.cases.map((c) => c.text)));
      runOpenClip(dir, [['tokenize', join(FIXTURES, fixture.merges), String(fixture.context_length), join(dir, 'captions.json'), join(dir, 'ids.json')]]);
      const live = JSON.parse(readFileSync(join(dir, 'ids.json'), 'utf8')) as { rows: number[][]; encode: number[][] };
      fixture.cases.forEach((c, i) => {
        expect(live.encode[i], c.text).toEqual(c.ids);
        expect(live.rows[i], c.text).toEqual(c.row);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
