/**
 * The package as a user gets it (issue: `wit` not a command, `import … from 'wit'` failing after
 * install): `npm pack`, then the tarball installed into a temporary project with npm itself, offline.
 * Its dependencies are the ones this checkout has: the project declares each as a `file:` link into
 * this checkout's node_modules, so that npm resolves nothing from the network and copies nothing
 * large; the package itself is unpacked from the tarball as for any user. Needs dist/ built
 * (`npm test` builds first).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve('.');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string>; dependencies: Record<string, string> };
const dir = mkdtempSync(join(tmpdir(), 'wit-pack-'));
const proj = join(dir, 'project');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let tarball = '';
let files: string[] = [];

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 180_000, env: { ...process.env, npm_config_update_notifier: 'false', ...env } });
  if (r.error) throw r.error;
  return r;
}

/** node_modules of this checkout (a worktree's may be a link to the main checkout's). */
const modules = realpathSync(join(root, 'node_modules'));

beforeAll(() => {
  expect(existsSync(join(root, 'dist', 'src', 'index.js')), 'dist/ not built: run npm run build').toBe(true);
  // --ignore-scripts: prepare would only rebuild a stale dist/ (scripts/build.cjs --if-stale)
  const packed = run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root);
  expect(packed.status, packed.stderr).toBe(0);
  const info = (JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[])[0]!;
  tarball = join(dir, info.filename);
  files = info.files.map((f) => f.path);
  mkdirSync(proj);
  const deps = Object.fromEntries(Object.keys(pkg.dependencies).map((d) => [d, `file:${join(modules, d)}`]));
  writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'wit-user', version: '1.0.0', private: true, type: 'module', dependencies: deps, devDependencies: { '@types/node': `file:${join(modules, '@types', 'node')}` } }, null, 2));
  const installed = run(npm, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', tarball], proj);
  expect(installed.status, installed.stderr).toBe(0);
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the packed package, installed', () => {
  it('is named so that it cannot be taken for the unrelated npm package `wit`; its command is still wit; it ships dist/src, not the benches or tests', () => {
    expect(pkg.name).not.toBe('wit');
    expect(Object.keys(pkg.bin)).toEqual(['wit']);
    for (const f of ['bin/wit.cjs', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'package.json', 'README.md']) expect(files).toContain(f);
    expect(files.filter((f) => /^(dist\/(bench|test)|test|src|bench)\//.test(f))).toEqual([]);
  });

  it('runs as `wit` from node_modules/.bin: --version and demo --help', () => {
    const bin = join(proj, 'node_modules', '.bin', 'wit');
    const version = run(bin, ['--version'], proj);
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toBe(`wit ${pkg.version}\n`);
    const help = run(bin, ['demo', '--help'], proj);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: wit demo/);
    expect(help.stdout).toMatch(/\nExamples:\n/);
  });

  it('imports as a library by the package name, with types (a user file type-checked by tsc against the installed package)', () => {
    writeFileSync(join(proj, 'use.ts'), [
      `import { querygen, crawl, filter, type CrawlOptions, type CrawlSummary, type FilterSummary } from '${pkg.name}';`,
      `const opts: CrawlOptions = { queries: 'queries.tsv', inputs: ['list.parquet'], out: 'shards', saveAdditionalColumns: ['similarity:laion_similarity'] };`,
      'const run: (o: CrawlOptions) => Promise<CrawlSummary> = crawl;',
      'const kept = (s: FilterSummary): number => s.kept;',
      '// @ts-expect-error --cap is a number',
      `const wrong: CrawlOptions = { queries: 'q.tsv', inputs: ['x'], out: 'o', cap: 'many' };`,
      'export { opts, run, kept, wrong, querygen, filter };',
      '',
    ].join('\n'));
    writeFileSync(join(proj, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['use.ts'] }));
    const tsc = run(process.execPath, [join(modules, 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], proj);
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    const imported = run(process.execPath, ['--input-type=module', '-e', `import { querygen, crawl, filter } from '${pkg.name}'; console.log([querygen, crawl, filter].map((f) => typeof f).join(' '));`], proj);
    expect(imported.status, imported.stderr).toBe(0);
    expect(imported.stdout.trim().split('\n').at(-1)).toBe('function function function');
  });
});
