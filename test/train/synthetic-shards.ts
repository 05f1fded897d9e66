import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { ShardWriter, shardPath } from '../../src/shards/index.js';

const COLORS = ['red', 'green', 'blue', 'orange', 'purple', 'black'];
const SHAPES = ['square', 'circle'];

/** SVG of a coloured shape at a position; rendered to PNG by sharp. */
function svg(color: string, shape: string, x: number, y: number, r: number): string {
  const body = shape === 'circle' ? `<circle cx="${x}" cy="${y}" r="${r}" fill="${color}"/>` : `<rect x="${x - r}" y="${y - r}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"><rect width="48" height="48" fill="white"/>${body}</svg>`;
}

/**
 * Shards of rendered coloured shapes captioned "a red circle" etc. (12 classes × `perClass`
 * variants), optionally with a few undecodable images. Returns files and pair count.
 */
export async function writeShapeShards(dir: string, opts: { perClass?: number; shards?: number; corrupt?: number; capitalizeOdd?: boolean } = {}): Promise<{ files: string[]; pairs: number; captions: string[] }> {
  const perClass = opts.perClass ?? 3;
  const recs: Array<{ caption: string; image: Uint8Array; query: string }> = [];
  for (const c of COLORS) {
    for (const s of SHAPES) {
      for (let k = 0; k < perClass; k++) {
        const png = await sharp(Buffer.from(svg(c, s, 16 + 8 * (k % 3), 20 + 4 * (k % 2), 10 + (k % 3) * 2))).png().toBuffer();
        // capitalizeOdd: every other variant's query is "Red circle" (the same label up to case).
        const query = opts.capitalizeOdd && k % 2 ? `${c[0]!.toUpperCase()}${c.slice(1)} ${s}` : `${c} ${s}`;
        recs.push({ caption: `a ${c} ${s}`, image: new Uint8Array(png), query });
      }
    }
  }
  for (let i = 0; i < (opts.corrupt ?? 0); i++) recs.push({ caption: 'a broken image', image: new TextEncoder().encode(`not an image ${i}`), query: 'broken image' });
  const nShards = opts.shards ?? 2;
  const files: string[] = [];
  for (let s = 0; s < nShards; s++) {
    const w = await ShardWriter.open(shardPath(dir, s), { imageFormat: 'png', rowGroupSize: 7 });
    for (let i = s; i < recs.length; i += nShards) {
      const r = recs[i]!;
      await w.write({
        key: `shape-${i}`, url: `https://example.invalid/${i}.png`, page_url: null, caption: r.caption, queries: [r.query],
        image: r.image, width: 48, height: 48, original_width: 48, original_height: 48, sha256: createHash('sha256').update(r.image).digest('hex'),
      });
    }
    await w.close();
    files.push(w.path);
  }
  return { files, pairs: recs.length, captions: [...new Set(recs.map((r) => r.caption))] };
}
