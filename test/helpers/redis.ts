/**
 * Starts a throwaway `redis-server` (Debian's package; .ci/run installs it) on 127.0.0.1 at a free
 * port, with its data in a temp directory, for tests and benchmarks of the distributed crawl.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Options of {@link startRedis}. */
export interface RedisServerOptions {
  /** Persist every write to an append-only file (so a restart keeps the data). Default false. */
  appendonly?: boolean;
  /** Port to bind (default: a free one). */
  port?: number;
  /** Data directory (default: a new temp dir, removed by stop()). */
  dir?: string;
}

/** A running redis-server. */
export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  /** Stops the server (SIGTERM: it saves its AOF first), waiting for it to exit. */
  shutdown(): Promise<void>;
  /** Starts it again on the same port and directory (after shutdown). */
  restart(): Promise<void>;
  /** Shuts down and removes the temp dir. */
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 120_000; // seconds alone, far longer on a loaded machine
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.write('PING\r\n');
        s.once('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not start on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts redis-server; throws when the binary is missing or it does not come up in 10 s. */
export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'wit-redis-')));
  const port = opts.port ?? (await freePort());
  let proc: ChildProcess | undefined;
  let output = '';
  const launch = async (): Promise<void> => {
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
      '--appendonly', opts.appendonly ? 'yes' : 'no', '--appendfsync', 'always',
      '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning',
    ];
    output = '';
    const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.on('data', (d) => { output = (output + d.toString()).slice(-4000); });
    p.stderr!.on('data', (d) => { output = (output + d.toString()).slice(-4000); });
    await new Promise<void>((resolve, reject) => {
      p.once('spawn', () => resolve());
      p.once('error', (err) => reject(new Error(`cannot start redis-server (apt-get install -y redis-server): ${err.message}`)));
    });
    proc = p;
    await waitForPort(port, p, () => output);
  };
  const shutdown = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    shutdown,
    restart: launch,
    async stop() {
      await shutdown();
      if (!opts.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}
