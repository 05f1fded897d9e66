import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { needs, newSkipLog, programPath, readSkips, skipSummary } from './needs.js';

const saved = { CI: process.env['CI'], HIDE: process.env['WIT_NEEDS_HIDE'], LOG: process.env['WIT_NEEDS_LOG'], PATH: process.env['PATH'] };
afterEach(() => {
  for (const [k, name] of [['CI', 'CI'], ['HIDE', 'WIT_NEEDS_HIDE'], ['LOG', 'WIT_NEEDS_LOG'], ['PATH', 'PATH']] as const) {
    if (saved[k] === undefined) delete process.env[name];
    else process.env[name] = saved[k];
  }
  vi.restoreAllMocks();
});

describe('needs()', () => {
  it('a missing program outside CI: false, one line naming it and its install command, recorded for the summary', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wit-needs-test-'));
    try {
      process.env['WIT_NEEDS_LOG'] = newSkipLog(dir);
      process.env['WIT_NEEDS_HIDE'] = 'redis-server,wget';
      delete process.env['CI'];
      const lines: string[] = [];
      vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (lines.push(String(s)), true));
      expect(needs('redis-server', 'wget')).toBe(false);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^SKIP test\/helpers\/needs\.test\.ts:\d+: needs redis-server .*apt-get install -y redis-server \| brew install redis/);
      expect(lines[1]).toMatch(/needs wget .*apt-get install -y wget/);
      const skips = readSkips(process.env['WIT_NEEDS_LOG']);
      expect(skips.map((s) => s.program)).toEqual(['redis-server', 'wget']);
      const summary = skipSummary(skips);
      expect(summary).toMatch(/Skipped for missing system programs \(2;/);
      expect(summary).toMatch(/redis-server: test\/helpers\/needs\.test\.ts:\d+\n\s+install: apt-get install -y redis-server/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing program under CI=true (or 1) throws naming it and the install command', () => {
    process.env['WIT_NEEDS_HIDE'] = 'lbzip2';
    for (const ci of ['true', '1']) {
      process.env['CI'] = ci;
      expect(() => needs('lbzip2')).toThrow(/missing system program\(s\): lbzip2; install with `apt-get install -y lbzip2`/);
    }
  });

  it('looks programs up on PATH: found where PATH has them, missing when PATH does not', () => {
    delete process.env['WIT_NEEDS_HIDE'];
    delete process.env['CI'];
    process.env['PATH'] = join(process.execPath, '..');
    expect(programPath('node' as never)).toBe(process.execPath);
    const empty = mkdtempSync(join(tmpdir(), 'wit-needs-path-'));
    try {
      process.env['PATH'] = empty;
      expect(programPath('wget')).toBeUndefined();
      expect(programPath('lbzip2')).toBeUndefined();
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
