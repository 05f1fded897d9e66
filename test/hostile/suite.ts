/**
 * The hostile-input suite (docs/ARCHITECTURE.md, "The hostile-input suite"): every command of
 * commands.ts through the same classes of bad input (inputs.ts). Each case runs the real CLI and
 * asserts: the documented exit code, one line `wit COMMAND: …` naming the file or flag, no stack
 * trace, no raw control character on the terminal, bounded memory (peak RSS of the child), and
 * nothing changed outside the case's own folder (the fixtures, and whatever was at --out).
 *
 * The cases run from several test files, hostile-1.test.ts … hostile-N.test.ts, each one line
 * `hostileSuite(import.meta.url)`: file k of N runs the cases whose number is k-1 modulo N, so that
 * vitest's two workers share the suite (alone it was the run's last file by minutes) and a new
 * command or class spreads over them by itself. They share one build of the fixtures.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WIT } from '../crawl/run-wit.js';
import { COMMANDS, type HostileCommand } from './commands.js';
import { sharedHostileFixtures, type Fixtures } from './fixtures.js';
import { INPUT_CLASSES, NON_FINITE, OUTPUT_CLASSES } from './inputs.js';

/** Peak resident memory a refused input may cost (the bombs of issue 20 reached 4-12 GB). */
const MAX_RSS_MB = 1024;
// A hang (a FIFO read forever), not a slow machine: a case that takes seconds alone took 30 s at load average 28.
const CASE_TIMEOUT_MS = 300_000;

let root: string;
let fx: Fixtures;
let fxSnapshot: string;
let caseNo = 0;

/** A listing of every entry under `dir` with its type, size, mtime and (for small files) content hash. */
function snapshot(dir: string): string {
  const rows: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      const st = lstatSync(p);
      if (st.isDirectory()) { rows.push(`${p}/`); visit(p); continue; }
      const kind = st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : 'o';
      const hash = st.isFile() && st.size < 1 << 20 ? createHash('sha1').update(readFileSync(p)).digest('hex') : '';
      rows.push(`${p} ${kind} ${st.size} ${st.mtimeMs} ${hash}`);
    }
  };
  if (existsSync(dir)) {
    if (lstatSync(dir).isDirectory()) visit(dir);
    else rows.push(`${dir} ${lstatSync(dir).size} ${lstatSync(dir).mtimeMs} ${createHash('sha1').update(readFileSync(dir)).digest('hex')}`);
  }
  return rows.join('\n');
}

interface Run { code: number | null; stdout: string; stderr: string; rssMb: number; killed: boolean }

/** Runs the CLI under GNU time for the child's peak RSS; killed after CASE_TIMEOUT_MS. */
function runMeasured(args: string[], dir: string): Promise<Run> {
  const rssFile = join(dir, '.rss');
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, WIT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WIT_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, CASE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(t);
      const rss = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024 : NaN;
      resolve({ code, stdout, stderr, rssMb: rss, killed });
    });
  });
}

/** Replaces the value after `flag` in `args` (the flag's first value; extra values of a list flag are dropped). */
function withValue(args: string[], flag: string, value: string): string[] {
  const i = args.indexOf(flag);
  if (i < 0) return [...args, flag, value];
  let j = i + 1;
  while (j + 1 < args.length && !args[j + 1]!.startsWith('--')) j++;
  return [...args.slice(0, i + 1), value, ...args.slice(j + 1)];
}

/** The assertions every case shares; `names` is what the error line must mention (a path or a flag). */
function expectRefused(c: HostileCommand, r: Run, accepted: number[], names: string[]): void {
  const where = `stderr:\n${r.stderr.slice(-2000)}`;
  expect(r.killed, `killed after ${CASE_TIMEOUT_MS} ms: ${where}`).toBe(false);
  expect(accepted, `exit ${r.code}; ${where}`).toContain(r.code);
  expect(r.stderr, 'a stack trace').not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(r.stderr, 'raw control characters reach the terminal').not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f]/);
  expect(r.rssMb, `peak RSS ${r.rssMb} MB`).toBeLessThan(MAX_RSS_MB);
  if (r.code === 0) return;
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => l.startsWith('wit ') && !/^wit [a-z ]+: note: /.test(l));
  expect(errors, where).toHaveLength(1);
  expect(errors[0]!.startsWith(`wit ${c.cmd.join(' ')}: `), where).toBe(true);
  expect(errors[0]!.length, 'one short line').toBeLessThan(600);
  if (r.code !== 2) return; // an accepted run failure (exit 1, e.g. nothing kept) is not about the input
  const visible = names.map((n) => n.replace(/[\x00-\x1f\x7f]/g, ''));
  expect(visible.some((n) => errors[0]!.includes(n) || errors[0]!.includes(n.split('/').pop()!.replace(/\[2J.*$/, ''))), `the line names one of ${names.join(', ')}: ${errors[0]}`).toBe(true);
}

function newCaseDir(): string {
  const d = join(root, 'cases', String(caseNo++));
  mkdirSync(d, { recursive: true });
  return d;
}

/** One case of the suite: its command (by its index in COMMANDS), its title and what it runs. */
export interface HostileCase {
  command: number;
  title: string;
  run: () => Promise<void>;
}

/** Every case of the suite, in a fixed order (COMMANDS, then each command's slots and classes). */
export function hostileCases(): HostileCase[] {
  const cases: HostileCase[] = [];
  COMMANDS.forEach((c, command) => {
    const add = (title: string, run: () => Promise<void>) => cases.push({ command, title, run });
    for (const [flag, kind] of Object.entries(c.slots)) {
      for (const cls of INPUT_CLASSES.filter((k) => k.kinds.includes(kind))) {
        add(`${flag} ${cls.name}`, async () => {
          const dir = newCaseDir();
          const valid = c.args(fx, join(dir, 'out')).at(c.args(fx, join(dir, 'out')).indexOf(flag) + 1)!;
          const bad = await cls.make(dir, valid, fx);
          const args = withValue(c.args(fx, join(dir, 'out')), flag, bad);
          const r = await runMeasured([...c.cmd, ...args], dir);
          // Half of a text file (labels, queries) is a shorter valid file: refused or used, never a crash.
          const fallback = cls.accept ?? (cls.name === 'truncated' && kind === 'text' ? [0, 2] : [2]);
          // A class of bad items inside good input may stop a run on a file the run made from it (wit
          // compare's curated copy of --pool): the line names the input, the flag or that file.
          const names = cls.accept ? [bad, flag, join(dir, 'out')] : [bad, flag];
          expectRefused(c, r, c.accept?.[`${flag}:${cls.name}`] ?? c.accept?.[cls.name] ?? fallback, names);
          expect(snapshot(fx.root), 'the fixtures changed').toBe(fxSnapshot);
        });
      }
    }
    if (c.out) {
      const out = c.out;
      for (const cls of OUTPUT_CLASSES.filter((k) => k.kinds.includes(out.kind) && !(k.runs && c.slow))) {
        add(`${out.flag} ${cls.name}`, async () => {
          const dir = newCaseDir();
          const made = cls.make(dir, fx, c.cmd, out.kind);
          const before = made.precious ? snapshot(made.precious) : '';
          const kindBefore = lstatSync(made.out, { throwIfNoEntry: false });
          const args = withValue(c.args(fx, join(dir, 'out')), out.flag, made.out);
          const r = await runMeasured([...c.cmd, ...args], dir);
          if (cls.runs) {
            expectRefused(c, r, [c.ok ?? 0], [made.out, out.flag]);
            for (const g of made.gone ?? []) expect(existsSync(g), `left behind: ${g}`).toBe(false);
            for (const k of made.kept ?? []) expect(existsSync(k), `another host's temporary removed: ${k}`).toBe(true);
            expect(r.stderr, 'the notice of the stale lock taken over').toMatch(made.notice!);
            expect(snapshot(fx.root), 'the fixtures changed').toBe(fxSnapshot);
            return;
          }
          expectRefused(c, r, c.accept?.[cls.name] ?? [2], [made.out, out.flag]);
          for (const m of made.mentions ?? []) expect(r.stderr, 'the error line says what is there').toContain(m);
          if (made.precious) expect(snapshot(made.precious), 'what was at --out changed').toBe(before);
          const kindAfter = lstatSync(made.out, { throwIfNoEntry: false });
          expect(kindAfter?.mode, '--out was replaced').toBe(kindBefore?.mode);
          if (made.out.startsWith('/dev/')) expect(statSync(made.out).isCharacterDevice()).toBe(true);
          expect(snapshot(fx.root), 'the fixtures changed').toBe(fxSnapshot);
        });
      }
    }
    if (c.numeric) {
      const flag = c.numeric;
      for (const v of NON_FINITE) {
        add(`${flag} ${v}`, async () => {
          const dir = newCaseDir();
          const r = await runMeasured([...c.cmd, ...withValue(c.args(fx, join(dir, 'out')), flag, v)], dir);
          expectRefused(c, r, [2], [flag]);
          expect(existsSync(join(dir, 'out')), 'a refused run created --out').toBe(false);
        });
      }
    }
  });
  return cases;
}

const PART_FILE = /^hostile-(\d+)\.test\.ts$/;

/** The number of test files that run the suite (hostile-1.test.ts … hostile-N.test.ts; numbered from 1 without gaps). */
export function hostileParts(dir: string): number {
  const numbers = readdirSync(dir).map((f) => PART_FILE.exec(f)?.[1]).filter((n): n is string => n !== undefined).map(Number).sort((a, b) => a - b);
  if (!numbers.length || numbers.some((n, i) => n !== i + 1)) throw new Error(`test/hostile: the suite's files must be hostile-1.test.ts … hostile-N.test.ts, found ${numbers.join(', ')}`);
  return numbers.length;
}

/** The cases that file `part` (1 … parts) runs: those whose number is part-1 modulo parts. */
export function casesOfPart(cases: HostileCase[], part: number, parts: number): HostileCase[] {
  return cases.filter((_, i) => i % parts === part - 1);
}

/**
 * Registers the cases of the test file at `fileUrl` (hostile-K.test.ts: part K of the files beside
 * it), grouped by command, each group concurrent.
 */
export function hostileSuite(fileUrl: string): void {
  const file = fileURLToPath(fileUrl);
  const part = Number(PART_FILE.exec(basename(file))?.[1]);
  const parts = hostileParts(dirname(file));
  if (!(part >= 1 && part <= parts)) throw new Error(`${file}: not one of the suite's files hostile-1.test.ts … hostile-${parts}.test.ts`);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'wit-hostile-'));
    fx = await sharedHostileFixtures();
    fxSnapshot = snapshot(fx.root);
  }, 600_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const all = hostileCases();
  const mine = casesOfPart(all, part, parts);
  // One describe per run of consecutive cases of a command (`model export` has two lines in COMMANDS).
  for (let i = 0; i < mine.length;) {
    const command = mine[i]!.command;
    const group: HostileCase[] = [];
    while (i < mine.length && mine[i]!.command === command) group.push(mine[i++]!);
    describe.concurrent(`wit ${COMMANDS[command]!.cmd.join(' ')}`, () => {
      for (const c of group) test(c.title, c.run, CASE_TIMEOUT_MS + 30_000);
    });
  }

  if (part === 1) {
    test('the files of the suite run every case once', () => {
      const runs = new Map<HostileCase, number>();
      for (let p = 1; p <= parts; p++) for (const c of casesOfPart(all, p, parts)) runs.set(c, (runs.get(c) ?? 0) + 1);
      expect(runs.size, 'cases no file runs').toBe(all.length);
      expect([...runs.values()].filter((n) => n !== 1), 'cases run twice').toEqual([]);
      expect(new Set(all.map((c) => c.command)).size, 'commands without a case').toBe(COMMANDS.length);
    });
  }
}
