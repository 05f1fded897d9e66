/**
 * Parquet shards carry column statistics as pyarrow writes them (issue 29, point 7): min/max in the
 * type's order and null counts per column chunk, so readers can skip row groups; created_by names the
 * package and its version. Read back with hyparquet, which decodes them by the schema.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParquetShardWriter, readShardMetadata, type PairRecord } from '../../src/shards/index.js';
import { VERSION } from '../../src/util/version.js';

function rec(i: number): PairRecord {
  const image = Buffer.alloc(5000 + i, i); // over the 4 KiB statistics limit: no min/max for the image column
  return {
    key: `0000000${i}`, url: `https://e.org/${i}.jpg`, page_url: i === 1 ? null : `https://e.org/p${i}`,
    caption: ['banana', 'apple', 'cherry'][i]!, queries: i === 2 ? [] : ['fruit', `q${i}`], image, width: [40, -3, 250][i]!, height: 9,
    original_width: 80, original_height: 90, sha256: createHash('sha256').update(image).digest('hex'), similarity: [0.5, -0.25, 0][i]!,
  };
}

describe('Parquet column statistics', () => {
  it('min, max and null_count per column chunk; none for values over 4 KiB; created_by is wit-clip and its version', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wit-pq-stats-'));
    try {
      const path = join(dir, '00000.parquet');
      const w = await ParquetShardWriter.open(path, { withSimilarity: true });
      for (let i = 0; i < 3; i++) await w.write(rec(i));
      await w.close();
      const meta = await readShardMetadata(path);
      expect(meta.created_by).toBe(`wit-clip version ${VERSION}`);
      expect(meta.created_by).not.toMatch(/github/);
      const stats = new Map(meta.row_groups[0]!.columns.map((c) => [c.meta_data!.path_in_schema.join('.'), c.meta_data!.statistics]));
      expect(stats.get('caption')).toMatchObject({ min_value: 'apple', max_value: 'cherry', null_count: 0n });
      expect(stats.get('width')).toMatchObject({ min_value: -3, max_value: 250, null_count: 0n });
      expect(stats.get('similarity')).toMatchObject({ min_value: -0.25, max_value: 0.5 });
      expect(stats.get('page_url')).toMatchObject({ min_value: 'https://e.org/p0', max_value: 'https://e.org/p2', null_count: 1n });
      expect(stats.get('queries.list.element')).toMatchObject({ min_value: 'fruit', max_value: 'q1', null_count: 1n }); // the empty list
      const image = stats.get('jpg')!;
      expect(image.null_count).toBe(0n);
      expect(image.min_value).toBeUndefined();
      expect(image.max_value).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
