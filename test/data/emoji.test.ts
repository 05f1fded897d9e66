import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { commonEmoji, emojiImage, listEmoji } from '../../src/data/emoji.js';

describe('emoji image sets', () => {
  it('lists ~1,900 named emoji per set, without skin tones by default', async () => {
    for (const set of ['google', 'twitter', 'openmoji'] as const) {
      const list = await listEmoji(set);
      expect(list.length).toBeGreaterThan(1300);
      expect(list.find((e) => e.code === '1f600')?.name).toBe('grinning face');
      expect(list.some((e) => /-1f3f[b-f]/.test(e.code))).toBe(false);
    }
    const common = await commonEmoji(['google', 'twitter', 'openmoji']);
    expect(common.length).toBeGreaterThan(1300);
    expect(new Set(common.map((e) => e.name)).size).toBeGreaterThan(1300);
  });

  it('renders each set, PNG and SVG alike, to an opaque RGB image of the asked size', async () => {
    const pixels: Buffer[] = [];
    for (const set of ['google', 'twitter', 'openmoji'] as const) {
      const png = await emojiImage(set, '1f600', { size: 48 });
      const meta = await sharp(png).metadata();
      expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 48, 48, 3]);
      pixels.push(await sharp(png).raw().toBuffer());
    }
    // three different designs of one emoji: not identical images
    expect(pixels[0]!.equals(pixels[1]!)).toBe(false);
    expect(pixels[1]!.equals(pixels[2]!)).toBe(false);
  });

  it('rejects an unknown code with a clear error', async () => {
    await expect(emojiImage('google', 'ffffff')).rejects.toThrow(/no image for ffffff in the google set/);
  });
});
