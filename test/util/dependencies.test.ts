import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

/** Every .ts file under a directory. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Packages loaded by a computed name, with the source text that loads them. */
const LOADED_BY_NAME: Record<string, string> = {
  'emoji-datasource-google': 'pkgDir(`emoji-datasource-${set}`)',
  'emoji-datasource-twitter': 'pkgDir(`emoji-datasource-${set}`)',
};

describe('runtime dependencies hold only what runs at run time', () => {
  it('every runtime dependency is loaded by src/ (benchmark- and test-only packages are devDependencies)', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
    const code = sources('src').map((f) => readFileSync(f, 'utf8')).join('\n');
    const loaded = new Set<string>();
    // import … from 'x', import('x'), require('x'), pkgDir('x'), with subpaths
    for (const m of code.matchAll(/(?:from\s+|import\(\s*|require\(\s*|pkgDir\(\s*)['"]((?:@[^/'"]+\/)?[^/'"]+)[^'"]*['"]/g)) loaded.add(m[1]!);
    const unused = Object.keys(pkg.dependencies).filter((d) => !loaded.has(d) && !(LOADED_BY_NAME[d] && code.includes(LOADED_BY_NAME[d]!)));
    expect(unused).toEqual([]);
  });
});

describe('the Node version the README promises', () => {
  it('no installed package requires a newer Node than package.json engines (npm would warn EBADENGINE on every install)', () => {
    // semver ships with npm's own dependency tree here (bullmq); typed by hand (no @types package for one test)
    const semver = createRequire(import.meta.url)('semver') as {
      minVersion(range: string): { version: string } | null; validRange(range: string): string | null; satisfies(v: string | { version: string }, range: string): boolean;
    };
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
    const ours = semver.minVersion(pkg.engines.node)!;
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean }> };
    const too = Object.entries(lock.packages)
      .filter(([path, p]) => path && !p.optional && p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(([, p]) => {
        const range = (p.engines as { node: string }).node;
        return semver.validRange(range) !== null && !semver.satisfies(ours, range);
      })
      .map(([path, p]) => `${path.replace(/^.*node_modules\//, '')} wants node ${(p.engines as { node: string }).node}`);
    expect(too, `the README and engines say node ${pkg.engines.node}`).toEqual([]);
  });
});
