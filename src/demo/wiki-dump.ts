import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { once } from 'node:events';
import type { Emoji } from '../data/emoji.js';
import type { Synset } from './wordnet.js';
import { Rng } from '../util/rng.js';
import { tempOwner } from '../util/output.js';

/** What the generated dump should hold. */
export interface WikiDumpOptions {
  /** WordNet synsets to draw articles from (all nouns; a subset is used). */
  synsets: readonly Synset[];
  /** Emoji that get an article each (their names become title queries through pageviews). */
  emoji: readonly Emoji[];
  /** Number of WordNet articles (besides the emoji ones). */
  articles: number;
  /** Seed of every random choice. */
  seed?: number;
}

/** One page of the dump before serialisation. */
export interface WikiPage {
  title: string;
  ns: number;
  /** Target title when the page is a redirect. */
  redirect?: string;
  text: string;
}

/** What was generated: page counts by kind, and the article titles (for pageviews). */
export interface WikiDumpPlan {
  pages: WikiPage[];
  /** Titles of main-namespace, non-redirect articles. */
  articleTitles: string[];
  /** Titles of the emoji articles, one per emoji, same order as the input. */
  emojiTitles: string[];
  redirects: number;
  otherNamespaces: number;
}

const NAMESPACES: [number, string][] = [
  [-2, 'Media'], [-1, 'Special'], [0, ''], [1, 'Talk'], [2, 'User'], [3, 'User talk'], [4, 'Wikipedia'],
  [5, 'Wikipedia talk'], [6, 'File'], [7, 'File talk'], [10, 'Template'], [11, 'Template talk'],
  [14, 'Category'], [15, 'Category talk'],
];

/** 'grinning face' -> 'Grinning face' (Wikipedia's first-letter case). */
export function wikiTitle(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function lexTopic(lexFile: string): string {
  return lexFile.replace(/^\w+\./, '').replace(/^Tops$/, 'concept');
}

/**
 * Plans a small Wikipedia: one article per chosen WordNet synset (its glosses and examples, links to
 * hypernyms and hyponyms, an infobox template, a reference, sometimes a table), one article per emoji
 * (its name used several times in running text, so unigram, bigram and title queries find it),
 * a "List of emoji" article, a few redirects, and pages in other namespaces (talk, category,
 * template, project) that a reader of the dump must skip. Deterministic for a seed.
 */
export function planWikiDump(opts: WikiDumpOptions): WikiDumpPlan {
  const rng = new Rng(opts.seed ?? 1);
  const chosen = chooseSynsets(opts, rng);
  const titles = new ArticleTitles(opts.emoji);
  for (const s of chosen) titles.of(s);
  const plan: WikiDumpPlan = { pages: [], articleTitles: [], emojiTitles: [], redirects: 0, otherNamespaces: 0 };
  addSynsetArticles(plan, chosen, new Map(opts.synsets.map((s) => [s.offset, s])), titles, rng);
  addEmojiArticles(plan, opts.emoji, rng);
  const extra = otherNamespacePages(plan.articleTitles);
  plan.pages.push(...extra);
  plan.otherNamespaces = extra.length;
  // Interleave as a real dump does (ordered by page id, namespaces mixed).
  plan.pages = rng.shuffle(plan.pages);
  return plan;
}

/**
 * The synsets that get an article: those whose head word occurs in an emoji name or tag come first,
 * so the words of the captions the crawl will see are real Wikipedia words; the rest are a seeded sample.
 */
function chooseSynsets(opts: WikiDumpOptions, rng: Rng): Synset[] {
  const emojiWords = new Set<string>();
  for (const e of opts.emoji) for (const w of [...e.name.split(/\s+/), ...e.tags]) emojiWords.add(w.toLowerCase());
  const related = opts.synsets.filter((s) => s.definition && emojiWords.has(s.words[0]!.toLowerCase()));
  const others = rng.shuffle(opts.synsets.filter((s) => s.definition && !emojiWords.has(s.words[0]!.toLowerCase())));
  return [...rng.shuffle(related).slice(0, Math.ceil(opts.articles / 2)), ...others].slice(0, opts.articles);
}

/** Unique article titles: a synset's head word, then with its topic, then with its offset; emoji names are taken first. */
class ArticleTitles {
  private readonly bySynset = new Map<string, string>();
  readonly used = new Set<string>();

  constructor(emoji: readonly Emoji[]) {
    for (const e of emoji) this.used.add(wikiTitle(e.name));
  }

  /** The title of a synset's article, given on first call. */
  of(s: Synset): string {
    let t = this.bySynset.get(s.offset);
    if (t) return t;
    t = wikiTitle(s.words[0]!);
    if (this.used.has(t)) t = `${t} (${lexTopic(s.lexFile)})`;
    if (this.used.has(t)) t = `${t} ${s.offset}`;
    this.used.add(t);
    this.bySynset.set(s.offset, t);
    return t;
  }

  /** A wiki link to a synset: its article when it has one, its head word's title otherwise. */
  link(s: Synset | undefined): string | undefined {
    if (!s) return undefined;
    const title = this.bySynset.get(s.offset) ?? wikiTitle(s.words[0]!);
    const label = s.words[0]!;
    return title === wikiTitle(label) ? `[[${title}]]` : `[[${title}|${label}]]`;
  }
}

/** One article per chosen synset, and some redirects from its other lemmas. */
function addSynsetArticles(plan: WikiDumpPlan, chosen: readonly Synset[], byOffset: Map<string, Synset>, titles: ArticleTitles, rng: Rng): void {
  for (const s of chosen) {
    const title = titles.of(s);
    plan.pages.push({ title, ns: 0, text: synsetArticle(s, byOffset, titles, rng) });
    plan.articleTitles.push(title);
    // Some lemmas redirect to their synset's article, as on Wikipedia.
    const alias = s.words[1];
    if (alias && !titles.used.has(wikiTitle(alias)) && rng.chance(0.15)) {
      titles.used.add(wikiTitle(alias));
      plan.pages.push({ title: wikiTitle(alias), ns: 0, redirect: title, text: `#REDIRECT [[${title}]]\n\n{{R from synonym}}` });
      plan.redirects++;
    }
  }
}

/** The wikitext of a synset's article: gloss, hypernyms, examples, hyponyms, sometimes a lemma table. */
function synsetArticle(s: Synset, byOffset: Map<string, Synset>, titles: ArticleTitles, rng: Rng): string {
  const head = s.words[0]!;
  const syn = s.words.slice(1, 4);
  const lines: string[] = [];
  lines.push(`{{Short description|${s.definition.slice(0, 60)}}}`);
  lines.push(`{{Infobox concept\n| name = ${head}\n| synset = ${s.offset}-n\n| lexname = ${s.lexFile}\n}}`);
  const also = syn.length ? ` (also ${syn.map((w) => `''${w}''`).join(', ')})` : '';
  lines.push(`'''${wikiTitle(head)}'''${also} is ${s.definition}.<ref>{{cite book |title=WordNet 3.1 |publisher=Princeton University |year=2011 |id=${s.offset}}}</ref>`);
  const hyper = s.hypernyms.map((o) => titles.link(byOffset.get(o))).filter(Boolean);
  if (hyper.length) lines.push(`A ${head} is a kind of ${hyper.join(' and ')}.`);
  if (s.examples.length) {
    lines.push('\n== Usage ==');
    for (const ex of s.examples) lines.push(`* ''"${ex}"''`);
  }
  const hypo = s.hyponyms.slice(0, 8).map((o) => byOffset.get(o)).filter((x): x is Synset => Boolean(x));
  if (hypo.length) {
    lines.push('\n== Types ==');
    for (const h of hypo) lines.push(`* ${titles.link(h)}: ${h.definition}`);
  }
  if (s.words.length > 1 && rng.chance(0.3)) {
    lines.push('\n{| class="wikitable"\n! Lemma !! Sense\n|-');
    for (const w of s.words) lines.push(`| ${w} || ${s.lexFile}\n|-`);
    lines.push('|}');
  }
  lines.push('\n== References ==\n<references />');
  lines.push(`\n[[Category:${wikiTitle(lexTopic(s.lexFile))}]]`);
  return lines.join('\n');
}

/** One article per emoji (some with an "… emoji" redirect), and the list of all of them. */
function addEmojiArticles(plan: WikiDumpPlan, emoji: readonly Emoji[], rng: Rng): void {
  const names = emoji.map((e) => e.name);
  for (const e of emoji) {
    const title = wikiTitle(e.name);
    plan.pages.push({ title, ns: 0, text: emojiArticle(e, rng.pick(names)) });
    plan.articleTitles.push(title);
    plan.emojiTitles.push(title);
    if (rng.chance(0.1)) {
      plan.pages.push({ title: `${title} emoji`, ns: 0, redirect: title, text: `#REDIRECT [[${title}]]` });
      plan.redirects++;
    }
  }
  if (emoji.length) {
    const rows = emoji.map((e) => `|-\n| ${e.code} || [[${wikiTitle(e.name)}|${e.name}]] || ${e.category}`);
    plan.pages.push({
      title: 'List of emoji',
      ns: 0,
      text: `This is a '''list of emoji''' in [[Unicode]].\n\n{| class="wikitable sortable"\n! Code !! Name !! Group\n${rows.join('\n')}\n|}\n\n[[Category:Emoji]]`,
    });
    plan.articleTitles.push('List of emoji');
  }
}

/** The wikitext of an emoji's article; `other` is the emoji it is "often sent together with". */
function emojiArticle(e: Emoji, other: string): string {
  const group = e.category.replace(/-/g, ' ');
  const tags = e.tags.filter((t) => t !== e.name).slice(0, 6);
  const cp = e.code.split('-').map((c) => `U+${c.toUpperCase()}`).join(' ');
  return [
    `{{Short description|Emoji}}`,
    `{{Infobox emoji\n| name = ${e.name}\n| codepoint = ${cp}\n| group = ${e.category}\n}}`,
    `The '''${e.name}''' (${cp}) is an [[emoji]] of the ''${group}'' group in [[Unicode]]. The ${e.name} emoji is used for ${tags.length ? tags.join(', ') : e.name}.`,
    `\n== Design ==`,
    `Vendors draw the ${e.name} differently: the [[Noto Color Emoji|Google]] design, the [[Twemoji|Twitter]] design and the [[OpenMoji]] design of the ${e.name} share its meaning but not its look.<ref>{{cite web |url=https://unicode.org/emoji/charts/full-emoji-list.html |title=Full Emoji List |publisher=Unicode}}</ref>`,
    `\n== Usage ==`,
    `A ${e.name} is often sent together with a ${other}. ${tags.length ? `Related keywords: ${tags.map((t) => `[[${wikiTitle(t)}|${t}]]`).join(', ')}.` : ''}`,
    `{| class="wikitable"\n! Code point !! Name\n|-\n| ${cp} || ${e.name}\n|}`,
    `\n== References ==\n<references />`,
    `\n[[Category:Emoji]]\n[[Category:${wikiTitle(group)} emoji]]`,
  ].join('\n');
}

/** Pages outside the main namespace: a dump reader keeps none of them. */
function otherNamespacePages(articleTitles: readonly string[]): WikiPage[] {
  const extra: WikiPage[] = [
    { title: 'Template:Infobox concept', ns: 10, text: '{| class="infobox"\n! {{{name}}}\n|-\n| Synset || {{{synset}}}\n|}<noinclude>[[Category:Infobox templates]]</noinclude>' },
    { title: 'Template:Infobox emoji', ns: 10, text: '{| class="infobox"\n! {{{name}}}\n|-\n| Code point || {{{codepoint}}}\n|}' },
    { title: 'Wikipedia:About', ns: 4, text: 'Wikipedia is a free online encyclopedia. This demo dump was generated from WordNet glosses.' },
    { title: 'Category:Emoji', ns: 14, text: 'Articles about emoji.\n[[Category:Unicode]]' },
    { title: 'File:Example emoji.png', ns: 6, text: '== Summary ==\nAn example emoji image. {{Information|description=placeholder}}' },
  ];
  for (const t of articleTitles.slice(0, 5)) extra.push({ title: `Talk:${t}`, ns: 1, text: `== Merge proposal ==\nShould ${t} be merged? ~~~~` });
  return extra;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** MediaWiki's sha1 field: the SHA-1 of the text in base 36, 31 characters. */
function mediawikiSha1(text: string): string {
  const hex = createHash('sha1').update(text).digest('hex');
  return BigInt(`0x${hex}`).toString(36).padStart(31, '0');
}

/** The XML of one `<page>` element in the MediaWiki export format 0.11. */
export function pageXml(page: WikiPage, id: number, revId: number, timestamp: string): string {
  const bytes = Buffer.byteLength(page.text);
  const sha1 = mediawikiSha1(page.text);
  return [
    '  <page>',
    `    <title>${xmlEscape(page.title)}</title>`,
    `    <ns>${page.ns}</ns>`,
    `    <id>${id}</id>`,
    ...(page.redirect ? [`    <redirect title="${xmlEscape(page.redirect)}" />`] : []),
    '    <revision>',
    `      <id>${revId}</id>`,
    `      <parentid>${revId - 1}</parentid>`,
    `      <timestamp>${timestamp}</timestamp>`,
    '      <contributor>',
    '        <username>WitDemoBot</username>',
    '        <id>42</id>',
    '      </contributor>',
    '      <comment>generated from WordNet 3.1</comment>',
    '      <origin>' + revId + '</origin>',
    '      <model>wikitext</model>',
    '      <format>text/x-wiki</format>',
    `      <text bytes="${bytes}" sha1="${sha1}" xml:space="preserve">${xmlEscape(page.text)}</text>`,
    `      <sha1>${sha1}</sha1>`,
    '    </revision>',
    '  </page>',
  ].join('\n');
}

/** The `<mediawiki>` opening and `<siteinfo>` of an English Wikipedia export. */
export function dumpHeader(): string {
  const ns = NAMESPACES.map(([k, n]) => (n ? `      <namespace key="${k}" case="first-letter">${n}</namespace>` : `      <namespace key="${k}" case="first-letter" />`));
  return [
    '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.11/ http://www.mediawiki.org/xml/export-0.11.xsd" version="0.11" xml:lang="en">',
    '  <siteinfo>',
    '    <sitename>Wikipedia</sitename>',
    '    <dbname>enwiki</dbname>',
    '    <base>https://en.wikipedia.org/wiki/Main_Page</base>',
    '    <generator>MediaWiki 1.43.0-wmf.1</generator>',
    '    <case>first-letter</case>',
    '    <namespaces>',
    ...ns,
    '    </namespaces>',
    '  </siteinfo>',
  ].join('\n');
}

/**
 * Writes the plan as a MediaWiki XML export to `path` (temporary name, renamed when complete).
 * Returns the bytes written.
 */
export async function writeWikiXml(path: string, plan: WikiDumpPlan): Promise<number> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${tempOwner()}`);
  const ws = createWriteStream(tmp);
  let bytes = 0;
  const write = async (s: string) => {
    bytes += Buffer.byteLength(s);
    if (!ws.write(s)) await once(ws, 'drain');
  };
  try {
    await write(dumpHeader() + '\n');
    let id = 10;
    const base = Date.UTC(2024, 0, 1);
    for (const p of plan.pages) {
      id += 1 + (id % 7);
      const ts = new Date(base - id * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
      await write(pageXml(p, id, 1_000_000 + id * 3, ts) + '\n');
    }
    await write('</mediawiki>\n');
    ws.end();
    await once(ws, 'finish');
    await rename(tmp, path);
  } catch (err) {
    ws.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
  return bytes;
}
