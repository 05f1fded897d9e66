import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { processImage, readImageHeader, sniffImage } from '../../src/crawl/image.js';
import { makeJpeg, makePngBomb } from '../helpers/http-server.js';

describe('processImage', () => {
  it('resizes as img2dataset: center_crop, keep_ratio, border', async () => {
    const src = await makeJpeg(400, 200, 0);
    const cc = await processImage(src, { imageSize: 64, resizeMode: 'center_crop' });
    expect(cc).toMatchObject({ ok: true, width: 64, height: 64, originalWidth: 400, originalHeight: 200 });
    const kr = await processImage(src, { imageSize: 64, resizeMode: 'keep_ratio' });
    expect(kr).toMatchObject({ ok: true, width: 128, height: 64 });
    const bo = await processImage(src, { imageSize: 64, resizeMode: 'border' });
    expect(bo).toMatchObject({ ok: true, width: 64, height: 64 });
    if (!bo.ok) return;
    // border: the top rows are white padding (the 2:1 image fills only the middle 32 rows)
    const { data, info } = await sharp(bo.image).raw().toBuffer({ resolveWithObject: true });
    const px = (x: number, y: number) => data[(y * info.width + x) * info.channels]!;
    expect(px(32, 2)).toBeGreaterThan(245);
    expect(px(32, 32)).toBeLessThan(245);
    const meta = await sharp(bo.image).metadata();
    expect(meta.format).toBe('jpeg');
    expect(bo.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('re-encodes webp with the quality given', async () => {
    const src = await makeJpeg(300, 300, 5);
    const lo = await processImage(src, { imageSize: 128, encode: 'webp', quality: 20 });
    const hi = await processImage(src, { imageSize: 128, encode: 'webp', quality: 95 });
    expect(lo.ok && hi.ok).toBe(true);
    if (lo.ok && hi.ok) {
      expect((await sharp(lo.image).metadata()).format).toBe('webp');
      expect(lo.image.length).toBeLessThan(hi.image.length);
    }
  });

  it('refuses non-images by their bytes, truncated images, small and elongated ones', async () => {
    expect(await processImage(Buffer.from('<html><body>hello</body></html>'))).toMatchObject({ ok: false, reason: 'not_image' });
    expect(sniffImage(Buffer.from('GIF89a......'))).toBe('gif');
    const src = await makeJpeg(200, 150, 1);
    expect(await processImage(src.subarray(0, 300))).toMatchObject({ ok: false, reason: 'decode' });
    expect(await processImage(src, { minSize: 151 })).toMatchObject({ ok: false, reason: 'too_small' });
    expect(await processImage(await makeJpeg(400, 100, 1), { maxAspect: 3 })).toMatchObject({ ok: false, reason: 'bad_aspect' });
    expect(await processImage(src, { minSize: 150, maxAspect: 3 })).toMatchObject({ ok: true });
  });

  it('refuses a decompression bomb from its header without decoding it', async () => {
    const bomb = makePngBomb();
    expect(bomb.length).toBeLessThan(200_000);
    const rss0 = process.memoryUsage().rss;
    const r = await processImage(bomb);
    expect(r).toMatchObject({ ok: false, reason: 'too_large' });
    // refused from the header's size (src/crawl/image.ts), not by sharp's pixel limit while decoding
    if (!r.ok) expect(r.detail).toMatch(/^\d+x\d+ pixels is over the \d+ limit$/);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(100 * 1024 * 1024);
  }, 600_000);

  it('reads sizes from headers as sharp does (jpeg with EXIF orientation, png, gif, webp)', async () => {
    const base = await makeJpeg(90, 40, 2);
    const rotated = await sharp(base).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const samples = [
      base,
      rotated,
      await sharp(base).png().toBuffer(),
      await sharp(base).gif().toBuffer(),
      await sharp(base).webp({ quality: 50 }).toBuffer(),
      await sharp(base).webp({ lossless: true }).toBuffer(),
      await sharp(base).ensureAlpha().webp({ quality: 50 }).toBuffer(),
      makePngBomb(),
    ];
    for (const b of samples) {
      const h = readImageHeader(b);
      const m = await sharp(b, { limitInputPixels: false }).metadata();
      expect(h, m.format).toBeDefined();
      expect([h!.format, h!.width, h!.height, h!.orientation ?? 1]).toEqual([m.format, m.width, m.height, m.orientation ?? 1]);
    }
    const r = await processImage(rotated, { imageSize: 32, resizeMode: 'keep_ratio' });
    expect(r).toMatchObject({ ok: true, originalWidth: 40, originalHeight: 90, width: 32, height: 72 });
  });
});
