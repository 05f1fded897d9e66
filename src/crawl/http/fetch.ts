import { createRequire } from 'node:module';
import type { Agent, Dispatcher } from 'undici';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import type { FailureReason } from '../types.js';
import { checkUrlTarget, guardedLookup, systemResolver, type Resolver } from './address-guard.js';
import { robotToken, xRobotsOptOut } from './x-robots-tag.js';

/** Default user agent: names the tool and where to read about it (one definition, src/util/version.ts). */
export { DEFAULT_USER_AGENT } from '../../util/version.js';
import { DEFAULT_USER_AGENT } from '../../util/version.js';

/** Options of a SafeFetcher (one per run; it owns the connection pool). */
export interface FetcherOptions {
  /** User-Agent header (also gives the robots.txt token). */
  userAgent?: string;
  /** Whole-request limit per attempt in ms: connect, headers and the full body (stalls included). Default 10000. */
  timeoutMs?: number;
  /** Extra attempts after a timeout, a 5xx or a 429. Default 2. */
  retries?: number;
  /** First backoff in ms; doubles per attempt, with jitter. Default 500. */
  backoffMs?: number;
  /** Longest Retry-After honoured in ms; a longer one fails the fetch at once. Default 30000. */
  maxRetryAfterMs?: number;
  /** Largest body in bytes (Content-Length and streamed count). Default 10 MiB. */
  maxBytes?: number;
  /** Redirects followed at most. Default 5. */
  maxRedirects?: number;
  /** Allow loopback/private/link-local targets (tests, intranets). Default false. */
  allowPrivateNetwork?: boolean;
  /** Connections per origin kept by the pool. Default 8. */
  connectionsPerOrigin?: number;
  /** Name resolution (tests inject one). Default: the system resolver. */
  resolver?: Resolver;
  /** Largest input file opened with `openStream` (url lists, Parquet, WARC over http), in bytes. Default 16 GiB. */
  maxInputBytes?: number;
  /** Whole-transfer limit of `openStream` in ms, redirects included. Default 1 hour. */
  inputTimeoutMs?: number;
}

/** Defaults of the input-file limits (README.md, crawl: "Limits"). */
export const DEFAULT_MAX_INPUT_BYTES = 16 * 1024 ** 3;
export const DEFAULT_INPUT_TIMEOUT_MS = 3_600_000;

/** Per-request options. */
export interface FetchRequest {
  /** Accept header. */
  accept?: string;
  /** Overrides the fetcher's maxBytes (e.g. smaller for robots.txt). */
  maxBytes?: number;
  /** Keep the first maxBytes of a longer body instead of failing with too_large (robots.txt, per RFC 9309). */
  truncate?: boolean;
  /** Refuse when X-Robots-Tag opts out (images and pages: yes; robots.txt: no). Default true. */
  honorXRobotsTag?: boolean;
  /** Called before every hop (the first url and each redirect target); a reason stops the fetch. */
  checkHop?: (url: URL) => Promise<FailureReason | undefined>;
  /** Aborts the fetch (the run is stopping). */
  signal?: AbortSignal;
}

/** What a fetch ends in: bytes, or a failure reason with a detail for logs. */
export type FetchResult =
  | { ok: true; url: string; finalUrl: string; status: number; contentType: string | undefined; body: Buffer; attempts: number }
  | { ok: false; url: string; finalUrl: string; reason: FailureReason; detail: string; status?: number; attempts: number };

const REDIRECT = new Set([301, 302, 303, 307, 308]);

/** Error codes meaning the name did not resolve. */
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NODATA', 'EAI_FAIL', 'EAI_NONAME', 'ENODATA']);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function errCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code ?? e?.cause?.code;
}

/** Destroys a body we will not read; the abort error it emits is expected, not a crash. */
function drop(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Thrown inside an attempt to end it with a reason. */
class AttemptFailure extends Error {
  constructor(readonly reason: FailureReason, message: string, readonly retryable: boolean, readonly status?: number, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date); undefined when absent or bad. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * HTTP(S) GET with every safety rule of the crawl: only http/https; no private, loopback,
 * link-local or metadata address (resolved by us, checked at connect time, so on every redirect
 * too) unless allowed; at most `maxRedirects` redirects, each checked by `checkHop` (robots);
 * Content-Length and the streamed size held to `maxBytes`; one timer per attempt that also
 * covers a stalled body; retries with exponential backoff for timeouts, 5xx and 429 honouring
 * Retry-After; X-Robots-Tag opt-outs read from the headers before the body. Connections are
 * reused through one undici Agent.
 *
 * `fetch` never throws for a per-url problem: it resolves to a FetchResult with a reason.
 */
export class SafeFetcher {
  readonly userAgent: string;
  readonly robotToken: string;
  private readonly agent: Agent;
  private readonly o: Required<Omit<FetcherOptions, 'resolver' | 'userAgent'>>;

  constructor(opts: FetcherOptions = {}) {
    this.userAgent = opts.userAgent ?? DEFAULT_USER_AGENT;
    this.robotToken = robotToken(this.userAgent);
    this.o = {
      timeoutMs: opts.timeoutMs ?? 10_000,
      retries: opts.retries ?? 2,
      backoffMs: opts.backoffMs ?? 500,
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 30_000,
      maxBytes: opts.maxBytes ?? 10 * 1024 * 1024,
      maxRedirects: opts.maxRedirects ?? 5,
      allowPrivateNetwork: opts.allowPrivateNetwork ?? false,
      connectionsPerOrigin: opts.connectionsPerOrigin ?? 8,
      maxInputBytes: opts.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES,
      inputTimeoutMs: opts.inputTimeoutMs ?? DEFAULT_INPUT_TIMEOUT_MS,
    };
    // undici is required here, not imported: a command that refuses its input never loads it (0.15 s of CPU).
    const { Agent: UndiciAgent } = createRequire(import.meta.url)('undici') as typeof import('undici');
    this.agent = new UndiciAgent({
      connections: this.o.connectionsPerOrigin,
      connect: { lookup: guardedLookup(this.o.allowPrivateNetwork, opts.resolver ?? systemResolver), timeout: this.o.timeoutMs } as never,
      headersTimeout: this.o.timeoutMs,
      bodyTimeout: this.o.timeoutMs,
      keepAliveTimeout: 10_000,
    } as Agent.Options);
  }

  /** Fetches `url`; resolves to the bytes or a failure reason (never rejects for per-url problems). */
  async fetch(url: string, req: FetchRequest = {}): Promise<FetchResult> {
    let current: URL;
    try {
      current = new URL(url);
    } catch {
      return { ok: false, url, finalUrl: url, reason: 'bad_url', detail: 'not a valid url', attempts: 0 };
    }
    let attempts = 0;
    for (let hop = 0; ; hop++) {
      const bad = checkUrlTarget(current, this.o.allowPrivateNetwork);
      if (bad) return { ok: false, url, finalUrl: current.href, reason: bad, detail: bad === 'bad_url' ? `scheme or host not allowed: ${current.protocol}` : `address ${current.hostname} is not public`, attempts };
      if (req.checkHop) {
        const reason = await req.checkHop(current);
        if (reason) return { ok: false, url, finalUrl: current.href, reason, detail: `refused by ${reason} check`, attempts };
      }
      let result: { kind: 'body'; status: number; contentType?: string; body: Buffer } | { kind: 'redirect'; location: string };
      try {
        result = await this.withRetries(current, req, () => attempts++);
      } catch (err) {
        if (err instanceof AttemptFailure) return { ok: false, url, finalUrl: current.href, reason: err.reason, detail: err.message, status: err.status, attempts };
        throw err;
      }
      if (result.kind === 'body') return { ok: true, url, finalUrl: current.href, status: result.status, contentType: result.contentType, body: result.body, attempts };
      if (hop >= this.o.maxRedirects) return { ok: false, url, finalUrl: current.href, reason: 'redirects', detail: `more than ${this.o.maxRedirects} redirects`, attempts };
      try {
        current = new URL(result.location, current);
      } catch {
        return { ok: false, url, finalUrl: current.href, reason: 'bad_url', detail: `bad redirect location '${result.location}'`, attempts };
      }
    }
  }

  private async withRetries(target: URL, req: FetchRequest, count: () => void) {
    for (let attempt = 0; ; attempt++) {
      count();
      try {
        return await this.attempt(target, req);
      } catch (err) {
        if (!(err instanceof AttemptFailure)) throw err;
        if (!err.retryable || attempt >= this.o.retries || req.signal?.aborted) throw err;
        const backoff = this.o.backoffMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
        if (err.retryAfterMs !== undefined && err.retryAfterMs > this.o.maxRetryAfterMs) throw err;
        const wait = Math.max(backoff, err.retryAfterMs ?? 0);
        try {
          await sleep(wait, undefined, { signal: req.signal });
        } catch {
          throw err;
        }
      }
    }
  }

  /** One request; throws AttemptFailure with the reason, or returns a body or a redirect. */
  private async attempt(target: URL, req: FetchRequest): Promise<{ kind: 'body'; status: number; contentType?: string; body: Buffer } | { kind: 'redirect'; location: string }> {
    const timer = new AbortController();
    let timedOut = false;
    const t = setTimeout(() => { timedOut = true; timer.abort(new Error('timeout')); }, this.o.timeoutMs);
    // one controller per attempt, fed by the run's signal through a listener removed afterwards
    // (AbortSignal.any on a long-lived signal accumulates dependants over millions of requests)
    const onStop = () => timer.abort(new Error('run stopping'));
    if (req.signal?.aborted) onStop();
    req.signal?.addEventListener('abort', onStop, { once: true });
    const signal = timer.signal;
    const maxBytes = req.maxBytes ?? this.o.maxBytes;
    let res: Dispatcher.ResponseData | undefined;
    let phase: 'connect' | 'body' = 'connect';
    try {
      res = await this.agent.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        headers: { 'user-agent': this.userAgent, accept: req.accept ?? '*/*', 'accept-encoding': 'identity' },
        signal,
      });
      const status = res.statusCode;
      const h = res.headers;
      if (REDIRECT.has(status)) {
        const location = header(h, 'location');
        await res.body.dump().catch(() => undefined);
        if (!location) throw new AttemptFailure('http_4xx', `redirect ${status} without Location`, false, status);
        return { kind: 'redirect', location };
      }
      if (status === 429 || status >= 500) {
        await res.body.dump().catch(() => undefined);
        throw new AttemptFailure(status === 429 ? 'http_4xx' : 'http_5xx', `HTTP ${status}`, true, status, parseRetryAfter(h['retry-after']));
      }
      if (status < 200 || status >= 300) {
        await res.body.dump().catch(() => undefined);
        throw new AttemptFailure(status >= 400 ? 'http_4xx' : 'error', `HTTP ${status}`, false, status);
      }
      if (req.honorXRobotsTag !== false) {
        const opt = xRobotsOptOut(h['x-robots-tag'], this.robotToken);
        if (opt) {
          drop(res.body);
          throw new AttemptFailure('noai', `X-Robots-Tag: ${opt}`, false, status);
        }
      }
      const declared = Number(header(h, 'content-length'));
      if (Number.isFinite(declared) && declared > maxBytes && !req.truncate) {
        drop(res.body);
        throw new AttemptFailure('too_large', `Content-Length ${declared} > ${maxBytes}`, false, status);
      }
      phase = 'body';
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          if (req.truncate) {
            chunks.push(chunk.subarray(0, chunk.length - (size - maxBytes)));
            drop(res.body);
            return { kind: 'body', status, contentType: header(h, 'content-type'), body: Buffer.concat(chunks, maxBytes) };
          }
          drop(res.body);
          throw new AttemptFailure('too_large', `body over ${maxBytes} bytes`, false, status);
        }
        chunks.push(chunk);
      }
      if (Number.isFinite(declared) && header(h, 'content-length') !== undefined && size !== declared) {
        throw new AttemptFailure('truncated', `body ${size} of ${declared} bytes`, false, status);
      }
      return { kind: 'body', status, contentType: header(h, 'content-type'), body: Buffer.concat(chunks, size) };
    } catch (err) {
      if (err instanceof AttemptFailure) throw err;
      if (res) drop(res.body);
      throw this.classify(err, phase, timedOut, req.signal?.aborted ?? false);
    } finally {
      clearTimeout(t);
      req.signal?.removeEventListener('abort', onStop);
    }
  }

  private classify(err: unknown, phase: 'connect' | 'body', timedOut: boolean, stopped: boolean): AttemptFailure {
    const code = errCode(err);
    const msg = (err as Error)?.message ?? String(err);
    if (stopped) return new AttemptFailure('error', 'aborted: run stopping', false);
    if (code === 'EWITBLOCKED') return new AttemptFailure('blocked_address', msg, false);
    if (timedOut || (code && TIMEOUT_CODES.has(code))) return new AttemptFailure('timeout', `timed out after ${this.o.timeoutMs} ms (${phase === 'body' ? 'reading the body' : 'waiting for the response'})`, true);
    if (code && DNS_CODES.has(code)) return new AttemptFailure('dns', msg, false);
    if (phase === 'body') return new AttemptFailure('truncated', `body cut short: ${msg}`, false);
    return new AttemptFailure('connect', `${code ?? ''} ${msg}`.trim(), false);
  }

  /**
   * Opens `url` as a byte stream (an input file served over http(s): WARC, WAT, url lists, Parquet),
   * with the same address guard and redirects as `fetch`, limited to `maxInputBytes` in all
   * (a larger Content-Length is refused at once) and `inputTimeoutMs` for the whole transfer; the
   * per-attempt timeout still applies to the headers and to each pause of the body. Throws (or the
   * stream fails with) an Error naming the url and the limit.
   */
  async openStream(url: string, signal?: AbortSignal): Promise<NodeJS.ReadableStream & AsyncIterable<Buffer>> {
    const { maxInputBytes, inputTimeoutMs } = this.o;
    const deadline = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; deadline.abort(new Error('input timeout')); }, inputTimeoutMs);
    const onStop = () => deadline.abort(signal?.reason);
    if (signal?.aborted) onStop();
    signal?.addEventListener('abort', onStop, { once: true });
    const done = () => { clearTimeout(timer); signal?.removeEventListener('abort', onStop); };
    const tooSlow = () => new Error(`transfer not finished after ${inputTimeoutMs} ms (--input-timeout-ms)`);
    let body: { stream: Dispatcher.ResponseData['body']; headersContentLength: string | undefined };
    try {
      body = await this.openBody(url, deadline.signal, signal);
    } catch (err) {
      done();
      throw timedOut ? tooSlow() : err;
    }
    const declared = Number(body.headersContentLength);
    if (Number.isFinite(declared) && declared > maxInputBytes) {
      done();
      drop(body.stream);
      throw new Error(`cannot open ${url}: Content-Length ${declared} is over the input limit of ${maxInputBytes} bytes (--max-input-bytes)`);
    }
    async function* limited(): AsyncGenerator<Buffer> {
      let size = 0;
      try {
        for await (const chunk of body.stream as AsyncIterable<Buffer>) {
          size += chunk.length;
          if (size > maxInputBytes) throw new Error(`more than ${maxInputBytes} bytes, the input limit (--max-input-bytes)`);
          yield chunk;
        }
      } catch (err) {
        throw timedOut ? tooSlow() : err;
      } finally {
        done();
        drop(body.stream);
      }
    }
    return Readable.from(limited(), { objectMode: false }) as unknown as NodeJS.ReadableStream & AsyncIterable<Buffer>;
  }

  /** The 2xx response body of `url` after redirects (the address guard on every hop). */
  private async openBody(url: string, requestSignal: AbortSignal, runSignal?: AbortSignal): Promise<{ stream: Dispatcher.ResponseData['body']; headersContentLength: string | undefined }> {
    let current = new URL(url);
    for (let hop = 0; hop <= this.o.maxRedirects; hop++) {
      const bad = checkUrlTarget(current, this.o.allowPrivateNetwork);
      if (bad) throw new Error(`cannot open ${url}: ${bad}`);
      let res: Dispatcher.ResponseData;
      try {
        res = await this.agent.request({
          origin: current.origin,
          path: `${current.pathname}${current.search}`,
          method: 'GET',
          headers: { 'user-agent': this.userAgent, accept: '*/*', 'accept-encoding': 'identity' },
          signal: requestSignal,
        });
      } catch (err) {
        const f = this.classify(err, 'connect', false, runSignal?.aborted ?? false);
        throw new Error(`cannot open ${url}: ${f.reason} (${f.message})`);
      }
      if (REDIRECT.has(res.statusCode)) {
        const location = header(res.headers, 'location');
        await res.body.dump().catch(() => undefined);
        if (!location) throw new Error(`cannot open ${url}: redirect without Location`);
        current = new URL(location, current);
        continue;
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        await res.body.dump().catch(() => undefined);
        throw new Error(`cannot open ${url}: HTTP ${res.statusCode}`);
      }
      return { stream: res.body, headersContentLength: header(res.headers, 'content-length') };
    }
    throw new Error(`cannot open ${url}: more than ${this.o.maxRedirects} redirects`);
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }
}
