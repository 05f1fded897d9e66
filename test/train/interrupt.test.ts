import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WIT } from '../crawl/run-wit.js';
import { loadModelDir } from '../../src/train/model-dir.js';
import { initBackend } from '../../src/train/backend/index.js';
import { writeShapeShards } from './synthetic-shards.js';

/**
 * Ctrl-C during a long training step. The step of this model is hundreds of GFLOP on one GEMM thread
 * (tens of seconds to minutes), during which the main thread never returns to Node's event loop. The
 * test waits until the step reports progress from inside itself, sends SIGINT, and expects the process
 * to stop inside that step (no step finished), with exit code 130 and a complete checkpoint of step 0
 * that --resume can continue from. Before the fix the signal was heard only after the step. Needs
 * `npm run build`.
 */
let root: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wit-interrupt-'));
  await writeShapeShards(join(root, 'shards'), { perClass: 4, shards: 1 });
  writeFileSync(join(root, 'slow.json'), JSON.stringify({
    name: 'slow-vit', embed_dim: 256, act: 'quick_gelu',
    vision: { type: 'vit', image_size: 64, patch_size: 8, width: 384, layers: 8, heads: 6 },
    text: { context_length: 16, vocab_size: 1000, width: 256, heads: 4, layers: 4 },
  }));
});

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); // a failed run must not outlive the test
  rmSync(root, { recursive: true, force: true });
});

test('SIGINT inside a long step stops it, exit 130, and leaves a resumable checkpoint', async () => {
  const out = join(root, 'model');
  const args = ['train', '--shards', join(root, 'shards'), '--out', out, '--arch', join(root, 'slow.json'), '--steps', '3', '--batch-size', '48',
    '--backend', 'wasm', '--threads', '1', '--decode-workers', '0', '--checkpoint-every', '1'];
  const proc = spawn(process.execPath, [WIT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  let stderr = '';
  let sent = false;
  const code = await new Promise<number | null>((resolve) => {
    proc.stderr!.on('data', (d) => {
      stderr += d;
      // Progress from inside step 1 (printed from the GEMM loop while the step runs).
      if (!sent && /train step 1\/3: ~\d+% of its/.test(stderr)) {
        sent = true;
        proc.kill('SIGINT');
      }
    });
    proc.on('close', (c) => resolve(c));
  });
  expect(sent, stderr).toBe(true);
  // Size and estimate came before the first step.
  expect(stderr).toMatch(/train: [\d,]+ parameters \([\d.]+ MB of weights.*a step of 48 is ~\d+(\.\d)? GFLOP: at least/);
  expect(stderr).toMatch(/SIGINT received/);
  expect(stderr).toContain(`wit train: interrupted at step 0/3; checkpoint saved in ${join(out, 'checkpoints', 'step-000000')}, continue with --resume`);
  expect(code).toBe(130);
  // Stopped inside the step: none finished.
  expect(existsSync(join(out, 'metrics.jsonl')) ? readFileSync(join(out, 'metrics.jsonl'), 'utf8') : '').toBe('');
  const state = JSON.parse(readFileSync(join(out, 'checkpoints', 'step-000000', 'train_state.json'), 'utf8'));
  expect(state.step).toBe(0);
  expect(state.position).toEqual({ epoch: 0, index: 0 });
  await initBackend('cpu');
  const loaded = await loadModelDir(join(out, 'checkpoints', 'step-000000'));
  expect(loaded.model.config.name).toBe('slow-vit');
  loaded.model.dispose();
}, 600_000);

/**
 * Ctrl-C while a large model is being initialised (ViT-B/32: 126 million parameters drawn on the main
 * thread, seconds to a minute before the first step). Before, nothing in that span looked at the stop
 * word, so the watcher's 5 s hard stop ended the process (exit 137). The test waits for the line that
 * precedes the span and expects a clean exit 130 saying there is nothing to keep, with nothing written
 * that looks like a run (no weights, no checkpoint, no temporary files).
 */
test('SIGINT while a large model is initialised: exit 130, nothing to keep, nothing half-written', async () => {
  const out = join(root, 'big');
  const args = ['train', '--shards', join(root, 'shards'), '--out', out, '--arch', 'ViT-B/32', '--image-size', '64', '--steps', '1', '--batch-size', '4',
    '--backend', 'wasm', '--threads', '1', '--decode-workers', '0'];
  const proc = spawn(process.execPath, [WIT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  let stderr = '';
  let sent = false;
  const code = await new Promise<number | null>((resolve) => {
    proc.stderr!.on('data', (d) => {
      stderr += d;
      if (!sent && /train: initialising ViT-B\/32 \([\d,]+ parameters\)/.test(stderr)) {
        sent = true;
        proc.kill('SIGINT');
      }
    });
    proc.on('close', (c) => resolve(c));
  });
  expect(sent, stderr).toBe(true);
  expect(stderr).not.toMatch(/not answered in 5 s/);
  expect(stderr).toContain('wit train: interrupted before the first step; nothing to keep (no step taken, no checkpoint written); rerun the same command to start');
  expect(code).toBe(130);
  const left = existsSync(out) ? readdirSync(out) : [];
  expect(left.filter((f) => f === 'model.json' || f === 'checkpoints' || f.startsWith('.'))).toEqual([]);
}, 600_000);
