/**
 * The order test files start in (vitest.config.ts `sequence.sequencer`). With the durations of an
 * earlier run (node_modules/.vite/vitest/…/results.json) vitest's own order stands: failed first, then
 * longest first. Without them, in a clean clone as in CI, vitest starts the largest files first (by
 * bytes), and the files that run longest are small ones that spawn the CLI hundreds of times: the
 * hostile-input suite was the last file running, alone on one core, for minutes. So then the files
 * below start first, in this order (longest first, the hostile files between the others so that one
 * worker does not wait while the other builds their shared fixtures), then the rest by size.
 *
 * Only the order changes: every file runs, and no test depends on another's order.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** The longest files of a clean run (README.md "Development"), longest first. */
export const LONG_FILES = [
  'test/hostile/hostile-1.test.ts',
  'test/compare/cli.test.ts',
  'test/hostile/hostile-2.test.ts',
  'test/crawl/distributed.test.ts',
  'test/hostile/hostile-3.test.ts',
  'test/util/input-cli.test.ts',
  'test/hostile/hostile-4.test.ts',
  'test/cli/output-claim.test.ts',
  'test/search/search.test.ts',
];

export default class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const root = this.ctx.config.root;
    const path = (f: TestSpecification) => relative(root, f.moduleId).split('\\').join('/');
    const known = sorted.some((f) => this.ctx.cache.getFileTestResults(`${f.project.name}:${relative(root, f.moduleId)}`));
    if (known) return sorted;
    const rank = (f: TestSpecification) => {
      const i = LONG_FILES.indexOf(path(f));
      return i < 0 ? LONG_FILES.length : i;
    };
    // Array.prototype.sort is stable: the rest keep vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
