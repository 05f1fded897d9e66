import { readFile, stat } from 'node:fs/promises';
import { lstatSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { checkCount, checkSum, describeProblems, describeValue, MAX_METADATA_LIST, type FieldProblem } from '../util/checked.js';
import { createRequire } from 'node:module';
import type { Connection, Table } from '@lancedb/lancedb';
import { InputError, UsageError, WitError, errorMessage, nativeMessage } from '../util/errors.js';
import { writeJsonAtomic } from '../util/atomic.js';

// LanceDB is CommonJS and checks Arrow objects by class: they must come from the same (CommonJS)
// copy of apache-arrow, not from its ESM build.
// Required on first use, not with this module: a command that refuses its input never loads it (0.13 s of CPU).
let arrowLib: typeof import('apache-arrow') | undefined;
export const arrow = (): typeof import('apache-arrow') => (arrowLib ??= createRequire(import.meta.url)('apache-arrow') as typeof import('apache-arrow'));
type Schema = import('apache-arrow').Schema;

/**
 * The embedding index on disk (docs/ARCHITECTURE.md, "Embeddings and search"): a LanceDB database
 * directory holding one table of pairs with their image and text embeddings, and `wit-index.json`
 * beside it recording the model, the embedding width, the dtype and which input shards are finished.
 * LanceDB commits each append atomically; a shard counts as embedded only once the index file lists
 * it, and rows of a shard left half-appended by a kill are deleted before the shard is redone.
 */

/** The LanceDB table of an index. */
export const TABLE = 'pairs';
/** The index's own metadata file, inside the index directory. */
export const META_FILE = 'wit-index.json';
/** Vector columns of the table. */
export const IMAGE_COLUMN = 'image_vector';
export const TEXT_COLUMN = 'text_vector';
export type VectorColumn = typeof IMAGE_COLUMN | typeof TEXT_COLUMN;

export type Dtype = 'float16' | 'float32';
export type AnnKind = 'ivf-pq' | 'hnsw' | 'none';

/** What `wit-index.json` holds. */
export interface IndexMeta {
  format: 'wit-embeddings';
  version: 1;
  /** Model directory the embeddings come from (resolved) and a hash of its weights. */
  model: string;
  model_fingerprint: string;
  embed_dim: number;
  dtype: Dtype;
  /** Input shards (resolved paths), in order. */
  shards: string[];
  /**
   * Shard path -> the set id of the run folder it came from (its manifest's `set_id`), for the
   * shards whose folder has one; lets `wit serve --shards` find a moved shard by (set, file name)
   * when several sets have shards of the same name. Absent in indexes made before set ids.
   */
  shard_sets?: Record<string, string>;
  /**
   * Finished shards: path -> rows stored and rows skipped (images that do not decode), and of those
   * skipped how many the image guard refused (`refused`; absent in indexes made before: counted as undecodable).
   */
  finished: Record<string, { rows: number; skipped: number; refused?: number }>;
  /** The ANN index built on the image vectors, or none (exact scan), once the run is complete. */
  ann: { kind: AnnKind; rows: number } | null;
  complete: boolean;
  created: string;
}

/** One row of the table. */
export interface EmbeddedRow {
  key: string;
  url: string;
  caption: string;
  queries: string[];
  shard: string;
  row: number;
  image_vector: Float32Array;
  text_vector: Float32Array;
}

/** One search result. */
export interface SearchHit {
  /**
   * The pair's identity in this index, `S-R`: shard number S (its place in the index's shard list)
   * and row R of that shard. Unique even when several shard sets reuse the same keys, which a
   * crawl restarts at 000000000 (docs/ARCHITECTURE.md, "Shard sets and pair identity").
   */
  id: string;
  key: string;
  url: string;
  caption: string;
  queries: string[];
  shard: string;
  row: number;
  /** Cosine similarity to the query (the vectors are normalised). */
  similarity: number;
}

/** The table's Arrow schema for an embedding width and dtype. */
export function tableSchema(dim: number, dtype: Dtype): Schema {
  const { Field, FixedSizeList, Float16, Float32, Int32, List, Schema, Utf8 } = arrow();
  const vec = () => new FixedSizeList(dim, new Field('item', dtype === 'float16' ? new Float16() : new Float32(), true));
  return new Schema([
    new Field('key', new Utf8(), false),
    new Field('url', new Utf8(), false),
    new Field('caption', new Utf8(), false),
    new Field('queries', new List(new Field('item', new Utf8(), true)), true),
    new Field('shard', new Utf8(), false),
    new Field('row', new Int32(), false),
    new Field(IMAGE_COLUMN, vec(), false),
    new Field(TEXT_COLUMN, vec(), false),
  ]);
}

/**
 * Rows as one Arrow record batch of the table's schema, the vectors copied once into one contiguous
 * buffer per column (float16 converted here) rather than boxed number by number.
 */
export function arrowRows(rows: EmbeddedRow[], dim: number, dtype: Dtype): import('apache-arrow').Table {
  const { Int32, RecordBatch, Struct, Table: ArrowTable, Utf8, makeData, vectorFromArray, util } = arrow();
  const schema = tableSchema(dim, dtype);
  const n = rows.length;
  const vectorData = (pick: (r: EmbeddedRow) => Float32Array, field: number) => {
    const floats = new Float32Array(n * dim);
    rows.forEach((r, i) => {
      const v = pick(r);
      if (v.length !== dim) throw new Error(`embedding of ${r.key} has ${v.length} dimensions, expected ${dim}`);
      floats.set(v, i * dim);
    });
    const type = schema.fields[field]!.type as import('apache-arrow').FixedSizeList;
    const values = dtype === 'float16' ? Uint16Array.from(floats, (x) => util.float64ToUint16(x)) : floats;
    const child = makeData({ type: type.children[0]!.type as import('apache-arrow').Float, length: n * dim, data: values });
    return makeData({ type, length: n, nullCount: 0, child });
  };
  const text = (pick: (r: EmbeddedRow) => string) => vectorFromArray(rows.map(pick), new Utf8()).data[0]!;
  const children = [
    text((r) => r.key),
    text((r) => r.url),
    text((r) => r.caption),
    vectorFromArray(rows.map((r) => r.queries), schema.fields[3]!.type).data[0]!,
    text((r) => r.shard),
    vectorFromArray(rows.map((r) => r.row), new Int32()).data[0]!,
    vectorData((r) => r.image_vector, 6),
    vectorData((r) => r.text_vector, 7),
  ];
  const struct = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children });
  return new ArrowTable(schema, [new RecordBatch(schema, struct)]);
}

async function lancedb(): Promise<typeof import('@lancedb/lancedb')> {
  // Loaded lazily: the native module is only needed by the commands that use an index.
  return import('@lancedb/lancedb');
}

/** SQL string literal for a LanceDB filter. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function vectorOf(v: unknown): Float32Array {
  // Arrow vectors (float16 ones too) convert element by element to numbers.
  if (v instanceof Float32Array) return v;
  if (v && typeof v === 'object' && Symbol.iterator in v) return Float32Array.from(v as Iterable<number>);
  throw new Error('not a vector');
}

function hitOf(r: Record<string, unknown>, shardNo: ReadonlyMap<string, number>): SearchHit {
  const q = r.queries as { toArray?: () => unknown[] } | unknown[] | null;
  const queries = Array.isArray(q) ? q : q && typeof q === 'object' && 'toArray' in q && q.toArray ? q.toArray() : [];
  return {
    id: `${shardNo.get(String(r.shard)) ?? 'x'}-${Number(r.row)}`,
    key: String(r.key),
    url: String(r.url),
    caption: String(r.caption),
    queries: queries.map(String),
    shard: String(r.shard),
    row: Number(r.row),
    similarity: r._distance === undefined ? 1 : similarityOfDistance(Number(r._distance)),
  };
}

/** Columns a search returns (never the vectors). */
const RESULT_COLUMNS = ['key', 'url', 'caption', 'queries', 'shard', 'row'];

/**
 * An open embedding index. Create or resume one with {@link EmbeddingIndex.create}, open a finished
 * one with {@link EmbeddingIndex.open}.
 */
export class EmbeddingIndex {
  private shardNumbers?: { list: string[]; map: Map<string, number> };

  private constructor(readonly dir: string, readonly meta: IndexMeta, private readonly db: Connection, public table: Table, readonly stage: string) {}

  /**
   * Runs a read of the table, LanceDB's errors about its files (a data file cut short or
   * overwritten, a fragment gone) becoming {@link unreadableIndex}'s InputError naming the index
   * directory. Every read of an index goes through it, so search, serve, merge and a resumed embed
   * all say the same thing about a damaged index.
   */
  private async reading<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw damagedIndexError(this.stage, this.dir, err);
    }
  }

  /** Iterates a LanceDB record batch stream through {@link EmbeddingIndex.reading}'s mapping. */
  private async *readingBatches<B>(stream: AsyncIterable<B>): AsyncGenerator<B> {
    const it = stream[Symbol.asyncIterator]();
    for (;;) {
      const next = await this.reading(() => it.next());
      if (next.done) return;
      yield next.value;
    }
  }

  /** Shard path -> its number in the index's shard list (the S of a pair's id). */
  private get shardNo(): ReadonlyMap<string, number> {
    if (this.shardNumbers?.list !== this.meta.shards) this.shardNumbers = { list: this.meta.shards, map: new Map(this.meta.shards.map((s, i) => [s, i])) };
    return this.shardNumbers.map;
  }

  /** The (shard, row) a pair id `S-R` names, or undefined when it names none of this index's shards. */
  pairOfId(id: string): { shard: string; row: number } | undefined {
    const m = /^(\d{1,9})-(\d{1,10})$/.exec(id);
    if (!m) return undefined;
    const shard = this.meta.shards[Number(m[1])];
    const row = Number(m[2]);
    return shard !== undefined && row <= 0x7fffffff ? { shard, row } : undefined;
  }

  /** A LanceDB filter selecting the pair with this id (or nothing). */
  private whereId(id: string): string | undefined {
    const p = this.pairOfId(id);
    return p ? `shard = ${sqlString(p.shard)} AND row = ${p.row}` : undefined;
  }

  /**
   * Opens an existing index for reading. Throws UsageError naming the path when there is no index
   * there, InputError naming it when the index is unreadable (corrupt metadata or table).
   */
  static async open(dir: string, stage: string): Promise<EmbeddingIndex> {
    const st = await stat(dir).catch(() => undefined);
    if (!st) throw new UsageError(stage, 'no index here (make one with wit embed)', { file: dir });
    if (!st.isDirectory()) throw new UsageError(stage, 'an index is a directory written by wit embed', { file: dir });
    const meta = await readMeta(dir, stage);
    if (!meta) throw new UsageError(stage, `not an index: no ${META_FILE} (make one with wit embed)`, { file: dir });
    if (!meta.complete) throw new UsageError(stage, 'the index is not finished (rerun the same wit embed to resume it)', { file: dir });
    const { connect } = await lancedb();
    try {
      const db = await connect(dir);
      const table = await db.openTable(TABLE);
      await table.countRows();
      return new EmbeddingIndex(dir, meta, db, table, stage);
    } catch (err) {
      throw unreadableIndex(stage, dir, err);
    }
  }

  /**
   * Creates an index, or reopens an unfinished or finished one made with the same model and dtype
   * (resume). Throws UsageError when the directory holds something else.
   */
  static async create(dir: string, init: Omit<IndexMeta, 'finished' | 'ann' | 'complete' | 'created' | 'format' | 'version'>, stage: string): Promise<EmbeddingIndex> {
    const previous = await readMeta(dir, stage);
    const { connect } = await lancedb();
    if (previous) {
      const same = previous.model_fingerprint === init.model_fingerprint && previous.dtype === init.dtype && previous.embed_dim === init.embed_dim && JSON.stringify(previous.shards) === JSON.stringify(init.shards);
      if (!same) throw new UsageError(stage, 'the directory holds an index made with another model, dtype or shards; give a new --out or delete it', { file: dir });
      try {
        const db = await connect(dir);
        return new EmbeddingIndex(dir, previous, db, await db.openTable(TABLE), stage);
      } catch (err) {
        throw unreadableIndex(stage, dir, err);
      }
    }
    const st = await stat(dir).catch(() => undefined);
    if (st && !st.isDirectory()) throw new UsageError(stage, 'exists and is not a directory', { file: dir });
    const db = await connect(dir).catch((err: unknown) => {
      throw unreadableIndex(stage, dir, err);
    });
    const names = await db.tableNames().catch((err: unknown) => {
      throw unreadableIndex(stage, dir, err);
    });
    if (names.length) throw new UsageError(stage, 'the directory holds LanceDB tables but no wit index; give a new --out', { file: dir });
    const table = await db.createEmptyTable(TABLE, tableSchema(init.embed_dim, init.dtype), { mode: 'create' }).catch((err: unknown) => {
      throw lanceWriteError(dir, err);
    });
    const meta: IndexMeta = { format: 'wit-embeddings', version: 1, ...init, finished: {}, ann: null, complete: false, created: new Date().toISOString() };
    await writeJsonAtomic(join(dir, META_FILE), meta);
    return new EmbeddingIndex(dir, meta, db, table, stage);
  }

  /** Rows in the table. */
  count(): Promise<number> {
    return this.reading(() => this.table.countRows());
  }

  /** Size of the table on disk. */
  async stats(): Promise<{ rows: number; bytes: number }> {
    const s = await this.reading(() => this.table.stats());
    return { rows: s.numRows, bytes: s.totalBytes };
  }

  /** Appends rows (one LanceDB commit). */
  async append(rows: EmbeddedRow[]): Promise<void> {
    if (!rows.length) return;
    await this.table.add(arrowRows(rows, this.meta.embed_dim, this.meta.dtype)).catch((err: unknown) => {
      throw lanceWriteError(this.dir, err);
    });
  }

  /** Deletes the rows of one shard (a shard left half-appended by a kill, before it is redone). */
  async deleteShard(shard: string): Promise<void> {
    // A delete reads the table's data files: on a resumed index they may be the damaged ones.
    await this.reading(() => this.table.delete(`shard = ${sqlString(shard)}`)).catch((err: unknown) => {
      throw lanceWriteError(this.dir, err);
    });
  }

  /** Records a finished shard in the index file (atomically). */
  async markFinished(shard: string, rows: number, skipped: number, refused = 0): Promise<void> {
    this.meta.finished[shard] = { rows, skipped, refused };
    await this.saveMeta();
  }

  /** Writes wit-index.json atomically. */
  async saveMeta(): Promise<void> {
    await writeJsonAtomic(join(this.dir, META_FILE), this.meta);
  }

  /**
   * Builds the ANN index on the image vectors, chosen by size: none under `exactBelow` rows (an
   * exact scan is fast there and exact), HNSW (with scalar quantisation) up to `hnswBelow`, IVF-PQ
   * above. `kind` forces one. Squared L2 distance (see DISTANCE).
   */
  async buildAnn(opts: { kind?: AnnKind | 'auto'; exactBelow?: number; hnswBelow?: number } = {}): Promise<{ kind: AnnKind; rows: number }> {
    const rows = await this.count();
    const kind = chooseAnn(rows, opts);
    if (kind !== 'none') {
      const { Index } = await lancedb();
      const dim = this.meta.embed_dim;
      const config =
        kind === 'hnsw'
          ? Index.hnswSq({ distanceType: DISTANCE, numPartitions: Math.max(1, Math.round(rows / 100_000)) })
          : Index.ivfPq({ distanceType: DISTANCE, numPartitions: Math.max(1, Math.round(Math.sqrt(rows))), numSubVectors: dim % 16 === 0 ? dim / 16 : dim % 8 === 0 ? dim / 8 : 1 });
      await this.table.createIndex(IMAGE_COLUMN, { config, replace: true }).catch((err: unknown) => {
        throw lanceWriteError(this.dir, err);
      });
    }
    return { kind, rows };
  }

  /**
   * The k nearest rows to `vector` in `column` by cosine similarity, best first. Uses the ANN index
   * when there is one (IVF-PQ results are re-ranked on the full vectors), else an exact scan.
   * `where` is a LanceDB SQL filter.
   */
  async search(vector: Float32Array, opts: { k: number; column?: VectorColumn; where?: string; exact?: boolean }): Promise<SearchHit[]> {
    if (vector.length !== this.meta.embed_dim) {
      throw new UsageError(this.stage, `the query embedding has ${vector.length} dimensions but the index was built with ${this.meta.embed_dim} (model ${this.meta.model}); use the model the index was made with`, { file: this.dir });
    }
    let q = this.table.vectorSearch(Array.from(vector)).column(opts.column ?? IMAGE_COLUMN).distanceType(DISTANCE).limit(opts.k).select([...RESULT_COLUMNS, '_distance']);
    if (opts.where) q = q.where(opts.where);
    const ann = this.meta.ann?.kind ?? 'none';
    if (opts.exact || (opts.column ?? IMAGE_COLUMN) !== IMAGE_COLUMN || ann === 'none') q = q.bypassVectorIndex();
    else if (ann === 'ivf-pq') q = q.nprobes(ANN_NPROBES).refineFactor(ANN_REFINE);
    else q = q.ef(Math.max(ANN_EF, opts.k * 4));
    const rows = (await this.reading(() => q.toArray())) as Record<string, unknown>[];
    return rows.map((r) => hitOf(r, this.shardNo));
  }

  /**
   * The pair with this id (`S-R`, see SearchHit.id) and its vectors, or undefined. Pairs are found
   * by id, not by key: keys repeat across shard sets.
   */
  async byId(id: string): Promise<(SearchHit & { image_vector: Float32Array; text_vector: Float32Array }) | undefined> {
    const where = this.whereId(id);
    if (!where) return undefined;
    const rows = (await this.reading(() => this.table.query().where(where).limit(1).toArray())) as Record<string, unknown>[];
    const r = rows[0];
    if (!r) return undefined;
    return { ...hitOf(r, this.shardNo), similarity: 1, image_vector: vectorOf(r[IMAGE_COLUMN]), text_vector: vectorOf(r[TEXT_COLUMN]) };
  }

  /** A LanceDB filter excluding the pair with this id. */
  notId(id: string): string | undefined {
    const w = this.whereId(id);
    return w ? `NOT (${w})` : undefined;
  }

  /**
   * Streams every row's shard, row number and image vector, a record batch at a time, the vectors
   * as one row-major Float32Array per batch (float16 ones converted).
   */
  async *scanImageVectors(): AsyncGenerator<{ shards: string[]; rows: Int32Array; vectors: Float32Array }> {
    const dim = this.meta.embed_dim;
    for await (const batch of this.readingBatches(this.table.query().select(['shard', 'row', IMAGE_COLUMN]))) {
      const n = batch.numRows;
      const shardCol = batch.getChild('shard')!;
      const rowCol = batch.getChild('row')!;
      const vecCol = batch.getChild(IMAGE_COLUMN)!;
      const shards = new Array<string>(n);
      const rows = new Int32Array(n);
      const vectors = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) {
        shards[i] = String(shardCol.get(i));
        rows[i] = Number(rowCol.get(i));
      }
      let at = 0;
      const { uint16ToFloat64 } = arrow().util;
      for (const data of vecCol.data) {
        const child = data.children[0]!;
        const values = child.values as Float32Array | Uint16Array;
        // As Arrow reads a fixed-size list: row i of this data is child element i * dim, and the
        // child's own offset says where its elements start in the values buffer.
        const from = child.offset;
        const count = data.length * dim;
        if (values instanceof Float32Array) vectors.set(values.subarray(from, from + count), at);
        else for (let j = 0; j < count; j++) vectors[at + j] = uint16ToFloat64(values[from + j]!);
        at += count;
      }
      yield { shards, rows, vectors };
    }
  }

  /** Streams every row of the table, all columns, a record batch at a time (wit embed merge). */
  batches(): AsyncGenerator<import('apache-arrow').RecordBatch> {
    return this.readingBatches(this.table.query() as AsyncIterable<import('apache-arrow').RecordBatch>);
  }

  /** Closes the table and the connection. */
  close(): void {
    this.table.close();
    this.db.close();
  }
}

/**
 * The distance the index is built and searched with: squared L2, which for normalised vectors is
 * 2 - 2·cosine, so it ranks as cosine does. Measured with bench/search.ts: LanceDB's HNSW built with
 * "dot" finds almost nothing (recall@10 0.19 on planted neighbours), and "cosine" costs more than L2
 * as it renormalises every vector.
 */
export const DISTANCE = 'l2';

/** Cosine similarity of two normalised vectors from their squared L2 distance. */
export function similarityOfDistance(d: number): number {
  return 1 - d / 2;
}

/** IVF partitions probed per query and the re-rank factor of IVF-PQ (measured by bench/search.ts). */
export const ANN_NPROBES = 40;
export const ANN_REFINE = 10;
/** HNSW search breadth. */
export const ANN_EF = 100;
/** Below this many rows the index keeps the exact scan. */
export const EXACT_BELOW = 50_000;
/** From EXACT_BELOW to this, HNSW; above, IVF-PQ. */
export const HNSW_BELOW = 500_000;

/** The ANN kind for a table of `rows` rows (see EmbeddingIndex.buildAnn). */
export function chooseAnn(rows: number, opts: { kind?: AnnKind | 'auto'; exactBelow?: number; hnswBelow?: number } = {}): AnnKind {
  if (opts.kind && opts.kind !== 'auto') return rows < 256 ? 'none' : opts.kind;
  if (rows < (opts.exactBelow ?? EXACT_BELOW)) return 'none';
  return rows < (opts.hnswBelow ?? HNSW_BELOW) ? 'hnsw' : 'ivf-pq';
}

async function readMeta(dir: string, stage: string): Promise<IndexMeta | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, META_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const meta = JSON.parse(text) as IndexMeta;
    if (meta.format !== 'wit-embeddings' || typeof meta.embed_dim !== 'number' || !Array.isArray(meta.shards)) throw new Error('not a wit index file');
    const wrong = checkIndexMeta(meta);
    if (wrong) throw new Error(wrong);
    return meta;
  } catch (err) {
    throw new InputError(stage, join(dir, META_FILE), `corrupt index metadata: ${errorMessage(err)}`);
  }
}

/**
 * Whether `path` is a files shard as wit writes one: a name without a dot, a folder (not a link),
 * with its completion record `NAME_stats.json` beside it. `/etc`, `/home/x` and other folders that
 * are no shard fail the last test.
 */
function isFolderShardPath(path: string): boolean {
  if (basename(path).includes('.') || !basename(path)) return false;
  try {
    return lstatSync(path).isDirectory() && lstatSync(`${path}_stats.json`).isFile();
  } catch {
    return false;
  }
}

/** Largest embedding width an index may declare (the widest CLIPs have 1024-1280). */
const MAX_EMBED_DIM = 16_384;

/**
 * What is wrong with an index's metadata, or undefined (docs/ARCHITECTURE.md, "Reading inputs":
 * metadata is data, not instructions). Every shard path must be what wit writes, an absolute,
 * normalised path to a `.parquet` or `.tar` file or to a files shard's folder (a name without a dot
 * that is a folder with its completion record `NAME_stats.json` beside it), since wit serve and wit
 * search open them: a relative path would be resolved from wherever the command runs, and
 * `/etc/passwd` or `../../x` is refused here, named, before anything opens it. The counts must be counts.
 */
export function checkIndexMeta(meta: IndexMeta): string | undefined {
  if (!Number.isSafeInteger(meta.embed_dim) || meta.embed_dim < 1 || meta.embed_dim > MAX_EMBED_DIM) return `embed_dim ${describeValue(meta.embed_dim)} is not a width from 1 to ${MAX_EMBED_DIM}`;
  if (meta.shards.length > MAX_METADATA_LIST) return `it lists ${meta.shards.length} shards, over the ${MAX_METADATA_LIST} an index holds`;
  for (const s of meta.shards) {
    if (typeof s !== 'string' || !isAbsolute(s) || resolve(s) !== s || !(/\.(parquet|tar)$/.test(s) || isFolderShardPath(s)) || s.includes('\0')) {
      return `shard ${describeValue(s)} is not an absolute, normalised path to a .parquet or .tar shard or a files shard folder (an index records its shards so; this one was edited or damaged)`;
    }
  }
  const listed = new Set(meta.shards);
  const finished = meta.finished && typeof meta.finished === 'object' ? meta.finished : {};
  for (const [s, f] of Object.entries(finished)) {
    if (!listed.has(s)) return `finished shard ${describeValue(s)} is not one of its shards`;
    const problems: FieldProblem[] = [];
    checkCount(f?.rows, 'rows', problems);
    checkCount(f?.skipped, 'skipped', problems);
    checkCount(f?.refused, 'refused', problems);
    checkSum([['refused', f?.refused]], ['skipped', f?.skipped], problems);
    if (f?.rows === undefined) problems.push({ field: 'rows', message: 'is missing' });
    if (problems.length) return `finished shard ${describeValue(s)}: ${describeProblems(problems)}`;
  }
  for (const s of Object.keys(meta.shard_sets ?? {})) if (!listed.has(s)) return `shard_sets names ${describeValue(s)}, not one of its shards`;
  if (meta.ann) {
    const problems: FieldProblem[] = [];
    checkCount(meta.ann.rows, 'ann.rows', problems);
    if (problems.length) return describeProblems(problems);
  }
  return undefined;
}

/**
 * The error for an index LanceDB cannot read (a corrupt or truncated table): InputError (exit 2)
 * naming the index directory, with LanceDB's own reason but not its Rust source locations or its
 * chain of wrappers. Every place the index's LanceDB database is opened goes through it.
 */
function unreadableIndex(stage: string, dir: string, err: unknown): InputError {
  return new InputError(stage, dir, `the index is damaged or truncated (LanceDB: ${lanceReason(err)}); rebuild it with wit embed`, { cause: err });
}

/**
 * What a read of an index threw, as the error to report: LanceDB's errors about the table's files
 * ({@link isLanceDataError}) become {@link unreadableIndex}; wit's own errors, interrupts and
 * anything else (a full disk, a bug) pass unchanged.
 */
export function damagedIndexError(stage: string, dir: string, err: unknown): unknown {
  return isLanceDataError(err) ? unreadableIndex(stage, dir, err) : err;
}

/** Reasons of the file system that LanceDB reports in words, by the errno code wit reports them as. */
const LANCE_FS_REASONS: Array<[RegExp, string]> = [
  [/No space left on device|\bENOSPC\b/i, 'ENOSPC'],
  [/Disk quota exceeded|\bEDQUOT\b/i, 'EDQUOT'],
  [/Read-only file system|\bEROFS\b/i, 'EROFS'],
  [/Permission denied|\bEACCES\b/i, 'EACCES'],
];

/**
 * A LanceDB write that failed for a reason of the file system (a full disk, a read-only mount) as
 * the file-system error it is, naming the index directory (LanceDB's own message names neither in
 * words a user reads: `LanceError(IO): Generic LocalFileSystem error: … (os error 28)`), so the CLI
 * prints the one line every full disk gets (src/cli/failure.ts). Other errors pass unchanged.
 */
export function lanceWriteError(dir: string, err: unknown): unknown {
  if (err instanceof WitError || !(err instanceof Error)) return err;
  const m = err.message;
  const hit = LANCE_FS_REASONS.find(([re]) => re.test(m)) ?? (/os error 28\b/.test(m) ? [/./, 'ENOSPC'] as [RegExp, string] : undefined);
  if (!hit) return err;
  return Object.assign(new Error(`${hit[1]}: ${dir}`, { cause: err }), { code: hit[1], syscall: 'write', path: dir });
}

/**
 * True for a LanceDB error about the files it reads: an I/O error (a data file cut short or gone),
 * corrupt or undecodable data, a table or fragment not found. A full disk is an I/O error too but
 * not the index's fault (exit 1, as every full disk).
 */
export function isLanceDataError(err: unknown): boolean {
  if (err instanceof WitError || !(err instanceof Error)) return false;
  const m = err.message;
  if (/No space left on device|ENOSPC|Disk quota exceeded/i.test(m)) return false;
  return /LanceError\((?:IO|Corrupt\w*|Arrow|NotFound|DatasetNotFound|InvalidInput|Schema)\)|lance error:.*(?:corrupt|not found|unexpected end|too small|fill whole buffer|invalid)|failed to fill whole buffer|Table '[^']*' was not found/i.test(m);
}

/**
 * LanceDB's reason, innermost: "Failed to get next batch …: lance error: LanceError(IO): Generic …
 * error: failed to fill whole buffer" -> "failed to fill whole buffer"; "…: lance error: Invalid user
 * input: file does not appear to be a Lance file …" -> "Invalid user input: file does not …".
 */
export function lanceReason(err: unknown): string {
  const msg = nativeMessage(err);
  const inner = msg.split(/lance error:\s*/i).pop()!.split(/LanceError\(\w+\):\s*/).pop()!.replace(/^Generic \w+ error:\s*/i, '').replace(/[,:]\s*$/, '').trim();
  return (inner || msg).slice(0, 200);
}

/** Resolved form of a shard path as the index stores it. */
export function shardId(file: string): string {
  return resolve(file);
}

