import { isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';
import ipaddr from 'ipaddr.js';

/**
 * Which addresses a crawl may reach unless `allowPrivateNetwork` is set (docs/DESIGN-NOTES.md, "Safety").
 * Ranges come from ipaddr.js (IANA special-purpose registries): only its `unicast` range is public.
 * Loopback, private, carrier-grade NAT, link-local (the cloud metadata endpoint 169.254.169.254),
 * unique-local, site-local, multicast, documentation, benchmarking and reserved ranges are refused.
 *
 * IPv6 forms that carry an IPv4 address are judged by that IPv4 address, so that no spelling of
 * 127.0.0.1 or 10.x gets through: IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`,
 * IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:AABB:CCDD::/48`. The local-use
 * NAT64 prefix `64:ff9b:1::/48` (its IPv4 position depends on a prefix length only the operator
 * knows) and Teredo `2001::/32` (obsolete tunnelling) are refused whole.
 */
const PUBLIC_V4 = new Set(['unicast']);

/** The IPv4 address in the low 32 bits of an IPv6 address. */
function low32(v6: ipaddr.IPv6): ipaddr.IPv4 {
  const p = v6.parts;
  return new ipaddr.IPv4([p[6]! >> 8, p[6]! & 255, p[7]! >> 8, p[7]! & 255]);
}

/**
 * The IPv4 address an IPv6 address embeds, `null` for an IPv6 range refused whole (local-use
 * NAT64, Teredo), or undefined when it embeds none.
 */
export function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 | null | undefined {
  const p = v6.parts;
  const range = v6.range();
  if (range === 'ipv4Mapped' || range === 'rfc6145') return low32(v6);
  if (range === 'rfc6052') return p[2] === 0 ? low32(v6) : null; // 64:ff9b::/96, else 64:ff9b:1::/48
  if (range === '6to4') return new ipaddr.IPv4([p[1]! >> 8, p[1]! & 255, p[2]! >> 8, p[2]! & 255]);
  if (range === 'teredo') return null;
  // IPv4-compatible ::a.b.c.d (deprecated, RFC 4291 2.5.5.1); :: and ::1 keep their own ranges
  if (p.slice(0, 6).every((x) => x === 0) && (p[6] !== 0 || p[7]! > 1)) return low32(v6);
  return undefined;
}

/**
 * True when `address` (an IP literal, brackets and zone allowed) is not a public unicast address:
 * loopback, private, link-local, metadata, multicast, reserved, or an IPv6 form embedding such an
 * IPv4 address. Anything that is not an IP literal counts as blocked.
 */
export function isBlockedAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const kind = isIP(bare);
  if (kind === 0) return true;
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(bare);
  } catch {
    return true;
  }
  if (ip.kind() === 'ipv4') return !PUBLIC_V4.has(ip.range());
  const v6 = ip as ipaddr.IPv6;
  const v4 = embeddedIPv4(v6);
  if (v4 === null) return true;
  if (v4) return !PUBLIC_V4.has(v4.range());
  return v6.range() !== 'unicast';
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
