/**
 * The system programs wit uses or its tests use (README.md "Requirements"), how to install each, and
 * how to find it. One table for `wit doctor` and for the tests' needs() (test/helpers/needs.ts).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export type SystemProgram = 'redis-server' | 'lbzip2' | 'bzip2' | 'wget' | 'chromium' | 'python3' | 'python3-torch';

export interface ProgramInfo {
  /** Debian package(s), for `apt-get install -y …`. */
  apt: string;
  /** Homebrew formula (or `--cask …`), for `brew install …`. */
  brew: string;
  /** What uses it: a feature of wit, or only tests. */
  usedFor: string;
  /** What happens without it. */
  withoutIt: string;
  /** Only tests (and benchmarks) use it; wit itself never runs it. */
  testsOnly: boolean;
}

export const SYSTEM_PROGRAMS: Record<SystemProgram, ProgramInfo> = {
  'redis-server': {
    apt: 'redis-server', brew: 'redis', testsOnly: false,
    usedFor: 'wit crawl --redis (one crawl over several processes or machines) and its tests',
    withoutIt: 'wit crawl on one machine (without --redis) works; the distributed-crawl tests are skipped',
  },
  lbzip2: {
    apt: 'lbzip2', brew: 'lbzip2', testsOnly: false,
    usedFor: 'wit querygen decodes .bz2 Wikipedia dumps on every core (chosen first when installed)',
    withoutIt: 'wit querygen decodes with bzip2, else with its pure-JS decoder (slower, same output)',
  },
  bzip2: {
    apt: 'bzip2', brew: 'bzip2', testsOnly: false,
    usedFor: 'wit demo writes its Wikipedia dump as .bz2; wit querygen --bz2-decoder bzip2',
    withoutIt: 'the demo writes its dump as plain XML; wit querygen uses lbzip2 or its JS decoder',
  },
  wget: {
    apt: 'wget', brew: 'wget', testsOnly: true,
    usedFor: 'a test that reads a WARC written by wget --warc-file',
    withoutIt: 'wit does not need it; that test is skipped',
  },
  chromium: {
    apt: 'chromium', brew: '--cask chromium', testsOnly: true,
    usedFor: 'tests that open the pages of wit report and wit serve in a real browser',
    withoutIt: 'wit does not need it; those tests are skipped',
  },
  python3: {
    apt: 'python3', brew: 'python', testsOnly: true,
    usedFor: 'tests that read wit\'s WebDataset tars with Python\'s tarfile (run by the system python)',
    withoutIt: 'wit does not need it; those checks are skipped',
  },
  'python3-torch': {
    apt: 'python3-torch python3-numpy', brew: 'pytorch', testsOnly: true,
    usedFor: 'tests and benchmarks that compare with PyTorch references (run by the system python)',
    withoutIt: 'wit does not need it; those tests are skipped',
  },
};

export const PROGRAM_NAMES = Object.keys(SYSTEM_PROGRAMS) as SystemProgram[];

/** The Python that Debian's python3-torch installs for (a venv or pyenv python3 on PATH would hide it). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** `apt-get install -y …` for `programs`. */
export function aptCommand(programs: readonly SystemProgram[]): string {
  return `apt-get install -y ${programs.map((p) => SYSTEM_PROGRAMS[p].apt).join(' ')}`;
}

/** `brew install …` for `programs`. */
export function brewCommand(programs: readonly SystemProgram[]): string {
  return `brew install ${programs.map((p) => SYSTEM_PROGRAMS[p].brew).join(' ')}`;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Full path of the executable `name` on PATH, or undefined. */
export function onPath(name: string, path = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Where `program` is: its executable (for 'python3-torch', the python that imports torch), or
 * undefined when it is missing. chromium is also looked for at Debian's /usr/bin/chromium.
 */
export function findProgram(program: SystemProgram, opts: { python?: string } = {}): string | undefined {
  if (program === 'chromium') return onPath('chromium') ?? (isExecutable('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);
  if (program === 'python3') return isExecutable(opts.python ?? SYSTEM_PYTHON) ? (opts.python ?? SYSTEM_PYTHON) : onPath('python3');
  if (program === 'python3-torch') {
    const python = opts.python ?? SYSTEM_PYTHON;
    if (!isExecutable(python) && !onPath(python)) return undefined;
    const r = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    return r.status === 0 ? python : undefined;
  }
  return onPath(program);
}
