/**
 * bzip2 compression for test fixtures without a system program: the reference libbzip2 compiled to
 * WebAssembly (npm `libbzip2-wasm`, ISC), so the bytes are the real format that bzip2, lbzip2 and
 * wit's own decoders read. About 2x slower than the native `bzip2 -9`, which does not matter for
 * fixtures of a few MB (README.md "Requirements": only the product's fast path uses lbzip2).
 */
import { createRequire } from 'node:module';

interface Libbzip2 {
  compressBZ2(data: Uint8Array, blockSize: number, workFactor: number): { error: number; output: Uint8Array };
  then?: unknown;
}

const require = createRequire(import.meta.url);
const factory = require('libbzip2-wasm') as (init: { onRuntimeInitialized: () => void }) => Libbzip2;

// The module is ready once its WebAssembly is compiled (asynchronous). Its emscripten `then` resolves
// to the module itself, which is again a thenable, so an `await` on it never settles: wait for
// onRuntimeInitialized and drop `then`.
const libbzip2: Libbzip2 = await new Promise((resolve) => {
  const mod = factory({ onRuntimeInitialized: () => { delete mod.then; resolve(mod); } });
});

/** bzip2 of `data` (block size 900k, as `bzip2 -9`). Throws when libbzip2 reports an error. */
export function bzip2Sync(data: Buffer | string): Buffer {
  const input = typeof data === 'string' ? Buffer.from(data) : data;
  const { error, output } = libbzip2.compressBZ2(input, 9, 0);
  if (error !== 0) throw new Error(`libbzip2 (wasm) failed with BZ2 error ${error} on ${input.length} bytes`);
  return Buffer.from(output);
}
