/**
 * bench/dedup: the crawl's duplicate filter (src/crawl/dedupe.ts) on distinct synthetic pairs: the
 * measured false-duplicate rate (every "seen" answer is wrong, since every pair is new), the estimate the
 * crawl prints, the filter's memory, and keys/s with and without hashing the pair.
 *
 * Rows: the default filter (first level 2^20) at --keys pairs, and the same filter scaled to 10^9 pairs
 * (first level and key count divided alike, which keeps the number of levels and their fill), whose
 * memory is projected back to 10^9 pairs (it is proportional to the first level's size).
 *
 *   npm run bench:dedup [-- --keys 10000000 --scaled-keys 10000000]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { ScalableBloom, dedupeKey, keyWords } from '../src/crawl/dedupe.js';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000000' },
    'scaled-keys': { type: 'string', default: '10000000' },
    'error-rate': { type: 'string', default: '0.01' },
  },
});
const KEYS = Number(values.keys);
const SCALED_KEYS = Number(values['scaled-keys']);
const ERROR_RATE = Number(values['error-rate']);
const DEFAULT_CAPACITY = 2 ** 20;
const TARGET = 1e9;

interface Row {
  name: string;
  keys: number;
  capacity: number;
  levels: number;
  mib: number;
  projectedGiB: number;
  measured: number;
  estimated: number;
  keysPerSec: number;
  hashedKeysPerSec: number;
}

/** Adds `n` distinct pairs: hashes them as the crawl does (sha224 of url and caption) and asks the filter. */
function run(name: string, n: number, capacity: number, scaleTo: number): Row {
  const bloom = new ScalableBloom(capacity, ERROR_RATE);
  let wrong = 0;
  let filterMs = 0;
  const t0 = performance.now();
  const batch = 100_000;
  const words = new Uint32Array(batch * 4);
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    for (let i = 0; i < m; i++) {
      const [a, b, c, d] = keyWords(dedupeKey(`https://img.example.org/${start + i}.jpg`, `a photo number ${start + i}`));
      words[i * 4] = a; words[i * 4 + 1] = b; words[i * 4 + 2] = c; words[i * 4 + 3] = d;
    }
    const f0 = performance.now();
    for (let i = 0; i < m; i++) if (bloom.add(words[i * 4]!, words[i * 4 + 1]!, words[i * 4 + 2]!, words[i * 4 + 3]!)) wrong++;
    filterMs += performance.now() - f0;
  }
  const totalMs = performance.now() - t0;
  const s = bloom.stats();
  return {
    name, keys: n, capacity, levels: s.levels, mib: s.bytes / 2 ** 20, projectedGiB: (s.bytes * (scaleTo / n)) / 2 ** 30,
    measured: wrong / n, estimated: s.estimated_false_duplicate_rate,
    keysPerSec: n / (filterMs / 1000), hashedKeysPerSec: n / (totalMs / 1000),
  };
}

const rows: Row[] = [
  run('default filter', KEYS, DEFAULT_CAPACITY, KEYS),
  run(`scaled to 1e9 (1:${(TARGET / SCALED_KEYS).toFixed(0)})`, SCALED_KEYS, Math.max(1, Math.round(DEFAULT_CAPACITY * (SCALED_KEYS / TARGET))), TARGET),
];

const pct = (x: number) => `${(100 * x).toFixed(3)} %`;
const head = ['run', 'keys', 'first level', 'levels', 'MiB', 'GiB at its scale', 'false dup (measured)', 'false dup (estimated)', 'keys/s (filter)', 'keys/s (with sha224)'];
const table = rows.map((r) => [
  r.name, r.keys.toExponential(1), String(r.capacity), String(r.levels), r.mib.toFixed(1),
  r.name.startsWith('scaled') ? `${r.projectedGiB.toFixed(2)} at 1e9` : r.projectedGiB.toFixed(3),
  pct(r.measured), pct(r.estimated), Math.round(r.keysPerSec).toLocaleString('en-US'), Math.round(r.hashedKeysPerSec).toLocaleString('en-US'),
]);
const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`bench:dedup — error bound ${ERROR_RATE}, ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)}`);
console.log(line(head));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const t of table) console.log(line(t));
