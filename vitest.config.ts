import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Prints, at the end of the run, what was skipped for a missing system program (test/helpers/needs.ts).
    globalSetup: ['test/helpers/skip-summary.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: keep heavy suites from starving each other.
    maxWorkers: 2,
  },
});
