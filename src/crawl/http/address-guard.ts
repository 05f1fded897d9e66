import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';

/**
 * Address ranges no crawl may reach unless `allowPrivateNetwork` is set: loopback, private,
 * carrier-grade NAT, link-local (which holds the cloud metadata endpoint 169.254.169.254),
 * unique-local and site-local IPv6, multicast, documentation and reserved ranges.
 * IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::/96) IPv6 addresses are judged by their IPv4 part.
 */
const BLOCKED = (() => {
  const b = new BlockList();
  const v4: Array<[string, number]> = [
    ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
    ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16],
    ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
  ];
  for (const [net, bits] of v4) b.addSubnet(net, bits, 'ipv4');
  const v6: Array<[string, number]> = [
    ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
    ['100::', 64], ['2001:db8::', 32], ['2001::', 23],
  ];
  for (const [net, bits] of v6) b.addSubnet(net, bits, 'ipv6');
  return b;
})();

/** The IPv4 address embedded in an IPv4-mapped or NAT64 IPv6 address, else undefined. */
function embeddedV4(addr: string): string | undefined {
  const a = addr.toLowerCase();
  const m = /^(?:::ffff:|64:ff9b::)(?:0:)?(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (m) return m[1];
  const h = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (h) {
    const hi = parseInt(h[1]!, 16);
    const lo = parseInt(h[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/**
 * True when `address` (an IP literal) is loopback, private, link-local, metadata, multicast or
 * otherwise not a public unicast address. Anything that is not an IP literal counts as blocked.
 */
export function isBlockedAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const kind = isIP(bare);
  if (kind === 4) return BLOCKED.check(bare, 'ipv4');
  if (kind === 6) {
    const v4 = embeddedV4(bare);
    if (v4) return BLOCKED.check(v4, 'ipv4');
    return BLOCKED.check(bare, 'ipv6');
  }
  return true;
}

/** Error thrown by the guarded lookup; its code tells the fetcher to report `blocked_address`. */
export class BlockedAddressError extends Error {
  readonly code = 'EWITBLOCKED';
  constructor(readonly host: string, readonly address: string) {
    super(`refusing to connect to ${host} (${address}): private, loopback, link-local or reserved address`);
  }
}

/** One resolved address, as `dns.lookup(..., {all: true})` gives them. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to its addresses (injectable so tests can map names to 127.0.0.1). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system resolver (getaddrinfo through libuv), all addresses. */
export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (err, addrs) => (err ? reject(err) : resolve(addrs)));
  });

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | ResolvedAddress[], family?: number) => void;

/**
 * A `lookup` function for `net.connect` (undici's `connect.lookup`) that resolves the name
 * itself and refuses blocked addresses unless `allowPrivateNetwork`. Checking at connect time,
 * on the very addresses the socket will use, also covers every redirect hop and defeats DNS
 * rebinding between a check and the connect.
 */
export function guardedLookup(allowPrivateNetwork: boolean, resolver: Resolver = systemResolver) {
  return (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    resolver(hostname).then(
      (addrs) => {
        let usable = addrs;
        if (!allowPrivateNetwork) {
          usable = addrs.filter((a) => !isBlockedAddress(a.address));
          if (!usable.length) {
            callback(new BlockedAddressError(hostname, addrs[0]?.address ?? '?') as unknown as NodeJS.ErrnoException, '', 4);
            return;
          }
        }
        if (!usable.length) {
          const e = new Error(`getaddrinfo ENOTFOUND ${hostname}`) as NodeJS.ErrnoException;
          e.code = 'ENOTFOUND';
          callback(e, '', 4);
          return;
        }
        if (options.all) callback(null, usable);
        else callback(null, usable[0]!.address, usable[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 4),
    );
  };
}

/**
 * Checks a url before any connection: only http/https, and an IP-literal host (which skips DNS,
 * hence the lookup guard) must not be blocked. Returns undefined when fine, else the reason.
 */
export function checkUrlTarget(url: URL, allowPrivateNetwork: boolean): 'bad_url' | 'blocked_address' | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'bad_url';
  if (!url.hostname) return 'bad_url';
  if (url.username || url.password) return 'bad_url';
  if (allowPrivateNetwork) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && isBlockedAddress(host)) return 'blocked_address';
  return undefined;
}
