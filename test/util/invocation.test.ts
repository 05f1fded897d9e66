import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { witInvocation } from '../../src/util/invocation.js';

const dir = mkdtempSync(join(tmpdir(), 'wit-invocation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bin = resolve('bin/wit.cjs');

describe('the wit command lines wit prints (demo stages, embed) say how wit runs here', () => {
  it('`wit` when the wit on PATH is this package (npm install -g, npm link)', () => {
    const pathDir = join(dir, 'global-bin');
    symlinkSync(dir, join(dir, 'self')); // an unrelated link first on PATH is passed over
    mkdirSync(pathDir, { recursive: true });
    symlinkSync(bin, join(pathDir, 'wit'));
    expect(witInvocation({ PATH: `${join(dir, 'self')}:${pathDir}` }, dir)).toBe('wit');
  });

  it('`npx wit` in the checkout or in a project that installed the package; else node with the full path', () => {
    expect(witInvocation({ PATH: '/usr/bin' }, resolve('.'))).toBe('npx wit');
    expect(witInvocation({ PATH: '/usr/bin' }, resolve('src/cli'))).toBe('npx wit');
    const proj = join(dir, 'project');
    mkdirSync(join(proj, 'node_modules', '.bin'), { recursive: true });
    mkdirSync(join(proj, 'sub'), { recursive: true });
    symlinkSync(bin, join(proj, 'node_modules', '.bin', 'wit'));
    expect(witInvocation({ PATH: '/usr/bin' }, join(proj, 'sub'))).toBe('npx wit');
    // another folder: `npx wit` there would offer the unrelated npm package named wit
    expect(witInvocation({ PATH: '/usr/bin' }, tmpdir())).toBe(`node ${bin}`);
  });
});

