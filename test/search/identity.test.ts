import { createHash } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emojiImage } from '../../src/data/emoji.js';
import { embed, serve, type SearchServer } from '../../src/search/index.js';
import { ShardWriter, readSetId, shardPath, writeManifest, type PairRecord } from '../../src/shards/index.js';
import { pickEmoji } from '../helpers/emoji-shards.js';
import { runWit } from '../crawl/run-wit.js';
import { writeRandomModel } from './helpers.js';

// Two crawls whose keys are the same (a crawl numbers its pairs from 000000000) and whose shards
// have the same names, with different images: one index over both must keep every pair apart.
let dir: string;
let model: string;
let index: string;
const sets = ['google', 'openmoji'] as const;
/** Image bytes by set folder and row. */
const bytes = new Map<string, Uint8Array>();

async function writeCrawl(out: string, set: (typeof sets)[number], n: number): Promise<void> {
  const emoji = await pickEmoji(n);
  const writer = await ShardWriter.open(shardPath(out, 0), { imageFormat: 'png' });
  for (const [i, e] of emoji.entries()) {
    const image = new Uint8Array(await emojiImage(set, e.code, { size: 32 }));
    bytes.set(`${set}/${i}`, image);
    const rec: PairRecord = {
      key: String(i).padStart(9, '0'),
      url: `https://example.invalid/${set}/${e.code}.png`,
      page_url: null,
      caption: e.name,
      queries: [e.name],
      image,
      width: 32,
      height: 32,
      original_width: 32,
      original_height: 32,
      sha256: createHash('sha256').update(image).digest('hex'),
    };
    await writer.write(rec);
  }
  await writer.close();
  await writeManifest(out, { stage: 'crawl', version: 'test', created: '', options: {}, inputs: [], shards: ['00000.parquet'], totals: {} });
}

function get(port: number, path: string, host?: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers: host ? { host } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

type Hit = { id: string; key: string; url: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-identity-'));
  for (const s of sets) await writeCrawl(join(dir, s), s, 8);
  model = join(dir, 'model');
  await writeRandomModel(model, ['a', 'b']);
  index = join(dir, 'index');
  await embed({ model, shards: sets.map((s) => join(dir, s)), out: index, backend: 'cpu' });
}, 600_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('one identity for a pair across shard sets', () => {
  it('a manifest keeps its set id across rewrites; each crawl folder has its own', async () => {
    const a = await readSetId(join(dir, 'google'));
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(await readSetId(join(dir, 'openmoji'))).not.toBe(a);
    await writeManifest(join(dir, 'google'), { stage: 'crawl', version: 'test', created: '', options: {}, inputs: [], shards: [], totals: {}, set_id: 'copied-from-elsewhere' });
    expect(await readSetId(join(dir, 'google'))).toBe(a);
  });

  it('serve: every result\'s image and neighbours are its own pair, though keys repeat across sets', async () => {
    const server = await serve({ index, port: 0, backend: 'cpu', k: 16 });
    try {
      const hits = (JSON.parse((await get(server.port, '/api/search?q=face')).body.toString()) as { results: Hit[] }).results;
      expect(hits.length).toBe(16);
      expect(new Set(hits.map((h) => h.id)).size).toBe(16);
      expect(new Set(hits.map((h) => h.key)).size).toBe(8); // each key twice
      for (const h of hits) {
        const set = sets.find((s) => h.url.includes(`/${s}/`))!;
        const img = await get(server.port, `/image/${h.id}`);
        expect(img.status).toBe(200);
        expect(Buffer.compare(img.body, Buffer.from(bytes.get(`${set}/${Number(h.key)}`)!)), h.id).toBe(0);
        const nb = JSON.parse((await get(server.port, `/api/neighbours?id=${h.id}`)).body.toString()) as { pair: Hit; results: Hit[] };
        expect(nb.pair.url).toBe(h.url);
        // only the pair itself is left out, not the other set's pair with the same key
        expect(nb.results.map((r) => r.id)).not.toContain(h.id);
        expect(nb.results.length).toBe(15);
      }
    } finally {
      await server.close();
    }
  }, 600_000);

  it('serve --shards finds moved shards by set and name, and refuses to guess between sets without ids', async () => {
    const moved = join(dir, 'moved');
    for (const s of sets) await cp(join(dir, s), join(moved, s), { recursive: true });
    const server = await serve({ index, port: 0, backend: 'cpu', k: 16, shards: sets.map((s) => join(moved, s)) });
    try {
      const hits = (JSON.parse((await get(server.port, '/api/search?q=face')).body.toString()) as { results: Hit[] }).results;
      for (const h of hits) {
        const set = sets.find((s) => h.url.includes(`/${s}/`))!;
        const img = await get(server.port, `/image/${h.id}`);
        expect(Buffer.compare(img.body, Buffer.from(bytes.get(`${set}/${Number(h.key)}`)!)), h.id).toBe(0);
      }
    } finally {
      await server.close();
    }
    // The same shards without their manifests: two candidates named 00000.parquet, nothing to tell them apart.
    for (const s of sets) await rm(join(moved, s, 'manifest.json'));
    await expect(serve({ index, port: 0, backend: 'cpu', shards: sets.map((s) => join(moved, s)) })).rejects.toThrow(/several shards are named 00000\.parquet/);
  }, 600_000);

  it('serve answers only its own Host names (DNS rebinding), --allow-host adds one; /api/info holds no paths', async () => {
    const server = await serve({ index, port: 0, backend: 'cpu', allowHost: ['wit.lan'] });
    try {
      for (const host of ['evil.example', `evil.example:${server.port}`, `127.0.0.1.evil.example:${server.port}`, `localhost:${server.port + 1}`]) {
        const r = await get(server.port, '/api/info', host);
        expect(r.status, host).toBe(403);
        expect(r.body.toString()).not.toContain(dir);
        expect((await get(server.port, '/api/search?q=face', host)).status).toBe(403);
      }
      for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `LOCALHOST:${server.port}`, `[::1]:${server.port}`, `wit.lan:${server.port}`, 'wit.lan']) {
        expect((await get(server.port, '/api/info', host)).status, host).toBe(200);
      }
      const info = (await get(server.port, '/api/info', `127.0.0.1:${server.port}`)).body.toString();
      expect(info).not.toContain(dir);
      expect(JSON.parse(info)).toMatchObject({ rows: 16 });
    } finally {
      await server.close();
    }
  }, 600_000);

  it('serve keeps answering when wit embed rebuilds its index under it', async () => {
    const live = join(dir, 'live');
    await embed({ model, shards: sets.map((s) => join(dir, s)), out: live, backend: 'cpu' });
    const server = await serve({ index: live, port: 0, backend: 'cpu', k: 50 });
    try {
      const before = JSON.parse((await get(server.port, '/api/search?q=face')).body.toString()) as { results: Hit[] };
      expect(before.results.length).toBe(16);
      await rm(live, { recursive: true, force: true });
      const r = await runWit(['embed', '--model', model, '--shards', join(dir, 'openmoji'), '--out', live, '--backend', 'cpu'], { timeoutMs: 120_000 });
      expect(r.code, r.stderr).toBe(0);
      const after = await get(server.port, '/api/search?q=face');
      expect(after.status, after.body.toString()).toBe(200);
      const hits = (JSON.parse(after.body.toString()) as { results: Hit[] }).results;
      expect(hits.length).toBe(8);
      for (const h of hits) expect(h.url).toContain('/openmoji/');
      const img = await get(server.port, `/image/${hits[0]!.id}`);
      expect(Buffer.compare(img.body, Buffer.from(bytes.get(`openmoji/${Number(hits[0]!.key)}`)!))).toBe(0);
      expect(JSON.parse((await get(server.port, '/api/info')).body.toString())).toMatchObject({ rows: 8 });
    } finally {
      await server.close();
    }
  }, 600_000);
});
