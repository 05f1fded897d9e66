import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { writeShapeShards } from './synthetic-shards.js';
import { WIT } from '../crawl/run-wit.js';

// Drives the real CLI: needs `npm run build` (npm test runs it first).
const wit = (args: string[]) => spawnSync(process.execPath, [WIT, ...args], { encoding: 'utf8', timeout: 120_000 });
/** The same CLI in this process (no process start-up): for the cheaper checks. */
async function witInProcess(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), isTTY: false });
  return { status, stdout, stderr };
}
let root: string;
let shards: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wit-cli-train-'));
  shards = join(root, 'shards');
  await writeShapeShards(shards, { perClass: 2, shards: 1 });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('wit train / wit eval CLI', () => {
  test('train --json, then eval --json with a labels file', async () => {
    const model = join(root, 'model');
    const r = wit(['train', '--shards', shards, '--out', model, '--arch', 'vit-micro', '--steps', '2', '--batch-size', '8', '--backend', 'wasm', '--context-length', '8', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.steps).toBe(2);
    expect(s.backend).toBe('wasm');
    expect(Number.isFinite(s.final_loss)).toBe(true);
    expect(existsSync(join(model, 'model.json'))).toBe(true);

    const labels = join(root, 'labels.txt');
    writeFileSync(labels, 'red circle\nblue square\ngreen circle\n');
    const e = wit(['eval', '--model', model, '--shards', shards, '--labels', labels, '--template', '{}', 'a {}', '--backend', 'wasm', '--json']);
    expect(e.status, e.stderr).toBe(0);
    const ev = JSON.parse(e.stdout);
    expect(ev.zero_shot.classes).toBe(3);
    expect(ev.zero_shot.samples).toBe(6); // 2 images of each labelled class; the rest unlabeled
    expect(ev.zero_shot.unlabeled).toBe(18);
    expect(ev.zero_shot.templates).toBe(2);
    expect(ev.retrieval.samples).toBe(24);
    for (const k of ['r1', 'r5', 'r10']) expect(ev.retrieval.image_to_text[k]).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(readFileSync(join(model, 'eval.json'), 'utf8')).zero_shot.top1).toBe(ev.zero_shot.top1);

    const human = await witInProcess(['eval', '--model', model, '--shards', shards, '--backend', 'wasm', '--out', join(root, 'e.json')]);
    expect(human.status, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/zero-shot: top-1 [\d.]+%\s+top-5 [\d.]+%\s+\(12 classes/);
  });

  test('bad flags and missing inputs exit 2 with a clear message', async () => {
    const bad = wit(['train', '--shards', shards, '--out', join(root, 'm2'), '--batch-sise', '4']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown flag '--batch-sise'.*did you mean --batch-size/);
    const missing = wit(['train', '--shards', join(root, 'no-such-dir'), '--out', join(root, 'm3'), '--backend', 'wasm']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/no-such-dir/);
    const loss = await witInProcess(['train', '--shards', shards, '--out', join(root, 'm4'), '--loss', 'triplet']);
    expect(loss.status).toBe(2);
    const noModel = await witInProcess(['eval', '--model', join(root, 'nothing'), '--shards', shards, '--backend', 'wasm']);
    expect(noModel.status).toBe(2);
    expect(noModel.stderr).toMatch(/no such model directory/);
    const noReq = await witInProcess(['eval', '--shards', shards]);
    expect(noReq.status).toBe(2);
    expect(noReq.stderr).toMatch(/--model is required/);
  });

  test('train never replaces a finished model or another run without --overwrite; --resume names the settings that differ', async () => {
    const run = join(root, 'run-a');
    const common = ['--shards', shards, '--arch', 'vit-micro', '--batch-size', '8', '--backend', 'wasm', '--context-length', '8', '--decode-workers', '0'];
    const first = await witInProcess(['train', '--out', run, '--steps', '2', ...common]);
    expect(first.status, first.stderr).toBe(0);
    // A finished model without checkpoints/ (copied elsewhere, or checkpoints cleaned up).
    const finished = join(root, 'finished');
    cpSync(run, finished, { recursive: true });
    rmSync(join(finished, 'checkpoints'), { recursive: true });
    const weights = readFileSync(join(finished, 'model.weights.bin'));
    const again = wit(['train', '--out', finished, '--steps', '1', ...common]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/finished already holds a trained model \(model.json\); pass --overwrite/);
    const resumed = await witInProcess(['train', '--out', finished, '--resume', '--steps', '1', ...common]);
    expect(resumed.status).toBe(2);
    expect(resumed.stderr).toMatch(/holds a finished model and no checkpoint to resume from/);
    expect(readFileSync(join(finished, 'model.weights.bin')).equals(weights)).toBe(true); // untouched
    const replaced = await witInProcess(['train', '--out', finished, '--overwrite', '--steps', '1', ...common]);
    expect(replaced.status, replaced.stderr).toBe(0);
    expect(readdirSync(join(finished, 'checkpoints'))).toEqual(['step-000001']);
    // --resume over a run with other architecture or data settings: refused, naming each difference.
    const other = join(root, 'other-shards');
    await writeShapeShards(other, { perClass: 1, shards: 1 });
    const clash = await witInProcess(['train', '--out', run, '--resume', '--steps', '3', ...common.map((a) => ({ [shards]: other, '8': '12', 'vit-micro': 'vit-small' })[a] ?? a)]);
    expect(clash.status).toBe(2);
    expect(clash.stderr).toContain('--batch-size 12 (run has 8)');
    expect(clash.stderr).toContain('--arch vit-small (run has vit-micro)');
    expect(clash.stderr).toMatch(/image tower .* \(run has /);
    expect(clash.stderr).toMatch(/--shards .*other-shards.*00000.parquet \(run read .*\/shards\/00000.parquet\)/);
    expect(clash.stderr).toMatch(/text tower .* \(run has /);
    const ok = await witInProcess(['train', '--out', run, '--resume', '--steps', '3', ...common]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readdirSync(join(run, 'checkpoints'))).toEqual(['step-000002', 'step-000003']);
  });
});
