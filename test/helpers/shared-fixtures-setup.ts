/**
 * Vitest global setup (vitest.config.ts): one fixture root per run for ./shared-fixtures.ts, removed
 * when the run ends. Forked test workers inherit the environment variable that names it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES_ENV } from './shared-fixtures.js';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'wit-fixtures-'));
  process.env[FIXTURES_ENV] = root;
  return () => rmSync(root, { recursive: true, force: true });
}
