import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WIT } from '../crawl/run-wit.js';

/**
 * The whole demo through the real CLI at a tiny scale (20 emoji, 300 articles, 3 training steps of
 * the smallest model): every stage runs for real and hands its files to the next. Needs
 * `npm run build` (bin/wit.cjs runs dist/, and the stages start worker threads).
 */
function wit(args: string[], timeoutMs = 170_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WIT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-demo-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('wit demo', () => {
  it('runs every stage, writes the report and prints the numbers and commands', async () => {
    const out = join(dir, 'demo');
    const r = await wit(['demo', '--out', out, '--scale', '0.2', '--steps', '3', '--arch', 'vit-micro', '--workers', '1']);
    expect(r.code, r.stderr).toBe(0);
    for (const st of ['querygen', 'crawl', 'train', 'filter', 'eval', 'report']) expect(r.stdout).toMatch(new RegExp(`\\n  (?:npx )?wit ${st} `));
    expect(r.stdout).toContain(`report          ${join(out, 'report.html')}`);
    expect(r.stdout).toMatch(/zero-shot       top-1 [\d.]+% \(chance 5\.0%\), top-5 [\d.]+% \(chance 25\.0%\)/);
    expect(r.stdout).toMatch(/pairs kept      \d+ of \d+ candidates/);
    const s = JSON.parse(readFileSync(join(out, 'demo.summary.json'), 'utf8'));
    // The emoji names became queries the real way: article titles with pageviews.
    expect(s.emoji_names_in_queries).toBe(s.emoji);
    expect(s.queries_by_source.title).toBeGreaterThanOrEqual(s.emoji);
    // The crawl met the site's noise: robots, noai, 404, a fake image, no-match captions.
    const crawl = JSON.parse(readFileSync(join(out, 'crawl', 'manifest.json'), 'utf8'));
    expect(crawl.complete).toBe(true);
    expect(crawl.totals.kept).toBeGreaterThanOrEqual(4 * s.emoji * 0.9);
    expect(Object.keys(crawl.totals.failed).length + Object.keys(crawl.totals.skipped).length).toBeGreaterThanOrEqual(3);
    expect(crawl.inputs.some((i: string) => i.endsWith('.warc.gz'))).toBe(true);
    expect(s.eval.classes).toBe(s.emoji);
    // The site's mis-captioned pairs were crawled, and the summary says what the filter did with them.
    expect(s.filter.noisy_pairs).toBeGreaterThan(0);
    expect(s.filter.noisy_pairs + s.filter.clean_pairs).toBe(crawl.totals.kept);
    expect(s.filter.noisy_dropped + s.filter.clean_dropped).toBe(s.filter.input - s.filter.kept);
    expect(r.stdout).toMatch(/dropped \d+ of \d+ mis-captioned pairs/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const id of ['queries', 'crawl', 'shards', 'training', 'eval', 'filter', 'search']) expect(html).toContain(`<section id="${id}">`);
    // The demo indexes its crawl and prints the command that serves the search page; the report links to it.
    expect(r.stdout).toMatch(/search page\s+(?:npx )?wit serve --index \S+index/);
    expect(html).toContain('http://127.0.0.1:8765/');
    expect(html).not.toContain('(none)</a>');

    // Rerun with every stage skipped but the report: nothing is redone.
    const again = await wit(['demo', '--out', out, '--scale', '0.2', '--arch', 'vit-micro', '--skip', 'data', 'querygen', 'crawl', 'heldout', 'train', 'filter', 'eval', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const j = JSON.parse(again.stdout);
    expect(j.stages.filter((x: { status: string }) => x.status === 'skipped').map((x: { stage: string }) => x.stage)).toEqual(['data', 'querygen', 'crawl', 'heldout', 'train', 'filter', 'eval']);
    expect(j.eval.top1).toBe(s.eval.top1);
    expect(j.train.steps).toBe(3); // read back from the model's metrics.jsonl

    // --serve brings the same site back, so the printed crawl command can be rerun by hand.
    const served = await new Promise<{ code: number | null; robots: string; page: number }>((resolve, reject) => {
      const child = spawn(process.execPath, [WIT, 'demo', '--out', out, '--serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      let robots = '';
      let page = 0;
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /on (http:\/\/127\.0\.0\.1:\d+)\//.exec(err);
        if (m && !robots) {
          robots = 'pending';
          void (async () => {
            robots = await (await fetch(`${m[1]}/robots.txt`)).text();
            page = (await fetch(`${m[1]}/gallery/1.html`)).status;
            child.kill('SIGINT');
          })().catch(reject);
        }
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, robots, page });
      });
    });
    expect(served.robots).toMatch(/Disallow: \/private\//);
    expect(served.page).toBe(200);
    expect(served.code).toBe(0);

    // Reusing outputs made from other data is refused.
    const other = await wit(['demo', '--out', out, '--scale', '0.3', '--skip', 'data', 'querygen', 'crawl']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/made with --scale 0.2/);
  }, 600_000);

  it('rejects an unknown stage with exit code 2', async () => {
    const r = await wit(['demo', '--out', join(dir, 'x'), '--skip', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown stage 'nope'/);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('refuses to work in a folder it did not make', async () => {
    const foreign = join(dir, 'foreign');
    mkdirSync(join(foreign, 'model'), { recursive: true });
    writeFileSync(join(foreign, 'model', 'keep.txt'), 'precious');
    const r = await wit(['demo', '--out', foreign, '--skip', 'data']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not empty and was not made by wit/);
    expect(readFileSync(join(foreign, 'model', 'keep.txt'), 'utf8')).toBe('precious');
  });

  it('wit report refuses a missing run dir with exit code 2', async () => {
    const r = await wit(['report', '--run', join(dir, 'missing'), '--out', join(dir, 'r.html')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/report: .*missing: no such file or directory/);
  });
});
