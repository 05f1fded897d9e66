import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Prints, at the end of the run, what was skipped for a missing system program (test/helpers/needs.ts).
    // Plus the run's root of shared fixtures (test/helpers/shared-fixtures.ts: built once, used by many files).
    globalSetup: ['test/helpers/skip-summary.ts', 'test/helpers/shared-fixtures-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: keep heavy suites from starving each other.
    maxWorkers: 2,
  },
});
