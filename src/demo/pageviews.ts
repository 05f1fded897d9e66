import { gzipSync } from 'node:zlib';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '../util/rng.js';
import { tempOwner } from '../util/output.js';

/** What goes into the generated hourly pageview files. */
export interface PageviewOptions {
  /** Titles that must reach the title threshold (each hour >= minHourly, summed >= the min views). */
  popular: readonly string[];
  /** Other article titles: most stay under the hourly floor, as the long tail does on Wikipedia. */
  others: readonly string[];
  /** First hour, UTC. */
  start?: Date;
  /** Number of hourly files. */
  hours?: number;
  /** Hourly floor the query generator applies (MetaCLIP: 50). */
  minHourly?: number;
  seed?: number;
}

/** `Grinning face` -> `Grinning_face`, as titles appear in pageview files. */
export function pageviewTitle(title: string): string {
  return title.replace(/ /g, '_');
}

/** `pageviews-20240101-030000.gz` for the hour starting at `d` (UTC). */
export function pageviewFileName(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `pageviews-${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}0000.gz`;
}

/**
 * Writes Wikimedia hourly pageview files (`domain_code page_title count_views total_response_size`,
 * gzip, sorted by domain then title as the real ones are) into `dir`; returns their paths.
 * Besides English desktop (`en`) lines they hold mobile (`en.m`), other wikis, titles with ':'
 * (special pages) and counts under the hourly floor: everything a reader must filter out.
 */
export async function writePageviews(dir: string, opts: PageviewOptions): Promise<string[]> {
  const rng = new Rng(opts.seed ?? 7);
  const hours = opts.hours ?? 3;
  const floor = opts.minHourly ?? 50;
  const start = opts.start ?? new Date(Date.UTC(2024, 0, 1, 0));
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let h = 0; h < hours; h++) {
    const lines: string[] = [];
    const add = (domain: string, title: string, views: number) => lines.push(`${domain} ${pageviewTitle(title)} ${views} 0`);
    for (const t of opts.popular) {
      add('en', t, floor + rng.between(0, 400));
      add('en.m', t, rng.between(1, 900));
    }
    for (const t of opts.others) {
      // A Zipf-like tail: a few articles are popular, most are read a handful of times an hour.
      const v = Math.floor(2000 / (1 + rng.between(0, 400)) ** 1.2);
      if (v > 0) add('en', t, v);
      if (rng.chance(0.3)) add('de', t, rng.between(1, 80));
    }
    add('en', 'Main_Page', 250_000 + rng.between(0, 10_000));
    add('en', 'Special:Search', 90_000 + rng.between(0, 1000));
    add('en', 'Wikipedia:About', 300 + rng.between(0, 50));
    add('en', '-', 5000);
    add('commons.m', 'File:Example.jpg', 120);
    add('en.d', 'face', 77);
    lines.sort((a, b) => {
      const [da, ta] = a.split(' ', 2);
      const [db, tb] = b.split(' ', 2);
      return da! < db! ? -1 : da! > db! ? 1 : ta! < tb! ? -1 : ta! > tb! ? 1 : 0;
    });
    const d = new Date(start.getTime() + h * 3_600_000);
    const path = join(dir, pageviewFileName(d));
    const tmp = join(dir, `.${pageviewFileName(d)}.tmp-${tempOwner()}`);
    await writeFile(tmp, gzipSync(lines.join('\n') + '\n'));
    await rename(tmp, path);
    paths.push(path);
  }
  return paths;
}
