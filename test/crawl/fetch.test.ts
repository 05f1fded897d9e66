import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { SafeFetcher, DEFAULT_USER_AGENT, parseRetryAfter } from '../../src/crawl/http/fetch.js';
import { isBlockedAddress } from '../../src/crawl/http/address-guard.js';
import { RobotsCache } from '../../src/crawl/http/robots.js';
import { HostLimiter } from '../../src/crawl/http/host-limiter.js';
import { xRobotsOptOut } from '../../src/crawl/http/x-robots-tag.js';

/**
 * The waits the fetcher and the host limiter ask for (node:timers/promises' setTimeout), recorded and
 * not slept: the tests assert the schedule asked for, not the time that passed (which a loaded
 * machine stretches). Request timeouts use the global setTimeout and stay real.
 */
const sleeps = vi.hoisted(() => [] as number[]);
vi.mock('node:timers/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:timers/promises')>();
  return {
    ...real,
    setTimeout: async <T>(ms?: number, value?: T, opts?: { signal?: AbortSignal }) => {
      sleeps.push(ms ?? 0);
      opts?.signal?.throwIfAborted();
      return value as T;
    },
  };
});

let srv: TestServer;
let f: SafeFetcher;
beforeAll(async () => {
  srv = await startTestServer();
  f = new SafeFetcher({ allowPrivateNetwork: true, timeoutMs: 5000, retries: 2, backoffMs: 20, maxBytes: 2 * 1024 * 1024 });
});
afterAll(async () => {
  await f.close();
  await srv.close();
});

describe('SafeFetcher', () => {
  it('downloads an image with our user agent', async () => {
    const r = await f.fetch(srv.url('/img/a.jpg?w=80&h=60'));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.body.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    expect(srv.log.find((l) => l.path.startsWith('/img/a.jpg'))?.ua).toBe(DEFAULT_USER_AGENT);
  });

  it('maps statuses to http_4xx / http_5xx, retrying only 5xx and 429', async () => {
    const r404 = await f.fetch(srv.url('/status/404'));
    expect(r404).toMatchObject({ ok: false, reason: 'http_4xx', status: 404, attempts: 1 });
    const r500 = await f.fetch(srv.url('/status/500'));
    expect(r500).toMatchObject({ ok: false, reason: 'http_5xx', status: 500, attempts: 3 });
    expect(srv.hits.get('/status/500')).toBe(3);
  });

  it('honours Retry-After on 429 and 503 then succeeds', async () => {
    sleeps.length = 0;
    const r = await f.fetch(srv.url('/flaky/ra?fail=1&status=429&ra=1'));
    expect(r.ok).toBe(true);
    // Retry-After: 1 outweighs the 20 ms backoff: one wait of exactly 1000 ms before the retry
    expect(sleeps).toEqual([1000]);
    expect(srv.hits.get('/flaky/ra')).toBe(2);
    const r2 = await f.fetch(srv.url('/flaky/x5?fail=2&status=503'));
    expect(r2).toMatchObject({ ok: true, attempts: 3 });
  });

  it('gives up at once when Retry-After is longer than allowed', async () => {
    const g = new SafeFetcher({ allowPrivateNetwork: true, retries: 3, backoffMs: 10, maxRetryAfterMs: 2000 });
    const r = await g.fetch(srv.url('/status/429?ra=3600'));
    expect(r).toMatchObject({ ok: false, reason: 'http_4xx', attempts: 1 });
    await g.close();
  });

  it('times out stalled bodies and slow headers (retried, then timeout)', async () => {
    const g = new SafeFetcher({ allowPrivateNetwork: true, timeoutMs: 300, retries: 1, backoffMs: 10 });
    const r = await g.fetch(srv.url('/stall.jpg'));
    expect(r).toMatchObject({ ok: false, reason: 'timeout', attempts: 2 });
    if (!r.ok) expect(r.detail).toMatch(/reading the body/);
    expect(srv.hits.get('/stall.jpg')).toBe(2); // each attempt ended by its timer, then retried once
    const s = await g.fetch(srv.url('/slow/a.jpg?ms=1000'));
    expect(s).toMatchObject({ ok: false, reason: 'timeout' });
    if (!s.ok) expect(s.detail).toMatch(/waiting for the response/);
    await g.close();
  });

  it('reports truncated bodies', async () => {
    const r = await f.fetch(srv.url('/truncated.jpg'));
    expect(r).toMatchObject({ ok: false, reason: 'truncated' });
  });

  it('stops redirect loops after 5 redirects and follows short chains', async () => {
    const r = await f.fetch(srv.url('/loop/0'));
    expect(r).toMatchObject({ ok: false, reason: 'redirects' });
    expect(srv.hits.get('/loop/5')).toBe(1);
    expect(srv.hits.get('/loop/6')).toBeUndefined();
    const ok = await f.fetch(srv.url(`/redirect?to=${encodeURIComponent('/img/r.jpg')}`));
    expect(ok).toMatchObject({ ok: true, finalUrl: srv.url('/img/r.jpg') });
    const bad = await f.fetch(srv.url(`/redirect?to=${encodeURIComponent('file:///etc/passwd')}`));
    expect(bad).toMatchObject({ ok: false, reason: 'bad_url' });
  });

  it('enforces max bytes by Content-Length and while streaming', async () => {
    const big = await f.fetch(srv.url('/huge-cl.jpg'));
    expect(big).toMatchObject({ ok: false, reason: 'too_large' });
    const stream = await f.fetch(srv.url('/huge.jpg'));
    expect(stream).toMatchObject({ ok: false, reason: 'too_large' });
    if (!stream.ok) expect(stream.detail).toMatch(/body over/);
  });

  it('refuses X-Robots-Tag opt-outs before reading the body', async () => {
    for (const d of ['noai', 'noimageai', 'noindex', 'noimageindex']) {
      expect(await f.fetch(srv.url(`/xrt/${d}/a.jpg`))).toMatchObject({ ok: false, reason: 'noai' });
    }
    expect(await f.fetch(srv.url('/xrt/nofollow/a.jpg'))).toMatchObject({ ok: true });
    expect(xRobotsOptOut('otherbot: noai, wit: nofollow', 'wit')).toBeUndefined();
    expect(xRobotsOptOut(['nofollow', 'wit: noimageai'], 'wit')).toBe('noimageai');
    expect(xRobotsOptOut('unavailable_after: 25 Jun 2010 15:00:00 PST, noindex', 'wit')).toBe('noindex');
  });

  it('classifies refused connections, bad urls and dns failures', async () => {
    const dead = await f.fetch('http://127.0.0.1:1/x.jpg');
    expect(dead).toMatchObject({ ok: false, reason: 'connect' });
    expect(await f.fetch('ftp://127.0.0.1/x.jpg')).toMatchObject({ ok: false, reason: 'bad_url' });
    expect(await f.fetch('not a url')).toMatchObject({ ok: false, reason: 'bad_url' });
    const g = new SafeFetcher({ allowPrivateNetwork: true, resolver: async (h) => { const e = new Error(`getaddrinfo ENOTFOUND ${h}`) as NodeJS.ErrnoException; e.code = 'ENOTFOUND'; throw e; } });
    expect(await g.fetch('http://no-such-host.invalid/x.jpg')).toMatchObject({ ok: false, reason: 'dns' });
    await g.close();
  });

  it('parses Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('SSRF guard', () => {
  it('refuses loopback, private, link-local and metadata targets without the flag', async () => {
    const g = new SafeFetcher({ timeoutMs: 1000 });
    expect(await g.fetch(srv.url('/img/a.jpg'))).toMatchObject({ ok: false, reason: 'blocked_address' });
    expect(await g.fetch(`http://localhost:${srv.port}/img/a.jpg`)).toMatchObject({ ok: false, reason: 'blocked_address' });
    expect(await g.fetch('http://169.254.169.254/latest/meta-data/')).toMatchObject({ ok: false, reason: 'blocked_address' });
    expect(await g.fetch('http://[::1]/')).toMatchObject({ ok: false, reason: 'blocked_address' });
    expect(await g.fetch('http://[::ffff:127.0.0.1]/')).toMatchObject({ ok: false, reason: 'blocked_address' });
    await g.close();
  });

  it('refuses a public-looking name that resolves to 127.0.0.1, also after a redirect', async () => {
    const resolver = async (h: string) => (h === 'evil.example' ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '93.184.215.14', family: 4 }]);
    const g = new SafeFetcher({ timeoutMs: 1000, resolver });
    expect(await g.fetch(`http://evil.example:${srv.port}/img/a.jpg`)).toMatchObject({ ok: false, reason: 'blocked_address' });
    await g.close();
    // a permitted first hop that redirects to a private address is refused at the hop
    const h = new SafeFetcher({ timeoutMs: 1000, allowPrivateNetwork: true });
    const seen: string[] = [];
    const r = await h.fetch(srv.url(`/redirect?to=${encodeURIComponent('http://10.0.0.1/x.jpg')}`), {
      checkHop: async (u) => { seen.push(u.href); return undefined; },
    });
    expect(seen).toEqual([srv.url(`/redirect?to=${encodeURIComponent('http://10.0.0.1/x.jpg')}`), 'http://10.0.0.1/x.jpg']);
    expect(r.ok).toBe(false);
    await h.close();
    const strict = new SafeFetcher({ timeoutMs: 1000, resolver: async () => [{ address: '127.0.0.1', family: 4 }] });
    expect(await strict.fetch(`http://public.example:${srv.port}/redirect?to=http://10.1.2.3/`)).toMatchObject({ reason: 'blocked_address' });
    await strict.close();
  });

  it('classifies addresses', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1', '::ffff:7f00:1', '224.0.0.1']) {
      expect(isBlockedAddress(a), a).toBe(true);
    }
    for (const a of ['93.184.215.14', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) expect(isBlockedAddress(a), a).toBe(false);
  });
});

describe('robots.txt and politeness', () => {
  it('obeys robots.txt, fetches it once per origin, and reads Crawl-delay', async () => {
    srv.setRobots('User-agent: *\nDisallow: /private/\n\nUser-agent: wit\nDisallow: /private/\nDisallow: /nowit/\nCrawl-delay: 0.2\n');
    const rc = new RobotsCache(f);
    const before = srv.hits.get('/robots.txt') ?? 0;
    const [a, b, c] = await Promise.all([rc.check(srv.url('/img/a.jpg')), rc.check(srv.url('/private/a.jpg')), rc.check(srv.url('/nowit/a.jpg'))]);
    expect(a).toEqual({ refused: undefined, crawlDelayMs: 200 });
    expect(b.refused).toBe('robots');
    expect(c.refused).toBe('robots');
    expect((srv.hits.get('/robots.txt') ?? 0) - before).toBe(1);
    srv.setRobots('User-agent: *\nDisallow: /private/\n');
  });

  it('parses only the first bytes of an oversized robots.txt', async () => {
    srv.setRobots('User-agent: *\nDisallow: /private/\n' + '# padding\n'.repeat(1000) + 'Disallow: /img/\n');
    const rc = new RobotsCache(f, { maxBytes: 1000 });
    expect((await rc.check(srv.url('/private/a.jpg'))).refused).toBe('robots');
    expect((await rc.check(srv.url('/img/a.jpg'))).refused).toBeUndefined();
    srv.setRobots('User-agent: *\nDisallow: /private/\n');
  });

  it('treats a missing robots.txt as allow-all and a 5xx robots.txt as disallow-all', async () => {
    srv.setRobots(null);
    const rc = new RobotsCache(f);
    expect((await rc.check(srv.url('/private/a.jpg'))).refused).toBeUndefined();
    srv.setRobots('User-agent: *\nDisallow: /private/\n');
    const g = new SafeFetcher({ allowPrivateNetwork: true, retries: 0 });
    const rc2 = new RobotsCache(g);
    // a host that does not listen: the verdict carries the network reason
    expect((await rc2.check('http://127.0.0.1:1/a.jpg')).refused).toBe('connect');
    await g.close();
  });

  it('spaces requests to one host by the per-host delay', async () => {
    // a frozen clock: every request is scheduled at the same instant, so each waits its full spacing
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_000_000);
    try {
      const hl = new HostLimiter({ perHostConcurrency: 4, perHostDelayMs: 100 });
      sleeps.length = 0;
      let ran = 0;
      await Promise.all([0, 1, 2, 3].map(() => hl.run('h', 0, async () => { ran++; })));
      expect(ran).toBe(4);
      expect([...sleeps].sort((a, b) => a - b)).toEqual([100, 200, 300]);
      // another host is not delayed by the first (on h's schedule it would wait 400 ms)
      sleeps.length = 0;
      await hl.run('other', 0, async () => undefined);
      expect(sleeps).toEqual([]);
      // a host's own delay (Crawl-delay) raises its spacing
      await Promise.all([0, 1].map(() => hl.run('slow-host', 250, async () => undefined)));
      expect(sleeps).toEqual([250]);
    } finally {
      now.mockRestore();
    }
  });
});
