import type { CommandDef } from '../command.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';
import { querygen, QUERYGEN_OPTIONS, type QuerygenOptions, type QuerygenSummary } from '../../querygen/index.js';

export const command: CommandDef = {
  name: 'querygen',
  summary:
    'Build the query list (CLIP/MetaCLIP): WordNet synsets, words seen >= --min-count times in the Wikipedia text, ' +
    'bigrams with PMI >= --min-pmi, and titles with >= --min-views pageviews; union in that order, each query once.\n\n' +
    'Inputs: --wiki takes MediaWiki XML export dumps (.xml, .xml.bz2, .xml.gz; a multistream .bz2 is decoded in parallel\n' +
    'by byte ranges when its index is beside it or given with --wiki-index). --wiki may be left out when only --pageviews\n' +
    '(and WordNet) are wanted; at least one of --wiki/--pageviews is required. WordNet is always added unless --wordnet none.\n' +
    'Case is kept: "Apple" and "apple" are counted and matched separately (as MetaCLIP); WordNet head words are lowercase\n' +
    "(NLTK's synset names), --wordnet-lemmas all keeps each lemma's case. Words and bigrams are the crawl's tokens.\n" +
    'PMI >= 30 over N tokens needs both words seen at most N/2^30 times (~4 on a full English Wikipedia), so on smaller\n' +
    'dumps lower --min-pmi. --max-queries keeps the first N of the union: the lowest-view titles are dropped first, then\n' +
    'the lowest-PMI bigrams, then the least frequent unigrams. Output: TSV `query<TAB>source<TAB>count` (a header row)\n' +
    'and a JSON summary beside it (queries.tsv -> queries.summary.json).',
  usage: 'wit querygen [--wiki DUMP…] [--pageviews FILE…] [--wordnet DIR|none] --out queries.tsv',
  flags: groupFlags(flagSpecs(QUERYGEN_OPTIONS), {
    input: ['wiki', 'wiki-index', 'pageviews', 'wordnet'],
    selection: ['min-count', 'min-pmi', 'min-bigram-count', 'min-views', 'min-hourly-views', 'pageview-domains', 'wordnet-lemmas', 'max-queries'],
    output: ['out'],
    performance: ['workers', 'max-memory', 'bz2-decoder', 'tmp-dir'],
  }),
  examples: [
    { what: 'the query list of a Wikipedia dump, its hourly pageviews and WordNet', cmd: 'wit querygen --wiki enwiki-20240101-pages-articles-multistream.xml.bz2 --pageviews pageviews-20240101-*.gz --out queries.tsv' },
    { what: 'a small dump: lower the frequency and PMI thresholds', cmd: 'wit querygen --wiki simplewiki-20240101-pages-articles.xml.bz2 --min-count 20 --min-pmi 12 --out queries.tsv' },
    { what: 'popular titles and WordNet only, no dump', cmd: 'wit querygen --pageviews pageviews-20240101-*.gz --min-views 200 --out queries.tsv' },
  ],
  async run(flags, ctx) {
    const opts: QuerygenOptions = { ...optionsFromFlags(QUERYGEN_OPTIONS, flags), onProgress: ctx.progress, signal: ctx.signal };
    const s: QuerygenSummary = await querygen(opts);
    const text =
      `wrote ${s.queries} queries to ${s.out} (wordnet ${s.by_source.wordnet}, unigram ${s.by_source.unigram}, ` +
      `bigram ${s.by_source.bigram}, title ${s.by_source.title}) in ${s.seconds.toFixed(1)} s\n` +
      `  ${s.articles} articles, ${s.tokens} tokens, ${(s.xml_bytes / 1e6).toFixed(1)} MB XML; ` +
      `${s.pageview_files} pageview files, ${s.pageview_bad_lines} bad lines; summary: ${s.summary_file}\n`;
    return { summary: s as unknown as Record<string, unknown>, text };
  },
};
