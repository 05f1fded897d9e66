import { describe, expect, it } from 'vitest';
import { Screen, basicFilterReason, captionWordCount, reasonOf, ELIGIBLE } from '../../src/filter/screen.js';
import { rec } from './helpers.js';

const DATACOMP = { minCaptionWords: 3, minCaptionChars: 6, minImageSide: 200, maxAspect: 3 };

describe('basic filters (DataComp basic)', () => {
  it('counts words as tokens with a letter or digit', () => {
    expect(captionWordCount('a red cat')).toBe(3);
    expect(captionWordCount('  cat , dog ! ')).toBe(2);
    expect(captionWordCount("don't e-mail 3.14 🐱")).toBe(3);
    expect(captionWordCount('')).toBe(0);
  });

  it('drops by the first failing rule, at the exact boundaries', () => {
    const r = (caption: string, ow: number, oh: number) => basicFilterReason(rec('x', { caption, original_width: ow, original_height: oh }), DATACOMP);
    expect(r('a red cat', 200, 600)).toBeUndefined(); // 3 words, 9 chars, side 200, aspect 3.0
    expect(r('ab c', 500, 500)).toBe('caption_chars'); // 4 chars < 6
    expect(r('ab cd', 500, 500)).toBe('caption_chars'); // 5 chars
    expect(r('abc de', 500, 500)).toBe('caption_words'); // 6 chars, 2 words
    expect(r('🐱🐱 a', 500, 500)).toBe('caption_chars'); // 4 code points (6 UTF-16 units)
    expect(r('🐱🐱🐱 a b', 500, 500)).toBe('caption_words'); // emoji are not words
    expect(r('a red cat', 199, 600)).toBe('image_side');
    expect(r('a red cat', 200, 601)).toBe('aspect');
    expect(r('a red cat', 601, 200)).toBe('aspect');
    expect(r('a red cat', 0, 0)).toBeUndefined(); // unknown original size: falls back to stored 256x256
  });

  it('each filter is off unless asked', () => {
    expect(basicFilterReason(rec('x', { caption: '', original_width: 1, original_height: 100 }), {})).toBeUndefined();
    expect(basicFilterReason(rec('x', { caption: '', original_width: 1, original_height: 100 }), { maxAspect: 3 })).toBe('aspect');
  });
});

describe('Screen: basic filters then exact dedup, first occurrence wins', () => {
  it('dedups by image sha256 and by (url, caption), counting each reason', () => {
    const img = new TextEncoder().encode('same image');
    const rows = [
      rec('a', { image: img }), // kept
      rec('b', { image: img }), // duplicate image
      rec('c', { url: 'https://example.org/a.jpg', caption: 'a photo of thing a' }), // same url+caption as a
      rec('d', { url: 'https://example.org/a.jpg' }), // same url, other caption: kept
      rec('e', { image: new TextEncoder().encode('other'), caption: 'x' }), // fails caption filter
      rec('f', { image: new TextEncoder().encode('other'), caption: 'long enough caption here' }), // first *eligible* copy: kept
      rec('g', { image: new TextEncoder().encode('other') }), // duplicate of f
    ];
    const s = new Screen({ minCaptionChars: 6 }, true);
    const out = rows.map((r) => s.check(r));
    expect(out.map((c) => (c === ELIGIBLE ? 'ok' : reasonOf(c)))).toEqual(['ok', 'duplicate_image', 'duplicate_url_caption', 'ok', 'caption_chars', 'ok', 'duplicate_image']);
  });

  it('without dedup and filters passes everything', () => {
    const s = new Screen({}, false);
    expect(s.passesAll).toBe(true);
    const r = rec('a');
    expect([s.check(r), s.check(r)]).toEqual([ELIGIBLE, ELIGIBLE]);
  });
});
