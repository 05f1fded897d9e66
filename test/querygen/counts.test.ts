import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticPages, writeDump, type DumpPage } from '../helpers/wiki-dump.js';
import { querygen, pmi } from '../../src/querygen/index.js';
import { referenceCounts, readTsv } from './helpers.js';
import { needs } from '../helpers/needs.js';

const dir = mkdtempSync(join(tmpdir(), 'wit-qg-counts-'));
let pages: DumpPage[];
let xml: string;

beforeAll(() => {
  pages = [...syntheticPages({ seed: 7, pages: 600, vocabulary: 3000 })];
  xml = writeDump(join(dir, 'd.xml'), pages, 'xml').path;
  writeDump(join(dir, 'd.xml.bz2'), pages, 'bz2');
  writeDump(join(dir, 'd.xml.gz'), pages, 'gz');
  writeDump(join(dir, 'enwiki-test-pages-articles-multistream.xml.bz2'), pages, 'multistream', { pagesPerStream: 50 });
});

describe('querygen counts on a generated dump', () => {
  it('exact unigram and bigram counts, N, articles; markup-only words never counted', async () => {
    const ref = referenceCounts(pages);
    const out = join(dir, 'exact.tsv');
    // min-pmi -1000: every bigram with count >= 2 passes, so the bigram counts are all visible
    const s = await querygen({ wiki: [xml], out, workers: 2, minCount: 3, minPmi: -1000, minBigramCount: 2, wordnet: 'none' });
    expect(s.tokens).toBe(ref.tokens);
    expect(s.articles).toBe(ref.articles);
    const redirects = pages.filter((p) => p.redirect !== undefined).length;
    const other = pages.filter((p) => (p.ns ?? 0) !== 0).length;
    expect(s.redirects).toBe(redirects);
    expect(s.other_namespaces).toBe(other);
    expect(s.pages).toBe(pages.length);
    const rows = readTsv(out);
    const uni = new Map(rows.filter((r) => r.source === 'unigram').map((r) => [r.query, r.count]));
    const bi = new Map(rows.filter((r) => r.source === 'bigram').map((r) => [r.query, r.count]));
    const wantUni = new Map([...ref.uni].filter(([k, c]) => c >= 3 && /[\p{L}\p{N}]/u.test(k)));
    expect(uni).toEqual(wantUni);
    const wantBi = new Map([...ref.bi].filter(([, c]) => c >= 2));
    expect(bi).toEqual(wantBi);
    expect(s.distinct_unigrams).toBe(ref.uni.size);
    expect(s.distinct_bigrams).toBe(ref.bi.size);
    for (const w of ['templateonlyword', 'refonlyword', 'tableonlyword', 'commentonlyword', 'fileonlyword', 'categoryonlyword', 'talkonlyword']) {
      expect(ref.uni.has(w)).toBe(false);
      expect(readFileSync(out, 'utf8')).not.toContain(w);
    }
    // sorted: count descending, then string order
    const u = rows.filter((r) => r.source === 'unigram');
    for (let i = 1; i < u.length; i++) expect(u[i - 1]!.count > u[i]!.count || (u[i - 1]!.count === u[i]!.count && u[i - 1]!.query < u[i]!.query)).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'exact.summary.json'), 'utf8')).queries).toBe(rows.length);
  });

  const run = async (name: string, wiki: string, extra: Record<string, unknown> = {}) => {
    const out = join(dir, `${name}.tsv`);
    const s = await querygen({ wiki: [wiki], out, workers: 2, minCount: 5, minPmi: 2, minBigramCount: 2, wordnet: 'none', ...extra });
    return { text: readFileSync(out, 'utf8'), s };
  };
  let plain: ReturnType<typeof run> | undefined;
  /** The plain-XML, one-worker output every variant must equal (computed once). */
  const baseline = () => (plain ??= run('plain1', xml, { workers: 1 }));

  it('plain, .bz2 (auto, JS), .gz, multistream and 1 vs 3 workers and spilling give identical output', async () => {
    const base = await baseline();
    expect(base.s.by_source.unigram).toBeGreaterThan(100);
    expect(base.s.by_source.bigram).toBeGreaterThan(10);
    const variants = [
      await run('plain3', xml, { workers: 3 }),
      await run('bz2', join(dir, 'd.xml.bz2')),
      await run('bz2-js', join(dir, 'd.xml.bz2'), { bz2Decoder: 'js', workers: 1 }),
      await run('gz', join(dir, 'd.xml.gz')),
      await run('multi', join(dir, 'enwiki-test-pages-articles-multistream.xml.bz2'), { workers: 3 }),
      await run('multi-js', join(dir, 'enwiki-test-pages-articles-multistream.xml.bz2'), { bz2Decoder: 'js' }),
      // a tiny budget forces many spills and a real k-way merge
      await run('spill', xml, { maxMemory: '1M', workers: 2 }),
    ];
    for (const v of variants) {
      expect(v.text).toBe(base.text);
      expect(v.s.tokens).toBe(base.s.tokens);
    }
    expect(variants[variants.length - 1]!.s.spills).toBeGreaterThan(4);
    expect(variants[4]!.s.xml_bytes).toBe(base.s.xml_bytes);
  });

  // The system decoders (README.md "Requirements"): streamed .bz2 and multistream ranges.
  for (const decoder of ['lbzip2', 'bzip2'] as const) {
    it.skipIf(!needs(decoder))(`.bz2 and multistream decoded by ${decoder} give the same output`, async () => {
      const base = await baseline();
      for (const [name, wiki] of [['bz2', join(dir, 'd.xml.bz2')], ['multi', join(dir, 'enwiki-test-pages-articles-multistream.xml.bz2')]] as const) {
        const v = await run(`${name}-${decoder}`, wiki, { bz2Decoder: decoder, workers: 3 });
        expect(v.text).toBe(base.text);
        expect(v.s.tokens).toBe(base.s.tokens);
      }
    });
  }
});

describe('thresholds at their edges', () => {
  // A corpus built by hand: N = 1024 tokens exactly.
  //   "Zorvath Quimble" occurs 2 times, each word only there: PMI = log2(1024*2/(2*2)) = 9
  //   "Plenk Drovis" occurs 3 times, Plenk 3 times, Drovis 4 times: PMI = log2(1024*3/12) = 8
  //   "hundred" occurs exactly 100 times, "ninetynine" 99 times.
  const make = (): DumpPage[] => {
    const lines: string[] = [];
    lines.push('Zorvath Quimble one', 'Zorvath Quimble two');
    lines.push('Plenk Drovis x', 'Plenk Drovis y', 'Plenk Drovis z', 'Drovis w');
    for (let i = 0; i < 100; i++) lines.push('hundred');
    for (let i = 0; i < 99; i++) lines.push('ninetynine');
    let n = lines.reduce((a, l) => a + l.split(' ').length, 0);
    // pad with unique filler tokens (each a line of its own: no bigrams)
    const filler: string[] = [];
    let k = 0;
    while (n < 1024) {
      filler.push(`filler${k++}`);
      n++;
    }
    const text = [...lines, ...filler].join('\n');
    return [{ title: 'Hand made', text, visible: text.split('\n') }];
  };
  let wiki: string;
  beforeAll(() => {
    wiki = writeDump(join(dir, 'hand.xml'), make(), 'xml').path;
  });
  const run = async (extra: Record<string, unknown>) => {
    const out = join(dir, `edge-${Math.random().toString(36).slice(2)}.tsv`);
    const s = await querygen({ wiki: [wiki], out, workers: 1, wordnet: 'none', minBigramCount: 2, ...extra });
    const rows = readTsv(out);
    return { s, q: new Map(rows.map((r) => [r.query, r])) };
  };

  it('PMI values and --min-pmi / --min-bigram-count edges', async () => {
    expect(pmi(2, 2, 2, 1024)).toBe(9);
    expect(pmi(3, 3, 4, 1024)).toBe(8);
    let r = await run({ minCount: 1000, minPmi: 9 });
    expect(r.s.tokens).toBe(1024);
    expect(r.q.get('Zorvath Quimble')).toEqual({ query: 'Zorvath Quimble', source: 'bigram', count: 2 });
    expect(r.q.has('Plenk Drovis')).toBe(false);
    r = await run({ minCount: 1000, minPmi: 9.000001 });
    expect(r.q.has('Zorvath Quimble')).toBe(false);
    r = await run({ minCount: 1000, minPmi: 8 });
    expect(r.q.get('Plenk Drovis')?.count).toBe(3);
    expect(r.q.has('Zorvath Quimble')).toBe(true);
    // bigram listed best PMI first
    expect([...r.q.keys()].indexOf('Zorvath Quimble')).toBeLessThan([...r.q.keys()].indexOf('Plenk Drovis'));
    r = await run({ minCount: 1000, minPmi: 8, minBigramCount: 3 });
    expect(r.q.has('Zorvath Quimble')).toBe(false);
    expect(r.q.has('Plenk Drovis')).toBe(true);
    r = await run({ minCount: 1000, minPmi: 8, minBigramCount: 4 });
    expect(r.s.by_source.bigram).toBe(0);
  });

  it('--min-count edge and the default PMI on a small dump', async () => {
    let r = await run({ minCount: 100 });
    expect(r.q.get('hundred')).toEqual({ query: 'hundred', source: 'unigram', count: 100 });
    expect(r.q.has('ninetynine')).toBe(false);
    // default min-pmi 30: no pair of a 1024-token dump can reach it, and the bigram runs are not merged
    expect(r.s.by_source.bigram).toBe(0);
    expect(r.s.distinct_bigrams).toBeNull();
    r = await run({ minCount: 99 });
    expect(r.q.get('ninetynine')?.count).toBe(99);
    r = await run({ minCount: 101 });
    expect(r.q.has('hundred')).toBe(false);
    expect(existsSync(r.s.summary_file)).toBe(true);
  });
});
