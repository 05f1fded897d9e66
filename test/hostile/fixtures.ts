/**
 * Valid inputs of every command, made once per run of the hostile-input suite and shared by its files
 * (test/helpers/shared-fixtures.ts): a shard folder, a random-weight vit-micro model, its open_clip
 * export, an index, a url list, queries, labels, an image, a tiny Wikipedia dump and a pageview file.
 * The suite attacks one of them at a time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../../src/train/backend/index.js';
import { resolveArch, withOverrides } from '../../src/train/config.js';
import { ClipModel } from '../../src/train/model.js';
import { saveModelDir } from '../../src/train/model-dir.js';
import { trainTokenizer } from '../../src/train/tokenizer.js';
import { runWit } from '../crawl/run-wit.js';
import { writeShapeShards } from '../train/synthetic-shards.js';
import { dumpXml } from '../helpers/wiki-dump.js';
import { sharedFixture } from '../helpers/shared-fixtures.js';

export interface Fixtures {
  root: string;
  shards: string;
  model: string;
  index: string;
  exportDir: string;
  exportWeights: string;
  exportConfig: string;
  exportVocab: string;
  urlList: string;
  queries: string;
  labels: string;
  recipes: string;
  image: string;
  wiki: string;
  pageviews: string;
}

async function runOrThrow(args: string[]): Promise<void> {
  const r = await runWit(args, { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`fixture: wit ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
}

/** The fixtures' paths under `root` (written by {@link makeFixtures}). */
function fixturesAt(root: string): Fixtures {
  const fx = join(root, 'fx');
  const exportDir = join(fx, 'export');
  return {
    root: fx,
    shards: join(fx, 'shards'),
    model: join(fx, 'model'),
    index: join(fx, 'index'),
    exportDir,
    exportWeights: join(exportDir, 'open_clip_model.safetensors'),
    exportConfig: join(exportDir, 'open_clip_config.json'),
    exportVocab: join(exportDir, 'bpe_vocab.txt.gz'),
    urlList: join(fx, 'list.csv'),
    queries: join(fx, 'queries.txt'),
    labels: join(fx, 'labels.txt'),
    recipes: join(fx, 'recipes.json'),
    image: join(fx, 'cat.png'),
    wiki: join(fx, 'enwiki-pages-articles.xml'),
    pageviews: join(fx, 'pageviews-20240101-000000'),
  };
}

/** Writes every fixture under `root/fx`. */
export async function makeFixtures(root: string): Promise<Fixtures> {
  const f = fixturesAt(root);
  mkdirSync(f.root, { recursive: true });
  const { captions } = await writeShapeShards(f.shards, { perClass: 2, shards: 1 });

  await initBackend('cpu');
  const tokenizer = trainTokenizer(captions, { vocabSize: 600, contextLength: 8 });
  const cfg = withOverrides(resolveArch('vit-micro'), { contextLength: 8 });
  cfg.text.vocab_size = tokenizer.vocabSize;
  const m = ClipModel.create(cfg, 'clip', 0);
  await saveModelDir(f.model, m, tokenizer);
  m.dispose();

  await runOrThrow(['embed', '--model', f.model, '--shards', f.shards, '--backend', 'wasm', '--out', f.index]);
  await runOrThrow(['model', 'export', '--model', f.model, '--out', f.exportDir]);

  writeFileSync(f.image, await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toBuffer());
  writeFileSync(f.urlList, 'url,caption\nhttp://127.0.0.1:9/a.jpg,a red circle\nhttp://127.0.0.1:9/b.jpg,a blue square\n');
  writeFileSync(f.queries, 'red circle\nblue square\n');
  writeFileSync(f.labels, 'red circle\nblue square\ngreen circle\n');
  writeFileSync(f.recipes, JSON.stringify([{ name: 'capped', cap: 1 }]));
  writeFileSync(f.wiki, dumpXml([{ title: 'Red circle', text: 'A red circle is a circle that is red. '.repeat(5) }]));
  writeFileSync(f.pageviews, 'en Red_circle 100 0\n');
  return f;
}

/**
 * The fixtures of this run, built by the first file of the suite that asks and shared by the others
 * (read-only: each file checks that no case changed them). Built in place: the index and the export
 * record their own paths.
 */
export async function sharedHostileFixtures(): Promise<Fixtures> {
  return fixturesAt(await sharedFixture('hostile-inputs', async (d) => { await makeFixtures(d); }, { inPlace: true }));
}
