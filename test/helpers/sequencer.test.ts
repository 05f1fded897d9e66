import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { TestSpecification, Vitest } from 'vitest/node';
import LongFilesFirst, { LONG_FILES } from './sequencer.js';

const root = resolve(import.meta.dirname, '..', '..');

function spec(path: string): TestSpecification {
  return { moduleId: join(root, path), project: { name: '', config: { sequence: { groupOrder: 0 }, isolate: true } } } as unknown as TestSpecification;
}

/** A sequencer over a cache that knows the sizes of `sizes` and, with `durations`, their earlier durations. */
function sequencer(sizes: Record<string, number>, durations?: Record<string, number>): LongFilesFirst {
  const ctx = {
    config: { root },
    cache: {
      getFileStats: (key: string) => ({ size: sizes[key.slice(1)] }),
      getFileTestResults: (key: string) => (durations ? { duration: durations[key.slice(1)], failed: false } : undefined),
    },
  } as unknown as Vitest;
  return new LongFilesFirst(ctx);
}

describe('the test sequencer', () => {
  test('names only files that exist', () => {
    for (const f of LONG_FILES) expect(existsSync(join(root, f)), f).toBe(true);
  });

  test('a clean run starts the long files first, in their order, then the rest largest first', async () => {
    const files = ['test/a.test.ts', LONG_FILES[3]!, 'test/b.test.ts', LONG_FILES[0]!, LONG_FILES[1]!];
    const sizes = { 'test/a.test.ts': 10, 'test/b.test.ts': 99_000, [LONG_FILES[0]!]: 1, [LONG_FILES[1]!]: 2, [LONG_FILES[3]!]: 3 };
    const order = (await sequencer(sizes).sort(files.map(spec))).map((s) => s.moduleId.slice(root.length + 1));
    expect(order).toEqual([LONG_FILES[0], LONG_FILES[1], LONG_FILES[3], 'test/b.test.ts', 'test/a.test.ts']);
  });

  test('with the durations of an earlier run, the longest first as vitest orders them', async () => {
    const files = ['test/a.test.ts', LONG_FILES[0]!, 'test/b.test.ts'];
    const durations = { 'test/a.test.ts': 500, [LONG_FILES[0]!]: 100, 'test/b.test.ts': 300 };
    const order = (await sequencer({}, durations).sort(files.map(spec))).map((s) => s.moduleId.slice(root.length + 1));
    expect(order).toEqual(['test/a.test.ts', 'test/b.test.ts', LONG_FILES[0]]);
  });
});
