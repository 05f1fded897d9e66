/**
 * The open_clip training command for a folder of WebDataset tars (docs/ARCHITECTURE.md, "Shards"):
 * what `wit crawl --output-format webdataset` and `wit convert --output-format webdataset` print, with the
 * numbers open_clip_train's WebDataset loader needs for these tars.
 *
 * open_clip_train (data.py, get_wds_dataset) without --dataset-resampled: asserts that there are at
 * least as many tars as --workers; shuffles the tar list each epoch, deals it to the workers
 * (split_by_worker: worker w gets tars w, w + W, …), and each worker makes only full batches
 * (partial=False) and repeats its tars until it has made its share of batches. A worker whose tars
 * hold fewer samples than --batch-size makes no batch, ever: the run hangs. So the batch must fit
 * the smallest share a worker can be dealt: the floor(n / W) smallest tars.
 */
import { basename, join } from 'node:path';
import { readShardStats } from './manifest.js';

/** What the printed command was sized from, and the command. */
export interface OpenClipCommand {
  command: string;
  train_data: string;
  train_num_samples: number;
  workers: number;
  batch_size: number;
}

export const OPENCLIP_MAX_WORKERS = 8;
export const OPENCLIP_MAX_BATCH = 256;

/** --train-data for these tars: a brace range when the names are consecutive numbers, else open_clip's '::' list. */
export function trainDataPattern(dir: string, names: readonly string[]): string {
  const nums = names.map((n) => /^(\d+)\.tar$/.exec(n));
  if (names.length > 1 && nums.every(Boolean)) {
    const width = nums[0]![1]!.length;
    const values = nums.map((m) => Number(m![1]));
    const consecutive = nums.every((m) => m![1]!.length === width) && values.every((v, i) => v === values[0]! + i);
    if (consecutive) return join(dir, `{${nums[0]![1]}..${nums[nums.length - 1]![1]}}.tar`);
  }
  return names.map((n) => join(dir, n)).join('::');
}

/**
 * Workers and batch size that open_clip can run on tars of these sizes (see the module comment):
 * the batch is min(256, all samples); the workers, the most (up to 8, at most one per tar) whose
 * smallest possible share still holds a batch. One worker always can.
 */
export function openClipSizing(counts: readonly number[]): { workers: number; batchSize: number } {
  const total = counts.reduce((a, b) => a + b, 0);
  const batchSize = Math.max(1, Math.min(OPENCLIP_MAX_BATCH, total));
  const ascending = [...counts].sort((a, b) => a - b);
  for (let w = Math.min(OPENCLIP_MAX_WORKERS, counts.length); w > 1; w--) {
    const share = ascending.slice(0, Math.floor(counts.length / w)).reduce((a, b) => a + b, 0);
    if (share >= batchSize) return { workers: w, batchSize };
  }
  return { workers: 1, batchSize };
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/** The command for tars `names` (in order) of `dir` holding `counts` samples each. */
export function openClipCommand(dir: string, names: readonly string[], counts: readonly number[]): OpenClipCommand | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (names.length === 0 || total === 0) return undefined;
  const { workers, batchSize } = openClipSizing(counts);
  const trainData = trainDataPattern(dir, names);
  const command = [
    'python -m open_clip_train.main --dataset-type webdataset',
    `--train-data ${shellQuote(trainData)} --train-num-samples ${total}`,
    `--workers ${workers} --batch-size ${batchSize}`,
    '--model ViT-B-32 --lr 5e-4 --wd 0.2 --epochs 32',
  ].join(' ');
  return { command, train_data: trainData, train_num_samples: total, workers, batch_size: batchSize };
}

/** The command for the finished tars listed in `dir` (their counts from the NNNNN_stats.json files). */
export async function openClipCommandFor(dir: string, tars: readonly string[]): Promise<OpenClipCommand | undefined> {
  const counts: number[] = [];
  for (const t of tars) counts.push(Number((await readShardStats(t))?.count ?? 0));
  const keep = tars.map((t, i) => [basename(t), counts[i]!] as const).filter(([, c]) => c > 0);
  return openClipCommand(dir, keep.map(([n]) => n), keep.map(([, c]) => c));
}
