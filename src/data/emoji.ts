import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { sharp } from '../util/sharp.js';
import { UsageError } from '../util/errors.js';

/**
 * Real images with names, shipped by npm packages under open licences, for tests and the demo:
 * emoji-datasource-google (Apache-2.0), emoji-datasource-twitter (CC-BY 4.0), openmoji (CC BY-SA 4.0, SVG).
 * Several designs of the same emoji make a natural train/held-out split.
 */
export type EmojiSet = 'google' | 'twitter' | 'openmoji';
export const EMOJI_SETS: readonly EmojiSet[] = ['google', 'twitter', 'openmoji'];

export interface Emoji {
  /** Unified code point sequence, lowercase hex joined by '-', e.g. '1f600'. */
  code: string;
  /** Readable lowercase name (CLDR annotation where known), e.g. 'grinning face'. */
  name: string;
  /** Keywords (CLDR/openmoji tags), lowercase. */
  tags: string[];
  /** Group, e.g. 'smileys-emotion'. */
  category: string;
}

export interface ListEmojiOptions {
  /** Include skin-tone variants (default false). */
  skinTones?: boolean;
  /** Include country/region flags (default true). */
  flags?: boolean;
}

const require = createRequire(import.meta.url);
function pkgDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

interface OpenmojiRow { hexcode: string; annotation: string; tags: string; openmoji_tags: string; group: string; skintone: string | number }
interface DatasourceRow { unified: string; name: string | null; short_names: string[]; category: string; image: string; has_img_google: boolean; has_img_twitter: boolean }

let cldr: Map<string, OpenmojiRow> | undefined;
async function openmojiRows(): Promise<Map<string, OpenmojiRow>> {
  if (!cldr) {
    const rows = JSON.parse(await readFile(join(pkgDir('openmoji'), 'data', 'openmoji.json'), 'utf8')) as OpenmojiRow[];
    cldr = new Map(rows.map((r) => [normCode(r.hexcode), r]));
  }
  return cldr;
}

const datasource = new Map<string, DatasourceRow[]>();
async function datasourceRows(set: 'google' | 'twitter'): Promise<DatasourceRow[]> {
  let rows = datasource.get(set);
  if (!rows) {
    rows = JSON.parse(await readFile(join(pkgDir(`emoji-datasource-${set}`), 'emoji.json'), 'utf8')) as DatasourceRow[];
    datasource.set(set, rows);
  }
  return rows;
}

/** '1F600-FE0F' -> '1f600' (variation selectors dropped so sets agree). */
function normCode(hex: string): string {
  return hex.toLowerCase().split('-').filter((p) => p !== 'fe0f').join('-');
}

function splitTags(s: string): string[] {
  return s.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
}

const SKIN = /-1f3f[b-f]/;

/**
 * The emoji that have an image in `set`, with names and tags, in code order.
 * Throws UsageError for an unknown set.
 */
export async function listEmoji(set: EmojiSet, opts: ListEmojiOptions = {}): Promise<Emoji[]> {
  const om = await openmojiRows();
  const out = new Map<string, Emoji>();
  const accept = (code: string, category: string) => (opts.skinTones || !SKIN.test(code)) && (opts.flags !== false || !/flag/i.test(category));
  if (set === 'openmoji') {
    for (const [code, r] of om) {
      if (r.group.startsWith('extras') || !r.annotation) continue;
      if (!accept(code, r.group)) continue;
      out.set(code, { code, name: r.annotation.toLowerCase(), tags: [...new Set([...splitTags(r.tags), ...splitTags(r.openmoji_tags)])], category: r.group });
    }
  } else if (set === 'google' || set === 'twitter') {
    for (const r of await datasourceRows(set)) {
      if (!(set === 'google' ? r.has_img_google : r.has_img_twitter)) continue;
      const code = normCode(r.unified);
      const o = om.get(code);
      const category = o?.group ?? r.category.toLowerCase().replace(/ & /g, '-');
      if (!accept(code, category)) continue;
      const name = (o?.annotation ?? r.name ?? r.short_names[0] ?? code).toLowerCase();
      const tags = o ? [...new Set([...splitTags(o.tags), ...splitTags(o.openmoji_tags)])] : r.short_names.map((s) => s.replace(/_/g, ' '));
      out.set(code, { code, name, tags, category });
    }
  } else {
    throw new UsageError('emoji', `unknown emoji set '${String(set)}' (google, twitter, openmoji)`);
  }
  return [...out.values()].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
}

/** Emoji present in every one of `sets` (by code), with the first set's names. */
export async function commonEmoji(sets: readonly EmojiSet[], opts: ListEmojiOptions = {}): Promise<Emoji[]> {
  if (!sets.length) return [];
  const lists = await Promise.all(sets.map((s) => listEmoji(s, opts)));
  const rest = lists.slice(1).map((l) => new Set(l.map((e) => e.code)));
  return lists[0]!.filter((e) => rest.every((s) => s.has(e.code)));
}

const fileIndex = new Map<string, Map<string, string>>();
async function imageFile(set: EmojiSet, code: string): Promise<string> {
  let idx = fileIndex.get(set);
  if (!idx) {
    idx = new Map();
    if (set === 'openmoji') {
      const rows = await openmojiRows();
      const dir = join(pkgDir('openmoji'), 'color', 'svg');
      for (const r of rows.values()) idx.set(normCode(r.hexcode), join(dir, `${r.hexcode}.svg`));
    } else {
      const dir = join(pkgDir(`emoji-datasource-${set}`), 'img', set, '64');
      for (const r of await datasourceRows(set)) idx.set(normCode(r.unified), join(dir, r.image));
    }
    fileIndex.set(set, idx);
  }
  const f = idx.get(code);
  if (!f || !existsSync(f)) throw new UsageError('emoji', `no image for ${code} in the ${set} set`);
  return f;
}

/**
 * One emoji image as an RGB PNG of `size`x`size`, transparency flattened onto `background`
 * (openmoji's SVG is rendered by sharp). Throws UsageError when the set has no such emoji.
 */
export async function emojiImage(set: EmojiSet, code: string, opts: { size?: number; background?: string } = {}): Promise<Buffer> {
  const size = opts.size ?? 64;
  const file = await imageFile(set, code);
  const input = set === 'openmoji' ? sharp(file, { density: Math.max(72, Math.ceil((72 * size) / 72) * 2) }) : sharp(file);
  return input
    .resize(size, size, { fit: 'contain', background: opts.background ?? '#ffffff' })
    .flatten({ background: opts.background ?? '#ffffff' })
    .removeAlpha()
    .png()
    .toBuffer();
}

/** Path of the raw image file of an emoji (PNG or SVG) in its npm package. */
export async function emojiImagePath(set: EmojiSet, code: string): Promise<string> {
  return imageFile(set, code);
}
