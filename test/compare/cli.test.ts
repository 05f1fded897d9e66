import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readShards } from '../../src/shards/index.js';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runWit, WIT } from '../crawl/run-wit.js';
import { writeLabels, writeShapePool } from './shapes.js';

// Drives `wit compare` through the launcher (needs `npm run build`). Tiny models: vit-micro at its
// 32 px, a short context, few steps, wasm; 12 shape classes learn in that budget.
let root: string;
let pool: string;
let heldout: string;
let labels: string;
const TRAIN = ['--arch', 'vit-micro', '--steps', '40', '--batch-size', '32', '--lr', '0.002', '--warmup-steps', '5', '--weight-decay', '0.1', '--checkpoint-every', '5', '--backend', 'wasm', '--template', '{}', '--decode-workers', '0'];
/** The same, 2 steps: for the tests that check the grid, the overlap and the tokenizer, not what a model learned. */
const SHORT = TRAIN.map((x) => (x === '40' ? '2' : x));

function recipes(name: string, list: unknown): string {
  const f = join(root, `${name}.json`);
  writeFileSync(f, typeof list === 'string' ? list : JSON.stringify(list));
  return f;
}

// Shapes on white at 48 px are near-duplicates to a 64-bit dHash (a red square and a blue one in the same
// place hash alike, within 2-5 bits): only an identical hash counts here; the overlap test uses copies.
function base(out: string, recipesFile: string, seeds = 2, train = TRAIN): string[] {
  return ['compare', '--pool', pool, '--eval', heldout, '--labels', labels, '--recipes', recipesFile, '--seeds', String(seeds), '--out', out, '--overlap-hamming', '0', ...train];
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wit-compare-'));
  pool = join(root, 'pool');
  heldout = join(root, 'heldout');
  // 6 right pairs a class and 2 captioned as the next class, in a 6-word phrasing.
  await writeShapePool(pool, { perClass: 6, wrongPerClass: 2 });
  await writeShapePool(heldout, { perClass: 2, offset: 20, shards: 1 });
  labels = writeLabels(join(root, 'labels.txt'));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('wit compare', () => {
  let table: any;

  test('the table can fail: a recipe keeping only mislabelled pairs scores below raw and gets a random twin; identical recipes give identical numbers; one tokenizer, equal samples', async () => {
    const f = recipes('r1', { recipes: [{ name: 'only-wrong', min_caption_words: 5 }, { name: 'same-a', cap: 1000 }] });
    const out = join(root, 'c1');
    const r = await runWit([...base(out, f), '--json'], { timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    table = JSON.parse(r.stdout);
    const row = (n: string) => table.recipes.find((x: any) => x.name === n);
    // only-wrong removes pairs: its size-matched random twin is added, with the same seeds; the others keep every pair.
    expect(table.recipes.map((x: any) => x.name)).toEqual(['raw', 'only-wrong', 'same-a', 'random-24']);
    expect(row('raw').pairs_kept).toBe(96);
    expect(row('only-wrong').pairs_kept).toBe(24);
    expect(row('random-24').pairs_kept).toBe(24);
    expect(row('random-24').control_for).toEqual(['only-wrong']);
    expect(row('random-24').seeds).toEqual([0, 1]);
    expect(row('only-wrong').twin).toBe('random-24');
    expect(row('same-a').twin).toBeNull();
    expect(table.cells).toMatchObject({ total: 8, finished: 8, ran: 8, missing: [] });
    expect(table.overlap).toMatchObject({ mode: 'remove', exact: 0, near: 0, removed: 0, eval_images: 24 });
    // Equal samples seen, exactly, whatever the recipe keeps; epochs differ.
    expect(table.samples_per_cell).toBe(40 * 32);
    for (const r of table.recipes) expect(r.samples, r.name).toBe(40 * 32);
    for (const c of table.results) expect(c.samples, `${c.recipe}/${c.seed}`).toBe(40 * 32);
    expect(row('only-wrong').epochs).toBeCloseTo(1280 / 24, 9);
    expect(row('raw').epochs).toBeCloseTo(1280 / 96, 9);
    // One tokenizer, fixed before any cell: every cell's model holds the same tokenizer.json as the table.
    const tok = readFileSync(join(out, 'tokenizer.json'), 'utf8');
    for (const c of table.results) expect(readFileSync(join(out, 'cells', c.recipe, `seed-${c.seed}`, 'model', 'tokenizer.json'), 'utf8'), `${c.recipe}/${c.seed}`).toBe(tok);
    expect(new Set(table.results.map((c: any) => c.tokenizer_sha256))).toEqual(new Set([table.tokenizer.sha256]));
    expect(table.tokenizer).toMatchObject({ source: 'trained on the pool', kind: 'wit-byte-bpe' });
    expect(table.eval_items).toEqual({ zero_shot: 24, retrieval: 24 });
    // raw learned the shapes; the mislabelled model learned the wrong names.
    expect(row('raw').metrics.top1.mean).toBeGreaterThan(0.3);
    for (const seed of ['0', '1']) expect(row('only-wrong').metrics.top1.seeds[seed]).toBeLessThan(row('raw').metrics.top1.seeds[seed] - 0.15);
    const d = row('only-wrong').metrics.top1.diff_to_raw;
    expect(d.n).toBe(2);
    expect(d.items).toBe(24);
    expect(d.mean).toBeLessThan(-0.2);
    expect(d.lo).toBeLessThan(d.mean);
    expect(d.hi).toBeGreaterThan(d.mean);
    expect(row('only-wrong').vs_raw).toMatchObject({ against: 'raw', metric: 'top1', verdict: 'worse', n: 2, items: 24 });
    expect(row('only-wrong').vs_twin).toMatchObject({ against: 'random-24' });
    expect(row('only-wrong').vs_twin.mean).toBeCloseTo(row('only-wrong').metrics.top1.mean - row('random-24').metrics.top1.mean, 9);
    expect(table.intervals).toMatchObject({ correction: 'holm', comparisons: 4 });
    // Same curation, same seeds: same numbers, bit for bit (same-a is raw's curation: cap 1000 keeps every pair in order;
    // a second copy of it would add two cells and test nothing more).
    expect(row('same-a').metrics.image_to_text_r1.seeds).toEqual(row('raw').metrics.image_to_text_r1.seeds);
    expect(row('same-a').metrics.top1.seeds).toEqual(row('raw').metrics.top1.seeds);
    expect(row('same-a').metrics.top1.diff_to_raw).toEqual({ mean: 0, lo: 0, hi: 0, n: 2, items: 24 });
    expect(row('same-a').vs_raw).toMatchObject({ mean: 0, lo: 0, hi: 0, verdict: 'not shown to differ' });
    const file = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
    expect(file.recipes[1].metrics.top1).toEqual(row('only-wrong').metrics.top1);
    // A rerun skips finished cells and prints the text table.
    const again = await runWit(base(out, f), { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^only-wrong\s+24\s+1280\s+53\.3\s+2\s+\d+\.\d ± \d+\.\d\s+-\d+\.\d \[-\d+\.\d, [+-]\d+\.\d\]\s+worse\s+[+-]\d+\.\d \[/m);
    expect(again.stdout).toMatch(/^random-24 \(control\)\s+24\s+1280\s+53\.3\s+2 /m);
    expect(again.stdout).toContain('only-wrong: min_caption_words 5; worse than raw (Holm-adjusted p');
    expect(again.stdout).toContain('eval: 24 images (zero-shot, chance top-1 8.3%), 24 pairs (retrieval); primary metric: zero-shot top-1');
    // wit report: the compare section with its table and plot; the cells' models are not reported as runs.
    const html = join(root, 'report.html');
    const rep = await runWit(['report', '--run', out, '--out', html, '--json'], { timeoutMs: 120_000 });
    expect(rep.code, rep.stderr).toBe(0);
    const rs = JSON.parse(rep.stdout);
    expect(rs.sections.compare).toBe('ok');
    expect(rs.sections.training).toBe('empty');
    const page = readFileSync(html, 'utf8');
    const section = page.slice(page.indexOf('<section id="compare">'), page.indexOf('</section>', page.indexOf('<section id="compare">')));
    expect(section).toContain('Zero-shot top-1 vs pairs kept');
    expect(section.match(/<g class="mean">/g)).toHaveLength(4); // one ring a recipe
    expect(section.match(/<circle cx="[\d.]+" cy="[\d.]+" r="3">/g)).toHaveLength(8); // one dot a seed
    expect(section).toContain('Δ vs random twin');
    expect(page).not.toContain('<script');
  }, 900_000);

  test('a killed cell resumes from its checkpoint to the numbers of an uninterrupted run; finished cells are skipped', async () => {
    const f = recipes('r2', []);
    const out = join(root, 'c2');
    const args = [...base(out, f, 1)];
    const child = spawn(process.execPath, [WIT, ...args], { stdio: 'ignore' });
    const ckpt = join(out, 'cells', 'raw', 'seed-0', 'model', 'checkpoints');
    await new Promise<void>((resolve, reject) => {
      // waits on the checkpoints, however long a loaded machine takes (the test's timeout bounds it)
      const poll = setInterval(() => {
        const steps = existsSync(ckpt) ? readdirSync(ckpt).filter((n) => /^step-\d+$/.test(n)) : [];
        if (steps.length >= 3) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        } else if (child.exitCode !== null) {
          clearInterval(poll);
          reject(new Error('no checkpoint before the run ended'));
        }
      }, 50);
    });
    await new Promise((r) => child.once('close', r));
    expect(existsSync(join(out, 'cells', 'raw', 'seed-0', 'result.json'))).toBe(false);
    const r = await runWit([...args, '--json'], { timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.cells).toMatchObject({ total: 1, finished: 1, ran: 1 });
    const metrics = JSON.parse(readFileSync(join(out, 'cells', 'raw', 'seed-0', 'model', 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!);
    expect(metrics.step).toBe(40);
    // Resumed bit for bit: the same numbers as the uninterrupted raw/0 of the first test.
    expect(s.recipes[0].metrics.top1.seeds['0']).toBe(table.recipes[0].metrics.top1.seeds['0']);
    expect(s.recipes[0].metrics.text_to_image_r1.seeds['0']).toBe(table.recipes[0].metrics.text_to_image_r1.seeds['0']);
    const again = await runWit([...args, '--json'], { timeoutMs: 120_000 });
    expect(JSON.parse(again.stdout).cells).toMatchObject({ finished: 1, ran: 0 });
  }, 900_000);

  test('--cells runs a part of the grid; the table lists the missing cells', async () => {
    const f = recipes('r3', [{ name: 'capped', cap: 2 }]);
    const out = join(root, 'c3');
    const r = await runWit([...base(out, f, 2, SHORT), '--cells', 'capped/1', '--json'], { timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.cells).toMatchObject({ total: 6, finished: 1, ran: 1, missing: ['raw/0', 'raw/1', 'capped/0', 'random-24/0', 'random-24/1'] });
    // cap 2 per query: 12 right queries x 2 (the mislabelled pairs' queries are the same names, in pool order after them).
    expect(s.recipes[1].pairs_kept).toBe(24);
    expect(s.recipes[1].metrics.top1.diff_to_raw).toBeNull();
    const none = await runWit([...base(out, f, 2, SHORT), '--cells', 'nope/*']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("wit compare: --cells nope/* matches no cell");
  }, 900_000);

  test('a pool holding eval images: refused with --overlap refuse, cleaned by default (with a count); --tokenizer takes a model directory', async () => {
    const dirty = join(root, 'dirty');
    cpSync(pool, dirty, { recursive: true });
    for (const f of readdirSync(heldout).filter((n) => n.endsWith('.parquet'))) {
      // with its completion record: a shard without one is unfinished and refused by every reader
      cpSync(join(heldout, f), join(dirty, `eval-copy-${f}`));
      cpSync(join(heldout, f.replace(/\.parquet$/, '_stats.json')), join(dirty, `eval-copy-${f.replace(/\.parquet$/, '_stats.json')}`));
    }
    const f = recipes('r4', []);
    const args = (out: string) => ['compare', '--pool', dirty, '--eval', heldout, '--labels', labels, '--recipes', f, '--seeds', '1', '--out', out, '--overlap-hamming', '0', ...SHORT];
    const refused = await runWit([...args(join(root, 'c4r')), '--overlap', 'refuse']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/wit compare: .*: the pool holds 24 eval images and 0 near-duplicates/);
    expect(existsSync(join(root, 'c4r', 'cells'))).toBe(false);
    const model = join(root, 'c1', 'cells', 'raw', 'seed-0', 'model');
    const r = await runWit([...args(join(root, 'c4')), '--tokenizer', model, '--json'], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.overlap).toMatchObject({ mode: 'remove', exact: 24, removed: 24, pool_pairs: 120 });
    expect(s.pool_pairs).toBe(96);
    expect(s.recipes[0].pairs_kept).toBe(96);
    expect(r.stderr).toContain('the pool holds 24 eval images');
    expect(s.tokenizer.source).toBe(model);
    expect(readFileSync(join(root, 'c4', 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(model, 'tokenizer.json'), 'utf8'));
    // The cleaned pool holds no eval image.
    const evalSha = new Set<string>();
    for await (const rec of readShards(heldout)) evalSha.add(createHash('sha256').update(rec.image).digest('hex'));
    let n = 0;
    for await (const rec of readShards(join(root, 'c4', 'pool', 'data'))) {
      n++;
      expect(evalSha.has(createHash('sha256').update(rec.image).digest('hex'))).toBe(false);
    }
    expect(n).toBe(96);
    // CLIP's merges file as the tokenizer (here a short one: 4 merges, 518 ids); a file that is not one is refused.
    const merges = join(root, 'merges.txt');
    writeFileSync(merges, '#version: 0.2\ns q\nsq u\na r\nar e</w>');
    const c = await runWit([...args(join(root, 'c5')), '--tokenizer', merges, '--json'], { timeoutMs: 300_000 });
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout).tokenizer).toMatchObject({ source: merges, kind: 'clip-bpe', vocab_size: 518 });
    expect(JSON.parse(readFileSync(join(root, 'c5', 'cells', 'raw', 'seed-0', 'model', 'tokenizer.json'), 'utf8'))).toMatchObject({ type: 'clip-bpe', merges: ['s q', 'sq u', 'a r', 'ar e</w>'] });
    writeFileSync(merges, 'not merges');
    const bad = await runWit([...args(join(root, 'c6')), '--tokenizer', merges]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`wit compare: ${merges}: not a CLIP merges file`);
  }, 600_000);

  test('bad recipes exit 2 with one line naming the file, the recipe and the field', async () => {
    const out = join(root, 'bad');
    const cases: [unknown, string][] = [
      ['{ not json', 'not valid JSON'],
      [{ nope: 1 }, 'expected a list of recipes'],
      [[{ name: 'a', keep_fraction: 2 }], "recipe 'a': keep_fraction must be <= 1, got 2"],
      [[{ name: 'a', keep_fraction: 0.5 }], "recipe 'a': keep_fraction need a scorer"],
      [[{ name: 'a', colour: 'red' }], "recipe 'a': unknown field 'colour'"],
      [[{ name: 'raw' }], "recipe 'raw': 'raw' (the pool as is) is always included"],
      [[{ name: 'a', cap: 3 }, { name: 'a', cap: 4 }], "recipe 'a': the name is used twice"],
      [[{ name: 'a', cap: 3, sample_threshold: 4 }], "recipe 'a': cap and sample_threshold are two ways to balance"],
      [[{ name: 'a', cap: 'ten' }], "recipe 'a': cap expects a number"],
      [[{ name: 'a/b', cap: 3 }], "recipe 'a/b': the name must be"],
      [[{ name: 'a', model: 'no-such-model', keep_fraction: 0.5 }], "recipe 'a': model "],
      [[{ cap: 3 }], 'recipe 1: has no "name"'],
    ];
    // all at once: each is a process of its own that refuses its file (one after another they took
    // minutes on a loaded machine)
    const runs = await Promise.all(cases.map(([body], i) => runWit(base(out, recipes(`bad${i}`, body)))));
    for (const [i, [, message]] of cases.entries()) {
      const f = join(root, `bad${i}.json`);
      const r = runs[i]!;
      expect(r.code, `${message}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`wit compare: ${f}: `);
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('wit '))).toHaveLength(1);
    }
    expect(existsSync(out)).toBe(false); // nothing written for a bad recipes file
    const missing = await runWit(base(out, join(root, 'none.json')));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`wit compare: ${join(root, 'none.json')}: no such file`);
  }, 600_000);
});
