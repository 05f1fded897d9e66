import { describe, expect, it } from 'vitest';
import { unionQueries } from '../../src/querygen/index.js';
import { withoutControls } from '../../src/querygen/select.js';

describe('control and bidirectional characters never reach queries.tsv (issue 26)', () => {
  it('turns controls into spaces and drops bidi overrides', () => {
    expect(withoutControls('red\tfox\nhouse\x1b[2J')).toBe('red fox house [2J');
    expect(withoutControls('abc\u202eexe.txt\u2066x\u2069')).toBe('abcexe.txtx');
    expect(withoutControls('plain words')).toBe('plain words');
  });

  it('cleans every source in unionQueries, so no row holds a tab, newline, escape or override', () => {
    const u = unionQueries([
      ['title', [['Evil\ttitle\nwith rows', 5], ['\u202eReversed', 4], ['Bell\x07 ring\x1b]0;pwned\x07', 3], ['\u0085\u2028', 2]]],
      ['unigram', [['word\u200f', 9]]],
    ]);
    for (const r of u.rows) expect(r.query).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(u.rows.map((r) => r.query)).toEqual(['Evil title with rows', 'Reversed', 'Bell ring ]0;pwned', 'word']);
  });
});
