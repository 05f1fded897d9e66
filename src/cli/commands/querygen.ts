import type { CommandDef } from '../command.js';
import { availableParallelism } from 'node:os';
import { querygen, DEFAULT_MIN_BIGRAM_COUNT, type QuerygenOptions, type QuerygenSummary } from '../../querygen/index.js';

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
  flags: {
    wiki: { type: 'string[]', description: 'MediaWiki XML dumps (.xml, .xml.bz2, multistream .xml.bz2, .xml.gz)', metavar: 'DUMP…' },
    'wiki-index': { type: 'string[]', description: 'multistream index per dump (default: found beside the dump)', metavar: 'FILE…' },
    pageviews: { type: 'string[]', description: 'hourly pageview files pageviews-YYYYMMDD-HH0000(.gz|.bz2)', metavar: 'FILE…' },
    wordnet: { type: 'string', description: "WordNet database dir (data.noun …), or 'none' (default: bundled WordNet 3.1)", metavar: 'DIR' },
    out: { type: 'string', description: 'output TSV', required: true, metavar: 'FILE' },
    'min-count': { type: 'int', description: 'minimum count of a unigram', default: 100, min: 1 },
    'min-pmi': { type: 'number', description: 'minimum PMI of a bigram, log2(N·c(xy)/(c(x)·c(y)))', default: 30 },
    'min-bigram-count': {
      type: 'int',
      description: 'minimum count of a bigram (pairs seen once are mostly typos; see README)',
      default: DEFAULT_MIN_BIGRAM_COUNT,
      min: 1,
    },
    'min-views': { type: 'int', description: 'minimum summed pageviews of a title', default: 70, min: 0 },
    'min-hourly-views': { type: 'int', description: 'hourly counts under this are ignored', default: 50, min: 0 },
    'pageview-domains': { type: 'string[]', description: "domain codes counted ('en' desktop, 'en.m' mobile)", default: ['en'], metavar: 'CODE…' },
    'wordnet-lemmas': { type: 'string', description: 'WordNet entries: each synset head word, or all lemmas', default: 'head', choices: ['head', 'all'] },
    'max-queries': { type: 'int', description: 'cap on the number of queries (drops the tail of the union)', min: 1 },
    workers: { type: 'int', description: 'worker threads', default: availableParallelism(), min: 1, max: 1024 },
    'max-memory': { type: 'string', description: 'memory budget for counting, e.g. 4G, 512M (default: min(3G, 60% of RAM))', metavar: 'SIZE' },
    'bz2-decoder': { type: 'string', description: 'bz2 decoder: auto = lbzip2, else bzip2, else pure JS', default: 'auto', choices: ['auto', 'lbzip2', 'bzip2', 'js'] },
    'tmp-dir': { type: 'string', description: 'directory for spilled counts (default: hidden dir beside --out)', metavar: 'DIR' },
  },
  async run(flags, ctx) {
    const opts: QuerygenOptions = {
      wiki: (flags.wiki as string[] | undefined) ?? [],
      wikiIndex: flags.wikiIndex as string[] | undefined,
      pageviews: flags.pageviews as string[] | undefined,
      wordnet: flags.wordnet as string | undefined,
      out: flags.out as string,
      minCount: flags.minCount as number,
      minPmi: flags.minPmi as number,
      minBigramCount: flags.minBigramCount as number,
      minViews: flags.minViews as number,
      minHourlyViews: flags.minHourlyViews as number,
      pageviewDomains: flags.pageviewDomains as string[],
      wordnetLemmas: flags.wordnetLemmas as 'head' | 'all',
      maxQueries: flags.maxQueries as number | undefined,
      workers: flags.workers as number,
      maxMemory: flags.maxMemory as string | undefined,
      bz2Decoder: flags.bz2Decoder as QuerygenOptions['bz2Decoder'],
      tmpDir: flags.tmpDir as string | undefined,
      onProgress: ctx.progress,
      signal: ctx.signal,
    };
    const s: QuerygenSummary = await querygen(opts);
    const text =
      `wrote ${s.queries} queries to ${s.out} (wordnet ${s.bySource.wordnet}, unigram ${s.bySource.unigram}, ` +
      `bigram ${s.bySource.bigram}, title ${s.bySource.title}) in ${s.seconds.toFixed(1)} s\n` +
      `  ${s.articles} articles, ${s.tokens} tokens, ${(s.xmlBytes / 1e6).toFixed(1)} MB XML; ` +
      `${s.pageviewFiles} pageview files, ${s.pageviewBadLines} bad lines; summary: ${s.summaryFile}\n`;
    return { summary: s as unknown as Record<string, unknown>, text };
  },
};
