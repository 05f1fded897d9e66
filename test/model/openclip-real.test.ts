import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadClip } from '../../src/train/clip.js';
import { makeWitModel, PLAIN_CAPTIONS } from './wit-model.js';
import { runWit } from '../crawl/run-wit.js';
import { needsOpenClip, runOpenClip } from '../helpers/openclip.js';
import { BpeTokenizer } from '../../src/train/tokenizer.js';
import { exported, hardCaptions, mismatches, randomStrings, trainingCaptions } from './wit-bpe-compat.js';

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

interface Embedded { image: number[][]; text: number[][]; ids: number[][]; logit_scale: number }

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
    const real = JSON.parse(readFileSync(join(root, 'real.json'), 'utf8')) as Embedded & { named: Embedded };
    expect(maxDiff(image, real.image)).toBeLessThanOrEqual(1e-5);
    expect(maxDiff(text, real.text)).toBeLessThanOrEqual(1e-5);
    expect(Math.abs(logitScale - real.logit_scale)).toBeLessThan(1e-3);
    // open_clip's other documented route: add_model_config + create_model_and_transforms(NAME, pretrained=FILE) + get_tokenizer(NAME)
    expect(maxDiff(image, real.named.image)).toBeLessThanOrEqual(1e-5);
    expect(maxDiff(text, real.named.text)).toBeLessThanOrEqual(1e-5);
    // The comparison can fail: different inputs give embeddings far apart.
    expect(maxDiff([image[1]!], [real.image[0]!])).toBeGreaterThan(1e-3);
    expect(maxDiff([text[1]!], [real.text[0]!])).toBeGreaterThan(1e-3);
  }, 600_000);
});

describe("a wit-trained export in open_clip's own loader (get_tokenizer('local-dir:'))", () => {
  const dir = () => join(root, 'hard');
  beforeAll(async () => {
    await makeWitModel(join(dir(), 'wit'), {}, 'clip', { captions: trainingCaptions(), vocabSize: 1200, contextLength: 32 });
  }, 120_000);

  test('the export names its vocabulary where open_clip 3.3 looks (text_cfg.tokenizer_kwargs.bpe_path) and registers wit-export.json', async () => {
    const r = await runWit(['model', 'export', '--model', join(dir(), 'wit'), '--out', join(dir(), 'exported'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    const cfg = JSON.parse(readFileSync(join(dir(), 'exported', 'open_clip_config.json'), 'utf8'));
    expect(cfg.model_cfg.text_cfg.tokenizer_kwargs).toEqual({ bpe_path: join(dir(), 'exported', 'bpe_vocab.txt.gz') });
    expect(summary).toMatchObject({ bpe_path: join(dir(), 'exported', 'bpe_vocab.txt.gz'), open_clip_model_name: 'wit-export' });
    expect(summary.tokenizer_note).toBeUndefined();
    expect(JSON.parse(readFileSync(join(dir(), 'exported', 'wit-export.json'), 'utf8'))).toEqual(cfg.model_cfg);
    // and wit imports it back (tokenizer_kwargs with a bpe_path does not change the model)
    const back = await runWit(['model', 'import', join(dir(), 'exported'), '--out', join(dir(), 'again'), '--json']);
    expect(back.code, back.stderr).toBe(0);
  }, 120_000);

  test.skipIf(!needsOpenClip())('the real open_clip: hard captions embed within 1e-5, and 2,000 random strings get the same ids', async () => {
    const exportedDir = join(dir(), 'exported');
    const captions = hardCaptions();
    const random = randomStrings(2000);
    const handle = await loadClip(join(dir(), 'wit'), { backend: 'wasm', decodeWorkers: 0 });
    const px = [new Uint8Array(32 * 32 * 3).map((_, i) => (i * 13) % 256)];
    writeFileSync(join(dir(), 'pixels.u8'), Buffer.concat(px));
    writeFileSync(join(dir(), 'captions.json'), JSON.stringify(captions));
    writeFileSync(join(dir(), 'random.json'), JSON.stringify(random));
    const text = await handle.embedTexts(captions);
    await handle.dispose();
    runOpenClip(dir(), [
      ['embed-export', exportedDir, join(dir(), 'pixels.u8'), join(dir(), 'captions.json'), join(dir(), 'real.json')],
      ['tokenize-export', exportedDir, join(dir(), 'random.json'), join(dir(), 'random-ids.json')],
    ]);
    const real = JSON.parse(readFileSync(join(dir(), 'real.json'), 'utf8')) as Embedded & { named: Embedded };
    const tok = await BpeTokenizer.load(join(dir(), 'wit', 'tokenizer.json'));
    const { clipIdOf } = exported(tok);
    expect(mismatches(tok, clipIdOf, captions, real.ids)).toEqual([]);
    expect(maxDiff(text, real.text)).toBeLessThanOrEqual(1e-5);
    expect(maxDiff(text, real.named.text)).toBeLessThanOrEqual(1e-5);
    const live = JSON.parse(readFileSync(join(dir(), 'random-ids.json'), 'utf8')) as { rows: number[][]; class: string };
    expect(live.class).toBe('SimpleTokenizer');
    expect(mismatches(tok, clipIdOf, random, live.rows)).toEqual([]);
    // The comparison can fail: two different captions are far apart.
    expect(maxDiff([text[0]!], [real.text[1]!])).toBeGreaterThan(1e-3);
  }, 600_000);
});
