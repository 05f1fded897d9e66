import { EMOJI_SETS } from '../data/emoji.js';
import { defaultOf, defineOptions } from '../util/options.js';
import { trainOptions } from '../train/options.js';

/** The demo's stages, in the order they run. */
export const DEMO_STAGES = ['data', 'querygen', 'crawl', 'heldout', 'train', 'filter', 'eval', 'index', 'compare', 'report'] as const;

/**
 * Options of `wit demo`, declared once (docs/ARCHITECTURE.md, "Options"). --skip's stage names are
 * checked by the demo itself, which names the unknown stage.
 */
export const DEMO_OPTIONS = defineOptions({
  out: { type: 'string', default: 'data/demo', metavar: 'DIR', help: 'folder for everything the demo writes' },
  scale: { type: 'number', default: 1, min: 0.1, max: 50, help: 'size multiplier: emoji (100 x N), Wikipedia articles (1500 x N), training steps' },
  skip: { type: 'string[]', metavar: 'STAGE…', help: `stages to skip when their output exists (${DEMO_STAGES.join(', ')})` },
  steps: { type: 'int', min: 1, help: 'training steps (default 300 x sqrt(scale))' },
  arch: { type: 'string', default: 'vit-micro', help: 'model architecture (vit-tiny: 64 px, about 10x slower)' },
  batchSize: { type: 'int', default: defaultOf(trainOptions, 'batchSize'), min: 2, help: 'pairs per training step' },
  heldout: { type: 'string', default: 'twitter', choices: EMOJI_SETS, help: 'emoji design held out of training for the zero-shot test (the site shows the other two)' },
  lr: { type: 'number', default: 3e-3, min: 0, help: 'peak learning rate of the training' },
  seed: { type: 'int', default: 0, help: 'seed of the generated data and the training' },
  workers: { type: 'int', min: 1, help: 'querygen worker threads' },
  compare: { type: 'boolean', default: false, help: "also run the compare stage: raw, balanced (cap), MetaCLIP's sampling, filtered by a scorer trained on a third of the crawl's images (kept out of the pool), balanced + filtered, each with its size-matched random control; trained at exactly equal samples over --compare-seeds (README.md, 'compare', gives the time)" },
  compareSeeds: { type: 'int', default: 5, min: 1, max: 20, help: 'seeds per recipe of the compare stage' },
  compareSteps: { type: 'int', min: 1, help: 'training steps of each compare cell (default 150 x sqrt(scale), half the demo model\'s)' },
});

/** `wit demo --serve`: serve the site of a demo folder again instead of running the demo. */
export const DEMO_SERVE_OPTIONS = defineOptions({
  serve: { type: 'boolean', default: false, help: 'only serve the demo site of --out again (for rerunning wit crawl by hand) until interrupted' },
  port: { type: 'int', min: 0, max: 65535, help: 'port for --serve (default: the one the demo used)' },
});
