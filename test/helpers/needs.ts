/**
 * Tests that need a system program npm cannot bring (README.md, "Requirements") ask for it here:
 *
 *     describe.skipIf(!needs('redis-server'))('distributed crawl', () => { … });
 *
 * `needs(...)` is true when every program is present. When one is missing:
 * - under CI (env CI=true or CI=1) it throws, so the test file fails naming the program and the
 *   command that installs it: CI proves that every test runs;
 * - otherwise it prints one line per missing program (what is skipped, apt-get / Homebrew names) and
 *   records it for the summary that test/helpers/skip-summary.ts prints at the end of the run.
 *
 * WIT_NEEDS_HIDE=prog,prog (a comma list) makes those programs count as missing, to try the skip
 * path on a machine that has them (chromium and python3-torch are looked up at fixed paths too, so
 * hiding them from PATH alone would not do; python3 too).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { SYSTEM_PROGRAMS, aptCommand, brewCommand, findProgram, type SystemProgram } from '../../src/doctor/programs.js';

export { SYSTEM_PYTHON, onPath, brewCommand } from '../../src/doctor/programs.js';

/** The programs a test can need: the table of `wit doctor` (src/doctor/programs.ts). */
export type Program = SystemProgram;
export const PROGRAMS = SYSTEM_PROGRAMS;
/** `apt-get install -y …` for the given programs. */
export const installCommand = aptCommand;

function hidden(): Set<string> {
  return new Set((process.env['WIT_NEEDS_HIDE'] ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}

/** Probe results by program and PATH (python3-torch takes a second or two to import). */
const found = new Map<string, string | undefined>();

/**
 * Where the program is: its executable (for 'python3-torch', the python that imports torch), or
 * undefined when it is missing (or hidden by WIT_NEEDS_HIDE).
 */
export function programPath(program: Program): string | undefined {
  if (hidden().has(program)) return undefined;
  const key = `${program}\0${process.env['PATH'] ?? ''}`;
  if (found.has(key)) return found.get(key);
  const path = findProgram(program);
  found.set(key, path);
  return path;
}

export function isCi(): boolean {
  const ci = (process.env['CI'] ?? '').toLowerCase();
  return ci === 'true' || ci === '1';
}

/** The test file and line that called needs() (what gets skipped). */
function caller(): string {
  const lines = (new Error().stack ?? '').split('\n').slice(1);
  for (const line of lines) {
    const m = /\(?((?:file:\/\/)?\/[^():]+):(\d+):\d+\)?\s*$/.exec(line);
    if (!m || m[1]!.endsWith('/needs.ts') || m[1]!.includes('node_modules')) continue;
    return `${relative(process.cwd(), m[1]!.replace(/^file:\/\//, ''))}:${m[2]}`;
  }
  return 'a test';
}

/** One skip, as the summary reads it (a JSON line in $WIT_NEEDS_LOG). */
export interface SkipRecord {
  /** A program of the table, or another prerequisite (test/helpers/openclip.ts) with its own reason and install line. */
  program: Program | 'open_clip';
  where: string;
  reason?: string;
  install?: string;
}

/**
 * True when all `programs` are present. Missing ones throw under CI, otherwise print one line each
 * and are recorded for the end-of-run summary (see the top of this file).
 */
export function needs(...programs: Program[]): boolean {
  const missing = programs.filter((p) => programPath(p) === undefined);
  if (missing.length === 0) return true;
  const where = caller();
  if (isCi()) {
    throw new Error(
      `${where}: missing system program(s): ${missing.join(', ')}; install with \`${installCommand(missing)}\` ` +
        `(Homebrew: \`${brewCommand(missing)}\`). CI=true: a missing program fails instead of skipping.`,
    );
  }
  const log = process.env['WIT_NEEDS_LOG'];
  for (const program of missing) {
    process.stderr.write(
      `SKIP ${where}: needs ${program} (${PROGRAMS[program].usedFor}), not installed; ` +
        `install: ${installCommand([program])} | ${brewCommand([program])}\n`,
    );
    if (log) appendFileSync(log, JSON.stringify({ program, where } satisfies SkipRecord) + '\n');
  }
  return false;
}

/** Reads the skips recorded in `log` (test/helpers/skip-summary.ts). */
export function readSkips(log: string): SkipRecord[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as SkipRecord);
}

/** The end-of-run summary lines for `skips` (empty when nothing was skipped). */
export function skipSummary(skips: readonly SkipRecord[]): string {
  if (skips.length === 0) return '';
  const byProgram = new Map<SkipRecord['program'], string[]>();
  const other = new Map<SkipRecord['program'], SkipRecord>();
  for (const s of skips) {
    byProgram.set(s.program, [...(byProgram.get(s.program) ?? []), s.where]);
    if (!(s.program in PROGRAMS)) other.set(s.program, s);
  }
  const lines = [`Skipped for missing system programs (${skips.length}; README.md "Requirements"; CI=true turns these into failures, except open_clip's):`];
  for (const [program, wheres] of byProgram) {
    lines.push(`  ${program}: ${[...new Set(wheres)].sort().join(', ')}`);
    const o = other.get(program);
    if (o) lines.push(`    ${o.reason ?? 'missing'}; install: ${o.install ?? '?'}`);
    else lines.push(`    install: ${installCommand([program as Program])}   (Homebrew: ${brewCommand([program as Program])})`);
  }
  return lines.join('\n') + '\n';
}

/** Creates an empty skip log for one run (used by the global setup). */
export function newSkipLog(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const log = join(dir, 'skips.jsonl');
  writeFileSync(log, '');
  return log;
}
