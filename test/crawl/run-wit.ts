import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** Path of the CLI entry (runs the build in dist/; `npm run build` first). */
export const WIT = join(process.cwd(), 'bin', 'wit.js');

/** Runs `node bin/wit.js …` and collects its exit code and output (SIGKILLed after timeoutMs). */
export function runWit(args: string[], opts: { timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WIT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}
