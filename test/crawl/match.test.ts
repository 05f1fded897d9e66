import { describe, expect, it } from 'vitest';
import { QueryMatcher } from '../../src/crawl/match.js';
import { wordTokens } from '../../src/text/tokenize.js';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
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

/** The definition, spelled out: query tokens occur contiguously in the caption tokens. */
function naiveMatcher(queries: readonly string[], caseSensitive = true): (caption: string) => number[] {
  const fold = (s: string) => (caseSensitive ? s : s.toLowerCase());
  const qt = queries.map((q) => wordTokens(fold(q)));
  return (caption) => {
    const c = wordTokens(fold(caption));
    const out: number[] = [];
    qt.forEach((t, id) => {
      if (t.length === 0) return;
      for (let i = 0; i + t.length <= c.length; i++) {
        let ok = true;
        for (let j = 0; j < t.length; j++) if (c[i + j] !== t[j]) { ok = false; break; }
        if (ok) { out.push(id); return; }
      }
    });
    return out;
  };
}

function naiveMatch(queries: readonly string[], caption: string, caseSensitive = true): number[] {
  return naiveMatcher(queries, caseSensitive)(caption);
}

const POOL = [
  'a', 'b', 'Z', 'é', 'ß', 'İ', 'ı', '0', '7', '٣', '\u0301', '\u0903', 'ж', 'Ж', '中', '文', 'ア', 'ก', '\u0e31',
  ' ', '  ', '\t', '\n', '\u00a0', '\u2028', '\u3000', '\ufeff', '\u200b', '\u1680',
  '.', ',', '-', "'", '’', '!', '?', ';', ':', '`', '(', ')', '"', '/', '&', '©', '€', '_', '\u00ad',
  '😀', '👍🏽', '𝐀', '𝟙', '\ud83d', '\ude00', '\ud800x', 'x\udc00',
];

function randomText(r: () => number, maxLen: number): string {
  const n = Math.floor(r() * maxLen);
  let s = '';
  for (let i = 0; i < n; i++) s += POOL[Math.floor(r() * POOL.length)]!;
  return s;
}

describe('one scanner', () => {
  it('the matcher tokenizes with src/text/tokenize.ts: each caption token, alone as a query, matches', () => {
    const r = rng(1);
    for (let k = 0; k < 2_000; k++) {
      const s = randomText(r, 30);
      const toks = wordTokens(s);
      const m = QueryMatcher.build(toks);
      expect(m.match(s), JSON.stringify(s)).toEqual(toks.map((_, i) => i));
    }
  });
});

describe('QueryMatcher', () => {
  const queries = ['cat', 'black cat', 'New York', 'U.S.', "don't", 'AC/DC', 'café', 'cat sat', 'sat', 'York'];
  const m = QueryMatcher.build(queries);
  const ids = (caption: string) => m.match(caption).map((i) => m.query(i));

  it('matches whole words only (MetaCLIP space padding)', () => {
    expect(ids('a cat.')).toEqual(['cat']);
    expect(ids('cats')).toEqual([]);
    expect(ids('concat')).toEqual([]);
    expect(ids('(cat)')).toEqual(['cat']);
    expect(ids('cat!')).toEqual(['cat']);
    expect(ids('"cat",cat;cat')).toEqual(['cat']);
    expect(ids('bobcat')).toEqual([]);
    expect(ids('cat-like')).toEqual([]); // one token: hyphenated words stay whole
  });

  it('matches multi-word queries on contiguous tokens, overlapping and nested', () => {
    expect(ids('the black cat sat down')).toEqual(['cat', 'black cat', 'cat sat', 'sat']);
    expect(ids('black  \n cat')).toEqual(['cat', 'black cat']);
    expect(ids('black, cat')).toEqual(['cat']);
    expect(ids('Skyline of New York City')).toEqual(['New York', 'York']);
    expect(ids('New-York')).toEqual([]);
  });

  it('handles punctuation inside queries and words with joiners', () => {
    expect(ids('made in the U.S.')).toEqual(['U.S.']);
    expect(ids('the U.S. Army')).toEqual(['U.S.']);
    expect(ids("I don't know")).toEqual(["don't"]);
    expect(ids('AC / DC live')).toEqual(['AC/DC']);
    expect(ids('AC/DC live')).toEqual(['AC/DC']);
    expect(ids('ACDC')).toEqual([]);
  });

  it('numbers with separators and abbreviations are whole tokens: a query of one matches the caption it came from', () => {
    const qs = ['1,000', '000', '1.000.000', 'U.S.', 'U.S', 'e.g.', 'e.g', 'Dr.', 'Dr', 'Dr. Smith', 'i.e.', 'etc.', '12,345,678'];
    const m = QueryMatcher.build(qs);
    const got = (c: string) => m.match(c).map((i) => qs[i]);
    expect(got('over 1,000 people')).toEqual(['1,000']);
    expect(got('1.000.000 Einwohner')).toEqual(['1.000.000']);
    expect(got('made in the U.S.')).toEqual(['U.S.']);
    expect(got('tools, e.g. hammers')).toEqual(['e.g.']);
    expect(got('Dr. Smith at work')).toEqual(['Dr.', 'Dr. Smith']);
    expect(got('cats, dogs, etc.')).toEqual(['etc.']);
    expect(got('that is, i.e. this')).toEqual(['i.e.']);
    expect(got('12,345,678 stars')).toEqual(['12,345,678']);
    // not a thousands group: stays three tokens, and a sentence-final period stays a token
    expect(got('pages 1,00 and 1,0000')).toEqual([]);
    expect(got('I saw Dr')).toEqual(['Dr']);
  });

  it('handles Unicode words', () => {
    expect(ids('Un café noir')).toEqual(['café']);
    expect(ids('cafés')).toEqual([]);
    expect(ids('😀cat😀')).toEqual(['cat']);
  });

  it('is case-sensitive by default and folds case when asked', () => {
    expect(ids('CAT')).toEqual([]);
    expect(ids('new york')).toEqual([]);
    const ci = QueryMatcher.build(queries, { caseSensitive: false });
    expect(ci.match('NEW YORK Cat').map((i) => ci.query(i))).toEqual(['cat', 'New York', 'York']);
  });

  it('reports duplicate queries under each id, ignores empty ones', () => {
    const d = QueryMatcher.build(['dog', '', '  ', 'dog', 'hot dog']);
    expect(d.size).toBe(5);
    expect(d.match('a hot dog')).toEqual([0, 3, 4]);
    expect(d.match('')).toEqual([]);
  });

  it('agrees with the naive definition on random inputs', () => {
    const r = rng(3);
    const words = ['a', 'b', 'ab', 'ba', 'a.b', 'A', 'é', '.', ',', '-', 'x', "a'b", '中', '😀'];
    const pick = () => words[Math.floor(r() * words.length)]!;
    for (let round = 0; round < 30; round++) {
      const qs: string[] = [];
      const nq = 1 + Math.floor(r() * 60);
      for (let i = 0; i < nq; i++) {
        const len = 1 + Math.floor(r() * 4);
        qs.push(Array.from({ length: len }, pick).join(r() < 0.8 ? ' ' : ''));
      }
      for (const cs of [true, false]) {
        const mm = QueryMatcher.build(qs, { caseSensitive: cs });
        for (let k = 0; k < 100; k++) {
          const len = Math.floor(r() * 16);
          const caption = Array.from({ length: len }, pick).join(r() < 0.7 ? ' ' : '');
          expect(mm.match(caption), `${JSON.stringify(qs)} / ${JSON.stringify(caption)}`).toEqual(
            naiveMatch(qs, caption, cs),
          );
        }
      }
    }
  });

  it('agrees with the naive definition on random Unicode captions', () => {
    const r = rng(4);
    const qs = Array.from({ length: 300 }, () => randomText(r, 6));
    const mm = QueryMatcher.build(qs);
    const naive = naiveMatcher(qs);
    for (let k = 0; k < 1000; k++) {
      const caption = randomText(r, 40);
      expect(mm.match(caption)).toEqual(naive(caption));
    }
  });

  it('agrees with the naive definition on a larger list (long tokens, many nodes)', () => {
    const r = rng(6);
    const vocab = Array.from({ length: 400 }, (_, i) => {
      const len = 1 + Math.floor(r() * 12);
      let w = '';
      for (let k = 0; k < len; k++) w += 'abcdéfghij'[Math.floor(r() * 10)];
      return i % 7 === 0 ? w.toUpperCase() : w;
    });
    const pick = () => vocab[Math.floor(r() * r() * vocab.length)]!;
    const qs = Array.from({ length: 6000 }, () => Array.from({ length: 1 + Math.floor(r() * r() * 5) }, pick).join(' '));
    for (const cs of [true, false]) {
      const mm = QueryMatcher.build(qs, { caseSensitive: cs });
      const naive = naiveMatcher(qs, cs);
      for (let k = 0; k < 150; k++) {
        const caption = Array.from({ length: Math.floor(r() * 25) }, () => (r() < 0.1 ? ',' : pick())).join(' ');
        expect(mm.match(caption)).toEqual(naive(caption));
      }
    }
  });

  it('stays linear on a repetitive hostile caption', () => {
    const qs = Array.from({ length: 50 }, (_, i) => Array(i + 1).fill('a').join(' ') + ' b');
    qs.push('a');
    const mm = QueryMatcher.build(qs);
    const caption = 'a '.repeat(200_000) + 'b';
    const got = mm.match(caption);
    expect(got).toEqual([...Array(51).keys()]);
  });
});
