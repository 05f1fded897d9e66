import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/train/backend/index.js';
import { activation } from '../../src/train/nn.js';
import { validateConfig } from '../../src/train/config.js';

// Reference values: exact GELU 0.5·x·(1 + erf(x/√2)), tanh GELU, and x·σ(1.702x), from Python's math module.
const xs = [-3, -1, -0.5, 0, 0.5, 1, 2];
const exact = [-0.0040496941, -0.1586552539, -0.1542687694, 0, 0.3457312306, 0.8413447461, 1.9544997361];
const tanh = [-0.0036373921, -0.1588080094, -0.1542859902, 0, 0.3457140098, 0.8411919906, 1.9545976941];
const quick = [-0.0180713097, -0.1542042341, -0.1496115634, 0, 0.3503884366, 0.8457957659, 1.9356586231];

describe('activations', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  test.each([['gelu_erf', exact], ['gelu', tanh], ['quick_gelu', quick]] as const)('%s matches its formula', (kind, want) => {
    const got = tf.tidy(() => activation(tf.tensor1d(xs), kind).dataSync());
    for (let i = 0; i < xs.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 6);
  });
  test('exact and tanh GELU differ (the config decides which)', () => {
    const a = tf.tidy(() => activation(tf.tensor1d([-3]), 'gelu_erf').dataSync()[0]!);
    const b = tf.tidy(() => activation(tf.tensor1d([-3]), 'gelu').dataSync()[0]!);
    expect(Math.abs(a - b)).toBeGreaterThan(1e-4);
  });
  test('config accepts gelu_erf and names the choices otherwise', () => {
    const base = { embed_dim: 8, text: { context_length: 8, vocab_size: 600, width: 16, heads: 2, layers: 1 }, vision: { type: 'vit', image_size: 16, patch_size: 8, width: 16, layers: 1, heads: 2 } };
    expect(validateConfig({ ...base, act: 'gelu_erf' }, 'x').act).toBe('gelu_erf');
    expect(() => validateConfig({ ...base, act: 'relu' }, 'x')).toThrow(/quick_gelu, gelu, gelu_erf/);
  });
});
