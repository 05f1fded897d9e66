/**
 * Valid inputs of every command, made once per run of the hostile-input suite: a shard folder, a
 * random-weight vit-micro model, its open_clip export, an index, a url list, queries, labels, an image,
 * a tiny Wikipedia dump and a pageview file. The suite attacks one of them at a time.
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

/** Writes every fixture under `root/fx`. */
export async function makeFixtures(root: string): Promise<Fixtures> {
  const fx = join(root, 'fx');
  mkdirSync(fx, { recursive: true });
  const shards = join(fx, 'shards');
  const { captions } = await writeShapeShards(shards, { perClass: 2, shards: 1 });

  await initBackend('cpu');
  const model = join(fx, 'model');
  const tokenizer = trainTokenizer(captions, { vocabSize: 600, contextLength: 8 });
  const cfg = withOverrides(resolveArch('vit-micro'), { contextLength: 8 });
  cfg.text.vocab_size = tokenizer.vocabSize;
  const m = ClipModel.create(cfg, 'clip', 0);
  await saveModelDir(model, m, tokenizer);
  m.dispose();

  const index = join(fx, 'index');
  const exportDir = join(fx, 'export');
  await runOrThrow(['embed', '--model', model, '--shards', shards, '--backend', 'wasm', '--out', index]);
  await runOrThrow(['model', 'export', '--model', model, '--out', exportDir]);

  const image = join(fx, 'cat.png');
  writeFileSync(image, await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toBuffer());
  const urlList = join(fx, 'list.csv');
  writeFileSync(urlList, 'url,caption\nhttp://127.0.0.1:9/a.jpg,a red circle\nhttp://127.0.0.1:9/b.jpg,a blue square\n');
  const queries = join(fx, 'queries.txt');
  writeFileSync(queries, 'red circle\nblue square\n');
  const labels = join(fx, 'labels.txt');
  writeFileSync(labels, 'red circle\nblue square\ngreen circle\n');
  const recipes = join(fx, 'recipes.json');
  writeFileSync(recipes, JSON.stringify([{ name: 'capped', cap: 1 }]));
  const wiki = join(fx, 'enwiki-pages-articles.xml');
  writeFileSync(wiki, dumpXml([{ title: 'Red circle', text: 'A red circle is a circle that is red. '.repeat(5) }]));
  const pageviews = join(fx, 'pageviews-20240101-000000');
  writeFileSync(pageviews, 'en Red_circle 100 0\n');
  return {
    root: fx, shards, model, index, exportDir,
    exportWeights: join(exportDir, 'open_clip_model.safetensors'),
    exportConfig: join(exportDir, 'open_clip_config.json'),
    exportVocab: join(exportDir, 'bpe_vocab.txt.gz'),
    urlList, queries, labels, recipes, image, wiki, pageviews,
  };
}
