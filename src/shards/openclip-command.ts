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
 *
 * The schedule is sized to the tars too: open_clip's defaults (--warmup 10000, --epochs 32) assume a
 * corpus of millions; with fewer steps than 10,000 the learning rate never leaves its warmup ramp
 * (a 573-pair corpus: 128 steps, lr printed as 0.000000 throughout). The batch leaves several steps
 * per epoch, the epochs give a few hundred steps at least, and warmup is a tenth of all steps (at
 * most open_clip's 10,000).
 */
import { basename, join, resolve } from 'node:path';
import { readShardStats } from './manifest.js';

/** What the printed command was sized from, and the command. */
export interface OpenClipCommand {
  command: string;
  train_data: string;
  train_num_samples: number;
  workers: number;
  batch_size: number;
  epochs: number;
  warmup: number;
  /** Steps per epoch as open_clip_train computes them (data.py, get_wds_dataset: ceil, then a multiple of --workers). */
  steps_per_epoch: number;
  total_steps: number;
}

export const OPENCLIP_MAX_WORKERS = 8;
export const OPENCLIP_MAX_BATCH = 256;
/** The batch is at most a MIN_STEPS_PER_EPOCH-th of the samples (but not below MIN_BATCH unless there are fewer samples). */
export const OPENCLIP_MIN_STEPS_PER_EPOCH = 8;
export const OPENCLIP_MIN_BATCH = 32;
/** open_clip's --epochs default (the CLIP recipe), raised on small corpora to reach MIN_TOTAL_STEPS, up to MAX_EPOCHS. */
export const OPENCLIP_EPOCHS = 32;
export const OPENCLIP_MIN_TOTAL_STEPS = 500;
export const OPENCLIP_MAX_EPOCHS = 100;
/** open_clip's --warmup default, the most warmup the command asks for. */
export const OPENCLIP_MAX_WARMUP = 10_000;

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
 * the batch is an eighth of the samples, kept between min(32, samples) and 256; the workers, the
 * most (up to 8, at most one per tar) whose smallest possible share still holds a batch. One
 * worker always can.
 */
export function openClipSizing(counts: readonly number[]): { workers: number; batchSize: number } {
  const total = counts.reduce((a, b) => a + b, 0);
  const batchSize = Math.max(1, Math.min(OPENCLIP_MAX_BATCH, Math.max(Math.min(OPENCLIP_MIN_BATCH, total), Math.floor(total / OPENCLIP_MIN_STEPS_PER_EPOCH))));
  const ascending = [...counts].sort((a, b) => a - b);
  for (let w = Math.min(OPENCLIP_MAX_WORKERS, counts.length); w > 1; w--) {
    const share = ascending.slice(0, Math.floor(counts.length / w)).reduce((a, b) => a + b, 0);
    if (share >= batchSize) return { workers: w, batchSize };
  }
  return { workers: 1, batchSize };
}

/**
 * Epochs and warmup for `total` samples in batches of `batchSize` on `workers` loader workers: the
 * steps per epoch as open_clip_train counts them, 32 epochs or as many (up to 100) as give 500
 * steps, and a tenth of all steps as warmup (at least 1, at most 10,000).
 */
export function openClipSchedule(total: number, batchSize: number, workers: number): { epochs: number; warmup: number; stepsPerEpoch: number; totalSteps: number } {
  const stepsPerEpoch = Math.ceil(Math.ceil(total / batchSize) / workers) * workers;
  const epochs = Math.max(OPENCLIP_EPOCHS, Math.min(OPENCLIP_MAX_EPOCHS, Math.ceil(OPENCLIP_MIN_TOTAL_STEPS / stepsPerEpoch)));
  const totalSteps = stepsPerEpoch * epochs;
  const warmup = Math.max(1, Math.min(OPENCLIP_MAX_WARMUP, Math.round(totalSteps / 10)));
  return { epochs, warmup, stepsPerEpoch, totalSteps };
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/** The command for tars `names` (in order) of `dir` holding `counts` samples each. */
export function openClipCommand(dir: string, names: readonly string[], counts: readonly number[]): OpenClipCommand | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (names.length === 0 || total === 0) return undefined;
  const { workers, batchSize } = openClipSizing(counts);
  const { epochs, warmup, stepsPerEpoch, totalSteps } = openClipSchedule(total, batchSize, workers);
  const trainData = trainDataPattern(dir, names);
  const command = [
    'python -m open_clip_train.main --dataset-type webdataset',
    `--train-data ${shellQuote(trainData)} --train-num-samples ${total}`,
    `--workers ${workers} --batch-size ${batchSize}`,
    `--model ViT-B-32 --lr 5e-4 --wd 0.2 --epochs ${epochs} --warmup ${warmup}`,
  ].join(' ');
  return {
    command, train_data: trainData, train_num_samples: total, workers, batch_size: batchSize,
    epochs, warmup, steps_per_epoch: stepsPerEpoch, total_steps: totalSteps,
  };
}

/** The command for the finished tars listed in `dir` (their counts from the NNNNN_stats.json files). */
export async function openClipCommandFor(dir: string, tars: readonly string[]): Promise<OpenClipCommand | undefined> {
  const counts: number[] = [];
  for (const t of tars) counts.push(Number((await readShardStats(t))?.count ?? 0));
  const keep = tars.map((t, i) => [basename(t), counts[i]!] as const).filter(([, c]) => c > 0);
  return openClipCommand(dir, keep.map(([n]) => n), keep.map(([, c]) => c));
}

/**
 * The command for img2dataset's `files` layout: open_clip_train reads folders of KEY.jpg through its
 * `--dataset-type csv` loader (a map-style dataset: batches of --batch-size, the last partial one
 * dropped, so steps per epoch are floor(samples / batch)), given the CSV `writeOpenClipCsv` writes
 * (src/shards/files.ts): absolute image paths and captions. Sized as for tars otherwise.
 */
export function openClipCsvCommand(csv: string, counts: readonly number[]): OpenClipCommand | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const { workers, batchSize } = openClipSizing(counts);
  const stepsPerEpoch = Math.max(1, Math.floor(total / batchSize));
  const epochs = Math.max(OPENCLIP_EPOCHS, Math.min(OPENCLIP_MAX_EPOCHS, Math.ceil(OPENCLIP_MIN_TOTAL_STEPS / stepsPerEpoch)));
  const totalSteps = stepsPerEpoch * epochs;
  const warmup = Math.max(1, Math.min(OPENCLIP_MAX_WARMUP, Math.round(totalSteps / 10)));
  const command = [
    'python -m open_clip_train.main --dataset-type csv',
    `--train-data ${shellQuote(csv)} --csv-separator , --csv-img-key filepath --csv-caption-key title`,
    `--workers ${workers} --batch-size ${batchSize}`,
    `--model ViT-B-32 --lr 5e-4 --wd 0.2 --epochs ${epochs} --warmup ${warmup}`,
  ].join(' ');
  return {
    command, train_data: csv, train_num_samples: total, workers, batch_size: batchSize,
    epochs, warmup, steps_per_epoch: stepsPerEpoch, total_steps: totalSteps,
  };
}

/**
 * For img2dataset's `files` layout: writes `open_clip_train.csv` in `dir` for the folder shards
 * `shards` and resolves to the command that trains on it, with the note a summary gives beside it.
 */
export async function openClipForFiles(dir: string, shards: readonly string[]): Promise<{ command?: OpenClipCommand; note: string }> {
  const { OPENCLIP_CSV, writeOpenClipCsv } = await import('./files.js');
  const csv = resolve(dir, OPENCLIP_CSV);
  const counts = await writeOpenClipCsv(csv, shards);
  const out = `${dir.replace(/[\\/]+$/, '')}-tars`;
  if (!counts.some((c) => c > 0)) return { note: `no pair has a caption, so ${OPENCLIP_CSV} lists none: open_clip trains on captioned pairs` };
  const note = `${OPENCLIP_CSV} lists each image by its absolute path, for open_clip's --dataset-type csv (the folder stays where it is); open_clip's WebDataset loader, faster at scale, reads tars: wit convert --shards ${shellQuote(dir)} --output-format webdataset --out ${shellQuote(out)}`;
  return { command: openClipCsvCommand(csv, counts), note };
}
