import PQueue from 'p-queue';
import { setTimeout as sleep } from 'node:timers/promises';

/** Options of the per-host politeness limiter. */
export interface HostLimiterOptions {
  /** Requests in flight per host at most. Default 4. */
  perHostConcurrency?: number;
  /** Least time between two request starts on one host, in ms. Default 0. */
  perHostDelayMs?: number;
  /** Hosts whose last start time is remembered (LRU); bounds memory on huge crawls. Default 100000. */
  maxHosts?: number;
}

interface HostState {
  queue: PQueue;
  nextStart: number;
}

/**
 * Politeness per host: a p-queue per host bounds requests in flight to it, and starts are spaced
 * by the larger of `perHostDelayMs` and the host's own delay (robots.txt Crawl-delay). Idle hosts
 * are forgotten beyond `maxHosts`, so memory stays bounded however many hosts a crawl meets.
 */
export class HostLimiter {
  private readonly hosts = new Map<string, HostState>();
  private readonly concurrency: number;
  private readonly delayMs: number;
  private readonly maxHosts: number;

  constructor(opts: HostLimiterOptions = {}) {
    this.concurrency = opts.perHostConcurrency ?? 4;
    this.delayMs = opts.perHostDelayMs ?? 0;
    this.maxHosts = opts.maxHosts ?? 100_000;
  }

  /** Hosts currently tracked (for tests and stats). */
  get size(): number {
    return this.hosts.size;
  }

  /**
   * Runs `fn` once `host` has a free slot and its delay since the previous start has passed.
   * `hostDelayMs` (e.g. Crawl-delay) raises the spacing for this host. Resolves to fn's value.
   */
  async run<T>(host: string, hostDelayMs: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    let st = this.hosts.get(host);
    if (st) {
      // LRU: move to the end
      this.hosts.delete(host);
      this.hosts.set(host, st);
    } else {
      st = { queue: new PQueue({ concurrency: this.concurrency }), nextStart: 0 };
      this.hosts.set(host, st);
      this.evict();
    }
    const state = st;
    const delay = Math.max(this.delayMs, hostDelayMs);
    return state.queue.add(async () => {
      if (delay > 0) {
        const now = Date.now();
        const start = Math.max(now, state.nextStart);
        state.nextStart = start + delay;
        if (start > now) await sleep(start - now, undefined, signal ? { signal } : undefined);
      }
      return fn();
    }) as Promise<T>;
  }

  private evict(): void {
    if (this.hosts.size <= this.maxHosts) return;
    for (const [h, s] of this.hosts) {
      if (this.hosts.size <= this.maxHosts) break;
      if (s.queue.size === 0 && s.queue.pending === 0) this.hosts.delete(h);
    }
  }
}
