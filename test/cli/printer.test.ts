import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeFailure, escapeControls } from '../../src/cli/failure.js';
import { EmbeddingIndex } from '../../src/search/store.js';
import { InputError } from '../../src/util/errors.js';
import { runWit } from '../crawl/run-wit.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-printer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Raw terminal controls: C0 (ESC above all), DEL and C1, the line and bidi-override characters. */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('the error printer', () => {
  it('shows control characters from inputs as escapes, on every line it prints', () => {
    expect(escapeControls('a\u001b[2Jb\u009bc\u202ed\re\nf\tg')).toBe('a\\x1b[2Jb\\x9bc\\u202ed\\x0de\\x0af\\x09g');
    expect(escapeControls('caption\u001b]0;title\u0007\nnext\tcol', { newlines: true })).toBe('caption\\x1b]0;title\\x07\nnext\tcol');
    const f = describeFailure('crawl', new InputError('crawl', 'list\u001b[31m.csv', 'no column "url" (columns: \u001b[2J\u001b[H)'));
    expect(f.line).not.toMatch(RAW);
    expect(f.line).toContain('\\x1b[2J');
  });

  it('drops the Rust and C++ source locations of native errors', () => {
    const lance = new Error('lance error: LanceError(IO): file size is too small, /usr/local/cargo/registry/src/index.crates.io-1/lance-io-8.0.0/src/utils.rs:88:20\nCaused by: LanceError(IO): file size is too small, /x/lance-io/src/utils.rs:88:20\n  Caused by: file size is too small');
    expect(describeFailure('search', lance).line).toBe('wit search: lance error: LanceError(IO): file size is too small');
    expect(describeFailure('eval', new Error('Input buffer contains unsupported image format (at vips/foreign.cc:123)')).line).toBe('wit eval: Input buffer contains unsupported image format');
  });

  it('a csv url list whose header holds an ESC sequence: the error names it with the escapes visible, no raw ESC reaches stderr', async () => {
    const queries = join(dir, 'queries.tsv');
    await writeFile(queries, 'query\tsource\tcount\ncat\twordnet\t10\n');
    const list = join(dir, 'list.csv');
    await writeFile(list, '\u001b[2J\u001b[H\u001b]0;pwned\u0007title,caption\nhttp://127.0.0.1/a.jpg,a cat\n');
    const r = await runWit(['crawl', '--queries', queries, '--input', list, '--out', join(dir, 'out')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/wit crawl: .*list\.csv: .*url/);
    expect(r.stderr).toContain('\\x1b[2J');
    expect(r.stderr).not.toMatch(RAW);
  }, 600_000);

  it('a corrupt LanceDB index: one line naming the folder, exit 2, no Rust source path', async () => {
    const index = join(dir, 'index');
    const idx = await EmbeddingIndex.create(index, { model: join(dir, 'no-model'), model_fingerprint: 'x', embed_dim: 4, dtype: 'float32', shards: [join(dir, '00000.parquet')] }, 'test');
    const v = new Float32Array([1, 0, 0, 0]);
    await idx.append([{ key: 'k', url: 'u', caption: 'c', queries: [], shard: join(dir, '00000.parquet'), row: 0, image_vector: v, text_vector: v }]);
    idx.meta.complete = true;
    idx.meta.ann = { kind: 'none', rows: 1 };
    await idx.saveMeta();
    idx.close();
    const versions = join(index, 'pairs.lance', '_versions');
    for (const f of await readdir(versions)) await writeFile(join(versions, f), 'garbage '.repeat(20));
    for (const args of [['search', '--index', index, 'a cat'], ['serve', '--index', index, '--port', '0'], ['embed', 'merge', '--parts', index, '--out', join(dir, 'merged')]]) {
      const r = await runWit(args);
      expect(r.code, args.join(' ')).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^wit ${args[0] === 'embed' ? 'embed merge' : args[0]}: ${index.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the index is damaged or truncated .*rebuild it with wit embed`));
      expect(r.stderr).not.toMatch(/\.rs:\d/);
    }
  }, 600_000);
});
