/**
 * bench/shards: write and read throughput (MB/s, rows/s) and peak RSS of each Parquet library
 * candidate for the shard format, on 10,000 rows with ~30 KB unique images (1,000-row groups),
 * and of the WebDataset tar writers: wit's own ustar writer (`src/shards/tar.ts`, through the
 * real shard writer, metadata Parquet included) against tar-stream, the maintained npm package.
 * Each measurement runs in its own child process so peak RSS is its own.
 *
 *   npm run bench:shards [-- --rows 10000 --image-kb 30 --only WebDataset]
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { once } from 'node:events';

const LIBS = ['wit (own v1 writer)', 'hyparquet-writer', '@dsnp/parquetjs', 'parquetjs-lite', 'WebDataset: wit (own ustar writer)', 'WebDataset: tar-stream'] as const;
const isTar = (lib: Lib) => lib.startsWith('WebDataset');
type Lib = (typeof LIBS)[number];

interface Row { key: string; url: string; caption: string; queries: string[]; jpg: Buffer; width: number; height: number; sha256: string }

function* rows(n: number, imageBytes: number): Generator<Row> {
  const pool = randomBytes(imageBytes * 16);
  for (let i = 0; i < n; i++) {
    const start = (i * 7919) % (pool.length - imageBytes);
    const jpg = Buffer.allocUnsafe(imageBytes);
    pool.copy(jpg, 0, start, start + imageBytes);
    jpg.writeUInt32LE(i, 0); // unique bytes per row
    yield {
      key: `${String(Math.floor(i / 1000)).padStart(5, '0')}${String(i % 1000).padStart(4, '0')}`,
      url: `https://example.org/images/${i}.jpg`,
      caption: `a photo of a cat number ${i} on a sofa`,
      queries: ['cat', 'sofa'],
      jpg,
      width: 256,
      height: 256,
      sha256: createHash('sha256').update(jpg).digest('hex'),
    };
  }
}

async function writeWith(lib: Lib, file: string, n: number, imageBytes: number): Promise<void> {
  if (lib === 'WebDataset: tar-stream') {
    const tar = await import('tar-stream');
    const { createWriteStream } = await import('node:fs');
    const pack = tar.pack();
    const out = createWriteStream(file);
    pack.pipe(out);
    const add = async (name: string, data: Buffer) => {
      if (!pack.entry({ name, size: data.length, mtime: new Date(0) }, data)) await once(pack, 'drain');
    };
    for (const r of rows(n, imageBytes)) {
      const { jpg, ...meta } = r;
      await add(`${r.key}.jpg`, jpg);
      await add(`${r.key}.txt`, Buffer.from(r.caption));
      await add(`${r.key}.json`, Buffer.from(JSON.stringify({ ...meta, original_width: 640, original_height: 480 })));
    }
    pack.finalize();
    await once(out, 'close');
  } else if (lib === 'wit (own v1 writer)' || lib === 'WebDataset: wit (own ustar writer)') {
    const { ShardWriter } = await import('../src/shards/index.js');
    const w = await ShardWriter.open(file, { rowGroupSize: 1000 });
    for (const r of rows(n, imageBytes)) {
      await w.write({ key: r.key, url: r.url, caption: r.caption, queries: r.queries, image: r.jpg, width: r.width, height: r.height, original_width: 640, original_height: 480, sha256: r.sha256 });
    }
    await w.close();
  } else if (lib === 'hyparquet-writer') {
    const { ParquetWriter, fileWriter } = await import('hyparquet-writer');
    const schema = [
      { name: 'root', num_children: 7 },
      { name: 'key', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      { name: 'url', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      { name: 'caption', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      { name: 'jpg', type: 'BYTE_ARRAY', repetition_type: 'REQUIRED' },
      { name: 'width', type: 'INT32', repetition_type: 'REQUIRED' },
      { name: 'height', type: 'INT32', repetition_type: 'REQUIRED' },
      { name: 'sha256', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
    ] as const;
    const writer = new ParquetWriter({ writer: fileWriter(file), schema: schema as never, codec: 'UNCOMPRESSED' as never });
    let batch: Row[] = [];
    const flush = () => {
      const col = <K extends keyof Row>(k: K) => batch.map((r) => r[k]);
      writer.write({ columnData: [
        { name: 'key', data: col('key') }, { name: 'url', data: col('url') }, { name: 'caption', data: col('caption') },
        { name: 'jpg', data: col('jpg').map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) },
        { name: 'width', data: col('width') }, { name: 'height', data: col('height') }, { name: 'sha256', data: col('sha256') },
      ] as never, rowGroupSize: 1000 });
      batch = [];
    };
    for (const r of rows(n, imageBytes)) {
      batch.push(r);
      if (batch.length === 1000) flush();
    }
    if (batch.length) flush();
    await writer.finish();
  } else {
    const mod = (await import(lib)) as { default?: unknown };
    const parquet = (mod.default ?? mod) as {
      ParquetSchema: new (s: unknown) => unknown;
      ParquetWriter: { openFile(schema: unknown, path: string, opts: unknown): Promise<{ appendRow(r: unknown): Promise<void>; close(): Promise<void> }> };
    };
    const schema = new parquet.ParquetSchema({
      key: { type: 'UTF8' }, url: { type: 'UTF8' }, caption: { type: 'UTF8' }, queries: { type: 'UTF8', repeated: true },
      jpg: { type: 'BYTE_ARRAY' }, width: { type: 'INT32' }, height: { type: 'INT32' }, sha256: { type: 'UTF8' },
    });
    const w = await parquet.ParquetWriter.openFile(schema, file, { rowGroupSize: 1000, useDataPageV2: false });
    for (const r of rows(n, imageBytes)) await w.appendRow(r);
    await w.close();
  }
}

async function readWith(lib: Lib, file: string): Promise<number> {
  let count = 0;
  if (lib === 'WebDataset: tar-stream') {
    const tar = await import('tar-stream');
    const { createReadStream } = await import('node:fs');
    const extract = tar.extract();
    createReadStream(file, { highWaterMark: 1 << 22 }).pipe(extract);
    let last = '';
    for await (const entry of extract) {
      const name = entry.header.name;
      const key = name.slice(0, name.indexOf('.'));
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (key !== last) { count++; last = key; }
    }
  } else if (lib === 'wit (own v1 writer)' || lib === 'hyparquet-writer' || lib === 'WebDataset: wit (own ustar writer)') {
    // both read back through the shard reader (hyparquet, one row group at a time)
    const { readShardFile } = await import('../src/shards/index.js');
    for await (const r of readShardFile(file)) { if (r.image.length) count++; }
  } else {
    const mod = (await import(lib)) as { default?: unknown };
    const parquet = (mod.default ?? mod) as { ParquetReader: { openFile(p: string): Promise<{ getCursor(): { next(): Promise<unknown> }; close(): Promise<void> }> } };
    const reader = await parquet.ParquetReader.openFile(file);
    const cursor = reader.getCursor();
    while (await cursor.next()) count++;
    await reader.close();
  }
  return count;
}

async function child(mode: 'write' | 'read', lib: Lib, file: string, n: number, imageBytes: number) {
  const t0 = performance.now();
  let count = n;
  if (mode === 'write') await writeWith(lib, file, n, imageBytes);
  else count = await readWith(lib, file);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ seconds, count, maxRssKb: process.resourceUsage().maxRSS }) + '\n');
}

async function main() {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '10000' }, 'image-kb': { type: 'string', default: '30' }, only: { type: 'string' }, child: { type: 'string' }, lib: { type: 'string' }, file: { type: 'string' } } });
  const n = Number(values.rows);
  const imageBytes = Number(values['image-kb']) * 1000;
  if (values.child) return child(values.child as 'write' | 'read', values.lib as Lib, values.file!, n, imageBytes);

  const dir = mkdtempSync(join(tmpdir(), 'wit-bench-shards-'));
  const self = fileURLToPath(import.meta.url);
  const run = (mode: string, lib: Lib, file: string) => {
    const r = spawnSync(process.execPath, [self, '--child', mode, '--lib', lib, '--file', file, '--rows', String(n), '--image-kb', String(values['image-kb'])], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`${lib} ${mode} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; count: number; maxRssKb: number };
  };
  const table: string[][] = [];
  for (const lib of LIBS.filter((l) => !values.only || l.includes(values.only))) {
    const file = join(dir, `${lib.replace(/[^a-z]/gi, '_')}.${isTar(lib) ? 'tar' : 'parquet'}`);
    // @dsnp/parquetjs is not a devDependency (its @zenfs deps want Node >= 22 and warn on every npm
    // install): it is measured when present, `npm i --no-save @dsnp/parquetjs`.
    if (lib === '@dsnp/parquetjs' && !(await import(lib).then(() => true, () => false))) {
      table.push([`${lib} (not installed: npm i --no-save ${lib})`, '–', '–', '–', '–', '–', '–', '–']);
      continue;
    }
    const w = run('write', lib, file);
    const size = statSync(file).size;
    const r = run('read', lib, file);
    const mb = size / 1e6;
    table.push([lib, (mb / w.seconds).toFixed(0), (n / w.seconds).toFixed(0), (w.maxRssKb / 1024).toFixed(0), (mb / r.seconds).toFixed(0), (r.count / r.seconds).toFixed(0), (r.maxRssKb / 1024).toFixed(0), mb.toFixed(0)]);
    rmSync(file, { force: true });
    rmSync(file.replace(/\.tar$/, '.parquet'), { force: true });
  }
  rmSync(dir, { recursive: true, force: true });
  const head = ['library', 'write MB/s', 'write rows/s', 'write peak RSS MB', 'read MB/s', 'read rows/s', 'read peak RSS MB', 'file MB'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(`${n} rows, ~${values['image-kb']} KB unique images, 1,000-row groups (Parquet), node ${process.version}; WebDataset: MB/s of the .tar`);
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const row of table) console.log(line(row));
}

await main();
