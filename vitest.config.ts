import { defineConfig } from 'vitest/config';
import LongFilesFirst from './test/helpers/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Prints, at the end of the run, what was skipped for a missing system program (test/helpers/needs.ts).
    // Plus the run's root of shared fixtures (test/helpers/shared-fixtures.ts: built once, used by many files).
    globalSetup: ['test/helpers/skip-summary.ts', 'test/helpers/shared-fixtures-setup.ts'],
    // Limits for a hang, not for speed: no test asserts a time, and a machine busy with other work
    // stretches every CLI spawn (a test that takes 1 minute alone took 6 at load average 30).
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    // Two cores, two workers. Most CPU is in the CLI processes the tests spawn (the hostile suite runs 5
    // at a time), so two workers already keep both cores busy while a file waits on a server or a
    // timer; more would add memory and contention, not throughput. Isolation stays on: files mock
    // modules (node:timers/promises) and spy on globals (Date.now).
    maxWorkers: 2,
    // In a clean clone (no durations of an earlier run) the longest files start first, not the largest.
    sequence: { sequencer: LongFilesFirst },
  },
});
