import { QueryMatcher } from '../match.js';
import { loadQueries } from '../queries.js';
import { admitsAll, createResources, listExtras, openInput, pipelineWindow, type SourceCounters } from '../index.js';
import { imageOptionsOf } from '../image-options.js';
import { resolveCrawlOptions, type CrawlOptions } from '../options.js';
import { VERSION } from '../../util/version.js';
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
  const queries = admitsAll(r) ? [] : r.queryList ?? (await loadQueries(r.queries!));
  const matcher = QueryMatcher.build(queries, { caseSensitive: !r.caseInsensitive });
  const res = createResources(r);
  const extras = await listExtras(r, res);
  return {
    matcher,
    resources: res,
    part: {
      shardSize: r.shardSize,
      image: imageOptionsOf(r),
      window: pipelineWindow(r.concurrency),
      metadata: { 'wit.stage': 'crawl', 'wit.version': VERSION, 'wit.run': config.runId },
      format: r.outputFormat, extras, admitAll: admitsAll(r),
    },
    dedupe: { capacity: r.dedupeCapacity, errorRate: r.dedupeErrorRate },
    read: (input, inputFormat, signal, counters: SourceCounters) => openInput(input, { ...r, inputFormat: inputFormat ?? r.inputFormat }, res, signal, counters),
    close: () => res.close(),
  };
}
