import { Redis, type RedisOptions } from 'ioredis';
import { UsageError } from '../../util/errors.js';

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
    connectionName: opts.name,
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
