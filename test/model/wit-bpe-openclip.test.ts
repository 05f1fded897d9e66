import { describe, expect, test } from 'vitest';
import { BpeTokenizer, trainTokenizer } from '../../src/train/tokenizer.js';
import { clipOn, exported, hardCaptions, mismatches, randomStrings, trainingCaptions } from './wit-bpe-compat.js';

/**
 * A wit-trained tokenizer (version 2) and open_clip's tokenizer on the exported vocabulary give the
 * same rows for hard captions and random Unicode: here against CLIP's algorithm as
 * src/train/clip-tokenizer.ts runs it (pinned to open_clip 3.3 by test/model/clip-hard-strings.test.ts);
 * test/model/openclip-real.test.ts asks the real open_clip through get_tokenizer('local-dir:').
 */

const CTX = 32;

describe("wit's BPE as open_clip reads its export", () => {
  const captions = trainingCaptions();
  const hard = hardCaptions();
  const random = randomStrings(3000);

  test('version 2 (what wit train writes): identical rows for every hard caption and 3,000 random strings', () => {
    const tok = trainTokenizer(captions, { vocabSize: 1200, contextLength: CTX });
    expect(tok.version).toBe(2);
    expect(tok.merges.length).toBeGreaterThan(400); // merges that reach into the hard cases
    const { merges, clipIdOf } = exported(tok);
    const clip = clipOn(merges, CTX);
    const rows = (texts: readonly string[]) => texts.map((t) => [...clip.encode(t).ids]);
    expect(mismatches(tok, clipIdOf, hard, rows(hard))).toEqual([]);
    expect(mismatches(tok, clipIdOf, random, rows(random))).toEqual([]);
    // a caption's own <end_of_text> ends it where open_clip pools (its first [EOT])
    const stop = tok.encode('a photo <end_of_text> of a dog');
    expect(stop.eos).toBe(3);
    expect(tok.decode(stop.ids.slice(1, stop.eos))).toBe('a photo');
  });

  test('version 1 (models trained before) still runs as trained, and the comparison sees where it differs', () => {
    const tok = trainTokenizer(captions, { vocabSize: 1200, contextLength: CTX, version: 1 });
    const { merges, clipIdOf } = exported(tok);
    const clip = clipOn(merges, CTX);
    const bad = mismatches(tok, clipIdOf, hard, hard.map((t) => [...clip.encode(t).ids]));
    expect(bad.length).toBeGreaterThan(20);
    expect(bad.join('\n')).toContain('open for business');
    // its JSON keeps version 1, and a file from before the field is version 1 too
    const json = tok.toJSON();
    expect(json.version).toBe(1);
    const { version: _v, ...unversioned } = json;
    expect(BpeTokenizer.fromJSON(unversioned).version).toBe(1);
    expect(BpeTokenizer.fromJSON(JSON.parse(JSON.stringify(json))).encode('“x”').ids).toEqual(tok.encode('“x”').ids);
    expect(() => BpeTokenizer.fromJSON({ ...json, version: 3 })).toThrow(/tokenizer version 3 is not supported/);
    if (process.env["WIT_PRINT_COUNTS"]) process.stderr.write(`version 1: ${bad.length} of ${hard.length} hard captions differ\n${bad.slice(0, 200).join("\n")}\n`);
  });
});
