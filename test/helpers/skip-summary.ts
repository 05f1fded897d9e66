/**
 * Vitest global setup (vitest.config.ts): gives the run a skip log that test/helpers/needs.ts appends
 * to, and prints the summary of every test skipped for a missing system program at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newSkipLog, readSkips, skipSummary } from './needs.js';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'wit-needs-'));
  const log = newSkipLog(dir);
  // Forked test workers inherit the environment, so each needs() appends to this run's log.
  process.env['WIT_NEEDS_LOG'] = log;
  return () => {
    const summary = skipSummary(readSkips(log));
    if (summary) process.stdout.write(`\n${summary}`);
    rmSync(dir, { recursive: true, force: true });
  };
}
