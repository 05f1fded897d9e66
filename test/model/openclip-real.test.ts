import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadClip } from '../../src/train/clip.js';
import { makeWitModel, PLAIN_CAPTIONS } from './wit-model.js';
import { runWit } from '../crawl/run-wit.js';
import { needsOpenClip, runOpenClip } from '../helpers/openclip.js';

/**
 * wit model export as the real open_clip (pip's open_clip_torch) reads it. The first test needs no
 * Python: it reads the exported vocabulary the way open_clip's SimpleTokenizer does.
 */

function maxDiff(a: ArrayLike<number>[], b: number[][]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((row, i) => {
    expect(row.length).toBe(b[i]!.length);
    for (let j = 0; j < row.length; j++) m = Math.max(m, Math.abs(row[j]! - b[i]![j]!));
  });
  return m;
}

/** What open_clip 3.3's SimpleTokenizer makes of a merges file: the vocabulary size and the [EOT] id. */
function openClipVocab(gz: Buffer): { vocab: number; eot: number } {
  const merges = gunzipSync(gz).toString('utf8').split('\n').slice(1, 49152 - 256 - 2 + 1);
  const vocab = 512 + merges.length + 2;
  return { vocab, eot: vocab - 1 };
}

const CAPTIONS = [...PLAIN_CAPTIONS, 'a dog', 'cats', ''];

let root: string;
beforeAll(() => { root = mkdtempSync(join(tmpdir(), 'wit-openclip-real-')); });
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('wit model export of a wit-trained model', () => {
  test("the exported vocabulary, read as open_clip reads it, keeps [SOT]/[EOT] inside the config's vocab_size", async () => {
    await makeWitModel(join(root, 'wit'));
    const r = await runWit(['model', 'export', '--model', join(root, 'wit'), '--out', join(root, 'exported'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const cfg = JSON.parse(readFileSync(join(root, 'exported', 'open_clip_config.json'), 'utf8'));
    const { vocab, eot } = openClipVocab(readFileSync(join(root, 'exported', 'bpe_vocab.txt.gz')));
    expect(vocab).toBe(cfg.model_cfg.text_cfg.vocab_size);
    expect(eot).toBeLessThan(cfg.model_cfg.text_cfg.vocab_size);
    expect(JSON.parse(r.stdout).vocab_size).toBe(vocab);
  }, 600_000);

  test.skipIf(!needsOpenClip())('loads in the real open_clip (local-dir:) and embeds identical pixels and texts within 1e-5', async () => {
    const dir = join(root, 'exported');
    const handle = await loadClip(join(root, 'wit'), { backend: 'wasm', decodeWorkers: 0 });
    const size = handle.imageSize;
    const px = Array.from({ length: 4 }, (_, k) => new Uint8Array(size * size * 3).map((_, i) => (i * (7 + k * 6) + k * 31) % 256));
    writeFileSync(join(root, 'pixels.u8'), Buffer.concat(px));
    writeFileSync(join(root, 'captions.json'), JSON.stringify(CAPTIONS));
    const image = await handle.embedPixels(px);
    const text = await handle.embedTexts(CAPTIONS);
    const logitScale = handle.logitScale();
    await handle.dispose();
    runOpenClip(root, [['embed-export', dir, join(root, 'pixels.u8'), join(root, 'captions.json'), join(root, 'real.json')]]);
    const real = JSON.parse(readFileSync(join(root, 'real.json'), 'utf8')) as { image: number[][]; text: number[][]; logit_scale: number };
    expect(maxDiff(image, real.image)).toBeLessThanOrEqual(1e-5);
    expect(maxDiff(text, real.text)).toBeLessThanOrEqual(1e-5);
    expect(Math.abs(logitScale - real.logit_scale)).toBeLessThan(1e-3);
    // The comparison can fail: different inputs give embeddings far apart.
    expect(maxDiff([image[1]!], [real.image[0]!])).toBeGreaterThan(1e-3);
    expect(maxDiff([text[1]!], [real.text[0]!])).toBeGreaterThan(1e-3);
  }, 600_000);
});
