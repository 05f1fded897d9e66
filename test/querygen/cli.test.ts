import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticPages, writeDump } from '../helpers/wiki-dump.js';
import { readTsv } from './helpers.js';
import { WIT } from '../crawl/run-wit.js';
import { querygenLine } from '../../src/querygen/index.js';
import { formatCount } from '../../src/util/progress.js';

const dir = mkdtempSync(join(tmpdir(), 'wit-qg-cli-'));
const wit = (...args: string[]) => spawnSync(process.execPath, [WIT, 'querygen', ...args], { encoding: 'utf8', cwd: process.cwd(), timeout: 60000 });
let dump: string;

beforeAll(() => {
  dump = writeDump(join(dir, 'enwiki-x-pages-articles-multistream.xml.bz2'), [...syntheticPages({ seed: 11, pages: 400 })], 'multistream', { pagesPerStream: 40 }).path;
  writeFileSync(join(dir, 'pageviews-20240101-000000'), 'en Some_Title 100 0\nen bad\n');
});

describe('wit querygen (CLI)', () => {
  it('--json prints the summary; files written; exit 0', () => {
    const out = join(dir, 'q.tsv');
    const r = wit('--wiki', dump, '--pageviews', join(dir, 'pageviews-20240101-000000'), '--out', out, '--min-count', '20', '--min-pmi=4', '--workers', '2', '--json');
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.out).toBe(out);
    expect(s.summary_file).toBe(join(dir, 'q.summary.json'));
    expect(JSON.parse(readFileSync(s.summary_file, 'utf8'))).toEqual(s);
    expect(s.by_source.wordnet).toBe(86648);
    expect(s.by_source.unigram).toBeGreaterThan(50);
    expect(s.by_source.title).toBe(1);
    expect(s.pageview_bad_lines).toBe(1);
    const rows = readTsv(out);
    expect(rows.length).toBe(s.queries);
    expect(rows[0]!.source).toBe('wordnet');
    expect(rows[rows.length - 1]).toEqual({ query: 'Some Title', source: 'title', count: 100 });
  });

  it('the last progress line is the summary: articles, its one rate, queries (issue 29)', () => {
    const out = join(dir, 'progress.tsv');
    const r = wit('--wiki', dump, '--pageviews', join(dir, 'pageviews-20240101-000000'), '--out', out, '--min-count', '20', '--min-pmi=4', '--workers', '2', '--json');
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    const last = r.stderr.trim().split('\n').filter((l) => l.startsWith('querygen:')).pop()!;
    expect(s.articles).toBeGreaterThan(300);
    expect(last).toBe(querygenLine(s));
    expect(last).toContain(` ${s.articles} articles (${formatCount(s.articles_per_sec)}/s) `);
    expect(last).toContain(` ${formatCount(s.queries)} queries (`);
  });

  it('--max-queries caps; text summary without --json', () => {
    const out = join(dir, 'cap.tsv');
    const r = wit('--wiki', dump, '--out', out, '--wordnet', 'none', '--min-count', '5', '--max-queries', '10', '--workers', '1');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^wrote 10 queries to .*cap\.tsv/);
    expect(readTsv(out).length).toBe(10);
  });

  it('bad flag, bad value, missing input: exit 2 with a clear message, nothing written', () => {
    let r = wit('--wiki', dump, '--out', join(dir, 'x.tsv'), '--min-cuont', '5');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown flag '--min-cuont' \(did you mean --min-count\?\)/);
    r = wit('--wiki', dump, '--out', join(dir, 'x.tsv'), '--wordnet-lemmas', 'some');
    expect(r.status).toBe(2);
    r = wit('--wiki', join(dir, 'missing.xml.bz2'), '--out', join(dir, 'x.tsv'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/querygen: .*missing\.xml\.bz2: wiki dump not found/);
    r = wit('--out', join(dir, 'x.tsv'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/nothing to count/);
    expect(existsSync(join(dir, 'x.tsv'))).toBe(false);
  });

  it('--help documents the flags', () => {
    const r = wit('--help');
    expect(r.status).toBe(0);
    for (const f of ['--wiki', '--pageviews', '--wordnet', '--min-bigram-count', '--max-memory', '--workers', '--max-queries', '--wordnet-lemmas']) expect(r.stdout).toContain(f);
  });
});
