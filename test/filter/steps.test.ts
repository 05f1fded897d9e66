import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readShardStats } from '../../src/shards/index.js';
import { filterSteps, emptyReasonCounts } from '../../src/filter/screen.js';
import { FINAL_LOSS_STEPS, finalLoss } from '../../src/train/final-loss.js';
import { WIT } from '../crawl/run-wit.js';
import { rec, writeShards } from './helpers.js';

// Which step dropped what (issue: "--keep-fraction 0.3 kept 14 %"), why each dropped pair went
// (its reason and score in the shard stats, shown on the report's cards), one final-loss definition.
let dir: string;
let input: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-filter-steps-'));
  input = join(dir, 'in');
  const rows = Array.from({ length: 30 }, (_, i) => rec(`r${String(i).padStart(2, '0')}`, { caption: i % 3 === 0 ? 'cat' : `a red cat number ${i}`, image: new TextEncoder().encode(`img:${i % 10}`) }));
  await writeShards(input, [rows.slice(0, 20), rows.slice(20)]);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('filter steps', () => {
  it('the waterfall adds up, in the order the steps run', () => {
    const d = { ...emptyReasonCounts(), caption_words: 10, duplicate_image: 10, low_similarity: 3 };
    const s = filterSteps(30, d);
    expect(s.map((x) => x.step)).toEqual(['basic filters', 'exact dedup', 'decode', 'semantic dedup', 'similarity']);
    expect(s[0]).toEqual({ step: 'basic filters', pairs_in: 30, dropped: 10, pairs_out: 20 });
    expect(s[1]).toEqual({ step: 'exact dedup', pairs_in: 20, dropped: 10, pairs_out: 10 });
    expect(s[4]).toEqual({ step: 'similarity', pairs_in: 10, dropped: 3, pairs_out: 7 });
  });

  it('the summary lists each step and the shard stats say why each pair was dropped', async () => {
    const out = join(dir, 'out');
    const r = spawnSync(process.execPath, [WIT, 'filter', '--shards', input, '--out', out, '--min-caption-words', '3', '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.steps.find((x: { step: string }) => x.step === 'exact dedup')).toEqual({ step: 'exact dedup', pairs_in: 20, dropped: 10, pairs_out: 10 });
    const stats = (await readShardStats(join(out, '00000.parquet'))) as Record<string, unknown>;
    const why = stats.dropped_pairs as Record<string, [string, number | null]>;
    expect(why.r00).toEqual(['caption_words', null]);
    expect(why.r11).toEqual(['duplicate_image', null]);
    expect(why.r01).toBeUndefined(); // kept
    const text = spawnSync(process.execPath, [WIT, 'filter', '--shards', input, '--out', join(dir, 'out2'), '--min-caption-words', '3'], { encoding: 'utf8', timeout: 120_000 });
    expect(text.stdout).toMatch(/steps, in order: basic filters 30 -> 20, exact dedup 20 -> 10/);
    // The report labels the dropped cards with their reason.
    const html = join(dir, 'r.html');
    const rep = spawnSync(process.execPath, [WIT, 'report', '--run', out, '--out', html], { encoding: 'utf8', timeout: 120_000 });
    expect(rep.status, rep.stderr).toBe(0);
    const page = await readFile(html, 'utf8');
    expect(page).toMatch(/Dropped by the filter/);
    expect(page).toMatch(/caption words<\/div>/);
    expect(page).toMatch(/duplicate image<\/div>/);
  });

  it('final loss is the mean of the last steps everywhere', () => {
    const losses = Array.from({ length: 25 }, (_, i) => i);
    expect(FINAL_LOSS_STEPS).toBe(10);
    expect(finalLoss(losses)).toBe((15 + 24) / 2);
    expect(finalLoss([3])).toBe(3);
    expect(finalLoss([])).toBeNaN();
  });
});
