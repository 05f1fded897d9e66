/**
 * `node bin/wit.cjs …` with its peak resident memory: a preload hook prints
 * process.resourceUsage().maxRSS (the process's high-water mark, worker threads included) on exit.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WIT } from '../crawl/run-wit.js';

const MARK = 'WIT_TEST_MAXRSS_KB=';
let hook: string | undefined;

function hookFile(): string {
  if (!hook) {
    hook = join(mkdtempSync(join(tmpdir(), 'wit-rss-')), 'maxrss.cjs');
    writeFileSync(hook, `process.on('exit', () => { try { require('node:fs').writeSync(2, '\\n${MARK}' + process.resourceUsage().maxRSS + '\\n'); } catch {} });\n`);
  }
  return hook;
}

/** Runs the CLI; `rssMB` is its peak RSS in MiB (NaN when the process died before it could say). */
export function runWitMeasured(args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; rssMB: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--require', hookFile(), WIT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    // a kill for a hang only: never before 10 minutes, which a loaded machine needs for what takes seconds alone
    const t = setTimeout(() => child.kill('SIGKILL'), Math.max(opts.timeoutMs ?? 0, 600_000));
    child.on('close', (code, signal) => {
      clearTimeout(t);
      const m = new RegExp(`\\n?${MARK}(\\d+)\\n`).exec(stderr);
      resolve({ code, signal, stdout, stderr: m ? stderr.replace(m[0], '') : stderr, rssMB: m ? Number(m[1]) / 1024 : NaN });
    });
  });
}
