import type { CommandDef } from '../command.js';
import { UsageError } from '../../util/errors.js';
import { defineOptions, flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';
import { train, trainOptions } from '../../train/index.js';

/** The two flags of `wit train --filter-rounds` (src/filter/rounds.ts), declared as every option is. */
const roundsOptions = defineOptions({
  filterRounds: { type: 'int', min: 1, metavar: 'K', help: 'after training, K rounds of: score the training shards, keep the top --keep-fraction into <out>/round-k/shards, continue training on them' },
  keepFraction: { type: 'number', min: 0.000001, max: 1, metavar: 'F', help: 'fraction each filter round keeps (with --filter-rounds)' },
});

export const command: CommandDef = {
  name: 'train',
  summary: 'train a CLIP (ViT or ResNet image tower + causal text Transformer) in TensorFlow.js on shards',
  usage: 'wit train --shards DIR… --out MODEL_DIR [--arch NAME|FILE.json] [--steps N | --epochs E] [--batch-size N] [--loss clip|siglip]',
  flags: groupFlags({ ...flagSpecs(trainOptions), ...flagSpecs(roundsOptions) }, {
    input: ['shards'],
    model: ['arch', 'init-from', 'image-size', 'context-length', 'vocab-size'],
    training: ['steps', 'epochs', 'batch-size', 'lr', 'weight-decay', 'warmup-steps', 'loss', 'seed', 'shuffle-buffer', 'grad-clip'],
    output: ['out', 'checkpoint-every', 'resume', 'overwrite'],
    'filter rounds': ['filter-rounds', 'keep-fraction'],
    performance: ['backend', 'threads', 'decode-workers'],
  }),
  examples: [
    { what: 'a tiny CLIP on a laptop', cmd: 'wit train --shards shards/ --out model/ --arch vit-tiny --steps 2000 --batch-size 64' },
    { what: 'continue a run stopped with Ctrl-C (same result as an uninterrupted run)', cmd: 'wit train --shards shards/ --out model/ --resume' },
    { what: 'fine-tune a model brought in with wit model import', cmd: 'wit train --shards shards/ --out tuned/ --init-from vit-b-32/ --lr 0.00001 --epochs 1' },
    { what: 'train, then two rounds of: keep the better half of the training pairs, train on', cmd: 'wit train --shards shards/ --out model/ --filter-rounds 2 --keep-fraction 0.5' },
  ],
  async run(flags, ctx) {
    const opts = { ...optionsFromFlags(trainOptions, flags), onProgress: ctx.progress, onLog: ctx.log, signal: ctx.signal };
    const rounds = optionsFromFlags(roundsOptions, flags);
    if (rounds.keepFraction !== undefined && rounds.filterRounds === undefined) throw new UsageError('train', '--keep-fraction goes with --filter-rounds');
    if (rounds.filterRounds !== undefined) {
      if (rounds.keepFraction === undefined) throw new UsageError('train', '--filter-rounds needs --keep-fraction');
      const { trainWithFilterRounds } = await import('../../filter/rounds.js');
      const r = await trainWithFilterRounds({ ...opts, filterRounds: rounds.filterRounds, keepFraction: rounds.keepFraction });
      const text =
        r.rounds
          .map((x) => `round ${x.round}: ${x.filter ? `kept ${x.filter.kept}/${x.filter.scored} (similarity >= ${x.filter.threshold?.toFixed(4)}), ` : ''}${x.train.steps} steps, loss ${x.train.final_loss.toFixed(4)} -> ${x.model}`)
          .join('\n') + `\nmodel: ${r.model}\n`;
      return { summary: { ...r }, text };
    }
    const s = await train(opts);
    const text =
      `trained ${s.arch} (${s.parameters.toLocaleString('en')} parameters) for ${s.steps} steps of ${s.batch_size} on ${s.backend}\n` +
      `final loss ${s.final_loss.toFixed(4)}, ${s.samples_per_sec.toFixed(1)} samples/s, ${s.seconds.toFixed(1)} s, ${s.epochs.toFixed(2)} epochs` +
      (s.bad_images ? `, ${s.bad_images} images failed to decode` : '') +
      `\nmodel: ${s.out}\n`;
    return { summary: { ...s }, text };
  },
};
