/**
 * How the user runs wit from here, for the command lines wit prints (the demo's "each stage by hand",
 * the next step after wit embed); docs/ARCHITECTURE.md, "How wit is run". `wit` is a command only
 * after `npm install -g` or `npm link`; in the checkout (or a project that installed the package)
 * `npx wit` runs it; anywhere else, `node …/bin/wit.cjs` does. (`npx wit` outside would offer to
 * install the unrelated npm package named `wit`.)
 */
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join, relative, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This package's bin/wit.cjs (from src/util or dist/src/util). */
function ownBin(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const bin = join(here, up, 'bin', 'wit.cjs');
    if (existsSync(bin)) return bin;
  }
  return undefined;
}

function real(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

function inside(dir: string, p: string): boolean {
  const r = relative(dir, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/**
 * The prefix of a printed wit command line: `wit` when the `wit` on PATH is this package, `npx wit`
 * when `cwd` is in the checkout or in a project with this package installed, else `node BIN`.
 */
export function witInvocation(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const bin = ownBin();
  const binReal = bin ? real(bin) : undefined;
  if (!bin || !binReal) return 'wit';
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const found = real(join(dir, 'wit'));
    if (found === binReal) return 'wit';
  }
  const root = dirname(dirname(binReal));
  if (inside(root, real(cwd) ?? cwd)) return 'npx wit';
  // a project that installed the package: npx finds node_modules/.bin/wit from any folder below it
  for (let d = real(cwd) ?? cwd; ; d = dirname(d)) {
    if (real(join(d, 'node_modules', '.bin', 'wit')) === binReal) return 'npx wit';
    if (dirname(d) === d) break;
  }
  return `node ${/^[\w@%+=:,./-]+$/.test(bin) ? bin : `'${bin.replace(/'/g, `'\\''`)}'`}`;
}

let cached: string | undefined;

/** witInvocation() of this process, computed once. */
export function witCommand(): string {
  cached ??= witInvocation();
  return cached;
}
