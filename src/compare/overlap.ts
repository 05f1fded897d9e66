/**
 * The pool/eval overlap check of `wit compare` (docs/ARCHITECTURE.md, "compare"), run before anything
 * trains: a pool pair whose image is an eval image (the same bytes, sha256) or a near-duplicate of one
 * (a 64-bit difference hash of the 9x8 grey thumbnail within `hamming` bits) would let a recipe score by
 * memorising the test set. DataComp removes them from its pool; so does the default here (`remove`,
 * with a count), `refuse` stops the run naming them, `keep` trains on them (counted all the same).
 * The cleaned pool is written once to OUT/pool/ (a hidden temporary folder renamed when complete) and
 * every recipe, raw included, curates from it.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeFailureReason, guardImage, guardedSharp } from '../util/image-guard.js';
import { shardFormatOnDisk, listShards, readShardExtras, readShardFile, shardImageFormat, shardPath, ShardWriter } from '../shards/index.js';
import { tempPathFor, writeJsonAtomic } from '../util/atomic.js';
import { UsageError, WitError } from '../util/errors.js';

const STAGE = 'compare';

/** What the check found (`pool/overlap.json`, compare.json's `overlap`). */
export interface OverlapReport {
  mode: 'remove' | 'refuse' | 'keep';
  hamming: number;
  eval_images: number;
  pool_pairs: number;
  /** Pool pairs whose image bytes are an eval image's. */
  exact: number;
  /** Pool pairs within `hamming` bits of an eval image's hash (and not identical). */
  near: number;
  /** Pool pairs removed (remove mode: exact + near). */
  removed: number;
  /** Pool images that did not decode (not hashed; kept, the trainer counts them). */
  undecodable: number;
  /** Pool images the image guard refused (a vector format, a header over the pixel limit): not hashed, kept. */
  image_refused: number;
  /** A few of the pairs found: pool key -> eval key. */
  examples: string[];
}

/**
 * The difference hash of an image: the grey image resized to 9x8, one bit per horizontal neighbour pair
 * (left brighter than right), 64 bits as a bigint. Undefined when the image does not decode.
 */
export async function dHash(bytes: Uint8Array): Promise<bigint | undefined> {
  const h = await dHashOrReason(bytes);
  return typeof h === 'bigint' ? h : undefined;
}

/** dHash, or why the image has none: `image_refused` (the image guard), `undecodable` (the rest). */
async function dHashOrReason(bytes: Uint8Array): Promise<bigint | 'image_refused' | 'undecodable'> {
  try {
    // the one image guard (docs/ARCHITECTURE.md, "Reading inputs"): no vector formats, pixels checked from the header
    await guardImage(bytes);
    const px = await guardedSharp(bytes).flatten({ background: '#ffffff' }).greyscale().resize(9, 8, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
    if (px.length !== 72) return 'undecodable';
    let h = 0n;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) h = (h << 1n) | (px[y * 9 + x]! > px[y * 9 + x + 1]! ? 1n : 0n);
    return h;
  } catch (err) {
    return decodeFailureReason(err);
  }
}

function popcount(x: bigint): number {
  let n = 0;
  while (x) {
    x &= x - 1n;
    n++;
  }
  return n;
}

/**
 * Near-duplicate lookup of 64-bit hashes within `t` bits: the hash is cut into t + 1 blocks, and two
 * hashes within t bits agree on at least one block (pigeonhole), so only the entries sharing a block
 * are compared.
 */
export class HashIndex {
  private readonly blocks: { shift: bigint; mask: bigint; map: Map<bigint, number[]> }[] = [];
  private readonly hashes: bigint[] = [];
  constructor(readonly t: number) {
    const k = Math.min(64, t + 1);
    let start = 0;
    for (let b = 0; b < k; b++) {
      const width = Math.floor(64 / k) + (b < 64 % k ? 1 : 0);
      this.blocks.push({ shift: BigInt(start), mask: (1n << BigInt(width)) - 1n, map: new Map() });
      start += width;
    }
  }
  add(h: bigint): number {
    const id = this.hashes.length;
    this.hashes.push(h);
    for (const b of this.blocks) {
      const key = (h >> b.shift) & b.mask;
      const list = b.map.get(key);
      if (list) list.push(id);
      else b.map.set(key, [id]);
    }
    return id;
  }
  /** The id of an added hash within t bits of h, or -1. */
  find(h: bigint): number {
    for (const b of this.blocks) {
      for (const id of b.map.get((h >> b.shift) & b.mask) ?? []) if (popcount(this.hashes[id]! ^ h) <= this.t) return id;
    }
    return -1;
  }
}

/** Runs `fn` over items with `n` at a time. */
async function pool<T>(items: AsyncIterable<T>, n: number, fn: (x: T) => Promise<void>): Promise<void> {
  const running = new Set<Promise<void>>();
  for await (const x of items) {
    const p = fn(x).finally(() => running.delete(p));
    running.add(p);
    if (running.size >= n) await Promise.race(running);
  }
  await Promise.all(running);
}

export interface OverlapOptions {
  out: string;
  pool: string[];
  poolPairs: number;
  eval: string[];
  mode: OverlapReport['mode'];
  hamming: number;
  log: (line: string) => void;
  progress: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * Checks the pool against the eval shards and returns the pool files every recipe reads (the original
 * ones when nothing is removed, OUT/pool/data otherwise) with the report. A finished check
 * (OUT/pool/overlap.json) is reused. Throws UsageError in refuse mode when the pool holds eval images.
 */
export async function checkOverlap(o: OverlapOptions): Promise<{ files: string[]; pairs: number; report: OverlapReport }> {
  const dir = join(o.out, 'pool');
  try {
    const report = JSON.parse(await readFile(join(dir, 'overlap.json'), 'utf8')) as OverlapReport;
    const files = report.removed ? await listShards(join(dir, 'data')) : o.pool;
    return { files, pairs: o.poolPairs - report.removed, report };
  } catch {
    // not checked yet
  }
  const interrupted = () => {
    if (o.signal?.aborted) throw o.signal.reason instanceof Error ? o.signal.reason : new WitError(STAGE, 'interrupted');
  };
  const exact = new Map<string, string>();
  const index = new HashIndex(o.hamming);
  const evalKeys: string[] = [];
  let evalImages = 0;
  o.progress('compare: hashing the eval images');
  await pool(readEach(o.eval), 8, async (rec) => {
    interrupted();
    evalImages++;
    exact.set(sha(rec.image), rec.key);
    const h = await dHash(rec.image);
    if (h !== undefined) evalKeys[index.add(h)] = rec.key;
  });
  const hit = new Map<number, string>(); // pool position -> what it matched
  let exactN = 0;
  let nearN = 0;
  let undecodable = 0;
  let refused = 0;
  let i = 0;
  await pool(
    (async function* () {
      for await (const rec of readEach(o.pool)) yield { rec, at: i++ };
    })(),
    8,
    async ({ rec, at }) => {
      interrupted();
      if (at % 500 === 0) o.progress(`compare: checking the pool against the eval set, ${at}/${o.poolPairs} pairs`);
      const same = exact.get(sha(rec.image));
      if (same !== undefined) {
        exactN++;
        hit.set(at, `${rec.key} = ${same}`);
        return;
      }
      const h = await dHashOrReason(rec.image);
      if (typeof h !== 'bigint') {
        if (h === 'image_refused') refused++;
        else undecodable++;
        return;
      }
      const id = index.find(h);
      if (id >= 0) {
        nearN++;
        hit.set(at, `${rec.key} ~ ${evalKeys[id]}`);
      }
    },
  );
  const examples = [...hit.entries()].sort((a, b) => a[0] - b[0]).slice(0, 5).map(([, s]) => s);
  const report: OverlapReport = {
    mode: o.mode, hamming: o.hamming, eval_images: evalImages, pool_pairs: o.poolPairs, exact: exactN, near: nearN,
    removed: o.mode === 'remove' ? hit.size : 0, undecodable, image_refused: refused, examples,
  };
  if (hit.size && o.mode === 'refuse') {
    throw new UsageError(STAGE, `the pool holds ${exactN} eval images and ${nearN} near-duplicates of eval images (within ${o.hamming} bits of a 64-bit dHash; e.g. ${examples.slice(0, 2).join(', ')}); remove them, or rerun with --overlap remove (DataComp's rule) or --overlap keep`, { file: o.pool[0] });
  }
  if (hit.size) o.log(`compare: the pool holds ${exactN} eval images and ${nearN} near-duplicates of eval images (e.g. ${examples.slice(0, 2).join(', ')}); ${o.mode === 'remove' ? `removed, ${o.poolPairs - hit.size} pairs left` : 'kept (--overlap keep)'}`);
  await mkdir(o.out, { recursive: true });
  const tmp = tempPathFor(dir);
  try {
    await mkdir(tmp);
    if (report.removed) await copyWithout(o.pool, join(tmp, 'data'), hit, o.signal);
    await writeJsonAtomic(join(tmp, 'overlap.json'), report);
    try {
      await rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  return { files: report.removed ? await listShards(join(dir, 'data')) : o.pool, pairs: o.poolPairs - report.removed, report };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function* readEach(files: readonly string[]) {
  for (const f of files) yield* readShardFile(f);
}

/** The pool without the pairs at the given positions, one shard per pool shard. */
async function copyWithout(files: readonly string[], dir: string, drop: ReadonlyMap<number, string>, signal?: AbortSignal): Promise<void> {
  let at = 0;
  for (let f = 0; f < files.length; f++) {
    const file = files[f]!;
    const w = await ShardWriter.open(shardPath(dir, f, '', await shardFormatOnDisk(file)), { imageFormat: (await shardImageFormat(file)) ?? 'jpg', extras: await readShardExtras(file), metadata: { 'wit.stage': 'compare' } });
    try {
      for await (const rec of readShardFile(file)) {
        if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new WitError(STAGE, 'interrupted');
        if (!drop.has(at++)) await w.write(rec);
      }
      await w.close({ stage: 'compare' });
    } catch (err) {
      await w.abort();
      throw err;
    }
  }
}
