/** Directives of X-Robots-Tag that forbid using an image (or a page's images) for a dataset. */
export const OPT_OUT_DIRECTIVES = ['noai', 'noimageai', 'noindex', 'noimageindex', 'none'] as const;

/**
 * The opt-out directive an X-Robots-Tag header value sets for our robot, or undefined.
 * Values are comma-separated directives, optionally scoped to a bot (`otherbot: noindex`); a
 * scope applies until the next scope, and scopes naming another robot are ignored. `robotToken`
 * is our user agent's product token, lower case (e.g. `wit`).
 */
export function xRobotsOptOut(header: string | string[] | undefined, robotToken: string): string | undefined {
  if (header === undefined) return undefined;
  const values = Array.isArray(header) ? header : [header];
  for (const value of values) {
    let scope: string | undefined;
    for (const rawPart of value.split(',')) {
      let part = rawPart.trim().toLowerCase();
      const m = /^([a-z0-9_.\-]+)\s*:\s*(.*)$/.exec(part);
      // `unavailable_after: date` is a directive with a value, not a scope
      if (m && m[1] !== 'unavailable_after' && m[1] !== 'max-snippet' && m[1] !== 'max-image-preview' && m[1] !== 'max-video-preview') {
        scope = m[1];
        part = m[2]!.trim();
      }
      if (scope !== undefined && scope !== robotToken) continue;
      for (const d of part.split(/\s+/)) {
        if ((OPT_OUT_DIRECTIVES as readonly string[]).includes(d)) return d;
      }
    }
  }
  return undefined;
}

/** The robots.txt product token of a user agent: `wit/0.1 (+url)` -> `wit`. */
export function robotToken(userAgent: string): string {
  return (userAgent.trim().split(/[\s/]/)[0] ?? '').toLowerCase() || '*';
}
