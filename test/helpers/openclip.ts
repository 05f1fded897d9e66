/**
 * Tests against the real open_clip (pip's open_clip_torch, torch CPU), which wit never needs and npm
 * cannot bring. The python is $WIT_OPENCLIP_PYTHON, else /work/venv-openclip/bin/python (the venv
 * the project's CI makes with pip), when it can import open_clip.
 *
 *     describe.skipIf(!needsOpenClip())('… with the real open_clip', () => { … });
 *
 * Unlike needs() (test/helpers/needs.ts), a missing open_clip SKIPS even under CI=true: pip's index
 * is not always reachable, and the tests that need it have PyTorch-reference twins that run anyway.
 * The skip prints one line with its reason and goes into the end-of-run summary.
 */
import { appendFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { OPENCLIP_VENV_INSTALL, openClipPythonPath, probeOpenClip } from '../../src/doctor/openclip.js';

export const OPENCLIP_REAL = fileURLToPath(new URL('../fixtures/openclip/openclip_real.py', import.meta.url));
export { DEFAULT_OPENCLIP_PYTHON } from '../../src/doctor/openclip.js';
export const OPENCLIP_SKIP_REASON = 'no python with open_clip_torch 3.3, torch, torchvision, webdataset, braceexpand and pandas (wit doctor says what is missing)';
export const OPENCLIP_INSTALL = OPENCLIP_VENV_INSTALL;

let probed: string | null | undefined;
let lacking = '';

/** The python that imports open_clip, or undefined. */
export function openClipPython(): string | undefined {
  if (probed !== undefined) return probed ?? undefined;
  probed = null;
  if ((process.env['WIT_NEEDS_HIDE'] ?? '').split(',').map((s) => s.trim()).includes('open_clip')) return undefined;
  const python = openClipPythonPath();
  const p = probeOpenClip(python);
  if (p.present) probed = python;
  else lacking = p.error ?? `${python} lacks ${p.missing.join(', ')}`;
  return probed ?? undefined;
}

function caller(): string {
  const lines = (new Error().stack ?? '').split('\n').slice(1);
  for (const line of lines) {
    const m = /\(?((?:file:\/\/)?\/[^():]+):(\d+):\d+\)?\s*$/.exec(line);
    if (!m || m[1]!.endsWith('/openclip.ts') || m[1]!.includes('node_modules')) continue;
    return `${m[1]!.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '')}:${m[2]}`;
  }
  return 'a test';
}

/** True when the real open_clip is there; otherwise prints the skip with its reason (never throws, CI or not). */
export function needsOpenClip(): boolean {
  if (openClipPython()) return true;
  const where = caller();
  process.stderr.write(`SKIP ${where}: needs the real open_clip (${OPENCLIP_SKIP_REASON}${lacking ? `: ${lacking}` : ''}; set WIT_OPENCLIP_PYTHON or install: ${OPENCLIP_INSTALL})\n`);
  const log = process.env['WIT_NEEDS_LOG'];
  if (log) appendFileSync(log, JSON.stringify({ program: 'open_clip', where, reason: OPENCLIP_SKIP_REASON, install: OPENCLIP_INSTALL }) + '\n');
  return false;
}

/** Runs openclip_real.py commands in one Python process (torch and open_clip load once); throws with stderr. */
export function runOpenClip(dir: string, commands: string[][], timeoutMs = 300_000): void {
  const python = openClipPython();
  if (!python) throw new Error(`runOpenClip: ${OPENCLIP_SKIP_REASON}`);
  const file = `${dir}/openclip-batch-${Math.random().toString(36).slice(2)}.json`;
  writeFileSync(file, JSON.stringify(commands));
  const r = spawnSync(python, [OPENCLIP_REAL, 'batch', file], { encoding: 'utf8', maxBuffer: 1 << 26, timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`openclip_real.py failed (${r.status ?? r.signal}):\n${r.stderr}`);
}
