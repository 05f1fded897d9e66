import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

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
