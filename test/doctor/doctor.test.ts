import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MIN_NODE, formatDoctor, nodeSatisfies, type DoctorSummary } from '../../src/doctor/index.js';
import { findProgram } from '../../src/doctor/programs.js';
import { probeOpenClip } from '../../src/doctor/openclip.js';
import { openClipPython } from '../helpers/openclip.js';
import { runWit } from '../crawl/run-wit.js';

const dir = mkdtempSync(join(tmpdir(), 'wit-doctor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `wit doctor --json` with PATH = `path` (no python with torch) through the launcher. */
async function doctorWith(path: string, ...flags: string[]) {
  const r = await runWit(['doctor', '--json', '--python', join(dir, 'no-python'), ...flags], { env: { PATH: path } });
  return { code: r.code, stderr: r.stderr, summary: JSON.parse(r.stdout || 'null') as DoctorSummary };
}

describe('wit doctor', () => {
  it('on a machine with Node only: every program missing is optional, exit 0, says what works without it', async () => {
    const empty = mkdtempSync(join(dir, 'path-'));
    const { code, summary } = await doctorWith(empty);
    expect(code).toBe(0);
    expect(summary.ok).toBe(true);
    expect(summary.missing_required).toEqual([]);
    for (const p of ['redis-server', 'lbzip2', 'bzip2', 'wget', 'python3-torch']) expect(summary.missing_optional).toContain(p);
    const redis = summary.checks.find((c) => c.name === 'redis-server')!;
    expect(redis).toMatchObject({ kind: 'system', required: false, present: false, found: null });
    expect(redis.without_it).toMatch(/without --redis/);
    expect(redis.install).toBe('apt-get install -y redis-server  |  brew install redis');
    expect(summary.checks.find((c) => c.name === 'node')).toMatchObject({ required: true, present: true, found: process.versions.node });
    expect(summary.checks.find((c) => c.name === 'sharp')).toMatchObject({ required: true, present: true });
    const text = formatDoctor(summary);
    expect(text).toMatch(/missing +redis-server +wit crawl --redis/);
    expect(text).toMatch(/without it: wit querygen decodes with bzip2, else with its pure-JS decoder/);
    expect(text).toMatch(/install: apt-get install -y lbzip2 {2}\| {2}brew install lbzip2/);
  });

  it('the open_clip venv: missing is optional, with how to make it; found where it is complete', async () => {
    const { summary } = await doctorWith(mkdtempSync(join(dir, 'path-')), '--openclip-python', join(dir, 'no-venv', 'python'));
    const oc = summary.checks.find((c) => c.name === 'open_clip')!;
    expect(oc).toMatchObject({ kind: 'venv', required: false, present: false, found: null });
    expect(oc.error).toMatch(/no-venv\/python does not exist/);
    expect(oc.install).toContain('--index-url https://download.pytorch.org/whl/cpu');
    expect(oc.install).toContain('open_clip_torch==3.3.0');
    expect(oc.install).toContain('webdataset braceexpand pandas');
    expect(formatDoctor(summary)).toMatch(/missing +open_clip +tests against the real open_clip/);
    // a python that lacks some of the modules says which
    const fake = join(dir, 'fake-python');
    writeFileSync(fake, '#!/bin/sh\necho \'{"missing": ["webdataset", "pandas"], "version": null}\'\n', { mode: 0o755 });
    expect(probeOpenClip(fake)).toMatchObject({ present: false, missing: ['webdataset', 'pandas'] });
    const venv = openClipPython();
    if (venv) expect(probeOpenClip(venv)).toMatchObject({ present: true, version: '3.3.0', missing: [] });
  });

  it('--strict fails (exit 1) when an optional program is missing', async () => {
    const { code, summary } = await doctorWith(mkdtempSync(join(dir, 'path-')), '--strict');
    expect(code).toBe(1);
    expect(summary.ok).toBe(false);
    expect(summary.missing_required).toEqual([]);
  });

  it('finds a program where PATH has it', async () => {
    const real = findProgram('redis-server');
    const only = mkdtempSync(join(dir, 'path-'));
    const fake = join(only, 'redis-server');
    // any executable will do: doctor looks programs up, it does not run them
    symlinkSync(real ?? process.execPath, fake);
    const { summary } = await doctorWith(only);
    expect(summary.checks.find((c) => c.name === 'redis-server')).toMatchObject({ present: true, found: fake });
    expect(summary.missing_optional).not.toContain('redis-server');
    expect(summary.missing_optional).toContain('lbzip2');
  });

  it('a required thing missing fails: the Node version check', () => {
    expect(nodeSatisfies(process.versions.node, MIN_NODE)).toBe(true);
    expect(nodeSatisfies('v20.18.0', '20.18.0')).toBe(true);
    expect(nodeSatisfies('20.17.9', '20.18.0')).toBe(false);
    expect(nodeSatisfies('18.20.4', '20.18.0')).toBe(false);
    expect(nodeSatisfies('22.1.0', '20.18.0')).toBe(true);
    const summary: DoctorSummary = {
      ok: false, missing_required: ['node'], missing_optional: [],
      checks: [{ name: 'node', kind: 'runtime', required: true, present: false, found: '18.20.4', used_for: 'everything', without_it: '', install: 'x', error: 'node 18.20.4 is older than 20.18.0' }],
    };
    expect(formatDoctor(summary)).toMatch(/MISSING +node[\s\S]*node 18\.20\.4 is older than 20\.18\.0[\s\S]*missing, required: node: wit cannot run/);
  });

  it('bad usage: exit 2 with one line', async () => {
    const r = await runWit(['doctor', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/doctor.*no-such-flag/);
  });
});
