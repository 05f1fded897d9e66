/**
 * The demo's closing text and summary show distinct images (by sha256) beside its pair counts
 * (README.md, "Coming from img2dataset": the demo's crawl keeps many pairs of fewer images).
 */
import { describe, expect, it } from 'vitest';
import { demoText } from '../../src/cli/commands/demo.js';
import type { DemoSummary } from '../../src/demo/index.js';

const base: DemoSummary = {
  out: 'data/demo', report: 'data/demo/report.html', seconds: 120, stages: [], emoji: 200, queries: null, queries_by_source: null,
  emoji_names_in_queries: null, crawl: null, train: null, filter: null, eval: null, compare: null, compare_scorer: null, site_url: null, serve: null, heldout: 'twitter',
} as unknown as DemoSummary;

describe('wit demo: the closing text', () => {
  it('says how many distinct images the kept pairs hold, in the crawl and the filter', () => {
    const text = demoText({
      ...base,
      crawl: { candidates: 700, kept: 573, distinct_images: 200, failed: 56, skipped: 71 },
      filter: { input: 573, kept: 400, distinct_images: 180, threshold: 0.21, noisy_pairs: 0, noisy_dropped: 0, clean_pairs: 0, clean_dropped: 0 },
    });
    expect(text).toContain('  pairs kept      573 of 700 candidates (56 failed, 71 skipped); 200 distinct images\n');
    expect(text).toContain('  filter          kept 400 of 573 pairs; 180 distinct images (similarity >= 0.210)\n');
    // a run made before the count (null): no number is made up
    const old = demoText({ ...base, crawl: { candidates: 700, kept: 573, distinct_images: null, failed: 56, skipped: 71 } });
    expect(old).toContain('  pairs kept      573 of 700 candidates (56 failed, 71 skipped)\n');
  });
});
