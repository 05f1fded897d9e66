/**
 * `wit doctor`: what this machine has for wit (README.md "Requirements", docs/ARCHITECTURE.md
 * "Doctor"). Node and the npm packages with native parts are required; every system program is
 * optional: wit works without it and the line says what changes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { PROGRAM_NAMES, SYSTEM_PROGRAMS, aptCommand, brewCommand, findProgram } from './programs.js';
import { PACKAGE_NAME } from '../util/version.js';
import { OPENCLIP_VENV_INSTALL, openClipPythonPath, probeOpenClip } from './openclip.js';

export { OPENCLIP_VENV_INSTALL, OPENCLIP_MODULES, DEFAULT_OPENCLIP_PYTHON, openClipPythonPath, probeOpenClip } from './openclip.js';
export { SYSTEM_PROGRAMS, PROGRAM_NAMES, SYSTEM_PYTHON, aptCommand, brewCommand, findProgram, onPath, type SystemProgram, type ProgramInfo } from './programs.js';

export const DOCTOR_OPTIONS = defineOptions({
  python: { type: 'string', help: 'the python whose torch the PyTorch reference tests use (Debian python3-torch installs for /usr/bin/python3)', default: '/usr/bin/python3', metavar: 'PATH' },
  openclipPython: { type: 'string', help: 'the python of the open_clip venv the open_clip tests use (default: $WIT_OPENCLIP_PYTHON, else /work/venv-openclip/bin/python)', metavar: 'PATH' },
  strict: { type: 'boolean', help: 'exit 1 when a system program is missing too (CI: every test must run)', default: false },
});

export type DoctorOptions = OptionsInput<typeof DOCTOR_OPTIONS>;

/** The oldest Node wit runs on: package.json's "engines" (">=20.19" -> "20.19.0"). */
export const MIN_NODE: string = (() => {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; engines?: { node?: string } };
      const m = pkg.name === PACKAGE_NAME ? /(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(pkg.engines?.node ?? '') : null;
      if (m) return `${m[1]}.${m[2] ?? 0}.${m[3] ?? 0}`;
    } catch { /* try the next */ }
  }
  return '20.19.0';
})();

/** One thing checked. */
export interface DoctorCheck {
  name: string;
  kind: 'runtime' | 'npm' | 'system' | 'venv';
  required: boolean;
  present: boolean;
  /** Version, or the path of a system program, when present. */
  found: string | null;
  used_for: string;
  /** What works without it (empty for required things). */
  without_it: string;
  /** How to get it. */
  install: string;
  /** Why a present-looking thing failed (a native module that does not load). */
  error: string | null;
}

/** `wit doctor --json`. */
export interface DoctorSummary {
  /** Every required check passed (and, with --strict, every system program is present). */
  ok: boolean;
  missing_required: string[];
  missing_optional: string[];
  checks: DoctorCheck[];
}

/** True when Node `version` ("20.19.2" or "v20.19.2") is `min` or later. */
export function nodeSatisfies(version: string, min: string): boolean {
  const a = version.replace(/^v/, '').split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

function checkNode(): DoctorCheck {
  const v = process.versions.node;
  return {
    name: 'node', kind: 'runtime', required: true, present: nodeSatisfies(v, MIN_NODE), found: v,
    used_for: `everything (>= ${MIN_NODE})`, without_it: '', install: 'https://nodejs.org or apt-get install -y nodejs (Debian 13 has 20.19)', error: nodeSatisfies(v, MIN_NODE) ? null : `node ${v} is older than ${MIN_NODE}`,
  };
}

const PACKAGES: Array<{ name: string; required: boolean; usedFor: string; withoutIt: string; load: boolean }> = [
  { name: 'sharp', required: true, usedFor: 'image decoding and resizing (crawl, demo, train, filter, eval)', withoutIt: '', load: true },
  { name: '@lancedb/lancedb', required: false, usedFor: 'the vector index of wit embed, search and serve', withoutIt: 'every other command works', load: true },
  { name: '@tensorflow/tfjs-node', required: false, usedFor: 'training and scoring on TensorFlow\'s native CPU kernels (--backend tensorflow, chosen first by auto)', withoutIt: 'the wasm backend (multi-threaded, slower)', load: false },
];

/** The version in the package.json above a package's resolved entry, or null when it is not installed. */
function packageVersion(name: string): string | null {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    return null;
  }
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === name) return pkg.version ?? 'installed';
  }
  return 'installed';
}

async function checkPackage(p: (typeof PACKAGES)[number]): Promise<DoctorCheck> {
  const base = { name: p.name, kind: 'npm' as const, required: p.required, used_for: p.usedFor, without_it: p.withoutIt, install: p.required ? 'npm install (in the wit checkout)' : `npm install ${p.name}` };
  const version = packageVersion(p.name);
  if (version === null) return { ...base, present: false, found: null, error: null };
  if (!p.load) return { ...base, present: true, found: version, error: null };
  try {
    await import(p.name);
    return { ...base, present: true, found: version, error: null };
  } catch (err) {
    return { ...base, present: false, found: version, error: `installed but does not load: ${(err as Error).message.split('\n')[0]}` };
  }
}

function checkProgram(name: (typeof PROGRAM_NAMES)[number], python: string): DoctorCheck {
  const info = SYSTEM_PROGRAMS[name];
  const path = findProgram(name, { python });
  return {
    name, kind: 'system', required: false, present: path !== undefined, found: path ?? null,
    used_for: info.usedFor, without_it: info.withoutIt,
    install: `${aptCommand([name])}  |  ${brewCommand([name])}`, error: null,
  };
}

/** The open_clip venv (optional even with --strict: its tests skip with the reason, CI or not). */
function checkOpenClip(python: string): DoctorCheck {
  const p = probeOpenClip(python);
  return {
    name: 'open_clip', kind: 'venv', required: false, present: p.present, found: p.present ? `${p.version} (${python})` : null,
    used_for: "tests against the real open_clip 3.3 (exports loaded by open_clip's own loader, the printed open_clip_train command run)",
    without_it: 'wit does not need it; those tests are skipped (their PyTorch-reference twins still run)',
    install: OPENCLIP_VENV_INSTALL, error: p.present ? null : p.error ?? `${python} lacks ${p.missing.join(', ')}`,
  };
}

/** Checks Node, the npm packages with native parts, every system program and the open_clip venv. */
export async function doctor(input: DoctorOptions = {}): Promise<DoctorSummary> {
  const opts = resolveOptions('doctor', DOCTOR_OPTIONS, input);
  const checks: DoctorCheck[] = [checkNode()];
  for (const p of PACKAGES) checks.push(await checkPackage(p));
  for (const name of PROGRAM_NAMES) checks.push(checkProgram(name, opts.python));
  checks.push(checkOpenClip(openClipPythonPath(opts.openclipPython)));
  const missingRequired = checks.filter((c) => c.required && !c.present).map((c) => c.name);
  const missingOptional = checks.filter((c) => !c.required && !c.present).map((c) => c.name);
  return {
    ok: missingRequired.length === 0 && (!opts.strict || checks.every((c) => c.kind !== 'system' || c.present)),
    missing_required: missingRequired,
    missing_optional: missingOptional,
    checks,
  };
}

/** The human report: one line per check, then what is missing and how to install it. */
export function formatDoctor(s: DoctorSummary): string {
  const w = Math.max(...s.checks.map((c) => c.name.length));
  const lines = ['wit doctor (README.md "Requirements")', ''];
  for (const c of s.checks) {
    const state = c.present ? 'ok     ' : c.required ? 'MISSING' : 'missing';
    lines.push(`  ${state}  ${c.name.padEnd(w)}  ${c.present ? `${c.found}: ` : ''}${c.used_for}`);
    if (!c.present) {
      if (c.error) lines.push(`  ${' '.repeat(7)}  ${' '.repeat(w)}  ${c.error}`);
      if (c.without_it) lines.push(`  ${' '.repeat(7)}  ${' '.repeat(w)}  without it: ${c.without_it}`);
      lines.push(`  ${' '.repeat(7)}  ${' '.repeat(w)}  install: ${c.install}`);
    }
  }
  lines.push('');
  if (s.missing_required.length) lines.push(`missing, required: ${s.missing_required.join(', ')}: wit cannot run as it should`);
  if (s.missing_optional.length) lines.push(`missing, optional: ${s.missing_optional.join(', ')}${s.missing_required.length ? '' : ': everything else works (see "without it" above)'}`);
  if (!s.missing_required.length && !s.missing_optional.length) lines.push('everything is installed');
  return lines.join('\n') + '\n';
}
