import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bzip2Sync, writeDump } from '../helpers/wiki-dump.js';
import { querygen, unionQueries } from '../../src/querygen/index.js';
import { readWordnet, defaultWordnetDir } from '../../src/querygen/wordnet.js';
import { parsePageviewFile } from '../../src/querygen/pageviews.js';
import { readTsv } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wit-qg-sources-'));

describe('pageviews', () => {
  const hour1 = [
    'en Main_Page 500 0',
    'en Star_Wars 60 0',
    'en Star_Wars_(film) 49 0', // under the hourly threshold: ignored
    'en Special:Search 900 0', // ':' skipped
    'en.m Star_Wars 800 0', // mobile: not counted by default
    'de Star_Wars 300 0',
    'en Exactly_Seventy 50 0',
    'en Sixty_Nine 50 0',
    'en broken line here 4 0', // 6 fields
    'en Bad_Count many 0',
    'en Tab\tTitle', // 2 fields
    '',
  ].join('\n');
  const hour2 = ['en Star_Wars 55 0', 'en Exactly_Seventy 20 0', 'en Main_Page 51 0', 'en Sixty_Nine 19 0', 'fr Paris 70 0'].join('\n');
  const hour3 = ['en Exactly_Seventy 50 0', 'en Sixty_Nine 50 0'].join('\n');

  it('filters, sums across plain/.gz/.bz2 files, thresholds at the edge, counts bad lines', async () => {
    const f1 = join(dir, 'pageviews-20240101-000000');
    const f2 = join(dir, 'pageviews-20240101-010000.gz');
    const f3 = join(dir, 'pageviews-20240101-020000.bz2');
    writeFileSync(f1, hour1);
    writeFileSync(f2, gzipSync(hour2));
    writeFileSync(f3, bzip2Sync(hour3.replace('Sixty_Nine 50', 'Sixty_Nine 19')));
    const one = await parsePageviewFile(f1, { domains: ['en'], minHourlyViews: 50 });
    expect(one.badLines).toBe(3);
    expect(one.badExamples[0]).toMatch(/^line 9: expected 4 space-separated fields, got 6/);
    expect(one.badExamples[1]).toMatch(/^line 10: views is not a count/);
    // the front page is no article (issue 29): left out, counted with Special:Search
    expect([...one.titles]).toEqual([['Star Wars', 60], ['Exactly Seventy', 50], ['Sixty Nine', 50]]);
    expect(one.nonArticles).toBe(2);

    const out = join(dir, 'pv.tsv');
    const s = await querygen({ wiki: [], pageviews: [f1, f2, f3], out, wordnet: 'none', workers: 2 });
    const rows = readTsv(out);
    // Star Wars 115, Exactly Seventy 50+50 = 100 (the hourly 20 ignored), Sixty Nine 50 (19s ignored) < 70;
    // Main Page (551 views) is the front page, not a title
    expect(rows).toEqual([
      { query: 'Star Wars', source: 'title', count: 115 },
      { query: 'Exactly Seventy', source: 'title', count: 100 },
    ]);
    expect(s.pageview_bad_lines).toBe(3);
    expect(s.pageview_non_articles).toBe(3); // Main_Page twice, Special:Search
    expect(s.pageview_lines).toBe(11 + 5 + 2);
    expect(s.pageview_bad_examples[0]).toContain('pageviews-20240101-000000: line 9');
    const s2 = await querygen({ wiki: [], pageviews: [f1, f2, f3], out, wordnet: 'none', minViews: 50, pageviewDomains: ['en', 'en.m'] });
    const r2 = new Map(readTsv(out).map((r) => [r.query, r.count]));
    expect(r2.get('Star Wars')).toBe(915);
    expect(r2.get('Sixty Nine')).toBe(50);
    expect(s2.by_source.title).toBe(3);
  });
});

describe('WordNet', () => {
  it('bundled WordNet 3.1: head words lowercased as NLTK names them, all lemmas with case', () => {
    const head = readWordnet(defaultWordnetDir(), 'head');
    expect(head.synsets).toBeGreaterThan(117000);
    // MetaCLIP reports 86,654 entries from WordNet 3.0; 3.1 is close
    expect(head.entries.size).toBe(86648);
    expect(head.entries.has('dog')).toBe(true);
    expect(head.entries.has('new york')).toBe(true);
    const odd = [...head.entries.keys()].filter((k) => k !== k.toLowerCase() || /_|\((a|p|ip)\)$/.test(k));
    expect(odd).toEqual([]);
    const all = readWordnet(defaultWordnetDir(), 'all');
    expect(all.entries.size).toBeGreaterThan(140000);
    expect(all.entries.has('New York')).toBe(true);
  });

  it('a custom WordNet directory, order and counts', async () => {
    const wn = join(dir, 'wn');
    mkdirSync(wn, { recursive: true });
    const lic = '  1 This software and database is being provided to you, the LICENSEE, by  \n';
    writeFileSync(join(wn, 'data.noun'), lic + '00001740 03 n 02 Entity 0 thing 0 000 | that which exists\n00002000 03 n 01 New_York 0 000 | a city\n');
    writeFileSync(join(wn, 'data.verb'), lic + '00001740 29 v 01 run 0 000 | move fast\n');
    writeFileSync(join(wn, 'data.adj'), lic + '00001740 00 a 02 able(a) 0 capable 0 000 | having the means\n00002000 00 s 01 entity 0 000 | same head twice\n');
    writeFileSync(join(wn, 'data.adv'), lic);
    expect([...readWordnet(wn, 'head').entries]).toEqual([['able', 1], ['entity', 2], ['new york', 1], ['run', 1]]);
    expect([...readWordnet(wn, 'all').entries.keys()]).toEqual(['able', 'capable', 'entity', 'Entity', 'thing', 'New York', 'run']);
    // a dump whose unigram 'run' and title 'New York' duplicate WordNet entries
    const text = Array.from({ length: 5 }, () => 'run fast ,').join('\n');
    const wiki = writeDump(join(dir, 'wn.xml'), [{ title: 'T', text }], 'xml').path;
    const pv = join(dir, 'pageviews-20240101-000000');
    writeFileSync(pv, 'en New_york 100 0\nen Apple 90 0\n');
    const out = join(dir, 'wn.tsv');
    const s = await querygen({ wiki: [wiki], pageviews: [pv], wordnet: wn, out, minCount: 5, workers: 1 });
    expect(readTsv(out)).toEqual([
      { query: 'able', source: 'wordnet', count: 1 },
      { query: 'entity', source: 'wordnet', count: 2 },
      { query: 'new york', source: 'wordnet', count: 1 },
      { query: 'run', source: 'wordnet', count: 1 },
      { query: 'fast', source: 'unigram', count: 5 },
      { query: 'New york', source: 'title', count: 100 }, // case kept: 'new york' is another query
      { query: 'Apple', source: 'title', count: 90 },
    ]);
    expect(s.dropped.duplicates.unigram).toBe(1); // 'run'
    expect(s.dropped.punctuation.unigram).toBe(0); // ',' never reaches the list: unigrams are words
  });
});

describe('union and --max-queries', () => {
  it('order wordnet -> unigram -> bigram -> title, each canonical form once, tail dropped by the cap', () => {
    const u = unionQueries([
      ['wordnet', [['dog', 1], ['New  York', 1], [',', 1], ['', 1]]],
      ['unigram', [['dog', 900], ['cat', 500]]],
      ['bigram', [['New York', 5], ['hot dog', 3]]],
      ['title', [['U.S.', 100], [' U.S.\t', 90], ['Cat', 80]]],
    ]);
    expect(u.rows.map((r) => `${r.query}|${r.source}|${r.count}`)).toEqual([
      'dog|wordnet|1', 'New York|wordnet|1', 'cat|unigram|500', 'hot dog|bigram|3', 'U.S.|title|100', 'Cat|title|80',
    ]);
    expect(u.duplicates).toEqual({ wordnet: 0, unigram: 1, bigram: 1, title: 1 });
    expect(u.punctuation.wordnet).toBe(2);
    const capped = unionQueries([
      ['wordnet', [['a1', 1], ['a2', 1]]],
      ['unigram', [['b1', 9], ['b2', 8]]],
      ['title', [['c1', 100]]],
    ], 3);
    expect(capped.rows.map((r) => r.query)).toEqual(['a1', 'a2', 'b1']);
    expect(capped.capped).toEqual({ wordnet: 0, unigram: 1, bigram: 0, title: 1 });
  });
});
