import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { SafeFetcher } from '../../src/crawl/http/fetch.js';
import { RobotsCache } from '../../src/crawl/http/robots.js';
import { HostLimiter } from '../../src/crawl/http/host-limiter.js';
import { crawlSite } from '../../src/crawl/site.js';
import type { Candidate } from '../../src/crawl/types.js';

/** The waits the host limiter asks for (node:timers/promises' setTimeout), recorded and not slept. */
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
let fetcher: SafeFetcher;
beforeAll(async () => {
  srv = await startTestServer();
  fetcher = new SafeFetcher({ allowPrivateNetwork: true, timeoutMs: 30_000, retries: 0 }); // no page may time out on a loaded machine
  const page = (title: string, imgs: string[], links: string[]) =>
    `<!doctype html><html><head><title>${title}</title></head><body>${imgs.join('')}${links.map((l) => `<a href="${l}">link</a>`).join('')}</body></html>`;
  srv.setPage('/', page('home', ['<img src="/img/h1.jpg" alt="home  image\n one">', '<img src="data:image/png;base64,AA" alt="inline">', '<img src="/img/h2.jpg" alt="">'], ['/a.html', '/b.html', '/private/p.html', 'http://example.com/off-site', '/a.html#frag']));
  srv.setPage('/a.html', page('a', ['<img src="img/a1.jpg" alt="a one">'], ['/c.html']));
  srv.setPage('/b.html', page('b', ['<img src="/img/b1.jpg" alt="b one" title="b title">'], []));
  srv.setPage('/c.html', page('c', ['<img src="/img/c1.jpg" alt="c one">'], ['/d.html']));
  srv.setPage('/d.html', page('d', ['<img src="/img/d1.jpg" alt="d one">'], []));
  srv.setPage('/private/p.html', page('p', ['<img src="/img/p1.jpg" alt="private one">'], []));
  srv.setPage('/optout.html', '<html><head><meta name="robots" content="noai"></head><body><img src="/img/o.jpg" alt="opted out"><a href="/a.html">a</a></body></html>');
});
afterAll(async () => {
  await fetcher.close();
  await srv.close();
});

async function collect(it: AsyncIterable<Candidate>): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe('crawlSite', () => {
  it('walks the site breadth-first within depth, same host only, obeying robots.txt', async () => {
    const pages: Array<[string, string]> = [];
    const res = { fetcher, robots: new RobotsCache(fetcher), hosts: new HostLimiter() };
    const cands = await collect(crawlSite(srv.url('/'), res, { maxDepth: 2, onPage: (u, o) => pages.push([new URL(u).pathname, o]) }));
    expect(cands.map((c) => c.caption)).toEqual(['home image one', 'a one', 'b one', 'c one']);
    expect(cands[1]).toMatchObject({ url: srv.url('/img/a1.jpg'), page_url: srv.url('/a.html'), source: srv.url('/') });
    expect(pages).toEqual([['/', 'ok'], ['/a.html', 'ok'], ['/b.html', 'ok'], ['/private/p.html', 'robots'], ['/c.html', 'ok']]);
    expect(srv.hits.get('/private/p.html')).toBeUndefined();
  });

  it('stops at maxPages and honours meta robots opt-outs', async () => {
    const res = { fetcher, hosts: new HostLimiter() };
    const cands = await collect(crawlSite(srv.url('/'), res, { maxPages: 2, maxDepth: 5 }));
    expect(cands.map((c) => c.caption)).toEqual(['home image one', 'a one']);
    const opt = await collect(crawlSite(srv.url('/optout.html'), res, { maxDepth: 1 }));
    expect(opt.map((c) => c.caption)).toEqual(['a one']);
  });

  it('spaces page requests by Crawl-delay', async () => {
    srv.setRobots('User-agent: *\nCrawl-delay: 0.25\n');
    const res = { fetcher, robots: new RobotsCache(fetcher), hosts: new HostLimiter({ perHostConcurrency: 4 }) };
    const from = srv.log.length;
    // A frozen clock: the schedule the limiter asks for, whatever the load (the waits are recorded,
    // not slept): page 1 at once, page 2 a Crawl-delay later, page 3 two later.
    const now = vi.spyOn(Date, 'now').mockReturnValue(2_000_000);
    sleeps.length = 0;
    try {
      await collect(crawlSite(srv.url('/'), res, { maxPages: 3, maxDepth: 1 }));
    } finally {
      now.mockRestore();
    }
    const pages = srv.log.slice(from).filter((l) => l.path.endsWith('.html') || l.path === '/');
    expect(pages.length).toBe(3);
    expect([...sleeps].sort((a, b) => a - b)).toEqual([250, 500]);
    srv.setRobots('User-agent: *\nDisallow: /private/\n');
  });
});
