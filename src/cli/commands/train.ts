import type { CommandDef } from '../command.js';
import { UsageError } from '../../util/errors.js';
import { ARCHS } from '../../train/config.js';
import { BACKEND_NAMES } from '../../train/backend/index.js';
import { train, type TrainOptions } from '../../train/index.js';

export const command: CommandDef = {
  name: 'train',
  summary: 'train a CLIP (ViT or ResNet image tower + causal text Transformer) in TensorFlow.js on shards',
  usage: 'wit train --shards DIR… --out MODEL_DIR [--arch NAME|FILE.json] [--steps N | --epochs E] [--batch-size N] [--loss clip|siglip]',
  flags: {
    shards: { type: 'string[]', description: 'shard files or directories of shards', required: true, metavar: 'DIR…' },
    out: { type: 'string', description: 'model directory to write (weights, tokenizer, config, metrics.jsonl, checkpoints/)', required: true, metavar: 'DIR' },
    arch: { type: 'string', description: `architecture: ${Object.keys(ARCHS).join(', ')}, or a JSON config file (default vit-tiny; with --resume, the run's own)`, metavar: 'NAME' },
    steps: { type: 'int', description: 'optimizer steps (default: --epochs passes over the shards)', min: 1 },
    epochs: { type: 'number', description: 'passes over the shards when --steps is not given (default 1)', min: 0.0001 },
    'batch-size': { type: 'int', description: "pairs per step (default 64; with --resume, the run's own)", min: 2 },
    lr: { type: 'number', description: "peak learning rate, AdamW with warmup then cosine decay (default 5e-4; with --resume, the run's own)", min: 0 },
    'weight-decay': { type: 'number', description: "decoupled weight decay, not on gains, biases, embeddings, logit scale (default 0.2; with --resume, the run's own)", min: 0 },
    'warmup-steps': { type: 'int', description: 'linear warmup steps (default: min(500, 10% of the steps))', min: 0 },
    loss: { type: 'string', description: "clip = symmetric InfoNCE; siglip = sigmoid loss, t'=log 10, b=-10 (default clip; with --resume, the run's own)", choices: ['clip', 'siglip'] },
    seed: { type: 'int', description: "seeds init, shuffling and augmentation (default 0; with --resume, the run's own)" },
    backend: { type: 'string', description: 'tfjs backend; auto = tfjs-node-gpu, tfjs-node, wasm, cpu (first that works)', default: 'auto', choices: BACKEND_NAMES },
    'checkpoint-every': { type: 'int', description: 'save a checkpoint every N steps (and always at the end)', default: 1000, min: 1 },
    resume: { type: 'boolean', description: 'continue from the last checkpoint in --out (same result as an uninterrupted run)', default: false },
    'init-from': { type: 'string', description: 'start from the weights and tokenizer of this model dir (fine-tune; new optimizer and schedule)', metavar: 'DIR' },
    'image-size': { type: 'int', description: "override the architecture's image size", min: 8 },
    'context-length': { type: 'int', description: "override the architecture's text context length", min: 3 },
    'vocab-size': { type: 'int', description: 'override the maximum BPE vocabulary (>= 515)', min: 515 },
    'shuffle-buffer': { type: 'int', description: "records in the shuffle buffer (default 2000; with --resume, the run's own)", min: 1 },
    'grad-clip': { type: 'number', description: "clip gradients to this global L2 norm, 0 = off (default 1; with --resume, the run's own)", min: 0 },
    threads: { type: 'int', description: "wasm backend: threads of wit's matrix-multiply pool (default: all cores; also WIT_GEMM_THREADS)", min: 1, max: 64 },
    'filter-rounds': { type: 'int', description: 'after training, K rounds of: score the training shards, keep the top --keep-fraction into <out>/round-k/shards, continue training on them', min: 1, metavar: 'K' },
    'keep-fraction': { type: 'number', description: 'fraction each filter round keeps (with --filter-rounds)', min: 0.000001, max: 1, metavar: 'F' },
    'decode-workers': { type: 'int', description: 'image decoding worker threads (default: cores - 1, max 4; 0 = inline)', min: 0, max: 64 },
  },
  async run(flags, ctx) {
    const opts: TrainOptions = {
      shards: flags.shards as string[],
      out: flags.out as string,
      arch: flags.arch as string | undefined,
      steps: flags.steps as number | undefined,
      epochs: flags.epochs as number | undefined,
      batchSize: flags.batchSize as number | undefined,
      lr: flags.lr as number,
      weightDecay: flags.weightDecay as number,
      warmupSteps: flags.warmupSteps as number | undefined,
      loss: flags.loss as TrainOptions['loss'],
      seed: flags.seed as number,
      backend: flags.backend as TrainOptions['backend'],
      checkpointEvery: flags.checkpointEvery as number,
      resume: flags.resume as boolean,
      initFrom: flags.initFrom as string | undefined,
      imageSize: flags.imageSize as number | undefined,
      contextLength: flags.contextLength as number | undefined,
      vocabSize: flags.vocabSize as number | undefined,
      shuffleBuffer: flags.shuffleBuffer as number,
      gradClip: flags.gradClip as number,
      decodeWorkers: flags.decodeWorkers as number | undefined,
      onProgress: ctx.progress,
      onLog: ctx.log,
      signal: ctx.signal,
    };
    // The backend reads the thread count once, when it starts; the CLI is the one place that sets it.
    if (flags.threads !== undefined) process.env.WIT_GEMM_THREADS = String(flags.threads);
    if (flags.keepFraction !== undefined && flags.filterRounds === undefined) throw new UsageError('train', '--keep-fraction goes with --filter-rounds');
    if (flags.filterRounds !== undefined) {
      if (flags.keepFraction === undefined) throw new UsageError('train', '--filter-rounds needs --keep-fraction');
      const { trainWithFilterRounds } = await import('../../filter/rounds.js');
      const r = await trainWithFilterRounds({ ...opts, filterRounds: flags.filterRounds as number, keepFraction: flags.keepFraction as number });
      const text =
        r.rounds
          .map((x) => `round ${x.round}: ${x.filter ? `kept ${x.filter.kept}/${x.filter.scored} (similarity >= ${x.filter.threshold?.toFixed(4)}), ` : ''}${x.train.steps} steps, loss ${x.train.finalLoss.toFixed(4)} -> ${x.model}`)
          .join('\n') + `\nmodel: ${r.model}\n`;
      return { summary: { ...r }, text };
    }
    const s = await train(opts);
    const text =
      `trained ${s.arch} (${s.parameters.toLocaleString('en')} parameters) for ${s.steps} steps of ${s.batchSize} on ${s.backend}\n` +
      `final loss ${s.finalLoss.toFixed(4)}, ${s.samplesPerSec.toFixed(1)} samples/s, ${s.seconds.toFixed(1)} s, ${s.epochs.toFixed(2)} epochs` +
      (s.badImages ? `, ${s.badImages} images failed to decode` : '') +
      `\nmodel: ${s.out}\n`;
    return { summary: { ...s }, text };
  },
};
