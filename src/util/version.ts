/** wit's version, read once from package.json so it is written in one place. */
import { readFileSync } from 'node:fs';

/** wit's npm package name (the command stays `wit`; `wit` on npm is an unrelated package). */
export const PACKAGE_NAME = 'wit-clip';

function readVersion(): string {
  // src/util/version.ts and dist/src/util/version.js both find package.json by walking up.
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === PACKAGE_NAME && pkg.version) return pkg.version;
    } catch { /* try the next */ }
  }
  return '0.0.0';
}

/** e.g. "0.1.0". */
export const VERSION: string = readVersion();
/** The crawler's default User-Agent; its first word is the robots.txt product token. */
export const DEFAULT_USER_AGENT = `wit/${VERSION.split('.').slice(0, 2).join('.')} (+https://github.com/wit-corpus/wit)`;
