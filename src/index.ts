/** wit as a library: each stage's function and options type. */
export * from './shards/index.js';
export { WitError, UsageError, InputError } from './util/errors.js';
export { crawl, resolveCrawlOptions, type CrawlOptions, type CrawlSummary } from './crawl/index.js';
export { filter, type FilterOptions, type FilterSummary } from './filter/index.js';
export { trainWithFilterRounds, type FilterRoundsOptions, type FilterRoundsSummary } from './filter/rounds.js';
export { querygen, DEFAULT_MIN_BIGRAM_COUNT, type QuerygenOptions, type QuerygenSummary } from './querygen/index.js';
export { train, loadClip, type TrainOptions, type TrainSummary, type ClipHandle } from './train/index.js';
export { evaluate, type EvalOptions, type EvalSummary } from './eval/index.js';
export { embed, search, serve, Searcher, EmbeddingIndex, type EmbedOptions, type EmbedSummary, type SearchOptions, type SearchSummary, type ServeOptions, type SearchServer } from './search/index.js';
export { importModel, exportModel, type ImportOptions, type ImportSummary, type ExportOptions, type ExportSummary } from './model/index.js';
export { convert, convertSchema, type ConvertOptions, type ConvertSummary } from './shards/convert.js';
export { compare, readRecipes, type CompareOptions, type CompareSummary, type CompareTable, type Recipe } from './compare/index.js';
