import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { needs } from '../helpers/needs.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ClipTokenizer, clipCleanText, htmlUnescape } from '../../src/train/clip-tokenizer.js';
import { fixText } from '../../src/text/ftfy.js';
import { generateCaptions, runRef } from './helpers.js';

describe('CLIP tokenizer: pieces', () => {
  test('HTML unescape follows Python html.unescape', () => {
    expect(htmlUnescape('a &amp; b &lt;i&gt; &#39;x&#39; &#x2014; &eacute; &amp;amp; &notit; &amp &#128; &#1;z &#xD800;')).toBe("a & b <i> 'x' — é &amp; ¬it; & € z \ufffd");
  });
  test('cleaning: ligatures, widths, quotes, controls, entities twice, whitespace, lowercase', () => {
    expect(clipCleanText('  ﬁsh\u3000ＦＵＬＬ ‘it’s’ &amp;amp; \u0007x\t\nY  ')).toBe("fish full 'it's' & x y");
  });
  test('merges file: a vocab with fewer merges than vocab_size needs is an error naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wit-cliptok-'));
    const file = join(dir, 'v.txt.gz');
    writeFileSync(file, gzipSync('#version: 0.2\nt h\nth e</w>\n'));
    await expect(ClipTokenizer.fromMergesFile(file, 600, 16)).rejects.toThrow(/v\.txt\.gz.*516 ids.*vocab_size is 600/);
    const tok = await ClipTokenizer.fromMergesFile(file, 516, 16);
    expect(tok.vocabSize).toBe(516);
    const { ids, eos } = tok.encode('the');
    expect([...ids.slice(0, 3)]).toEqual([514, 513, 515]);
    expect(eos).toBe(2);
    writeFileSync(file, gzipSync('#version: 0.2\nt h\nq zz\n'));
    await expect(ClipTokenizer.fromMergesFile(file, 516, 16)).rejects.toThrow(/merge 2 .*"q zz"/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe.skipIf(!needs('python3-torch'))('CLIP tokenizer against the Python reference (python3-torch)', () => {
  let dir: string;
  let captions: string[];
  let ref: { encode: number[][]; rows: number[][] };
  let tok: ClipTokenizer;
  const MERGES = 800;
  const CTX = 24;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wit-cliptok-'));
    captions = generateCaptions(10_000);
    writeFileSync(join(dir, 'captions.json'), JSON.stringify(captions));
    runRef(['merges', join(dir, 'captions.json'), String(MERGES), join(dir, 'bpe.txt.gz')]);
    runRef(['tokenize', join(dir, 'bpe.txt.gz'), String(514 + MERGES), String(CTX), join(dir, 'captions.json'), join(dir, 'ids.json')]);
    ref = JSON.parse(readFileSync(join(dir, 'ids.json'), 'utf8'));
    tok = await ClipTokenizer.fromMergesFile(join(dir, 'bpe.txt.gz'), 514 + MERGES, CTX);
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('10,000 captions: identical ids, untruncated and as context-length rows', () => {
    expect(captions.length).toBeGreaterThanOrEqual(10_000);
    let truncated = 0;
    const mismatches: string[] = [];
    let repaired = 0;
    for (let i = 0; i < captions.length; i++) {
      // The reference has no ftfy, so no mojibake repair: those captions are checked against the
      // real open_clip instead (clip-hard-strings.test.ts).
      if (fixText(captions[i]!) !== fixText(captions[i]!, { fixEncoding: false })) { repaired++; continue; }
      const ids = tok.encodeIds(captions[i]!);
      const row = tok.encode(captions[i]!);
      // The pooled position is where CLIP's argmax over ids lands (the first [EOT]).
      const refRow = ref.rows[i]!;
      const same = ids.join() === ref.encode[i]!.join() && [...row.ids].join() === refRow.join() && row.eos === refRow.indexOf(Math.max(...refRow));
      if (!same) mismatches.push(`caption ${i} ${JSON.stringify(captions[i])}: wit ${ids.join(' ')} / python ${ref.encode[i]!.join(' ')}`);
      if (ref.encode[i]!.length + 2 > CTX) truncated++;
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(repaired).toBeLessThan(captions.length / 100);
    expect(truncated).toBeGreaterThan(100);
    // The corpus exercises what it claims: entities, emoji, non-Latin scripts, digits, the special strings.
    const all = captions.join(' ');
    for (const probe of ['&amp;', '😀', 'Москва', '東京', '<|endoftext|>', '’', '0']) expect(all).toContain(probe);
  });
});
