import { guardImage, guardedSharp } from '../util/image-guard.js';
import type { PairRecord } from '../shards/index.js';
import { esc, fmtNum } from './html.js';
import { displayCaption } from '../util/caption.js';

/** Longest side of a thumbnail in the report, in pixels (shown at 96 CSS px; 2x for sharp screens would double the file). */
export const THUMB_SIZE = 96;

/**
 * A small JPEG data: URI of an image (downscaled so that a report with dozens of samples stays a
 * few hundred kB), or undefined when the bytes do not decode or the shared image guard refuses them
 * (a vector format, a header over the pixel limit: src/util/image-guard.ts).
 */
export async function thumbnail(bytes: Uint8Array, size = THUMB_SIZE): Promise<string | undefined> {
  try {
    await guardImage(bytes);
    const out = await guardedSharp(bytes)
      .resize(size, size, { fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 82 })
      .toBuffer();
    return `data:image/jpeg;base64,${out.toString('base64')}`;
  } catch {
    return undefined;
  }
}

/** A sample to show: the record plus an optional label (why it was picked). */
export interface Sample {
  rec: PairRecord;
  label?: string;
}

/** A grid of samples: thumbnail, caption, matched queries, similarity; all text escaped. */
export async function sampleGrid(samples: Sample[]): Promise<string> {
  if (!samples.length) return '<p class="empty">(no samples)</p>';
  const cells: string[] = [];
  for (const { rec, label } of samples) {
    const uri = await thumbnail(rec.image);
    const caption = displayCaption(rec.caption);
    const img = uri
      ? `<img src="${uri}" alt="${esc(caption)}" width="${THUMB_SIZE}" height="${THUMB_SIZE}">`
      : '<div class="note">(image does not decode)</div>';
    const sim = typeof rec.similarity === 'number' ? `<span class="sim" title="similarity">${fmtNum(rec.similarity)}</span>` : '';
    const qs = rec.queries?.length ? `<div class="q">${rec.queries.slice(0, 6).map((q) => `<span class="pill">${esc(q)}</span>`).join('')}</div>` : '';
    const lab = label ? `<div class="note">${esc(label)}</div>` : '';
    cells.push(`<div class="sample" title="${esc(rec.url)}">${img}${sim}<div class="cap">${esc(caption)}</div>${qs}${lab}</div>`);
  }
  return `<div class="samples">${cells.join('\n')}</div>`;
}
