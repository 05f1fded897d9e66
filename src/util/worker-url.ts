import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * URL of a worker-thread entry module that sits beside `metaUrl`. Worker threads need plain
 * JavaScript, so when the caller runs from TypeScript sources (vitest, tsx) this points at the
 * compiled twin under dist/ (`npm run build`, which `npm test` runs first).
 * Throws when neither exists.
 */
export function workerUrl(metaUrl: string, relative: string): URL {
  const js = relative.replace(/\.ts$/, '.js');
  const here = new URL(js, metaUrl);
  if (!metaUrl.endsWith('.ts')) return here;
  const path = fileURLToPath(here);
  const marker = `${'/'}src${'/'}`;
  const idx = path.lastIndexOf(marker);
  if (idx >= 0) {
    const compiled = path.slice(0, idx) + '/dist/src/' + path.slice(idx + marker.length);
    if (existsSync(compiled)) return pathToFileURL(compiled);
  }
  if (existsSync(path)) return here;
  throw new Error(`worker module ${js} not built: run \`npm run build\``);
}
