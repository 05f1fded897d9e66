import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { deflateSync, crc32 } from 'node:zlib';
import { checkImage, decodeFailureReason, ImageRefusedError, MAX_IMAGE_PIXELS } from '../../src/util/image-guard.js';
import { decodeRgb } from '../../src/train/preprocess.js';
import { thumbnail, sampleGrid } from '../../src/report/images.js';
import { processImage } from '../../src/crawl/image.js';
import { displayCaption, limitCaption, MAX_CAPTION_CHARS } from '../../src/util/caption.js';

/** 130 bytes that libvips would render as a 16000 x 16000 canvas (256 Mpx, 768 MB of RGB). */
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="16000" height="16000"><rect width="16000" height="16000" fill="red"/></svg>');

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A PNG whose header declares w x h (its data is one short row: it never decodes fully). */
function pngDeclaring(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

describe('the image guard', () => {
  it('accepts raster images and reads their size from the header', async () => {
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#f00' } }).png().toBuffer();
    const c = await checkImage(png);
    expect(c).toEqual({ ok: true, header: { format: 'png', width: 40, height: 30 } });
    const tiff = await sharp({ create: { width: 20, height: 10, channels: 3, background: '#0f0' } }).tiff().toBuffer();
    expect(await checkImage(tiff)).toMatchObject({ ok: true, header: { width: 20, height: 10 } });
  });

  it('refuses vector and document formats by name, before libvips sees them', async () => {
    expect(await checkImage(SVG)).toMatchObject({ ok: false, refusal: 'not_image', detail: expect.stringContaining('SVG') });
    expect(await checkImage(Buffer.from(`<?xml version="1.0"?>\n${SVG.toString()}`))).toMatchObject({ ok: false, detail: expect.stringContaining('SVG') });
    expect(await checkImage(Buffer.from('%PDF-1.7\n1 0 obj <<>> endobj\n'))).toMatchObject({ ok: false, detail: expect.stringContaining('PDF') });
    expect(await checkImage(Buffer.from('<html><body>not found</body></html>'))).toMatchObject({ ok: false, refusal: 'not_image' });
  });

  it('refuses a header over the pixel limit without decoding', async () => {
    const c = await checkImage(pngDeclaring(60000, 60000));
    expect(c).toMatchObject({ ok: false, refusal: 'too_large' });
    expect(await checkImage(pngDeclaring(100, 100), 99 * 100)).toMatchObject({ ok: false, refusal: 'too_large' });
    expect(MAX_IMAGE_PIXELS).toBe(8192 * 8192);
  });

  it('guards every decoder: train/eval/filter/embed/search (decodeRgb), the report (thumbnail), the crawl', async () => {
    const err = await decodeRgb(SVG, 32).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageRefusedError);
    expect(decodeFailureReason(err)).toBe('image_refused');
    // a worker's reply carries only the message
    expect(decodeFailureReason((err as Error).message)).toBe('image_refused');
    expect(decodeFailureReason(new Error('Input buffer has corrupt header'))).toBe('undecodable');
    await expect(decodeRgb(pngDeclaring(30000, 30000), 32)).rejects.toBeInstanceOf(ImageRefusedError);
    expect(await thumbnail(SVG)).toBeUndefined();
    expect(await processImage(SVG)).toMatchObject({ ok: false, reason: 'not_image' });
    // a real image still decodes, with and without a crop
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#00f' } }).png().toBuffer();
    expect((await decodeRgb(png, 16)).length).toBe(16 * 16 * 3);
    expect((await decodeRgb(png, 16, { scale: 0.9, logRatio: 0, u: 0.5, v: 0.5 })).length).toBe(16 * 16 * 3);
  });
});

describe('the caption limit', () => {
  it('keeps a caption within the limit as it is', () => {
    expect(limitCaption('a red fox')).toEqual({ text: 'a red fox', truncated: false });
  });

  it('cuts a longer caption at the last whitespace before the limit', () => {
    const long = 'word '.repeat(2000); // 10,000 characters
    const r = limitCaption(long);
    expect(r.truncated).toBe(true);
    expect(r.text.length).toBeLessThanOrEqual(MAX_CAPTION_CHARS);
    expect(r.text.length).toBeGreaterThan(MAX_CAPTION_CHARS - 6);
    expect(r.text.endsWith('word')).toBe(true);
    // without spaces: cut at the limit, never inside a surrogate pair
    const emoji = '😀'.repeat(MAX_CAPTION_CHARS);
    const e = limitCaption(emoji).text;
    expect(e.length).toBeLessThanOrEqual(MAX_CAPTION_CHARS);
    expect(e).toBe('😀'.repeat(e.length / 2));
  });

  it('shows a long caption cut with an ellipsis, and the report page stays small', async () => {
    expect(displayCaption('short')).toBe('short');
    const shown = displayCaption('word '.repeat(1000));
    expect(shown.endsWith('word…')).toBe(true);
    expect(shown.length).toBeLessThanOrEqual(300);
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#00f' } }).png().toBuffer();
    const rec = { key: 'k', url: 'https://e.invalid/a.png', page_url: null, caption: 'word '.repeat(1_000_000), queries: [], image: new Uint8Array(png), width: 8, height: 8, original_width: 8, original_height: 8, sha256: '', similarity: null };
    const html = await sampleGrid([{ rec }, { rec: { ...rec, image: new Uint8Array(SVG) } }]);
    expect(html.length).toBeLessThan(10_000);
    expect(html).toContain('(image does not decode)');
  });
});
