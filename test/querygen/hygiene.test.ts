/**
 * Query hygiene (issue 29, point 6): pageview lines that name no article are not titles, and
 * stopwords stay queries (CLIP's definition) unless a stopword list is given.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isArticleTitle, parsePageviewFile } from '../../src/querygen/pageviews.js';
import { unionQueries } from '../../src/querygen/select.js';
import { readStopwords, resolveQuerygen } from '../../src/querygen/options.js';

describe('pageview titles', () => {
  it('the front page, `-`, Special: and other namespaces (colon escaped too) are no articles', () => {
    for (const t of ['Main_Page', '-', 'Special:Search', 'Special%3ASearch', 'Talk:Apple', 'File:Apple.jpg', 'メインページ']) expect(isArticleTitle(t), t).toBe(false);
    for (const t of ['Apple', 'Red_apple', 'AC/DC', '100%_Juice', 'Main_Street']) expect(isArticleTitle(t), t).toBe(true);
  });

  it('are left out of the titles and counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wit-pv-'));
    try {
      const f = join(dir, 'pageviews-20240101-000000');
      writeFileSync(f, ['en Main_Page 773843 0', 'en - 5000 0', 'en Special:Search 900 0', 'en Special%3ASearch 80 0', 'en Apple 120 0', 'en Red_apple 40 0', 'de Hauptseite 999 0'].join('\n') + '\n');
      const r = await parsePageviewFile(f, { domains: ['en'], minHourlyViews: 1 });
      expect([...r.titles]).toEqual([['Apple', 120], ['Red apple', 40]]);
      expect(r.nonArticles).toBe(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('stopwords as queries', () => {
  const sources = (): Array<['unigram' | 'title', Array<[string, number]>]> => [['unigram', [['the', 900], ['apple', 300], ['of', 200]]], ['title', [['The Who', 50]]]];
  it("by default every word over the count is a query, stopwords included (CLIP's and MetaCLIP's lists)", () => {
    const u = unionQueries(sources());
    expect(u.rows.map((r) => r.query)).toEqual(['the', 'apple', 'of', 'The Who']);
    expect(u.stopwords).toMatchObject({ unigram: 0, title: 0 });
  });
  it('--stopwords FILE drops the queries that are one (as the crawl matches them: case-sensitive, spacing aside)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wit-stop-'));
    try {
      const f = join(dir, 'stop.txt');
      writeFileSync(f, '# function words\nthe\n  of  \nWho\n\n');
      const stop = readStopwords(f);
      const u = unionQueries(sources(), undefined, stop);
      expect(u.rows.map((r) => r.query)).toEqual(['apple', 'The Who']);
      expect(u.stopwords).toMatchObject({ unigram: 2, title: 0 });
      writeFileSync(join(dir, 'empty.txt'), '# nothing\n');
      expect(() => readStopwords(join(dir, 'empty.txt'))).toThrow(/holds no word/);
      const run = resolveQuerygen({ wiki: [], pageviews: [f], out: join(dir, 'q.tsv'), wordnet: 'none', stopwords: 'none' } as never);
      expect(run.stopwords.size).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
