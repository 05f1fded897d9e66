import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The least time runWit gives a command before it kills it (a hang, not a slow machine). */
const MIN_KILL_MS = 600_000;

/** The launcher users run (`npx wit`, the package's `bin`); it runs the build in dist/. */
export const WIT = join(process.cwd(), 'bin', 'wit.cjs');

// Tests of the CLI fail, rather than skip, when dist/ is missing: `npm test` builds it first.
if (!existsSync(join(process.cwd(), 'dist', 'src', 'cli', 'main.js'))) {
  throw new Error('dist/ is not built: run `npm run build` first (`npm test` does it), then rerun the CLI tests');
}

/**
 * Runs `node bin/wit.cjs …` (env: variables to set or override) and collects its exit code and output.
 * SIGKILLed after timeoutMs, but never before 10 minutes: the kill is for a hang, and a loaded machine
 * stretches a command that takes seconds alone to minutes.
 */
export function runWit(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = opts.env ? { ...process.env, ...opts.env } : process.env;
    const child = spawn(process.execPath, [WIT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), Math.max(opts.timeoutMs ?? 0, MIN_KILL_MS));
    child.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

/** `node bin/wit.cjs …`, synchronously (spawnSync's result, output as text). */
export function runWitSync(args: string[], opts: SpawnSyncOptions = {}) {
  return spawnSync(process.execPath, [WIT, ...args], { encoding: 'utf8', timeout: 120_000, ...opts }) as ReturnType<typeof spawnSync> & { stdout: string; stderr: string };
}
