import { describe, expect, it } from 'vitest';
import { forEachToken, regexTokens, scanTokens, wordTokens, isPunctuationToken, canonicalText } from '../../src/text/tokenize.js';

/** Deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Characters that exercise every branch: ASCII letters/digits, joiners, spaces of all kinds,
// combining marks, CJK, astral letters and emoji, lone surrogates, symbols.
const ALPHABET = [
  'a', 'Z', '0', '9', 'é', 'ß', 'Ж', '中', '\u0301', '\u0903', "'", '’', '-', '.', ',', '!', '(', '©', '_',
  ' ', '\t', '\n', '\u00a0', '\u2003', '\u3000', '\ufeff', '\u200b', '\u2028', '😀', '𝐀', '𠀀', '\ud800', '\udc00',
  '٣', 'Ⅻ', '$', '"', '/', '\u0000', '\u1680',
];

describe('tokenizer semantics (pinned: the crawl matches with the same tokens)', () => {
  it('examples', () => {
    expect(wordTokens("Don't e-mail the U.S. (3.14) ©2020 café—naïve")).toEqual([
      "Don't", 'e-mail', 'the', 'U.S.', '(', '3.14', ')', '©', '2020', 'café', '—', 'naïve',
    ]);
    expect(wordTokens('end-  -start a--b x.')).toEqual(['end', '-', '-', 'start', 'a', '-', '-', 'b', 'x', '.']);
    expect(wordTokens('New York 😀!')).toEqual(['New', 'York', '😀', '!']);
    expect(wordTokens('  \t\n ')).toEqual([]);
    expect(canonicalText(' New\tYork ,  City ')).toBe('New York , City');
    expect(isPunctuationToken(',')).toBe(true);
    expect(isPunctuationToken('😀')).toBe(true);
    expect(isPunctuationToken('a')).toBe(false);
  });

  it('numbers with separators and abbreviations leave no fragments', () => {
    expect(wordTokens('1,000 people, 1.000.000 Einwohner, 12,345,678 stars')).toEqual(['1,000', 'people', ',', '1.000.000', 'Einwohner', ',', '12,345,678', 'stars']);
    expect(wordTokens('the U.S. and the U.S.S.R., e.g. this; i.e. that, at 5 p.m.')).toEqual(['the', 'U.S.', 'and', 'the', 'U.S.S.R.', ',', 'e.g.', 'this', ';', 'i.e.', 'that', ',', 'at', '5', 'p.m.']);
    expect(wordTokens('Dr. Who, Mr. T, Ph.D. thesis, cats etc. and Smith et al. 2020')).toEqual(['Dr.', 'Who', ',', 'Mr.', 'T', ',', 'Ph.D.', 'thesis', ',', 'cats', 'etc.', 'and', 'Smith', 'et', 'al.', '2020']);
    // not separators or abbreviations: split as before
    expect(wordTokens('1,00 1,0000 a,000 1, 000 plan B. No. 5 end.')).toEqual(['1', ',', '00', '1', ',', '0000', 'a', ',', '000', '1', ',', '000', 'plan', 'B', '.', 'No', '.', '5', 'end', '.']);
    expect(wordTokens('U.S.Army')).toEqual(['U.S.Army']);
  });

  it('scanner == defining regex on strings full of digits, commas, periods and abbreviations', () => {
    const r = rng(7);
    const parts = ['1', '0', '9', ',', '.', ' ', 'U', 'S', 'e', 'g', 'Dr', 'Mrs', 'etc', 'Ph', 'D', 'x', '-', "'", '𝐀', 'é', '\u0301'];
    for (let k = 0; k < 20000; k++) {
      const len = Math.floor(r() * 16);
      let s = '';
      for (let i = 0; i < len; i++) s += parts[Math.floor(r() * parts.length)];
      expect(wordTokens(s), JSON.stringify(s)).toEqual(regexTokens(s));
    }
  });

  it('scanner == defining regex on random Unicode strings', () => {
    const r = rng(42);
    for (let k = 0; k < 20000; k++) {
      const len = Math.floor(r() * 24);
      let s = '';
      for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
      expect(wordTokens(s), JSON.stringify(s)).toEqual(regexTokens(s));
    }
  });

  it('isWord flag and forEachToken agree with the token text', () => {
    const s = "It's 12.5 km—far (very) far 😀";
    const seen: [string, boolean][] = [];
    forEachToken(s, (t, w) => seen.push([t, w]));
    for (const [t, w] of seen) expect(w).toBe(!isPunctuationToken(t));
    const spans: string[] = [];
    scanTokens(s, (a, b) => spans.push(s.slice(a, b)), 5, 12);
    expect(spans).toEqual(wordTokens(s.slice(5, 12)));
  });
});
