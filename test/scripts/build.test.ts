/**
 * scripts/build.cjs --if-stale, npm's prepare: the first `npx wit` in a checkout runs prepare again
 * (npx links the checkout into its cache), which was a silent full compile. Checked on a small package
 * laid out like wit (bin launcher, src/cli/main.ts, tsconfig.build.json) with the real npx.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'wit-build-'));
const pkg = join(dir, 'pkg');
const main = join(pkg, 'dist', 'src', 'cli', 'main.js');

beforeAll(() => {
  mkdirSync(join(pkg, 'scripts'), { recursive: true });
  mkdirSync(join(pkg, 'src', 'cli'), { recursive: true });
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  mkdirSync(join(pkg, 'node_modules'), { recursive: true });
  copyFileSync(resolve('scripts/build.cjs'), join(pkg, 'scripts', 'build.cjs'));
  // A stand-in for tsc (the real one takes seconds to start): writes dist/ and counts its runs;
  // fails like tsc on a file named bad.ts.
  mkdirSync(join(pkg, 'node_modules', 'typescript', 'bin'), { recursive: true });
  writeFileSync(join(pkg, 'node_modules', 'typescript', 'package.json'), JSON.stringify({ name: 'typescript', version: '0.0.0-test' }));
  writeFileSync(join(pkg, 'node_modules', 'typescript', 'bin', 'tsc'), `
    const fs = require('node:fs');
    if (process.argv.join(' ') !== process.argv[0] + ' ' + process.argv[1] + ' -p tsconfig.build.json') process.exit(9);
    fs.appendFileSync('tsc-runs.log', 'run\\n');
    if (fs.existsSync('src/cli/bad.ts')) { console.log("src/cli/bad.ts(1,14): error TS2322: Type 'string' is not assignable to type 'number'."); process.exit(2); }
    fs.mkdirSync('dist/src/cli', { recursive: true });
    fs.writeFileSync('dist/src/cli/main.js', fs.readFileSync('src/cli/main.ts'));
  `);
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({
    name: 'wit-build-probe', version: '1.0.0', type: 'module', bin: { 'wit-build-probe': 'bin/probe.cjs' },
    scripts: { build: 'node scripts/build.cjs', prepare: 'node scripts/build.cjs --if-stale' },
  }));
  writeFileSync(join(pkg, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', outDir: 'dist', rootDir: '.', noEmit: true, types: [] }, include: ['src/**/*.ts'] }));
  writeFileSync(join(pkg, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noEmit: false } }));
  writeFileSync(join(pkg, 'src', 'cli', 'main.ts'), 'export const answer: number = 42;\n');
  writeFileSync(join(pkg, 'bin', 'probe.cjs'), '#!/usr/bin/env node\nconsole.log("probe ran");\n', { mode: 0o755 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const build = (...args: string[]) => spawnSync(process.execPath, ['scripts/build.cjs', ...args], { cwd: pkg, encoding: 'utf8' });
const setMtime = (file: string, secondsAgo: number) => utimesSync(file, Date.now() / 1000 - secondsAgo, Date.now() / 1000 - secondsAgo);

const npx = (bin: string) => spawnSync('npx', ['--yes', bin], {
  cwd: pkg, encoding: 'utf8', timeout: 120_000,
  env: { ...process.env, npm_config_cache: join(dir, 'npm-cache'), npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false' },
});

/** How many times the compiler ran. */
const tscRuns = () => (existsSync(join(pkg, 'tsc-runs.log')) ? readFileSync(join(pkg, 'tsc-runs.log'), 'utf8').split('\n').filter(Boolean).length : 0);
describe('scripts/build.cjs --if-stale (prepare)', () => {
  it('compiles a fresh checkout; skips while dist/ is newer than every source, on the first npx too; compiles after a change', () => {
    const first = build('--if-stale');
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/compiling the TypeScript sources into dist\//);
    expect(statSync(main).isFile()).toBe(true);
    expect(tscRuns()).toBe(1);
    setMtime(main, 100);
    const staleMtime = statSync(main).mtimeMs;

    const again = build('--if-stale');
    expect(again.stderr).toMatch(/dist\/ is up to date/);
    expect(tscRuns()).toBe(1);

    // npx links the checkout into its cache, which runs prepare: it must find dist/ up to date
    const r = npx('wit-build-probe');
    expect(r.stdout).toContain('probe ran');
    expect(tscRuns()).toBe(1);

    // a source saved after the build
    writeFileSync(join(pkg, 'src', 'cli', 'main.ts'), 'export const answer: number = 43;\n');
    const changed = build('--if-stale');
    expect(changed.stderr).toMatch(/compiling/);
    expect(tscRuns()).toBe(2);
    expect(readFileSync(main, 'utf8')).toContain('43');
    expect(statSync(main).mtimeMs).toBeGreaterThan(staleMtime); // rewritten by this build, not the first one
  });

  it('without --if-stale (npm run build) it always compiles; a type error exits non-zero with tsc\'s message', () => {
    writeFileSync(join(pkg, 'src', 'cli', 'bad.ts'), 'export const n: number = "text";\n');
    try {
      const before = tscRuns();
      const r = build();
      expect(tscRuns()).toBe(before + 1);
      expect(r.stderr).toMatch(/compiling/);
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/bad\.ts.*TS2322/);
    } finally {
      rmSync(join(pkg, 'src', 'cli', 'bad.ts'));
    }
  });
});
