import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { SafeFetcher } from '../../src/crawl/http/fetch.js';
import { isBlockedAddress } from '../../src/crawl/http/address-guard.js';

/** IPv6 spellings of private, loopback and link-local IPv4 addresses, and ranges refused whole. */
const EMBEDDED_PRIVATE: Array<[string, string]> = [
  ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
  ['::ffff:7f00:1', 'IPv4-mapped loopback, hex'],
  ['::ffff:a9fe:a9fe', 'IPv4-mapped metadata 169.254.169.254'],
  ['::ffff:0:7f00:1', 'IPv4-translated (RFC 6145) loopback'],
  ['::ffff:0:10.0.0.1', 'IPv4-translated private'],
  ['::7f00:1', 'IPv4-compatible loopback'],
  ['::127.0.0.1', 'IPv4-compatible loopback, dotted'],
  ['::c0a8:101', 'IPv4-compatible 192.168.1.1'],
  ['2002:7f00:1::1', '6to4 of 127.0.0.1'],
  ['2002:a00:1::', '6to4 of 10.0.0.1'],
  ['2002:a9fe:a9fe:1:2:3:4:5', '6to4 of 169.254.169.254'],
  ['64:ff9b::7f00:1', 'NAT64 of 127.0.0.1'],
  ['64:ff9b::10.1.2.3', 'NAT64 of 10.1.2.3'],
  ['64:ff9b::a9fe:a9fe', 'NAT64 of the metadata address'],
  ['64:ff9b:1::a00:1', 'local-use NAT64 (refused whole)'],
  ['64:ff9b:1:ffff::808:808', 'local-use NAT64 (refused whole)'],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo (refused whole)'],
  ['[::ffff:0:7f00:1]', 'bracketed'],
  ['fe80::1%eth0', 'link-local with a zone'],
];

const PUBLIC = ['8.8.8.8', '93.184.215.14', '2606:4700::1111', '::ffff:8.8.8.8', '::ffff:0:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '::808:808'];

describe('address guard: IPv6 forms embedding an IPv4 address', () => {
  it.each(EMBEDDED_PRIVATE)('refuses %s (%s)', (address) => {
    expect(isBlockedAddress(address)).toBe(true);
  });

  it('still refuses the plain forms and lets public addresses through, embedded or not', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '169.254.169.254', '100.64.0.1', '0.0.0.0', '255.255.255.255', '::', '::1', 'fd00::1', 'fec0::1', 'ff02::1', '2001:db8::1', '100::1', 'not-an-ip']) {
      expect(isBlockedAddress(a), a).toBe(true);
    }
    for (const a of PUBLIC) expect(isBlockedAddress(a), a).toBe(false);
  });
});

describe('address guard on the real fetch path', () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer(); });
  afterAll(async () => { await srv.close(); });

  it.each(EMBEDDED_PRIVATE.filter(([a]) => !a.includes('%')))('a name resolving to %s is refused as blocked_address', async (address) => {
    const bare = address.replace(/^\[|\]$/g, '');
    const g = new SafeFetcher({ timeoutMs: 2000, retries: 0, resolver: async () => [{ address: bare, family: 6 }] });
    try {
      const r = await g.fetch(`http://images.example:${srv.port}/img/a.jpg`);
      expect(r).toMatchObject({ ok: false, reason: 'blocked_address' });
    } finally {
      await g.close();
    }
  });

  it.each(EMBEDDED_PRIVATE.filter(([a]) => !a.includes('%')))('an url with the literal host [%s] is refused before connecting', async (address) => {
    const bare = address.replace(/^\[|\]$/g, '');
    const g = new SafeFetcher({ timeoutMs: 2000, retries: 0 });
    try {
      const r = await g.fetch(`http://[${bare}]:${srv.port}/img/a.jpg`);
      expect(r).toMatchObject({ ok: false, reason: 'blocked_address', attempts: 0 });
    } finally {
      await g.close();
    }
  });

  it('the same fetcher with allowPrivateNetwork reaches the server through ::ffff:127.0.0.1', async () => {
    const g = new SafeFetcher({ timeoutMs: 30_000, retries: 0, allowPrivateNetwork: true, resolver: async () => [{ address: '::ffff:127.0.0.1', family: 6 }] });
    try {
      const r = await g.fetch(`http://images.example:${srv.port}/img/a.jpg`);
      expect(r.ok).toBe(true);
    } finally {
      await g.close();
    }
  });
});
