/**
 * A shard writer killed mid-shard (SIGKILL, no cleanup of its own): a child process opens `shardFile`
 * through dist/ (`npm run build` first) with `opts`, writes pairs of `imageBytes`-byte images without end,
 * and is killed once 200 are written. What it leaves is what a crash leaves.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export async function killWriterMidShard(shardFile: string, opts: Record<string, unknown> = {}, imageBytes = 2000): Promise<void> {
  const mod = resolve('dist/src/shards/index.js');
  const script = `
    const { ShardWriter } = await import(${JSON.stringify(mod)});
    const w = await ShardWriter.open(${JSON.stringify(shardFile)}, ${JSON.stringify(opts)});
    const img = new Uint8Array(${imageBytes});
    for (let i = 0; ; i++) {
      await w.write({ key: 'k' + i, url: 'u', caption: 'c', queries: ['c'], image: img, width: 1, height: 1, original_width: 1, original_height: 1, sha256: 'x' });
      if (i === 200) process.stdout.write('ready\\n');
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res, rej) => {
    child.stdout.on('data', (b: Buffer) => { if (b.toString().includes('ready')) res(); });
    child.on('exit', (code) => rej(new Error(`writer exited early with ${code}`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
}
