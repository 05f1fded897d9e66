import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readShards, readShardStats, readStatusRows, metadataPathFor, shardPath, ShardWriter, successRow, type PairRecord } from '../../src/shards/index.js';
import sharp from 'sharp';
import { openClipCommand, openClipSchedule, openClipSizing, trainDataPattern } from '../../src/shards/openclip-command.js';
import { runWit } from '../crawl/run-wit.js';
import { needsOpenClip, openClipPython } from '../helpers/openclip.js';
import { makeWitModel } from '../model/wit-model.js';

/**
 * The open_clip command `wit convert` (and `wit crawl`) print, and `--shard-size` re-sharding.
 * open_clip_train without --dataset-resampled refuses fewer tars than --workers, and hangs when a
 * worker's tars hold fewer samples than --batch-size (src/shards/openclip-command.ts).
 */

/** Would open_clip_train's loader make a batch on every worker, for every way the shuffled tars are dealt? */
function everyWorkerHasABatch(counts: number[], workers: number, batch: number): boolean {
  if (counts.length < workers) return false;
  const ascending = [...counts].sort((a, b) => a - b);
  const worst = ascending.slice(0, Math.floor(counts.length / workers)).reduce((a, b) => a + b, 0);
  return worst >= batch;
}

describe('open_clip sizing', () => {
  it('never more workers than tars, and a batch every worker can fill', () => {
    const cases: number[][] = [[420], [100, 100, 100, 100, 20], [300, 120], [5, 5, 5], [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 7], Array(20).fill(64), [3]];
    for (const counts of cases) {
      const { workers, batchSize } = openClipSizing(counts);
      expect(workers, String(counts)).toBeGreaterThanOrEqual(1);
      expect(everyWorkerHasABatch(counts, workers, batchSize), String(counts)).toBe(true);
      expect(batchSize).toBeLessThanOrEqual(counts.reduce((a, b) => a + b, 0));
    }
    // what the README's fixed command (8 workers, batch 256) got wrong on the demo's 420 pairs in one tar
    expect(everyWorkerHasABatch([420], 8, 256)).toBe(false);
    expect(openClipSizing([420])).toEqual({ workers: 1, batchSize: 52 });
    expect(openClipSizing(Array(20).fill(64))).toEqual({ workers: 6, batchSize: 160 });
    expect(openClipSizing(Array(100).fill(10_000))).toEqual({ workers: 8, batchSize: 256 });
    expect(openClipSizing([20, 5])).toEqual({ workers: 1, batchSize: 25 });
  });
  it('a schedule whose learning rate leaves zero: warmup a tenth of the steps open_clip will take, never its 10,000 on a small corpus', () => {
    // open_clip_train's own count (data.py): ceil(samples / batch), rounded up to a multiple of the workers
    expect(openClipSchedule(573, 71, 1)).toEqual({ stepsPerEpoch: 9, epochs: 56, totalSteps: 504, warmup: 50 });
    expect(openClipSchedule(25, 25, 1)).toEqual({ stepsPerEpoch: 1, epochs: 100, totalSteps: 100, warmup: 10 });
    expect(openClipSchedule(1_000_000, 256, 8)).toEqual({ stepsPerEpoch: 3912, epochs: 32, totalSteps: 125_184, warmup: 10_000 });
    for (const counts of [[573], [25], [3], [100, 100, 100, 100, 20], Array(20).fill(64), Array(100).fill(10_000), [1_000_000]]) {
      const c = openClipCommand('/d', counts.map((_, i) => `${String(i).padStart(5, '0')}.tar`), counts)!;
      expect(c.warmup, String(counts)).toBeLessThan(c.total_steps);
      expect(c.warmup).toBeGreaterThanOrEqual(1);
      expect(c.command).toContain(`--epochs ${c.epochs} --warmup ${c.warmup}`);
      expect(c.steps_per_epoch * c.epochs).toBe(c.total_steps);
      // on a corpus of fewer steps than open_clip's default warmup, already the first step's learning rate
      // (open_clip's schedule: lr · (step + 1) / warmup) prints as non-zero in its log (%f)
      if (c.total_steps <= 10_000) expect((5e-4 * 1 / c.warmup).toFixed(6)).not.toBe('0.000000');
    }
  });
  it('--train-data: a brace range for consecutive tars, else a :: list', () => {
    expect(trainDataPattern('/d', ['00000.tar', '00001.tar', '00002.tar'])).toBe('/d/{00000..00002}.tar');
    expect(trainDataPattern('/d', ['00000.tar'])).toBe('/d/00000.tar');
    expect(trainDataPattern('/d', ['00000.tar', '00002.tar'])).toBe('/d/00000.tar::/d/00002.tar');
  });
});

let dir: string;
const jpegs: Buffer[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-openclip-cmd-'));
  // Real JPEGs (open_clip decodes every image it trains on), one colour each.
  for (let i = 0; i < 12; i++) {
    jpegs.push(await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: (i * 67) % 256, g: (i * 139) % 256, b: (i * 29) % 256 } } }).jpeg({ quality: 90 }).toBuffer());
  }
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

function recs(n: number, shard: number): PairRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const image = jpegs[i % jpegs.length]!;
    return {
      key: `${String(shard).padStart(5, '0')}${String(i).padStart(4, '0')}`, url: `https://e.org/${shard}/${i}.jpg`, page_url: null,
      caption: `pair ${i} of shard ${shard}`, queries: ['pair'], image, width: 8, height: 8, original_width: 8, original_height: 8,
      sha256: createHash('sha256').update(image).digest('hex'), extra: { uid: `u${shard}-${i}` },
    };
  });
}

/** Three Parquet shards of 9, 4 and 12 pairs (real JPEGs), each with a failed row; returns the pairs. */
async function writeSource(src: string): Promise<PairRecord[]> {
  const all: PairRecord[] = [];
  for (const [s, n] of [[0, 9], [1, 4], [2, 12]] as const) {
    const r = recs(n, s);
    all.push(...r);
    const w = await ShardWriter.open(shardPath(src, s), { imageFormat: 'jpg', extras: [{ name: 'uid', kind: 'string' }] });
    for (const x of r) await w.write(x);
    await w.close({}, [...r.map(successRow), { key: null, url: `https://e.org/gone${s}.jpg`, caption: 'gone', status: 'http_4xx', error_message: 'HTTP 404', extra: { uid: `lost-${s}` } }]);
  }
  return all;
}

describe('wit convert --shard-size', () => {
  it('re-shards in order (also webdataset -> webdataset), carries status rows, prints a runnable open_clip command, resumes', async () => {
    const src = join(dir, 'pq');
    const all = await writeSource(src);
    const wds = join(dir, 'wds');
    const r1 = await runWit(['convert', '--shards', src, '--output-format', 'webdataset', '--out', wds, '--shard-size', '10', '--json']);
    expect(r1.code, r1.stderr).toBe(0);
    const s1 = JSON.parse(r1.stdout);
    expect(s1).toMatchObject({ shards: 3, pairs: 25, shard_size: 10, open_clip: { train_num_samples: 25, workers: 1, batch_size: 25, train_data: `${wds}/{00000..00002}.tar`, epochs: 100, warmup: 10, steps_per_epoch: 1, total_steps: 100 } });
    expect(s1.open_clip_command).toContain(`--train-data '${wds}/{00000..00002}.tar' --train-num-samples 25 --workers 1 --batch-size 25`);
    expect(s1.open_clip_command).toContain('--epochs 100 --warmup 10');
    expect((await readdir(wds)).filter((n) => n.endsWith('.tar'))).toEqual(['00000.tar', '00001.tar', '00002.tar']);
    expect(await Promise.all([0, 1, 2].map(async (k) => (await readShardStats(shardPath(wds, k, '', 'webdataset')))?.count))).toEqual([10, 10, 5]);
    const back: PairRecord[] = [];
    for await (const r of readShards(wds)) back.push(r);
    expect(back.map((r) => r.key)).toEqual(all.map((r) => r.key));
    const lost = [];
    for (const k of [0, 1, 2]) lost.push(...(await readStatusRows(metadataPathFor(shardPath(wds, k, '', 'webdataset')))).rows.filter((r) => r.status !== 'success').map((r) => r.extra?.uid));
    expect(lost.sort()).toEqual(['lost-0', 'lost-1', 'lost-2']);
    // the text summary prints the command too
    const again = await runWit(['convert', '--shards', wds, '--output-format', 'webdataset', '--out', join(dir, 'wds4'), '--shard-size', '4']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/open_clip: python -m open_clip_train\.main --dataset-type webdataset --train-data '.*wds4\/\{00000\.\.00006\}\.tar' --train-num-samples 25 --workers 1 --batch-size 25/);
    // a rerun keeps the full shards and redoes the short last one
    const r2 = await runWit(['convert', '--shards', src, '--output-format', 'webdataset', '--out', wds, '--shard-size', '10', '--json']);
    expect(JSON.parse(r2.stdout)).toMatchObject({ shards: 1, skipped_shards: 2, pairs: 25 });
  }, 600_000);

  it('without --shard-size, the same format is refused with the way out', async () => {
    const same = await runWit(['convert', '--shards', join(dir, 'wds'), '--output-format', 'webdataset', '--out', join(dir, 'x')]);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/already holds webdataset shards \(give --shard-size N to re-shard them\)/);
  });

  // needsOpenClip() asks for open_clip_train's loader too (webdataset, braceexpand, pandas)
  it.skipIf(!needsOpenClip())('the printed command trains in the real open_clip_train: a non-zero learning rate and a falling loss', async () => {
    const python = openClipPython()!;
    await writeSource(join(dir, 'pq-run'));
    const conv = await runWit(['convert', '--shards', join(dir, 'pq-run'), '--output-format', 'webdataset', '--out', join(dir, 'run'), '--shard-size', '10', '--json']);
    expect(conv.code, conv.stderr).toBe(0);
    const s = JSON.parse(conv.stdout);
    // A tiny wit model exported for open_clip stands in for ViT-B-32 (the same command, a model a CPU
    // trains in seconds; open_clip_train reads it, and its tokenizer, through local-dir:).
    await makeWitModel(join(dir, 'tiny'));
    const exp = await runWit(['model', 'export', '--model', join(dir, 'tiny'), '--out', join(dir, 'tiny-openclip')]);
    expect(exp.code, exp.stderr).toBe(0);
    const command = s.open_clip_command as string;
    expect(command).toContain(`--epochs ${s.open_clip.epochs} --warmup ${s.open_clip.warmup}`);
    // Five of its steps (one a epoch: the 25 pairs are one batch), the rest as printed.
    const args = command.replace(/^python /, '').replace('--model ViT-B-32', `--model local-dir:${join(dir, 'tiny-openclip')}`).replace(`--epochs ${s.open_clip.epochs}`, '--epochs 5');
    const r = spawnSync('bash', ['-c', `cd ${dir} && timeout 500 ${python} ${args} --device cpu --precision fp32 --seed 0 --logs ${join(dir, 'logs')} --name run --save-frequency 0 --report-to none --log-every-n-steps 1`], { encoding: 'utf8', timeout: 520_000 });
    const log = `${r.stdout}\n${r.stderr}`;
    expect(r.status, log.slice(-3000)).toBe(0);
    const lrs = [...log.matchAll(/ LR: ([0-9.e-]+)/g)].map((m) => Number(m[1]));
    const losses = [...log.matchAll(/ Loss: ([0-9.e-]+) \(/g)].map((m) => Number(m[1]));
    process.stderr.write(`open_clip_train, printed command (${s.open_clip.epochs} epochs run as 5, --warmup ${s.open_clip.warmup}): lr ${lrs.join(' ')}; loss ${losses.join(' ')}\n`);
    expect(lrs.length, log.slice(-3000)).toBe(5);
    expect(losses.length).toBe(5);
    for (const lr of lrs) expect(lr).toBeGreaterThan(0);
    expect(losses[4]!, losses.join(' ')).toBeLessThan(losses[0]!);
  }, 560_000);
});
