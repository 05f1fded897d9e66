import { QueryMatcher } from '../match.js';
import { loadQueries } from '../queries.js';
import { createResources, openInput, resolveCrawlOptions, type CrawlOptions, type SourceCounters } from '../index.js';
import type { InputFormat } from '../sources/index.js';
import type { JobEnv, RunConfig } from './types.js';

/**
 * The JSON-safe part of crawl options (what a worker on another machine can rebuild the pipeline
 * from): callbacks, signals, stores and resolvers stay behind.
 */
export function portableOptions(opts: CrawlOptions): Record<string, unknown> {
  const { onProgress: _p, signal: _s, capStore: _c, resolver: _r, ...rest } = opts;
  return JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
}

/**
 * Builds a worker's pipeline for a run from its config: the query matcher, the network and image
 * resources, and the reader of a job's input, exactly as a one-process crawl sets them up.
 * Throws UsageError/InputError when the options or the query list are bad.
 */
export async function createJobEnv(config: RunConfig): Promise<JobEnv> {
  const r = resolveCrawlOptions({ ...(config.options as unknown as CrawlOptions), out: config.out });
  const queries = Array.isArray(r.queries) ? r.queries : await loadQueries(r.queries);
  const matcher = QueryMatcher.build(queries, { caseSensitive: r.caseSensitive });
  const res = createResources(r);
  return {
    matcher,
    resources: res,
    part: {
      shardSize: r.shardSize,
      image: { imageSize: r.imageSize, resizeMode: r.resizeMode, encode: r.encode, quality: r.quality, minSize: r.minSize, maxAspect: r.maxAspect },
      window: Math.max(16, r.concurrency * 2),
      metadata: { 'wit.stage': 'crawl', 'wit.version': '0.1.0', 'wit.run': config.runId },
    },
    read: (input, inputFormat, signal, counters: SourceCounters) => openInput(input, { ...r, inputFormat: (inputFormat as InputFormat | undefined) ?? r.inputFormat }, res, signal, counters),
    close: () => res.close(),
  };
}
