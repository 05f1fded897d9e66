import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainWithFilterRounds, type FilterRoundsOptions } from '../../src/filter/rounds.js';
import { readShards, readManifest } from '../../src/shards/index.js';
import { UsageError } from '../../src/util/errors.js';
import { writeNoisyEmojiShards } from './helpers.js';

// Needs `npm run build` (decode workers run compiled JS).
let dir: string;
let shards: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-filter-rounds-'));
  shards = join(dir, 'noisy');
  await writeNoisyEmojiShards(shards, { count: 40, swapFraction: 0.3, seed: 3, size: 32, shardSize: 50 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const exists = (p: string) => stat(p).then(() => true, () => false);

describe('trainWithFilterRounds', () => {
  it('trains, scores, keeps the top fraction into round dirs, continues training; a rerun redoes nothing', async () => {
    const out = join(dir, 'model');
    const opts: FilterRoundsOptions = { shards: [shards], out, arch: 'vit-micro', steps: 3, batchSize: 16, seed: 1, backend: 'wasm', filterRounds: 2, keepFraction: 0.5, filter: { batchSize: 32 } };
    const r = await trainWithFilterRounds(opts);
    const models = [join(out, 'round-0', 'model'), join(out, 'round-1', 'model'), out];
    expect(r.rounds.map((x) => [x.round, x.model, x.train.steps])).toEqual([[0, models[0], 3], [1, models[1], 3], [2, models[2], 3]]);
    expect(r.model).toBe(out);
    for (const round of [1, 2]) {
      const s = r.rounds[round]!;
      expect(s.scoredWith).toBe(models[round - 1]);
      expect(s.filter!.scored).toBe(80);
      expect(s.filter!.kept).toBe(40); // exact: round(0.5 * 80)
      const kept: string[] = [];
      for await (const rec of readShards(join(out, `round-${round}`, 'shards'), { images: false })) kept.push(rec.key);
      expect(kept.length).toBe(40);
      expect(s.shards).toEqual([join(out, `round-${round}`, 'shards')]);
      expect((await readManifest(join(out, `round-${round}`, 'shards')))?.stage).toBe('filter');
      // Trained on the kept pairs, from the previous round's weights: 16 + 16 + the 8 left of the pass
      // (a batch ends at the pass boundary, so it never holds a pair twice).
      expect(s.train.samples).toBe(40);
    }
    for (const m of models) expect(await exists(join(m, 'model.weights.bin'))).toBe(true);
    // Rerun with --resume: every round's training is done and its filter shards are finished.
    const again = await trainWithFilterRounds({ ...opts, resume: true });
    expect(again.rounds.map((x) => x.train.resumed_from)).toEqual([3, 3, 3]);
    expect(again.rounds.slice(1).map((x) => x.filter!.shards.resumed)).toEqual([2, 2]);
    expect(again.rounds.slice(1).map((x) => x.filter!.kept)).toEqual([40, 40]);
  });

  it('rejects bad round options', async () => {
    const base = { shards: [shards], out: join(dir, 'bad') };
    await expect(trainWithFilterRounds({ ...base, filterRounds: 0, keepFraction: 0.5 })).rejects.toThrow(UsageError);
    await expect(trainWithFilterRounds({ ...base, filterRounds: 1, keepFraction: 1.2 })).rejects.toThrow(/keep-fraction/);
  });
});
