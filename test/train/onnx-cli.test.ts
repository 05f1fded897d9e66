/**
 * The inference backend through the CLI (bin/wit.cjs runs dist/: `npm run build` first): auto takes onnx
 * when onnxruntime-node is installed and wasm when it is not (WIT_NO_ONNX=1), prints its choice once,
 * and both score the same pairs; asking for what is not installed is a usage error naming the install command.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runWit } from '../crawl/run-wit.js';
import { writeEmojiShards } from '../helpers/emoji-shards.js';
import { makeWitModel } from '../model/wit-model.js';
import { loadOrt } from '../../src/train/onnx/runtime.js';

const ort = await loadOrt();

let root: string;
let model: string;
let shards: string;
beforeAll(async () => {
  root = await mkdtemp(join(os.tmpdir(), 'wit-onnx-cli-'));
  model = join(root, 'model');
  shards = join(root, 'shards');
  await makeWitModel(model);
  await writeEmojiShards(shards, { sets: ['google'], limit: 12, size: 32 });
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const announced = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('wit: inference on '));

describe('inference backend (CLI)', () => {
  test.skipIf(!ort.ok)('auto: onnx when installed, wasm without it; the choice printed once; the same scores', async () => {
    const args = (out: string): string[] => ['filter', '--shards', shards, '--model', model, '--keep-fraction', '0.5', '--no-dedup', '--out', join(root, out), '--json'];
    // --threads reaches either backend: ONNX Runtime's intra-op threads, wit's GEMM pool on wasm
    const onnx = await runWit([...args('f-onnx'), '--threads', '1'], { timeoutMs: 120_000 });
    expect(onnx.code, onnx.stderr).toBe(0);
    expect(announced(onnx.stderr)).toEqual([expect.stringMatching(/^wit: inference on ONNX Runtime \d+\.\d+\.\d+ \(onnxruntime-node, CPU, 1 thread\)$/)]);
    const wasm = await runWit([...args('f-wasm'), '--threads', '1'], { timeoutMs: 120_000, env: { WIT_NO_ONNX: '1' } });
    expect(wasm.code, wasm.stderr).toBe(0);
    expect(announced(wasm.stderr)).toEqual([expect.stringMatching(/^wit: inference on WebAssembly.*wit GEMM( with FMA)? on 1 thread[,)]/)]);
    const a = JSON.parse(onnx.stdout);
    const b = JSON.parse(wasm.stdout);
    expect(a.scored).toBe(12);
    expect(b.scored).toBe(12);
    expect(a.threshold).toBeCloseTo(b.threshold, 5);
    expect(a.kept).toBe(b.kept);
  }, 240_000);

  test('--backend onnx without onnxruntime-node, and --device cuda without its provider, are usage errors with the install command', async () => {
    const missing = await runWit(['embed', '--model', model, '--shards', shards, '--backend', 'onnx', '--out', join(root, 'e1')], { env: { WIT_NO_ONNX: '1' } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/backend onnx needs onnxruntime-node, which is not installed: npm install onnxruntime-node/);
    if (!ort.ok) return;
    const cuda = await runWit(['embed', '--model', model, '--shards', shards, '--device', 'cuda', '--out', join(root, 'e2')]);
    if (/CUDA execution provider failed|inference on ONNX Runtime .*CUDA/.test(cuda.stderr)) return; // a machine with the provider installed
    expect(cuda.code).toBe(2);
    expect(cuda.stderr).toMatch(/--device cuda needs onnxruntime-node's CUDA provider, which is not installed: ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
    const wasmCuda = await runWit(['embed', '--model', model, '--shards', shards, '--backend', 'wasm', '--device', 'cuda', '--out', join(root, 'e3')]);
    expect(wasmCuda.code).toBe(2);
    expect(wasmCuda.stderr).toMatch(/--device cuda runs on the onnx backend, not wasm/);
  }, 120_000);
});
