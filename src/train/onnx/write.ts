/**
 * Writes a wit model's towers as ONNX files (docs/ARCHITECTURE.md, "ONNX"): the cache the onnx backend
 * runs (MODEL/onnx/) and `wit model export --format onnx`. Each file is written part by part under a
 * temporary name and renamed when complete, so a crash never leaves a model that looks whole.
 */
import { open, rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { endianness } from 'node:os';
import { tempPathFor } from '../../util/atomic.js';
import { refuseNonRegularFile } from '../../util/output.js';
import { VERSION } from '../../util/version.js';
import type { ClipConfig } from '../config.js';
import { imageGraph, modelProto, textGraph, type GraphBuilder, type Weight, type WeightSource } from './graph.js';

/** Bumped when the graphs change, so cached files of an older wit are rebuilt. */
export const ONNX_GRAPH_VERSION = 1;

/** Weights above this many bytes go to an external data file (protobuf stops at 2 GiB). */
const EXTERNAL_DATA_BYTES = 1.5 * 2 ** 30;

export type Tower = 'image' | 'text';

/** A weight source over a map of parameters; throws naming a missing one. */
export function weightSource(weights: ReadonlyMap<string, Weight>): WeightSource {
  return (name) => {
    const w = weights.get(name);
    if (!w) throw new Error(`weights lack parameter ${name}`);
    return w;
  };
}

/** The graph of one tower. */
export function towerGraph(tower: Tower, cfg: ClipConfig, weights: WeightSource): GraphBuilder {
  return tower === 'image' ? imageGraph(cfg, weights) : textGraph(cfg, weights);
}

/**
 * Writes one tower to `path` (and `path.data` when its weights pass 1.5 GiB). Resolves to the files
 * written; rejects on I/O errors, leaving no file under the final names.
 */
export async function writeTower(path: string, tower: Tower, cfg: ClipConfig, weights: WeightSource, opts: { externalData?: boolean } = {}): Promise<string[]> {
  if (endianness() !== 'LE') throw new Error('ONNX weights are little-endian; this machine is big-endian');
  const g = towerGraph(tower, cfg, weights);
  const bytes = g.initializers.reduce((a, i) => a + i.bytes.length, 0);
  const dataFile = (opts.externalData ?? bytes > EXTERNAL_DATA_BYTES) ? `${path}.data` : undefined;
  const { model, data } = modelProto(g, VERSION, dataFile ? basename(dataFile) : undefined);
  const files: Array<[string, Uint8Array[]]> = [[path, model.parts]];
  if (dataFile) files.unshift([dataFile, data]);
  const tmps: Array<[string, string]> = [];
  try {
    for (const [file, parts] of files) {
      await refuseNonRegularFile(file);
      const tmp = tempPathFor(file);
      tmps.push([tmp, file]);
      await writeParts(tmp, parts);
    }
    // The data file first: a model file never names data that is not yet in place.
    for (const [tmp, file] of tmps) await rename(tmp, file);
  } catch (err) {
    for (const [tmp] of tmps) await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  return files.map(([f]) => f);
}

/** Writes parts to a new file in writes of about 16 MB (writev takes at most 1024 buffers). */
async function writeParts(file: string, parts: Uint8Array[]): Promise<void> {
  const fh = await open(file, 'wx');
  try {
    let batch: Uint8Array[] = [];
    let size = 0;
    const flush = async (): Promise<void> => {
      let done = batch.length ? (await fh.writev(batch)).bytesWritten : 0;
      // writev may write less than asked (as write(2)); the rest goes buffer by buffer.
      for (const b of batch) {
        if (done >= b.length) {
          done -= b.length;
          continue;
        }
        let o = done;
        done = 0;
        while (o < b.length) o += (await fh.write(b, o, b.length - o)).bytesWritten;
      }
      batch = [];
      size = 0;
    };
    for (const p of parts) {
      batch.push(p);
      size += p.length;
      if (batch.length >= 1000 || size >= 16 << 20) await flush();
    }
    await flush();
  } finally {
    await fh.close();
  }
}
