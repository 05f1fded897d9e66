import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { ShardWriter, shardPath } from '../../src/shards/index.js';

export const COLORS = ['red', 'green', 'blue', 'orange', 'purple', 'black'];
export const SHAPES = ['square', 'circle'];
/** The 12 classes, "red square" … */
export const CLASSES = COLORS.flatMap((c) => SHAPES.map((s) => `${c} ${s}`));

function svg(cls: string, k: number): string {
  const [color, shape] = cls.split(' ');
  const x = 14 + 5 * (k % 5);
  const y = 16 + 4 * (k % 4);
  const r = 9 + (k % 3) * 2;
  const body = shape === 'circle' ? `<circle cx="${x}" cy="${y}" r="${r}" fill="${color}"/>` : `<rect x="${x - r}" y="${y - r}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"><rect width="48" height="48" fill="white"/>${body}</svg>`;
}

/**
 * A pool of rendered shapes: `perClass` variants of each of the 12 classes captioned right ("a red
 * circle", query "red circle"), plus `wrongPerClass` captioned as another class (3 on in CLASSES: another colour and shape),
 * in a longer phrasing ("this picture shows a green square", 6 words) so that a recipe can pick them
 * out with a basic filter. Variants start at `offset` (held-out sets use other variants).
 */
export async function writeShapePool(dir: string, opts: { perClass: number; wrongPerClass?: number; offset?: number; shards?: number; format?: 'parquet' | 'webdataset' }): Promise<{ pairs: number; wrong: number }> {
  const recs: { caption: string; query: string; png: Buffer }[] = [];
  const off = opts.offset ?? 0;
  for (let k = 0; k < opts.perClass; k++) {
    for (const cls of CLASSES) recs.push({ caption: `a ${cls}`, query: cls, png: await sharp(Buffer.from(svg(cls, off + k))).png().toBuffer() });
  }
  let wrong = 0;
  for (let k = 0; k < (opts.wrongPerClass ?? 0); k++) {
    for (let c = 0; c < CLASSES.length; c++) {
      const other = CLASSES[(c + 3) % CLASSES.length]!;
      recs.push({ caption: `this picture shows a ${other}`, query: other, png: await sharp(Buffer.from(svg(CLASSES[c]!, off + opts.perClass + k))).png().toBuffer() });
      wrong++;
    }
  }
  const n = opts.shards ?? 2;
  for (let s = 0; s < n; s++) {
    const w = await ShardWriter.open(shardPath(dir, s, '', opts.format ?? 'parquet'), { imageFormat: 'png' });
    for (let i = s; i < recs.length; i += n) {
      const r = recs[i]!;
      const image = new Uint8Array(r.png);
      await w.write({
        key: `shape-${off}-${i}`, url: `https://example.invalid/${off}/${i}.png`, page_url: null, caption: r.caption, queries: [r.query],
        image, width: 48, height: 48, original_width: 48, original_height: 48, sha256: createHash('sha256').update(image).digest('hex'),
      });
    }
    await w.close();
  }
  return { pairs: recs.length, wrong };
}

/** labels.txt of the 12 classes. */
export function writeLabels(file: string): string {
  writeFileSync(file, CLASSES.join('\n') + '\n');
  return file;
}

export const labelsIn = (dir: string) => join(dir, 'labels.txt');
