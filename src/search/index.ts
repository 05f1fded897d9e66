/** Embeddings, the vector index and search over a corpus (docs/ARCHITECTURE.md, "Embeddings and search"). */
export { embed, EMBED_OPTIONS, type EmbedOptions, type EmbedSummary, type EmbedProgress } from './embed.js';
export { mergeIndexes, MERGE_OPTIONS, type MergeOptions, type MergeSummary } from './merge.js';
export { search, Searcher, SEARCH_OPTIONS, type SearchOptions, type SearchSummary, type RankedHit } from './search.js';
export { serve, SERVE_OPTIONS, type ServeOptions, type SearchServer } from './serve.js';
export { EmbeddingIndex, chooseAnn, tableSchema, META_FILE, TABLE, IMAGE_COLUMN, TEXT_COLUMN, EXACT_BELOW, HNSW_BELOW, ANN_NPROBES, ANN_REFINE, type IndexMeta, type EmbeddedRow, type SearchHit, type AnnKind, type Dtype } from './store.js';
export { ShardImages } from './shard-images.js';
