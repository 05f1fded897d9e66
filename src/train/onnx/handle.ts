/**
 * The onnx inference backend (docs/ARCHITECTURE.md, "ONNX"): a model directory's towers as ONNX files,
 * cached in MODEL/onnx/ under a key of the model's fingerprint, run by ONNX Runtime (onnxruntime-node)
 * on the CPU or CUDA. The ClipHandle around it (batching, preprocessing, tokenizer) is clip.ts's, shared
 * with the tfjs backends.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { UsageError, WitError, errorMessage } from '../../util/errors.js';
import { modelFingerprint } from '../../util/model-fingerprint.js';
import { readInputText } from '../../util/input.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import type { Device } from '../backend/index.js';
import { handleOver, type ClipHandle, type LoadClipOptions, type TowerRunner } from '../clip.js';
import { readModelDirHead, readModelWeights, type ModelDirConfig } from '../model-dir.js';
import { CUDA_INSTALL_COMMAND, hasCudaProvider, loadOrt, type Ort, type OrtSession, type OrtSessionOptions } from './runtime.js';
import { ONNX_GRAPH_VERSION, weightSource, writeTower } from './write.js';

/** Cached towers of a model dir and the two scalars the handle reports. */
interface OnnxFiles {
  image: string;
  text: string;
  logitScale: number;
  logitBias?: number;
  /** A temporary folder to remove on dispose (the model dir was not writable). */
  temporary?: string;
}

/** The cache's file names for a key: image-KEY.onnx, text-KEY.onnx, meta-KEY.json (written last: the set is complete). */
const CACHE_NAME = /^(image|text)-[0-9a-f]{16}\.onnx(\.data)?$|^meta-[0-9a-f]{16}\.json$/;

/** The cache key: the model's fingerprint (weights, config, tokenizer) and the graph version. */
async function cacheKey(dir: string): Promise<string> {
  return createHash('sha256').update(`${await modelFingerprint(dir)}:onnx-graph-${ONNX_GRAPH_VERSION}`).digest('hex').slice(0, 16);
}

/**
 * The model's ONNX towers: from MODEL/onnx/ when a complete set of this key is there, else built from
 * the weights and written there (stale sets of other keys removed, only wit's names); into a temporary
 * folder when the model dir cannot be written. Throws InputError for malformed weights.
 */
export async function onnxFiles(dir: string, config: ModelDirConfig): Promise<OnnxFiles> {
  const key = await cacheKey(dir);
  const cache = join(dir, 'onnx');
  const names = { image: join(cache, `image-${key}.onnx`), text: join(cache, `text-${key}.onnx`), meta: join(cache, `meta-${key}.json`) };
  const meta = await readInputText(names.meta, { kind: 'config', stage: 'train' }).then((t) => JSON.parse(t) as { logit_scale: number; logit_bias?: number }, () => undefined);
  if (meta && typeof meta.logit_scale === 'number' && (await isFile(names.image)) && (await isFile(names.text))) {
    return { image: names.image, text: names.text, logitScale: meta.logit_scale, logitBias: meta.logit_bias ?? undefined };
  }
  const weights = await readModelWeights(dir, config);
  const scalar = (n: string): number | undefined => weights.get(n)?.data[0];
  const built: OnnxFiles = { image: names.image, text: names.text, logitScale: Math.exp(scalar('logit_scale')!), logitBias: scalar('logit_bias') };
  const source = weightSource(weights);
  try {
    await mkdir(cache, { recursive: true });
    await writeTower(names.image, 'image', config.arch, source, { externalData: true });
    await writeTower(names.text, 'text', config.arch, source, { externalData: true });
    await writeJsonAtomic(names.meta, { format: 'wit-onnx-cache', logit_scale: built.logitScale, logit_bias: built.logitBias ?? null });
    await removeStale(cache, key);
    return built;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM') throw new WitError('train', `cannot write the ONNX cache in ${cache}: ${errorMessage(err)}`, { cause: err });
  }
  // A read-only model: the towers live in a temporary folder for this process.
  const tmp = await mkdtemp(join(os.tmpdir(), 'wit-onnx-'));
  built.temporary = tmp;
  built.image = join(tmp, 'image.onnx');
  built.text = join(tmp, 'text.onnx');
  await writeTower(built.image, 'image', config.arch, source, { externalData: true });
  await writeTower(built.text, 'text', config.arch, source, { externalData: true });
  return built;
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

async function removeStale(cache: string, key: string): Promise<void> {
  for (const n of await readdir(cache).catch(() => [] as string[])) {
    if (CACHE_NAME.test(n) && !n.includes(key)) await rm(join(cache, n), { force: true }).catch(() => undefined);
  }
}

/** Threads of the onnx backend: `threads`, else WIT_GEMM_THREADS, else the machine's available parallelism. */
export function onnxThreads(threads?: number): number {
  if (threads !== undefined) return threads;
  const env = Number(process.env.WIT_GEMM_THREADS);
  return Number.isInteger(env) && env >= 1 ? env : os.availableParallelism();
}

/**
 * The session options of the onnx backend (bench/embed uses the same). Weights in external data and no
 * CPU arena: ViT-B/32's peak resident memory 676 MiB against 820 MiB with the weights inside the model
 * and the arena (bench/tools/onnx-memory.ts), at the same speed.
 */
export function sessionOptions(threads: number): OrtSessionOptions {
  return { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', enableCpuMemArena: false, logSeverityLevel: 3 };
}

/** Opens ONNX Runtime sessions for the two towers on `device`; resolves to them and a description of where they run. */
async function openSessions(ort: Ort, packageDir: string, files: OnnxFiles, device: Device, threads: number): Promise<{ image: OrtSession; text: OrtSession; where: string }> {
  const base = sessionOptions(threads);
  const open = async (providers: string[]): Promise<{ image: OrtSession; text: OrtSession }> => {
    const image = await ort.InferenceSession.create(files.image, { ...base, executionProviders: providers });
    try {
      return { image, text: await ort.InferenceSession.create(files.text, { ...base, executionProviders: providers }) };
    } catch (err) {
      await image.release();
      throw err;
    }
  };
  const cpu = `CPU, ${threads} thread${threads === 1 ? '' : 's'}`;
  const cudaInstalled = hasCudaProvider(packageDir);
  if (device === 'cuda' && !cudaInstalled) {
    throw new UsageError('train', `--device cuda needs onnxruntime-node's CUDA provider, which is not installed: ${CUDA_INSTALL_COMMAND}`);
  }
  if (device === 'cuda' || (device === 'auto' && cudaInstalled)) {
    try {
      return { ...(await open(['cuda', 'cpu'])), where: 'CUDA' };
    } catch (err) {
      if (device === 'cuda') throw new WitError('train', `the CUDA execution provider failed to start: ${errorMessage(err)}`, { cause: err });
      return { ...(await open(['cpu'])), where: `${cpu}; CUDA provider installed but did not start: ${errorMessage(err)}` };
    }
  }
  return { ...(await open(['cpu'])), where: cpu };
}

/**
 * Loads a model directory on ONNX Runtime. Resolves to a ClipHandle whose embeddings match the tfjs
 * backends' within 1e-5; throws UsageError/InputError as loadClip, WitError when ONNX Runtime refuses the graph.
 */
export async function loadOnnxClip(dir: string, opts: LoadClipOptions & { device: Device }): Promise<ClipHandle> {
  const r = await loadOrt();
  if (!r.ok) throw new UsageError('train', `backend onnx: onnxruntime-node ${r.reason}`);
  const { config, tokenizer } = await readModelDirHead(dir);
  const files = await onnxFiles(dir, config);
  const threads = onnxThreads(opts.threads);
  let sessions: { image: OrtSession; text: OrtSession; where: string };
  try {
    sessions = await openSessions(r.ort, r.dir, files, opts.device, threads);
  } catch (err) {
    if (err instanceof WitError) throw err;
    throw new WitError('train', `ONNX Runtime cannot load the model's graph: ${errorMessage(err)}`, { cause: err });
  } finally {
    // The sessions hold their own copies of the weights: the temporary files are no longer needed.
    if (files.temporary) await rm(files.temporary, { recursive: true, force: true }).catch(() => undefined);
  }
  const arch = config.arch;
  const s = arch.vision.image_size;
  const l = arch.text.context_length;
  const { Tensor } = r.ort;
  const first = async (session: OrtSession, feeds: Record<string, InstanceType<typeof Tensor>>): Promise<Float32Array> => {
    const out = await session.run(feeds);
    const t = Object.values(out)[0]!;
    const data = t.data as Float32Array;
    t.dispose?.();
    return data;
  };
  const runner: TowerRunner = {
    images: (pixels, n) => first(sessions.image, { pixels: new Tensor('float32', pixels, [n, s, s, 3]) }),
    texts: (ids, eos, n) => first(sessions.text, { ids: new Tensor('int32', ids, [n, l]), eot: new Tensor('int32', eos, [n]) }),
    logitScale: () => files.logitScale,
    logitBias: () => files.logitBias,
    async dispose() {
      await sessions.image.release();
      await sessions.text.release();
    },
  };
  const backend = { name: 'onnx', detail: `ONNX Runtime ${r.version} (onnxruntime-node, ${sessions.where})` };
  return handleOver(runner, backend, arch, tokenizer, config, opts);
}
