/**
 * The hostile-input suite's table (docs/ARCHITECTURE.md, "The hostile-input suite"): one line per
 * command. `args` is a valid invocation; the suite swaps the value after each flag named in `slots`
 * (the inputs it attacks), after `out` (the output it claims) and after `numeric` (a number flag).
 * A new command joins the suite by adding its line here.
 */
import type { Fixtures } from './fixtures.js';

/** What a flag reads: the suite picks the input classes that apply to each kind. */
export type SlotKind =
  | 'text' // a whole text file read into memory (labels, queries, vocabulary)
  | 'json' // a whole JSON file (model config, recipes)
  | 'binary' // a whole binary file (image, weights)
  | 'stream' // a file read as a stream, possibly compressed (url list, WARC, dump, pageviews)
  | 'shards' // a shard folder or file
  | 'model' // a wit model folder
  | 'index'; // a LanceDB index folder

export interface HostileCommand {
  /** The command words, e.g. ['model', 'import']. */
  cmd: string[];
  /** A valid invocation (every input present, `out` inside `caseDir`). */
  args: (fx: Fixtures, out: string) => string[];
  /** Flag -> what it reads. */
  slots: Record<string, SlotKind>;
  /** The output flag and whether it names a folder or a file. */
  out?: { flag: string; kind: 'dir' | 'file' };
  /** A numeric flag whose value the suite replaces with NaN, Infinity and 1e999. */
  numeric?: string;
  /** Exit codes other than 2 accepted for some classes (`slot:class` or `class`), with the reason in a comment. */
  accept?: Record<string, number[]>;
  /** The exit code of the valid invocation (default 0), for the output classes that run it to its end. */
  ok?: number;
  /** Why the output classes that run the whole command skip it (a valid run takes minutes). */
  slow?: string;
}

export const COMMANDS: HostileCommand[] = [
  { cmd: ['querygen'], args: (fx, out) => ['--wiki', fx.wiki, '--pageviews', fx.pageviews, '--wordnet', 'none', '--min-count', '1', '--min-views', '1', '--min-hourly-views', '1', '--workers', '1', '--out', out], slots: { '--wiki': 'stream', '--pageviews': 'stream' }, out: { flag: '--out', kind: 'file' }, numeric: '--min-pmi' },
  { cmd: ['crawl'], args: (fx, out) => ['--queries', fx.queries, '--input', fx.urlList, '--out', out], slots: { '--queries': 'text', '--input': 'stream' }, out: { flag: '--out', kind: 'dir' }, numeric: '--max-aspect',
    // Half a query list or url list is a shorter valid one. The fixture's urls are on 127.0.0.1, which the
    // crawler refuses without --allow-private-network, so even the whole list keeps nothing: exit 1 by design.
    accept: { '--queries:truncated': [0, 1, 2], '--input:truncated': [0, 1, 2] }, ok: 1 },
  { cmd: ['train'], args: (fx, out) => ['--shards', fx.shards, '--arch', 'vit-micro', '--steps', '1', '--batch-size', '4', '--backend', 'wasm', '--out', out], slots: { '--shards': 'shards' }, out: { flag: '--out', kind: 'dir' }, numeric: '--lr' },
  { cmd: ['filter'], args: (fx, out) => ['--shards', fx.shards, '--model', fx.model, '--min-similarity', '0', '--backend', 'wasm', '--out', out], slots: { '--shards': 'shards', '--model': 'model' }, out: { flag: '--out', kind: 'dir' }, numeric: '--min-similarity' },
  { cmd: ['eval'], args: (fx, out) => ['--model', fx.model, '--shards', fx.shards, '--labels', fx.labels, '--template', '{}', '--backend', 'wasm', '--out', out], slots: { '--model': 'model', '--shards': 'shards', '--labels': 'text' }, out: { flag: '--out', kind: 'file' }, numeric: '--limit' },
  { cmd: ['embed'], args: (fx, out) => ['--model', fx.model, '--shards', fx.shards, '--backend', 'wasm', '--out', out], slots: { '--model': 'model', '--shards': 'shards' }, out: { flag: '--out', kind: 'dir' }, numeric: '--batch-size' },
  { cmd: ['embed', 'merge'], args: (fx, out) => ['--parts', fx.index, '--out', out], slots: { '--parts': 'index' }, out: { flag: '--out', kind: 'dir' } },
  { cmd: ['search'], args: (fx) => ['--index', fx.index, '--image', fx.image, '--backend', 'wasm'], slots: { '--index': 'index', '--image': 'binary' }, numeric: '--k' },
  { cmd: ['serve'], args: (fx) => ['--index', fx.index, '--port', '0', '--backend', 'wasm'], slots: { '--index': 'index' }, numeric: '--k' },
  { cmd: ['report'], args: (fx, out) => ['--run', fx.model, '--out', out], slots: { '--run': 'model' }, out: { flag: '--out', kind: 'file' }, numeric: '--samples' },
  { cmd: ['model', 'import'], args: (fx, out) => ['--weights', fx.exportWeights, '--config', fx.exportConfig, '--vocab', fx.exportVocab, '--out', out], slots: { '--weights': 'binary', '--config': 'json', '--vocab': 'text' }, out: { flag: '--out', kind: 'dir' } },
  { cmd: ['model', 'export'], args: (fx, out) => ['--model', fx.model, '--out', out], slots: { '--model': 'model' }, out: { flag: '--out', kind: 'dir' } },
  // The ONNX writer and its weights reader (the onnx backend's, without tfjs).
  { cmd: ['model', 'export'], args: (fx, out) => ['--model', fx.model, '--format', 'onnx', '--out', out], slots: { '--model': 'model' }, out: { flag: '--out', kind: 'dir' } },
  { cmd: ['convert'], args: (fx, out) => ['--shards', fx.shards, '--output-format', 'webdataset', '--out', out], slots: { '--shards': 'shards' }, out: { flag: '--out', kind: 'dir' } },
  { cmd: ['compare'], args: (fx, out) => ['--pool', fx.shards, '--eval', fx.shards, '--recipes', fx.recipes, '--labels', fx.labels, '--seeds', '1', '--steps', '1', '--batch-size', '4', '--arch', 'vit-micro', '--backend', 'wasm', '--overlap', 'keep', '--no-random-control', '--out', out], slots: { '--pool': 'shards', '--eval': 'shards', '--recipes': 'json', '--labels': 'text' }, out: { flag: '--out', kind: 'dir' }, numeric: '--lr' },
  { cmd: ['demo'], args: (_fx, out) => ['--out', out, '--skip', 'report'], slots: {}, out: { flag: '--out', kind: 'dir' }, numeric: '--scale', slow: 'a whole demo takes minutes; its claim is the shared one' },
];
