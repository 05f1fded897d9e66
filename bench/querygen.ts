/**
 * Benchmark of `wit querygen`: throughput in MB of dump XML per second per core, end to end from a
 * multistream .bz2 (the format of enwiki-*-pages-articles-multistream.xml.bz2), and peak RSS, for 1
 * and 2 workers; and peak RSS at two dump sizes with the same memory budget, to show that memory
 * does not grow with the dump.
 *
 * Each run is a child process (`node bin/wit.cjs querygen … --json`) under /usr/bin/time -v, which
 * reports the peak RSS of the process and the CPU time including its decoder subprocesses, so
 * "MB/s per core" is XML MB / CPU seconds: it does not depend on how busy the machine is.
 *
 *   npm run bench:querygen -- [--dir DIR] [--sizes 250,1000] [--workers 1,2] [--max-memory 600M] [--generate-only]
 *   npm run bench:querygen -- --lines [--small-mb 5]   (cost growth of the line and page scanners: bench/querygen-lines.ts)
 *
 * Dumps are generated once into DIR (default data/bench-querygen) and reused.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeLargeDump } from '../test/helpers/wiki-dump.js';
import { linesBench } from './querygen-lines.js';

interface Args {
  dir: string;
  sizes: number[];
  workers: number[];
  maxMemory: string;
  generateOnly: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { dir: 'data/bench-querygen', sizes: [250, 1000], workers: [1, 2], maxMemory: '600M', generateOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1] ?? '';
    if (k === '--dir') a.dir = v;
    else if (k === '--sizes') a.sizes = v.split(',').map(Number);
    else if (k === '--workers') a.workers = v.split(',').map(Number);
    else if (k === '--max-memory') a.maxMemory = v;
    else if (k === '--generate-only') {
      a.generateOnly = true;
      continue;
    } else continue;
    i++;
  }
  return a;
}

interface RunResult {
  label: string;
  workers: number;
  xmlMB: number;
  wallS: number;
  cpuS: number;
  rssMB: number;
  spills: number;
  articles: number;
  tokens: number;
  queries: number;
}

function run(label: string, dump: string, out: string, workers: number, extra: string[]): RunResult {
  const args = ['-v', process.execPath, 'bin/wit.cjs', 'querygen', '--wiki', dump, '--out', out, '--workers', String(workers), '--json', ...extra];
  const r = spawnSync('/usr/bin/time', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`querygen failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const s = JSON.parse(r.stdout) as { xml_bytes: number; spills: number; articles: number; tokens: number; queries: number; seconds: number };
  const num = (re: RegExp) => Number(re.exec(r.stderr)?.[1] ?? NaN);
  const user = num(/User time \(seconds\): ([\d.]+)/);
  const sys = num(/System time \(seconds\): ([\d.]+)/);
  const rssKb = num(/Maximum resident set size \(kbytes\): (\d+)/);
  return {
    label,
    workers,
    xmlMB: s.xml_bytes / 1e6,
    wallS: s.seconds,
    cpuS: user + sys,
    rssMB: rssKb / 1024,
    spills: s.spills,
    articles: s.articles,
    tokens: s.tokens,
    queries: s.queries,
  };
}

async function ensureDump(dir: string, mb: number): Promise<string> {
  const path = join(dir, `synthetic-${mb}mb-pages-articles-multistream.xml.bz2`);
  const index = join(dir, `synthetic-${mb}mb-pages-articles-multistream-index.txt.bz2`);
  if (existsSync(path) && existsSync(index)) return path;
  process.stderr.write(`generating a ${mb} MB dump in ${path} (once)…\n`);
  const t = Date.now();
  // a realistic vocabulary (Zipf over 200k words) plus unique names per article, so the number of
  // distinct unigrams and bigrams keeps growing with the dump as in Wikipedia
  const tmp = `${path}.partial`;
  const w = await writeLargeDump(tmp, mb * 1e6, 'multistream', { seed: mb, vocabulary: 200_000, namesPerArticle: 3, pagesPerStream: 400 });
  // the index is named after the path it was written for; move both into place
  const { renameSync } = await import('node:fs');
  renameSync(w.index!, index);
  renameSync(tmp, path);
  process.stderr.write(`  done in ${((Date.now() - t) / 1000).toFixed(0)} s: ${(statSync(path).size / 1e6).toFixed(0)} MB compressed\n`);
  return path;
}

function table(rows: RunResult[]): string {
  const head = ['run', 'workers', 'XML MB', 'wall s', 'MB/s', 'MB/s/worker', 'CPU s', 'MB/s per CPU-core', 'peak RSS MB', 'spills', 'tokens'];
  const body = rows.map((r) => [
    r.label,
    String(r.workers),
    r.xmlMB.toFixed(0),
    r.wallS.toFixed(1),
    (r.xmlMB / r.wallS).toFixed(1),
    (r.xmlMB / r.wallS / r.workers).toFixed(1),
    r.cpuS.toFixed(1),
    (r.xmlMB / r.cpuS).toFixed(1),
    r.rssMB.toFixed(0),
    String(r.spills),
    `${(r.tokens / 1e6).toFixed(1)}M`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  if (process.argv.includes('--lines')) return linesBench(process.argv.slice(2));
  const args = parseArgs(process.argv.slice(2));
  const dir = resolve(args.dir);
  mkdirSync(dir, { recursive: true });
  const sizes = [...args.sizes].sort((a, b) => a - b);
  const dumps = new Map<number, string>();
  for (const mb of sizes) dumps.set(mb, await ensureDump(dir, mb));
  if (args.generateOnly) return;
  const big = sizes[sizes.length - 1]!;
  if (big < 500) process.stderr.write(`note: the throughput runs use the largest dump (${big} MB); the target calls for >= 500 MB\n`);
  const out = join(dir, 'queries.tsv');
  const common = ['--wordnet', 'none', '--min-pmi', '20'];
  const rows: RunResult[] = [];
  process.stderr.write(`cores: ${(await import('node:os')).availableParallelism()}; bz2 decoder: lbzip2 when installed\n`);
  for (const w of args.workers) {
    process.stderr.write(`throughput: ${big} MB, ${w} worker(s)…\n`);
    rows.push(run(`throughput ${big}MB`, dumps.get(big)!, out, w, common));
  }
  const wMax = Math.max(...args.workers);
  for (const mb of sizes) {
    process.stderr.write(`memory: ${mb} MB, ${wMax} workers, --max-memory ${args.maxMemory}…\n`);
    rows.push(run(`rss ${mb}MB max-memory ${args.maxMemory}`, dumps.get(mb)!, out, wMax, [...common, '--max-memory', args.maxMemory]));
  }
  rmSync(out, { force: true });
  rmSync(out.replace(/\.tsv$/, '.summary.json'), { force: true });
  process.stdout.write(`\nwit querygen benchmark (multistream .bz2 input, end to end; CPU s include the lbzip2 subprocesses)\n\n${table(rows)}\n`);
  const rss = rows.filter((r) => r.label.startsWith('rss'));
  if (rss.length >= 2) {
    const a = rss[0]!;
    const b = rss[rss.length - 1]!;
    process.stdout.write(`\npeak RSS ${a.xmlMB.toFixed(0)} MB dump: ${a.rssMB.toFixed(0)} MB; ${b.xmlMB.toFixed(0)} MB dump: ${b.rssMB.toFixed(0)} MB ` +
      `(ratio ${(b.rssMB / a.rssMB).toFixed(2)} for ${(b.xmlMB / a.xmlMB).toFixed(1)}x the data)\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench querygen: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
