/**
 * Kernels wit registers for the tfjs wasm backend so that training runs, and runs fast:
 *  - UnsortedSegmentSum (the gradient of gather, i.e. of embedding lookups), which tfjs-backend-wasm
 *    does not have;
 *  - BatchMatMul and _FusedMatMul (linear or bias epilogue) on wit's multi-threaded SIMD GEMM
 *    (gemm-pool.ts): tfjs-wasm 4.22 sends only batch-1 untransposed products to XNNPACK and runs all
 *    others (every gradient, attention) through a scalar triple loop;
 *  - Sum over leading axes as one SIMD column sum (bias gradients), instead of transpose + reduce;
 *  - Identity without a copy, Slice/SplitV/Concat/GatherV2 as heap copies of contiguous runs (tfjs-wasm
 *    copies whole inputs out of the heap, or one element or one small typed-array view at a time).
 * Each kernel is checked against the cpu backend in test/train/backend-kernels.test.ts.
 */
import { tf } from '../../util/tf.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { GemmPool } from './gemm-pool.js';
import type { WasmMemory } from './webassembly.js';
import { WitError } from '../../util/errors.js';

type TensorInfo = tf.TensorInfo;
type KernelFunc = tf.KernelFunc;
type Attrs = tf.NamedAttrMap;

let registered = false;
let pool: GemmPool | null = null;
const stock = new Map<string, KernelFunc>();

/**
 * Registers (once per process) wit's kernels for the backend named 'wasm', which must be initialised:
 * the GEMM threads bind to its memory. `threads` is the number of GEMM threads (including the caller).
 * The GEMM needs the threaded tfjs build (shared memory); without it the matmuls stay tfjs's own.
 * Resolves to the GEMM threads running (0 without the GEMM) and whether it uses FMA. Idempotent.
 * Throws when the wasm backend is not initialised or the GEMM module does not instantiate.
 */
export async function registerWasmKernels(threads: number): Promise<{ threads: number; fma: boolean }> {
  if (registered) return { threads: pool?.threads ?? 0, fma: pool?.fma ?? false };
  const backend = tf.findBackend('wasm') as BackendWasm | null;
  if (!backend) throw new Error('registerWasmKernels: the wasm backend is not initialised');
  const module = backend.wasm as unknown as { wasmMemory?: WasmMemory; _malloc(n: number): number; _free(p: number): void };
  const memory = module.wasmMemory;
  guardMalloc(module);
  // The GEMM module imports a shared memory: only the threaded tfjs build has one.
  if (memory && memory.buffer instanceof SharedArrayBuffer) {
    pool = await GemmPool.create({ memory, malloc: (n) => module._malloc(n), free: (p) => module._free(p) }, threads, {
      fma: process.env['WIT_WASM_FMA'] !== '0',
    });
  }
  registered = true;
  register('UnsortedSegmentSum', unsortedSegmentSum);
  register('Identity', identity);
  register('Slice', slice);
  register('SplitV', splitV);
  register('GatherV2', gatherV2);
  register('Concat', concat);
  if (pool) {
    register('BatchMatMul', batchMatMul);
    register('_FusedMatMul', fusedMatMul);
    register('Sum', sum);
  }
  return { threads: pool?.threads ?? 0, fma: pool?.fma ?? false };
}

/**
 * Makes a failed allocation throw. tfjs-wasm does not check malloc's result: when the heap cannot
 * grow (wasm32 stops at 4 GiB) it places the tensor at address 0, over the module's own data and stack,
 * and the process then spins or crashes far from the cause (ViT-B/32 embedding at batch 48 before the
 * model freed each block's intermediates, docs/ARCHITECTURE.md "Train and eval").
 */
function guardMalloc(module: { wasmMemory?: WasmMemory; _malloc(n: number): number; _free(p: number): void }): void {
  // Emscripten's _malloc is a stub that replaces itself with the export on its first call: call it
  // once first, or that replacement would remove the guard.
  module._free(module._malloc(8));
  const raw = module._malloc.bind(module);
  module._malloc = (bytes: number): number => {
    const p = raw(bytes);
    if (p === 0 && bytes !== 0) {
      const heap = module.wasmMemory ? ` (heap ${Math.round(module.wasmMemory.buffer.byteLength / 2 ** 20)} MiB)` : '';
      throw new WitError('train', `out of WebAssembly memory: ${bytes >>> 0} more bytes do not fit in the wasm backend's 4 GiB${heap}; use a smaller batch size or the tensorflow backend`);
    }
    return p;
  };
}

/** wit's GEMM thread pool once registerWasmKernels has started it, else null (diagnostics and tests). */
export function gemmPool(): GemmPool | null {
  return pool;
}

/** Replaces (or adds) the wasm kernel `name`. */
function register(name: string, kernelFunc: KernelFunc): void {
  const old = tf.getKernel(name, 'wasm');
  if (old) {
    stock.set(name, old.kernelFunc);
    tf.unregisterKernel(name, 'wasm');
  }
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc });
}

/** TF's UnsortedSegmentSum: out[s, ...] = Σ x[i, ...] over i with segmentIds[i] = s; ids outside [0, numSegments) are dropped. */
function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: Attrs }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs['x']!;
  const ids = args.inputs['segmentIds']!;
  const numSegments = Number(args.attrs?.['numSegments']);
  if (!Number.isInteger(numSegments) || numSegments < 0) throw new Error(`UnsortedSegmentSum: bad numSegments ${numSegments}`);
  const idsSize = tf.util.sizeFromShape(ids.shape);
  if (ids.shape.length > x.shape.length || ids.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`UnsortedSegmentSum: segmentIds shape ${JSON.stringify(ids.shape)} is not a prefix of x shape ${JSON.stringify(x.shape)}`);
  }
  const inner = idsSize === 0 ? 0 : tf.util.sizeFromShape(x.shape) / idsSize;
  const outShape = [numSegments, ...x.shape.slice(ids.shape.length)];
  const out = backend.makeOutput(outShape, x.dtype);
  // Views after makeOutput: the allocation may have grown (and replaced) the wasm memory buffer.
  const o = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  const xv = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const iv = backend.typedArrayFromHeap(ids) as Int32Array;
  o.fill(0);
  for (let i = 0; i < idsSize; i++) {
    const s = iv[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) o[dst + j]! += xv[src + j]!;
  }
  return out;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: Attrs };

function callStock(name: string, args: KernelArgs): TensorInfo | TensorInfo[] {
  const f = stock.get(name);
  if (!f) throw new Error(`wasm kernel ${name} has no stock implementation to fall back to`);
  return f(args as Parameters<KernelFunc>[0]);
}

/**
 * The GEMM for a (Fused)BatchMatMul, or null when the shapes need a broadcast it does not do
 * (batch dims other than equal or one side all ones) or the dtype is not float32.
 */
function matmul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean, bias: TensorInfo | null): TensorInfo | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb) {
    throw new Error(`Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
  }
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  let outer: number[];
  if (batchA === batchB && outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i])) outer = outerA;
  else if (batchB === 1) outer = outerA.length >= outerB.length ? outerA : outerB;
  else if (batchA === 1) outer = outerB.length >= outerA.length ? outerB : outerA;
  else return null;
  if (bias && tf.util.sizeFromShape(bias.shape) !== n) return null;
  const batch = Math.max(batchA, batchB);
  const out = backend.makeOutput([...outer, m, n], 'float32');
  if (batch * m * n === 0) return out;
  const ptr = (t: TensorInfo): number => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  if (k === 0) {
    const o = backend.typedArrayFromHeap(out) as Float32Array;
    if (bias) {
      const bv = backend.typedArrayFromHeap(bias) as Float32Array;
      for (let i = 0; i < o.length; i++) o[i] = bv[i % n]!;
    } else o.fill(0);
    return out;
  }
  // With one B for all batches and A untransposed, the batches of A are just more rows.
  const fold = batchB === 1 && batch > 1 && !transposeA;
  pool!.run({
    batch: fold ? 1 : batch,
    m: fold ? batch * m : m,
    n,
    k,
    a: ptr(a), sa: batchA === 1 ? 0 : m * k, rsa: transposeA ? 1 : k, csa: transposeA ? m : 1,
    b: ptr(b), sb: batchB === 1 ? 0 : k * n, rsb: transposeB ? 1 : n, csb: transposeB ? k : 1,
    c: ptr(out), sc: m * n, ldc: n,
    bias: bias ? ptr(bias) : 0,
  });
  return out;
}

function batchMatMul(args: KernelArgs): TensorInfo | TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const out = matmul(backend, a, b, Boolean(args.attrs?.['transposeA']), Boolean(args.attrs?.['transposeB']), null);
  return out ?? callStock('BatchMatMul', args);
}

function fusedMatMul(args: KernelArgs): TensorInfo | TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
  const activation = args.attrs?.['activation'];
  if (preluActivationWeights || (activation !== undefined && activation !== 'linear')) return callStock('_FusedMatMul', args);
  const out = matmul(backend, a!, b!, Boolean(args.attrs?.['transposeA']), Boolean(args.attrs?.['transposeB']), bias ?? null);
  return out ?? callStock('_FusedMatMul', args);
}

/** Shares the input's memory (tensors are immutable), as the cpu backend does; tfjs-wasm copies. */
function identity(args: KernelArgs): TensorInfo | TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const x = args.inputs['x']!;
  if (x.dtype === 'string') return callStock('Identity', args);
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function heapView(backend: BackendWasm, dtype: tf.DataType): Float32Array | Int32Array | Uint8Array {
  const buf = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer;
  if (dtype === 'bool') return new Uint8Array(buf);
  return dtype === 'int32' ? new Int32Array(buf) : new Float32Array(buf);
}

/**
 * Slice by contiguous runs copied within the heap. tfjs-wasm's Slice first copies the whole input
 * out of the heap (readSync) and then copies one innermost row at a time.
 */
function slice(args: KernelArgs): TensorInfo | TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const x = args.inputs['x']!;
  if (x.dtype === 'string' || x.dtype === 'complex64' || x.shape.length === 0) return callStock('Slice', args);
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.TensorInfo as tf.Tensor, args.attrs!['begin'] as number[], args.attrs!['size'] as number[]);
  const out = backend.makeOutput(size, x.dtype);
  const total = tf.util.sizeFromShape(size);
  if (total === 0) return out;
  const rank = x.shape.length;
  // Innermost dims taken whole merge into one run with the first partial dim above them.
  let inner = rank - 1;
  let run = size[inner]!;
  while (inner > 0 && size[inner] === x.shape[inner]) {
    inner--;
    run *= size[inner]!;
  }
  const strides = tf.util.computeStrides(x.shape);
  const elem = x.dtype === 'bool' ? 1 : 4;
  const stride = (d: number): number => (d < rank - 1 ? strides[d]! : 1);
  const srcBase = backend.dataIdMap.get(x.dataId)!.memoryOffset / elem + begin.reduce((acc, b, d) => acc + b * stride(d), 0);
  let dst = backend.dataIdMap.get(out.dataId)!.memoryOffset / elem;
  if (inner === 0 || !pool) {
    const heap = heapView(backend, x.dtype);
    const idx = new Array<number>(inner).fill(0);
    for (;;) {
      let off = srcBase;
      for (let d = 0; d < inner; d++) off += idx[d]! * stride(d);
      heap.copyWithin(dst, off, off + run);
      dst += run;
      let d = inner - 1;
      while (d >= 0) {
        if (++idx[d]! < size[d]!) break;
        idx[d] = 0;
        d--;
      }
      if (d < 0) break;
    }
    return out;
  }
  // Outer dims [first, inner) taken whole are evenly strided: one strided 2-D copy covers them all.
  let first = inner - 1;
  let rows = size[first]!;
  while (first > 0 && size[first] === x.shape[first]) {
    first--;
    rows *= size[first]!;
  }
  const rowStride = stride(inner - 1);
  const idx = new Array<number>(first).fill(0);
  for (;;) {
    let off = srcBase;
    for (let d = 0; d < first; d++) off += idx[d]! * stride(d);
    pool.copy2d(dst * elem, run * elem, off * elem, rowStride * elem, rows, run * elem);
    dst += rows * run;
    let d = first - 1;
    while (d >= 0) {
      if (++idx[d]! < size[d]!) break;
      idx[d] = 0;
      d--;
    }
    if (d < 0) break;
  }
  return out;
}

/** Sum over leading axes (bias and LayerNorm gradients) as one SIMD column sum; the rest as tfjs-wasm does it. */
function sum(args: KernelArgs): TensorInfo | TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const x = args.inputs['x']!;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(args.attrs!['axis'] as number | number[], x.shape).sort((p, q) => p - q);
  const prefix = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !prefix) return callStock('Sum', args);
  const rows = tf.util.sizeFromShape(x.shape.slice(0, axes.length));
  const cols = tf.util.sizeFromShape(x.shape.slice(axes.length));
  if (cols < 4) return callStock('Sum', args);
  const keep = Boolean(args.attrs!['keepDims']);
  const outShape = keep ? x.shape.map((d, i) => (i < axes.length ? 1 : d)) : x.shape.slice(axes.length);
  const out = backend.makeOutput(outShape, 'float32');
  pool!.colsum(backend.dataIdMap.get(x.dataId)!.memoryOffset, rows, cols, backend.dataIdMap.get(out.dataId)!.memoryOffset);
  return out;
}

/** SplitV through the fast Slice above (tfjs-wasm's SplitV calls its own Slice directly). */
function splitV(args: KernelArgs): TensorInfo[] {
  const x = args.inputs['x']!;
  const axis = tf.util.parseAxisParam(args.attrs!['axis'] as number, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.TensorInfo as tf.Tensor, args.attrs!['numOrSizeSplits'] as number | number[], axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  const size = x.shape.slice();
  return sizes.map((s) => {
    size[axis] = s;
    const part = slice({ inputs: { x }, backend: args.backend, attrs: { begin: begin.slice(), size: size.slice() } }) as TensorInfo;
    begin[axis]! += s;
    return part;
  });
}

/** GatherV2 as one heap copy per gathered slice (tfjs-wasm's copies element by element: 10x slower for embeddings). */
function gatherV2(args: KernelArgs): TensorInfo | TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
  if (x.dtype === 'string' || x.dtype === 'complex64' || indices.dtype !== 'int32') return callStock('GatherV2', args);
  const axis = tf.util.parseAxisParam(args.attrs!['axis'] as number, x.shape)[0]!;
  const batchDims = Number(args.attrs!['batchDims'] ?? 0);
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as tf.TensorInfo as tf.Tensor, indices as tf.TensorInfo as tf.Tensor, axis, batchDims);
  const nIdx = tf.util.sizeFromShape(indices.shape) / info.batchSize;
  const idx = backend.typedArrayFromHeap(indices) as Int32Array;
  for (let i = 0; i < idx.length; i++) {
    if (idx[i]! < 0 || idx[i]! >= info.dimSize) throw new Error(`GatherV2: the index value ${idx[i]} is not in [0, ${info.dimSize - 1}]`);
  }
  const out = backend.makeOutput(info.outputShape, x.dtype);
  if (tf.util.sizeFromShape(info.outputShape) === 0) return out;
  const elem = x.dtype === 'bool' ? 1 : 4;
  const heap = heapView(backend, x.dtype);
  const iv = backend.typedArrayFromHeap(indices) as Int32Array; // after makeOutput: the heap may have grown
  const src0 = backend.dataIdMap.get(x.dataId)!.memoryOffset / elem;
  let dst = backend.dataIdMap.get(out.dataId)!.memoryOffset / elem;
  const slice = info.sliceSize;
  for (let b = 0; b < info.batchSize; b++) {
    for (let o = 0; o < info.outerSize; o++) {
      const base = src0 + (b * info.outerSize + o) * info.dimSize * slice;
      for (let i = 0; i < nIdx; i++) {
        const from = base + iv[b * nIdx + i]! * slice;
        heap.copyWithin(dst, from, from + slice);
        dst += slice;
      }
    }
  }
  return out;
}

/** Concat by heap copies of contiguous runs (tfjs-wasm makes a subarray object per run). */
function concat(args: KernelArgs): TensorInfo | TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const inputs = args.inputs as unknown as TensorInfo[];
  const dtype = inputs[0]!.dtype;
  if (dtype === 'string' || dtype === 'complex64' || inputs.some((t) => t.dtype !== dtype)) return callStock('Concat', args);
  const axis = tf.util.parseAxisParam(args.attrs!['axis'] as number, inputs[0]!.shape)[0]!;
  tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
  const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
  const out = backend.makeOutput(outShape, dtype);
  if (tf.util.sizeFromShape(outShape) === 0) return out;
  const elem = dtype === 'bool' ? 1 : 4;
  const outer = tf.util.sizeFromShape(outShape.slice(0, axis));
  const parts = inputs
    .map((t) => ({ src: backend.dataIdMap.get(t.dataId)!.memoryOffset, run: tf.util.sizeFromShape(t.shape.slice(axis)) * elem }))
    .filter((p) => p.run > 0);
  const total = parts.reduce((acc, p) => acc + p.run, 0);
  let dst = backend.dataIdMap.get(out.dataId)!.memoryOffset;
  for (const p of parts) {
    if (pool) pool.copy2d(dst, total, p.src, p.run, outer, p.run);
    else {
      const heap = new Uint8Array((backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer);
      for (let o = 0; o < outer; o++) heap.copyWithin(dst + o * total, p.src + o * p.run, p.src + (o + 1) * p.run);
    }
    dst += p.run;
  }
  return out;
}
