import robotsParserModule from 'robots-parser';
import type { FailureReason } from '../types.js';
import type { SafeFetcher } from './fetch.js';

/** The parsed robots.txt, as robots-parser gives it. */
interface Robots {
  isAllowed(url: string, ua?: string): boolean | undefined;
  getCrawlDelay(ua?: string): number | undefined;
}
// robots-parser is CommonJS whose module.exports is the function; its typings claim a default export
const robotsParser = robotsParserModule as unknown as (url: string, text: string) => Robots;

/** Options of the robots.txt cache. */
export interface RobotsCacheOptions {
  /** Origins kept (LRU). Default 10000. */
  maxEntries?: number;
  /** How long a robots.txt is trusted, in ms. Default 24 h (as RFC 9309 suggests). */
  ttlMs?: number;
  /** Bytes of robots.txt parsed (the rest is ignored); RFC 9309 asks for at least 500 KiB. Default 512 KiB. */
  maxBytes?: number;
}

/** The verdict for one url. */
export interface RobotsVerdict {
  /** Undefined when the url may be fetched; else why not (robots, or dns/connect/... when the host is unreachable). */
  refused?: FailureReason;
  /** Crawl-delay for our agent on that origin, in ms (0 when none). */
  crawlDelayMs: number;
}

interface Entry {
  at: number;
  robots?: Robots;
  /** Set when the whole origin is off limits or unreachable. */
  refuseAll?: FailureReason;
  crawlDelayMs: number;
}

const MAX_CRAWL_DELAY_MS = 60_000;
const UNREACHABLE_TTL_MS = 60_000;

/**
 * robots.txt per origin, fetched once (concurrent callers share the fetch) and kept in an LRU.
 * RFC 9309 rules: 2xx -> parse; 4xx -> everything allowed; 5xx or 429 after retries -> everything
 * disallowed; an unreachable host refuses with the network reason (dns, connect, timeout, blocked_address)
 * so that the accounting says why. Crawl-delay is read for our product token (or `*`), capped at 60 s.
 */
export class RobotsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly maxBytes: number;

  constructor(private readonly fetcher: SafeFetcher, opts: RobotsCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.ttlMs = opts.ttlMs ?? 24 * 3600_000;
    this.maxBytes = opts.maxBytes ?? 512 * 1024;
  }

  /** Decides whether `url` may be fetched; resolves (never rejects) with a verdict. */
  async check(url: URL | string, signal?: AbortSignal): Promise<RobotsVerdict> {
    const u = typeof url === 'string' ? new URL(url) : url;
    const entry = await this.entry(u.origin, signal);
    if (entry.refuseAll) return { refused: entry.refuseAll, crawlDelayMs: entry.crawlDelayMs };
    const allowed = entry.robots ? entry.robots.isAllowed(u.href, this.fetcher.robotToken) : true;
    return { refused: allowed === false ? 'robots' : undefined, crawlDelayMs: entry.crawlDelayMs };
  }

  private async entry(origin: string, signal?: AbortSignal): Promise<Entry> {
    const hit = this.entries.get(origin);
    // an unreachable host is asked again after a minute: the outage may be over
    const ttl = hit?.refuseAll && hit.refuseAll !== 'robots' ? Math.min(this.ttlMs, UNREACHABLE_TTL_MS) : this.ttlMs;
    if (hit && Date.now() - hit.at < ttl) {
      this.entries.delete(origin);
      this.entries.set(origin, hit);
      return hit;
    }
    let p = this.pending.get(origin);
    if (!p) {
      p = this.load(origin, signal).then((e) => {
        this.pending.delete(origin);
        // a fetch cut short by the run stopping is not a verdict to remember
        if (!signal?.aborted) {
          this.entries.set(origin, e);
          while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
        }
        return e;
      });
      this.pending.set(origin, p);
    }
    return p;
  }

  private async load(origin: string, signal?: AbortSignal): Promise<Entry> {
    const robotsUrl = `${origin}/robots.txt`;
    const res = await this.fetcher.fetch(robotsUrl, { accept: 'text/plain, */*', maxBytes: this.maxBytes, truncate: true, honorXRobotsTag: false, signal });
    const at = Date.now();
    if (res.ok) {
      const robots = robotsParser(res.finalUrl === robotsUrl ? robotsUrl : robotsUrl, res.body.toString('utf8'));
      const delay = robots.getCrawlDelay(this.fetcher.robotToken);
      const crawlDelayMs = delay !== undefined && Number.isFinite(Number(delay)) ? Math.min(MAX_CRAWL_DELAY_MS, Math.max(0, Number(delay) * 1000)) : 0;
      return { at, robots, crawlDelayMs };
    }
    switch (res.reason) {
      case 'http_4xx':
        if (res.status === 429) return { at, refuseAll: 'robots', crawlDelayMs: 0 };
        return { at, crawlDelayMs: 0 };
      case 'http_5xx':
        return { at, refuseAll: 'robots', crawlDelayMs: 0 };
      case 'redirects':
      case 'bad_url':
        return { at, crawlDelayMs: 0 };
      case 'dns':
      case 'connect':
      case 'timeout':
      case 'blocked_address':
        return { at, refuseAll: res.reason, crawlDelayMs: 0 };
      default:
        // unreadable (cut short, ...): RFC 9309 treats an unreachable robots.txt as disallow-all
        return { at, refuseAll: 'robots', crawlDelayMs: 0 };
    }
  }
}
