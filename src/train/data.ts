import { readShardFile, readShardInfo, type PairRecord } from '../shards/index.js';
import { Rng, mixSeed } from '../util/rng.js';
import { sampleCrop, normalizeInto, type CropRange } from './preprocess.js';
import type { ImageDecoder } from './decoder.js';
import type { TextTokenizer } from './tokenizer.js';
import { decodeFailureReason } from '../util/image-guard.js';

/**
 * What the stream left out or cut: records without image bytes, and each bad item by its reason
 * (`image_refused`, `undecodable`, `caption_too_long`: docs/ARCHITECTURE.md, "Errors and dropped items").
 */
export interface StreamStats {
  skipped: number;
  badItems: Record<string, number>;
}

function countItem(stats: StreamStats, reason: string): void {
  stats.badItems[reason] = (stats.badItems[reason] ?? 0) + 1;
}

/** Where the sample stream is: a pass over the data and the number of samples it has yielded. */
export interface StreamPosition {
  epoch: number;
  index: number;
}

/** One sample of the shuffled stream, with its position (which seeds its augmentation). */
export interface StreamSample {
  record: PairRecord;
  epoch: number;
  index: number;
}

/** Total rows of the shards, from their footers or tar headers (no image read). */
export async function countRows(files: readonly string[]): Promise<number> {
  let n = 0;
  for (const f of files) n += (await readShardInfo(f)).rows;
  return n;
}

/**
 * Endless stream of the shards' pairs, pass after pass: each pass visits the files in a seeded
 * order and shuffles records through a buffer of `bufferSize` (the approximate shuffle of
 * webdataset/tf.data, memory bounded by the buffer). The order is a pure function of (seed,
 * pass), so `start` resumes exactly: the records before it are read again but not decoded.
 * Records without image bytes are skipped before shuffling (counted in `skipped`).
 */
export async function* shuffledPairs(
  files: readonly string[],
  seed: number,
  bufferSize: number,
  start: StreamPosition = { epoch: 0, index: 0 },
  stats: StreamStats = { skipped: 0, badItems: {} },
  maxEpochs = Infinity,
): AsyncGenerator<StreamSample> {
  for (let epoch = start.epoch; epoch < maxEpochs; epoch++) {
    const rng = new Rng(mixSeed(seed, 0x5eed, epoch));
    const order = [...files];
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const skipTo = epoch === start.epoch ? start.index : 0;
    let index = 0;
    let any = false;
    const buffer: PairRecord[] = [];
    for (const file of order) {
      for await (const rec of readShardFile(file, { onBadItem: (reason) => countItem(stats, reason) })) {
        if (!rec.image.length) {
          stats.skipped++;
          continue;
        }
        any = true;
        if (buffer.length < bufferSize) {
          buffer.push(rec);
          continue;
        }
        const j = rng.below(bufferSize);
        const out = buffer[j]!;
        buffer[j] = rec;
        if (index >= skipTo) yield { record: out, epoch, index };
        index++;
      }
    }
    while (buffer.length) {
      const j = rng.below(buffer.length);
      const out = buffer[j]!;
      buffer[j] = buffer[buffer.length - 1]!;
      buffer.pop();
      if (index >= skipTo) yield { record: out, epoch, index };
      index++;
    }
    if (!any) return; // no usable pairs at all: do not spin forever
  }
}

/**
 * The stream of shuffledPairs for batches that run across pass boundaries (`crossPasses`): every batch
 * holds exactly `batchSize` samples, so a run of S steps sees exactly S x batchSize samples whatever the
 * pool's size (what `wit compare`'s equal compute needs). A pass's first samples complete the batch the
 * previous pass left unfinished; one whose key is already in that batch would be a false negative for
 * the contrastive loss, so it is held back and comes right after the batch is full (a deterministic
 * reordering of the head of the pass). Positions count samples of this reordered stream; a resumed
 * stream replays the passes before `start` without yielding them (no image is decoded), since a pass's
 * head depends on the tail of the one before.
 */
export async function* crossPassPairs(
  files: readonly string[],
  seed: number,
  bufferSize: number,
  batchSize: number,
  start: StreamPosition = { epoch: 0, index: 0 },
  stats: StreamStats = { skipped: 0, badItems: {} },
): AsyncGenerator<StreamSample> {
  let window: string[] = []; // keys of the batch being filled (aligned on the global sample count)
  let epoch = -1;
  let index = 0;
  let headRoom = 0;
  let tail = new Set<string>();
  let held: PairRecord[] = [];
  const visible = (e: number, i: number) => e > start.epoch || (e === start.epoch && i >= start.index);
  const take = (record: PairRecord): StreamSample => {
    const s = { record, epoch, index: index++ };
    window.push(record.key);
    if (window.length >= batchSize) window = [];
    return s;
  };
  for await (const s of shuffledPairs(files, seed, bufferSize, { epoch: 0, index: 0 }, stats)) {
    if (s.epoch !== epoch) {
      for (const r of held) {
        const o = take(r);
        if (visible(o.epoch, o.index)) yield o;
      }
      held = [];
      epoch = s.epoch;
      index = 0;
      tail = new Set(window);
      headRoom = window.length ? batchSize - window.length : 0;
    }
    if (index < headRoom && tail.has(s.record.key)) {
      held.push(s.record);
      continue;
    }
    const o = take(s.record);
    if (visible(o.epoch, o.index)) yield o;
    if (index === headRoom && held.length) {
      for (const r of held) {
        const h = take(r);
        if (visible(h.epoch, h.index)) yield h;
      }
      held = [];
    }
  }
  for (const r of held) {
    const o = take(r);
    if (visible(o.epoch, o.index)) yield o;
  }
}

/** A batch ready for the model. */
export interface Batch {
  /** [n, S, S, 3] CLIP-normalised, row-major. */
  images: Float32Array;
  /** [n, L] token ids. */
  ids: Int32Array;
  /** [n] position of [EOS]. */
  eos: Int32Array;
  n: number;
  /** Shard keys of the n pairs (distinct within a batch). */
  keys: string[];
  /** Stream position after this batch's last sample: where a resumed run continues. */
  end: StreamPosition;
  /** Samples whose image failed to decode (dropped from the batch). */
  bad: number;
  /** Reasons of those failures. */
  errors: string[];
}

/** Options of the batch loader. */
export interface BatchLoaderOptions {
  files: readonly string[];
  batchSize: number;
  imageSize: number;
  tokenizer: TextTokenizer;
  /** Input normalisation (the model config's image_mean/image_std; CLIP's when absent). */
  mean?: readonly number[];
  std?: readonly number[];
  decoder: ImageDecoder;
  seed: number;
  shuffleBuffer: number;
  /** Batches decoding ahead of the one in use (default 2). */
  prefetch?: number;
  start?: StreamPosition;
  /** Random resized crop ranges; undefined = centre crop (no augmentation). */
  augment?: CropRange;
  /** Batches run across pass boundaries (crossPassPairs): every batch is full, samples = steps x batch. */
  crossPasses?: boolean;
}

/**
 * Turns the shuffled stream into batches, keeping `prefetch` batches in flight: their records are
 * read in order and their decodes posted to the workers before the current step runs, so the
 * backend never waits on sharp. Each sample's crop is drawn from a generator seeded by (seed,
 * pass, position), hence identical in a resumed run.
 */
export class BatchLoader {
  private readonly stream: AsyncGenerator<StreamSample>;
  private readonly queue: Array<Promise<Batch | null>> = [];
  private chain: Promise<unknown> = Promise.resolve();
  private done = false;
  /** A sample of the next pass, read while filling the last batch of the previous one. */
  private lookahead: StreamSample | undefined;
  readonly streamStats: StreamStats = { skipped: 0, badItems: {} };

  constructor(private readonly o: BatchLoaderOptions) {
    this.stream = o.crossPasses
      ? crossPassPairs(o.files, o.seed, o.shuffleBuffer, o.batchSize, o.start, this.streamStats)
      : shuffledPairs(o.files, o.seed, o.shuffleBuffer, o.start, this.streamStats);
  }

  /**
   * The next `n` samples of one pass: a batch never crosses a pass boundary, since the next pass
   * holds the same pairs again and a pair twice in a batch is a false negative for the contrastive
   * loss. So the last batch of each pass may be short (as a DataLoader without drop_last). With
   * `crossPasses` the stream itself keeps a pair out of a batch it is already in, and batches are full.
   */
  private async take(n: number): Promise<StreamSample[]> {
    const out: StreamSample[] = [];
    while (out.length < n && !this.done) {
      let sample = this.lookahead;
      this.lookahead = undefined;
      if (!sample) {
        const r = await this.stream.next();
        if (r.done) {
          this.done = true;
          break;
        }
        sample = r.value;
      }
      if (!this.o.crossPasses && out.length && sample.epoch !== out[0]!.epoch) {
        this.lookahead = sample;
        break;
      }
      out.push(sample);
    }
    return out;
  }

  private async assemble(samples: StreamSample[]): Promise<Batch | null> {
    if (!samples.length) return null;
    const { imageSize: s, tokenizer, decoder, augment, seed } = this.o;
    const decodes = samples.map(({ record, epoch, index }) => {
      const crop = augment ? sampleCrop(new Rng(mixSeed(seed, 0xc409, epoch, index)), augment) : undefined;
      return decoder.decode(record.image, s, crop).then(
        (rgb) => ({ ok: true as const, rgb }),
        (err: Error) => ({ ok: false as const, error: err.message }),
      );
    });
    const results = await Promise.all(decodes);
    const good = results.flatMap((r, i) => (r.ok ? [{ rgb: r.rgb, caption: samples[i]!.record.caption, key: samples[i]!.record.key }] : []));
    const px = s * s * 3;
    const images = new Float32Array(good.length * px);
    good.forEach((g, i) => normalizeInto(g.rgb, images, i * px, this.o.mean, this.o.std));
    const { ids, eos } = tokenizer.encodeBatch(good.map((g) => g.caption));
    const last = samples[samples.length - 1]!;
    const errors = results.flatMap((r) => (r.ok ? [] : [r.error]));
    for (const e of errors) countItem(this.streamStats, decodeFailureReason(e));
    return { images, ids, eos, n: good.length, keys: good.map((g) => g.key), end: { epoch: last.epoch, index: last.index + 1 }, bad: errors.length, errors };
  }

  private startBatch(): Promise<Batch | null> {
    const samples = this.chain.then(() => this.take(this.o.batchSize));
    this.chain = samples.catch(() => undefined);
    const batch = samples.then((s) => this.assemble(s));
    // A prefetched batch may fail (corrupt shard) before anyone awaits it; next() rethrows it.
    batch.catch(() => undefined);
    return batch;
  }

  /** The next batch (null when the stream ended); starts the decoding of the ones after it. */
  async next(): Promise<Batch | null> {
    const depth = Math.max(1, this.o.prefetch ?? 2) + 1;
    while (this.queue.length < depth) this.queue.push(this.startBatch());
    const b = await this.queue.shift()!;
    this.queue.push(this.startBatch());
    return b;
  }

  /** Stops reading; in-flight decodes are left to the decoder's close(). */
  async close(): Promise<void> {
    this.done = true;
    await this.stream.return(undefined);
  }
}
