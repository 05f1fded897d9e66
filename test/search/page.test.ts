import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emojiImage } from '../../src/data/emoji.js';
import { embed, serve, type SearchServer } from '../../src/search/index.js';
import { ShardWriter, shardPath } from '../../src/shards/index.js';
import { pickEmoji } from '../helpers/emoji-shards.js';
import { needs, programPath } from '../helpers/needs.js';
import { writeRandomModel } from './helpers.js';

// The search page as a user sees it (issue: the first hour): no empty band under the search box,
// words never broken inside, one card per image whatever the number of its captions, and the
// search kept in the address (bookmarks, reload, back button).
let dir: string;
let server: SearchServer;
const LONG = 'an extraordinarily photogenic watermelon slice photographed beside several interchangeable refrigerator magnets';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-page-'));
  const shards = join(dir, 'shards');
  const emoji = await pickEmoji(12);
  const w = await ShardWriter.open(shardPath(shards, 0), { imageFormat: 'png' });
  const captions: string[] = [];
  let n = 0;
  const add = async (code: string, url: string, caption: string, queries: string[]) => {
    const image = new Uint8Array(await emojiImage('google', code, { size: 48 }));
    captions.push(caption);
    await w.write({
      key: String(n++).padStart(9, '0'), url, page_url: null, caption, queries, image, width: 48, height: 48,
      original_width: 48, original_height: 48, sha256: createHash('sha256').update(image).digest('hex'),
    });
  };
  for (const e of emoji) await add(e.code, `https://example.invalid/${e.code}.png`, e.name === emoji[0]!.name ? LONG : e.name, [e.name, 'interchangeable refrigerator magnets']);
  // The first image again under a second alt text (one picture, two pages).
  await add(emoji[0]!.code, `https://example.invalid/${emoji[0]!.code}.png`, 'a second caption of the same picture', ['same picture']);
  await w.close();
  const model = join(dir, 'model');
  await writeRandomModel(model, captions);
  await embed({ model, shards: [shards], out: join(dir, 'index'), backend: 'cpu' });
  server = await serve({ index: join(dir, 'index'), port: 0, backend: 'cpu', k: 48 });
}, 600_000);

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

type Doc = { document: { querySelector(s: string): unknown; querySelectorAll(s: string): Iterable<unknown>; getElementById(id: string): { textContent: string } } };

describe.skipIf(!needs('chromium'))('the search page in headless Chromium', () => {
  it('no empty band, whole words, one card per image, the search in the address', async () => {
    const { chromium } = await import('playwright-core');
    const profile = await mkdtemp(join(tmpdir(), 'wit-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: programPath('chromium')!,
      headless: true,
      viewport: { width: 900, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(`${server.url}/`, { waitUntil: 'load' });
      await page.waitForFunction(() => /pairs indexed/.test((globalThis as unknown as Doc).document.getElementById('status').textContent));
      // The hidden anchor takes no room: the grid starts right under the header.
      const band = await page.evaluate(() => {
        const d = (globalThis as unknown as Doc).document;
        const a = d.querySelector('#anchor') as { getBoundingClientRect(): { height: number } };
        return a.getBoundingClientRect().height;
      });
      expect(band).toBe(0);

      await page.fill('#q', 'interchangeable refrigerator magnets');
      await page.press('#q', 'Enter');
      await page.waitForSelector('#grid .card img');
      expect(new URL(page.url()).searchParams.get('q')).toBe('interchangeable refrigerator magnets');
      // 13 pairs, 12 images: the picture with two captions is one card listing both.
      const cards = await page.$$eval('#grid .card', (cs) => cs.map((c) => (c as unknown as { textContent: string }).textContent));
      expect(cards).toHaveLength(12);
      const both = cards.filter((t) => t.includes('a second caption of the same picture'));
      expect(both).toHaveLength(1);
      expect(both[0]).toContain(LONG);
      expect(both[0]).toContain('2 captions of this image');
      expect(await page.textContent('#status')).toMatch(/^12 images \(13 pairs\)/);

      // Every line break inside captions and query lists falls between words.
      const midWord = await page.evaluate(() => {
        const d = (globalThis as unknown as Doc).document as unknown as { createRange(): { setStart(n: unknown, o: number): void; setEnd(n: unknown, o: number): void; getBoundingClientRect(): { top: number } }; querySelectorAll(s: string): Iterable<{ firstChild: { textContent: string } | null }> };
        const broken: string[] = [];
        for (const e of d.querySelectorAll('#grid .caption, #grid .queries')) {
          const t = e.firstChild;
          if (!t) continue;
          const text = t.textContent;
          let prevTop: number | undefined;
          for (let i = 0; i < text.length; i++) {
            const r = d.createRange();
            r.setStart(t, i);
            r.setEnd(t, i + 1);
            const top = Math.round(r.getBoundingClientRect().top);
            if (prevTop !== undefined && top > prevTop && text[i - 1] !== ' ' && text[i] !== ' ' && !' ,-/'.includes(text[i - 1]!)) broken.push(`${text.slice(Math.max(0, i - 10), i)}|${text.slice(i, i + 10)}`);
            prevTop = top;
          }
        }
        return broken;
      });
      expect(midWord).toEqual([]);

      // A click is a new address; back returns to the text search, reload keeps it.
      await page.click('#grid .card:nth-child(2) img');
      await page.waitForSelector('#anchor:not([hidden])');
      expect(new URL(page.url()).searchParams.get('like')).toBeTruthy();
      await page.goBack();
      await page.waitForFunction(() => /for "interchangeable/.test((globalThis as unknown as Doc).document.getElementById('status').textContent));
      expect(await page.isHidden('#anchor')).toBe(true);
      await page.reload({ waitUntil: 'load' });
      await page.waitForFunction(() => /for "interchangeable/.test((globalThis as unknown as Doc).document.getElementById('status').textContent));
      expect(await page.inputValue('#q')).toBe('interchangeable refrigerator magnets');
      expect(await page.$$eval('#grid .card', (cs) => cs.length)).toBe(12);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    }
  }, 600_000);
});
