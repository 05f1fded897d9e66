import { it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train, loadClip, listCheckpoints } from '../../src/train/index.js';
import { cosine } from '../../src/filter/scorer.js';
import { auroc, writeNoisyEmojiShards } from './helpers.js';

const configs = JSON.parse(process.env.EXP ?? '[]');
it('exp', async () => {
  for (const c of configs) {
    const dir = await mkdtemp(join(tmpdir(), 'exp-'));
    const t0 = Date.now();
    const { records, swapped } = await writeNoisyEmojiShards(join(dir, 's'), { count: c.count, sets: c.sets, swapFraction: 0.3, seed: 7, size: c.size ?? 32, shardSize: 250 });
    const t1 = Date.now();
    await train({ shards: [join(dir, 's')], out: join(dir, 'm'), arch: c.arch ?? 'vit-micro', steps: c.steps, batchSize: c.bs ?? 64, seed: 1, backend: 'wasm', lr: c.lr, checkpointEvery: c.every, warmupSteps: c.warmup });
    const t2 = Date.now();
    console.log(JSON.stringify(c), 'fixture', t1 - t0, 'train', t2 - t1);
    const m = (await readFile(join(dir, 'm', 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    console.log('loss', m.filter((_: unknown, i: number) => i % 10 === 9).map((x: { loss: number }) => x.loss.toFixed(2)).join(' '));
    for (const ck of await listCheckpoints(join(dir, 'm'))) {
      const clip = await loadClip(ck.dir, { backend: 'wasm' });
      const img = await clip.embedImages(records.map((r) => r.image));
      const txt = await clip.embedTexts(records.map((r) => r.caption));
      const s = records.map((r, i) => cosine(img[i]!, txt[i]!));
      const pos = s.filter((_, i) => !swapped.has(records[i]!.key));
      const neg = s.filter((_, i) => swapped.has(records[i]!.key));
      console.log('step', ck.step, 'AUROC', auroc(pos, neg).toFixed(3));
      await clip.dispose();
    }
  }
}, 1_000_000);
