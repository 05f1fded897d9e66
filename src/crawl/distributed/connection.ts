import { Redis, type RedisOptions } from 'ioredis';
import { UsageError, WitError } from '../../util/errors.js';
import { defaultOf } from '../../util/options.js';
import { distributedOptionsSchema } from '../options.js';

/** How long a coordinator or worker waits for Redis at start (the --redis-timeout default), ms. */
export const DEFAULT_REDIS_TIMEOUT_MS = defaultOf(distributedOptionsSchema, 'redisTimeout') * 1000;

/** Options of {@link connectRedis}. */
export interface RedisConnectOptions {
  /** Called with a line when the connection drops or comes back (the run waits meanwhile). */
  log?: (line: string) => void;
  /** Longest wait between reconnection attempts, ms (default 2000). */
  maxRetryDelayMs?: number;
  /** Connection name shown by CLIENT LIST (helps an operator tell workers apart). */
  name?: string;
}

/**
 * Parses and checks a `redis://` / `rediss://` url; throws UsageError naming the flag otherwise.
 */
export function checkRedisUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError('crawl', `--redis: not a url: ${url}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError('crawl', `--redis: expected redis://HOST:PORT, got ${url}`);
  return u;
}

/**
 * ioredis options shared by every connection of a run. A Redis server that restarts or is
 * unreachable for a while must make the run wait, not crash: retry forever with a capped backoff,
 * queue commands while offline, and never give up on a request (`maxRetriesPerRequest: null`,
 * which BullMQ requires anyway).
 */
export function redisOptions(opts: RedisConnectOptions = {}): RedisOptions {
  const maxDelay = opts.maxRetryDelayMs ?? 2000;
  return {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    enableReadyCheck: true,
    // Redis refuses (and ioredis then silently drops) a name with spaces or control characters.
    connectionName: opts.name?.replace(/[^\x21-\x7e]/g, '-'),
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
    // A restarting server answers LOADING until its data is back: reconnect and resend.
    reconnectOnError: (err: Error) => (/LOADING|READONLY/.test(err.message) ? 2 : false),
  };
}

/**
 * Opens an ioredis connection to `url` with the run's retry policy. Connection errors are logged
 * (once per outage), never thrown: commands wait until the server is back.
 */
export function connectRedis(url: string, opts: RedisConnectOptions = {}): Redis {
  checkRedisUrl(url);
  const redis = new Redis(url, redisOptions(opts));
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) opts.log?.(`redis: ${err.message}; retrying`);
    down = true;
  });
  redis.on('ready', () => {
    if (down) opts.log?.('redis: connection is back');
    down = false;
  });
  return redis;
}

/** The url as it may be printed: a password is masked. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return url;
  }
}

/**
 * Waits until `redis` is connected, at most `timeoutMs`. Throws WitError (exit 1) naming the url when
 * it is not reachable by then, or when `signal` aborts first. Used at start only: a connection lost
 * later is waited out (see {@link redisOptions}).
 */
export async function waitForRedis(redis: Redis, url: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      signal?.removeEventListener('abort', onAbort);
    };
    const onReady = () => { cleanup(); resolve(); };
    const onAbort = () => { cleanup(); reject(new WitError('crawl', `stopped while waiting for Redis at ${displayUrl(url)}`)); };
    const timer = setTimeout(() => {
      cleanup();
      reject(new WitError('crawl', `cannot reach Redis at ${displayUrl(url)} within ${timeoutMs / 1000} s (--redis-timeout): is redis-server running and reachable there?`));
    }, timeoutMs);
    redis.on('ready', onReady);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
  });
}
