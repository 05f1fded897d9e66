/**
 * Cost growth of querygen's line and page scanners on one huge line or page (issue 28: tests count
 * work, this benchmark times it). For each of two sizes (10x apart) it times, best of 3 taken
 * alternately so that a busy machine slows both alike, a single-line pageview file through
 * parsePageviewFile and a single huge page through PageScanner in 64 KiB pieces, and prints the
 * times, their ratio (linear: ~10; the quadratic loops these replaced: ~100 and ~130) and the work
 * counters the tests bound (test/querygen/lines.test.ts).
 *
 *   npm run bench:querygen -- --lines [--small-mb 5]
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePageviewFile } from '../src/querygen/pageviews.js';
import { PageScanner } from '../src/querygen/xml-pages.js';

function hugeLineFile(dir: string, bytes: number): string {
  const f = join(dir, `pageviews-${bytes}`);
  const fd = openSync(f, 'w');
  writeSync(fd, 'en Before 100 0\nen ');
  const block = Buffer.alloc(1 << 20, 'x');
  for (let left = bytes; left > 0; left -= block.length) writeSync(fd, left >= block.length ? block : block.subarray(0, left));
  writeSync(fd, ' 100 0\nen After 100 0\n');
  closeSync(fd);
  return f;
}

function pageOf(bytes: number): string {
  const body = 'word '.repeat(Math.floor(bytes / 5));
  return `<mediawiki>\n<page>\n<title>T</title>\n<ns>0</ns>\n<revision><text>${body}</text></revision>\n</page>\n</mediawiki>\n`;
}

function scanPage(xml: string): number {
  const sc = new PageScanner(() => undefined);
  for (let i = 0; i < xml.length; i += 65536) sc.push(xml.slice(i, i + 65536));
  sc.end();
  return sc.work;
}

interface Row { what: string; smallMs: number; bigMs: number; smallWork: number; bigWork: number }

async function timeBoth(small: () => Promise<number> | number, big: () => Promise<number> | number): Promise<Omit<Row, 'what'>> {
  let smallMs = Infinity;
  let bigMs = Infinity;
  let smallWork = 0;
  let bigWork = 0;
  for (let i = 0; i < 3; i++) {
    let t = performance.now();
    smallWork = await small();
    smallMs = Math.min(smallMs, performance.now() - t);
    t = performance.now();
    bigWork = await big();
    bigMs = Math.min(bigMs, performance.now() - t);
  }
  return { smallMs, bigMs, smallWork, bigWork };
}

export async function linesBench(argv: string[]): Promise<void> {
  const i = argv.indexOf('--small-mb');
  const smallMb = i >= 0 ? Number(argv[i + 1]) : 5;
  const dir = mkdtempSync(join(tmpdir(), 'wit-bench-lines-'));
  try {
    const rows: Row[] = [];
    const opts = { domains: ['en'], minHourlyViews: 50 };
    const small = hugeLineFile(dir, smallMb << 20);
    const big = hugeLineFile(dir, (smallMb * 10) << 20);
    rows.push({ what: 'pageview file, one huge line', ...(await timeBoth(async () => (await parsePageviewFile(small, opts)).splitWork, async () => (await parsePageviewFile(big, opts)).splitWork)) });
    const ps = pageOf(smallMb << 20);
    const pb = pageOf((smallMb * 10) << 20);
    rows.push({ what: 'XML, one huge page in 64 KiB pieces', ...(await timeBoth(() => scanPage(ps), () => scanPage(pb))) });
    const head = ['input', `${smallMb} MB ms`, `${smallMb * 10} MB ms`, 'time ratio', 'work ratio'];
    const body = rows.map((r) => [r.what, r.smallMs.toFixed(0), r.bigMs.toFixed(0), (r.bigMs / r.smallMs).toFixed(1), (r.bigWork / r.smallWork).toFixed(2)]);
    const w = head.map((h, k) => Math.max(h.length, ...body.map((b) => b[k]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, k) => (k === 0 ? c.padEnd(w[k]!) : c.padStart(w[k]!))).join(' | ')} |`;
    process.stdout.write(`\nquerygen line/page scanning: 10x the data (best of 3; linear is ~10x, the quadratic loops were ~100x)\n\n`);
    process.stdout.write([line(head), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...body.map(line)].join('\n') + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
