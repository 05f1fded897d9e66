import { describe, expect, test } from 'vitest';
import { BpeTokenizer, EOS_ID, PAD_ID, SOS_ID, cleanText, preTokenize, trainTokenizer } from '../../src/train/tokenizer.js';
import { InputError, UsageError } from '../../src/util/errors.js';

const captions = [
  'a photo of a cat', 'a photo of a dog', 'the cat sat on the mat', 'grinning face with big eyes',
  'a dog and a cat', 'photo of the Eiffel Tower in Paris', 'red apple', 'green apple', 'a photo of an apple',
  'Grinning cat face', 'cat face with tears of joy', "the dog's bowl", 'café au lait', '東京タワー',
];

describe('BPE tokenizer', () => {
  const tok = trainTokenizer(captions, { vocabSize: 600, contextLength: 16 });

  test('pre-tokenizes as CLIP: lowercase, letters, digits one by one, punctuation runs, contractions', () => {
    expect(preTokenize("The  Dog's 2024 café!!")).toEqual(['the', 'dog', "'s", '2', '0', '2', '4', 'café', '!!']);
    expect(cleanText('  A\tB\nC ')).toBe('a b c');
  });

  test('learns merges for frequent words; respects the vocabulary bound', () => {
    expect(tok.vocabSize).toBeLessThanOrEqual(600);
    expect(tok.vocabSize).toBeGreaterThan(515);
    expect(tok.encodeIds('cat')).toHaveLength(1); // 'cat' + end-of-word merged into one symbol
    expect(tok.encodeIds('photo')).toHaveLength(1);
    expect(tok.encodeIds('zebra').length).toBeGreaterThan(1); // unseen: falls back to smaller units
  });

  test('round-trips any Unicode, including text never seen in training', () => {
    for (const t of ['a photo of a cat', 'zebra 🦓 crossing', 'naïve façade', 'Ελληνικά', '日本語のテキスト', "it's 42°C"]) {
      expect(tok.decode(tok.encodeIds(t))).toBe(preTokenize(t).join(' '));
    }
  });

  test('rows are [SOS] ids [EOS] then padding; long text is truncated with [EOS] kept', () => {
    const { ids, eos } = tok.encode('a cat');
    expect(ids).toHaveLength(16);
    expect(ids[0]).toBe(SOS_ID);
    expect(ids[eos]).toBe(EOS_ID);
    expect([...ids.slice(eos + 1)].every((x) => x === PAD_ID)).toBe(true);
    expect(eos).toBe(1 + tok.encodeIds('a cat').length);
    const long = tok.encode('zebra '.repeat(50));
    expect(long.eos).toBe(15);
    expect(long.ids[15]).toBe(EOS_ID);
    const batch = tok.encodeBatch(['a cat', 'red apple']);
    expect(batch.ids).toHaveLength(32);
    expect([...batch.ids.slice(0, 16)]).toEqual([...ids]);
    expect(batch.eos[0]).toBe(eos);
  });

  test('training is deterministic and the JSON round-trips', () => {
    const again = trainTokenizer(captions, { vocabSize: 600, contextLength: 16 });
    expect(again.merges).toEqual(tok.merges);
    const back = BpeTokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(back.vocabSize).toBe(tok.vocabSize);
    expect([...back.encode('grinning cat face').ids]).toEqual([...tok.encode('grinning cat face').ids]);
  });

  test('rejects a malformed tokenizer.json and a vocabulary without room for bytes', () => {
    expect(() => BpeTokenizer.fromJSON({ type: 'other' })).toThrow(InputError);
    expect(() => BpeTokenizer.fromJSON({ type: 'wit-byte-bpe', version: 1, contextLength: 8, merges: [[3, 9999]] })).toThrow(/merge 0/);
    expect(() => trainTokenizer(captions, { vocabSize: 100, contextLength: 8 })).toThrow(UsageError);
  });
});
