import type { ClipHandle } from '../train/index.js';
import { InputError, UsageError, errorMessage } from '../util/errors.js';
import { defineOptions, resolveOptions, type OptionsInput } from '../util/options.js';
import { embedDim, openModel, type Backend } from './model.js';
import { INFERENCE_OPTIONS, type Device } from '../train/backend/inference-options.js';
import { EmbeddingIndex, IMAGE_COLUMN, sqlString, type SearchHit } from './store.js';
import { readInputFile } from '../util/input.js';

const STAGE = 'search';

/** Options of `wit search`, declared once (docs/ARCHITECTURE.md, "Options"). */
export const SEARCH_OPTIONS = defineOptions({
  index: { type: 'string', required: true, metavar: 'INDEX', help: 'index directory written by wit embed' },
  text: { type: 'string', positional: true, metavar: 'TEXT', help: 'text to search for (text to image); also the bare argument' },
  image: { type: 'string', metavar: 'FILE', help: 'image file to search with (image to image)' },
  model: { type: 'string', metavar: 'DIR', help: 'model to embed the query (default: the one the index was made with)' },
  k: { type: 'int', min: 1, max: 1000, default: 10, help: 'results to return' },
  ...INFERENCE_OPTIONS,
});

/** Options of {@link search}. */
export type SearchOptions = OptionsInput<typeof SEARCH_OPTIONS>;

/** One result, ranked. */
export interface RankedHit extends SearchHit {
  rank: number;
}

/** What a search returns (snake_case, as every command's summary). */
export interface SearchSummary {
  index: string;
  query: { text: string | null; image: string | null };
  results: RankedHit[];
  duration: number;
}

/**
 * An index and the model that embeds its queries, opened once (wit search opens one per query,
 * wit serve one for its lifetime). The model must produce embeddings of the index's width.
 */
export class Searcher {
  private constructor(public index: EmbeddingIndex, private readonly clip: ClipHandle, private readonly stage: string) {}

  /**
   * Opens the index again from disk (wit serve, when `wit embed` rebuilt it under the server) and
   * closes the old one. Throws as {@link Searcher.open} does (an unfinished index, another width);
   * the old index stays in use then.
   */
  async reopen(): Promise<void> {
    const fresh = await EmbeddingIndex.open(this.index.dir, this.stage);
    const dim = embedDim(this.clip);
    if (fresh.meta.embed_dim !== dim) {
      fresh.close();
      throw new UsageError(this.stage, `the index now holds ${fresh.meta.embed_dim}-dimensional embeddings but the query model makes ${dim}-dimensional ones`, { file: this.index.dir });
    }
    const old = this.index;
    this.index = fresh;
    // Requests that started on the old table finish on it; it is closed a little later.
    setTimeout(() => old.close(), 10_000).unref();
  }

  /**
   * Opens the index at `dir` and its model (or `model`). Throws UsageError/InputError naming the
   * path for a missing or corrupt index, UsageError when the model's embedding width differs.
   */
  static async open(dir: string, opts: { model?: string; backend?: Backend; device?: Device; threads?: number; stage?: string } = {}): Promise<Searcher> {
    const stage = opts.stage ?? STAGE;
    const index = await EmbeddingIndex.open(dir, stage);
    let clip: ClipHandle;
    try {
      clip = await openModel(opts.model ?? index.meta.model, { backend: opts.backend ?? 'auto', device: opts.device, threads: opts.threads }, stage);
    } catch (err) {
      index.close();
      throw err;
    }
    const dim = embedDim(clip);
    if (dim !== index.meta.embed_dim) {
      index.close();
      await clip.dispose();
      throw new UsageError(stage, `the index holds ${index.meta.embed_dim}-dimensional embeddings (model ${index.meta.model}) but the query model ${opts.model ?? index.meta.model} makes ${dim}-dimensional ones; search with the model the index was made with`, { file: dir });
    }
    return new Searcher(index, clip, stage);
  }

  /** Images closest to a text (text to image). Throws UsageError for an empty text. */
  async byText(text: string, k: number): Promise<RankedHit[]> {
    if (!text.trim()) throw new UsageError(STAGE, 'the query is empty: give a text or --image FILE');
    const [vec] = await this.clip.embedTexts([text]);
    return ranked(await this.index.search(vec!, { k, column: IMAGE_COLUMN }));
  }

  /** Images closest to an encoded image (image to image). Throws InputError when it does not decode. */
  async byImageBytes(bytes: Uint8Array, name: string, k: number): Promise<RankedHit[]> {
    let px: Uint8Array;
    try {
      px = await this.clip.decoder.decode(bytes, this.clip.imageSize);
    } catch (err) {
      throw new InputError(STAGE, name, `not a readable image: ${errorMessage(err)}`);
    }
    const [vec] = await this.clip.embedPixels([px]);
    return ranked(await this.index.search(vec!, { k, column: IMAGE_COLUMN }));
  }

  /**
   * Neighbours of a pair of the index by its image embedding (itself excluded), or undefined for an
   * unknown id. Pairs are named by id (SearchHit.id), not key: keys repeat across shard sets.
   */
  async neighbours(id: string, k: number): Promise<{ pair: SearchHit; results: RankedHit[] } | undefined> {
    const pair = await this.index.byId(id);
    if (!pair) return undefined;
    const hits = await this.index.search(pair.image_vector, { k, column: IMAGE_COLUMN, where: this.index.notId(id) });
    const { image_vector: _i, text_vector: _t, ...rest } = pair;
    return { pair: rest, results: ranked(hits) };
  }

  /** Frees the model and closes the index. */
  async close(): Promise<void> {
    this.index.close();
    await this.clip.dispose();
  }
}

function ranked(hits: SearchHit[]): RankedHit[] {
  return hits.map((h, i) => ({ rank: i + 1, ...h }));
}

/**
 * Searches an index by text (text to image) or by an image file (image to image).
 * Resolves to the top-k pairs with their cosine similarity, best first. Throws UsageError for an empty
 * query or both kinds at once, a missing index or a model of another width; InputError naming an
 * unreadable image file or a corrupt index.
 */
export async function search(input: SearchOptions): Promise<SearchSummary> {
  const t0 = performance.now();
  const opts = resolveOptions(STAGE, SEARCH_OPTIONS, input);
  if (opts.text !== undefined && opts.image !== undefined) throw new UsageError(STAGE, 'give a text or --image FILE, not both');
  if (opts.image === undefined && !(opts.text ?? '').trim()) throw new UsageError(STAGE, 'the query is empty: give a text or --image FILE');
  let bytes: Uint8Array | undefined;
  if (opts.image !== undefined) {
    bytes = await readInputFile(opts.image, { kind: 'image', stage: STAGE });
  }
  const searcher = await Searcher.open(opts.index, { model: opts.model, backend: opts.backend, device: opts.device, threads: opts.threads });
  try {
    const results = bytes ? await searcher.byImageBytes(bytes, opts.image!, opts.k) : await searcher.byText(opts.text!, opts.k);
    return { index: opts.index, query: { text: opts.text ?? null, image: opts.image ?? null }, results, duration: (performance.now() - t0) / 1000 };
  } finally {
    await searcher.close();
  }
}
