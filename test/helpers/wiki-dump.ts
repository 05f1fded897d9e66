/**
 * Generator of MediaWiki XML export dumps for tests and benchmarks, in the real format (export 0.11:
 * `<mediawiki><siteinfo>…</siteinfo><page><title/><ns/><id/>[<redirect/>]<revision>…<text/></revision></page>…`),
 * written plain, as .bz2, as .gz, or as a Wikimedia-style multistream .bz2 (one bz2 stream for the
 * header, one per `pagesPerStream` pages, one for the footer) with its `offset:page_id:title` index.
 *
 * Synthetic articles come with the text a correct wikitext cleaner must leave (`visible`), so tests
 * can compute exact expected counts: every piece of markup is generated from a (wikitext, visible)
 * pair — links show their label, templates/refs/tables/comments/file links show nothing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { once } from 'node:events';
import { bzip2Sync } from './bzip2.js';

/** One page of a dump. */
export interface DumpPage {
  title: string;
  ns?: number;
  /** Target title when the page is a redirect. */
  redirect?: string;
  /** Wikitext (unescaped; escaped when written). */
  text: string;
  /** Plain text a correct cleaner keeps, one paragraph per line (articles only). */
  visible?: string[];
}

export type DumpFormat = 'xml' | 'bz2' | 'gz' | 'multistream';

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** `<mediawiki>` opening and `<siteinfo>` of an English Wikipedia export. */
export function dumpHeader(): string {
  return (
    '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ' +
    'xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.11/ http://www.mediawiki.org/xml/export-0.11.xsd" version="0.11" xml:lang="en">\n' +
    '  <siteinfo>\n    <sitename>Wikipedia</sitename>\n    <dbname>enwiki</dbname>\n    <base>https://en.wikipedia.org/wiki/Main_Page</base>\n' +
    '    <generator>MediaWiki 1.43.0-wmf.8</generator>\n    <case>first-letter</case>\n    <namespaces>\n' +
    '      <namespace key="-2" case="first-letter">Media</namespace>\n      <namespace key="0" case="first-letter" />\n' +
    '      <namespace key="1" case="first-letter">Talk</namespace>\n      <namespace key="6" case="first-letter">File</namespace>\n' +
    '      <namespace key="10" case="first-letter">Template</namespace>\n      <namespace key="14" case="first-letter">Category</namespace>\n' +
    '    </namespaces>\n  </siteinfo>\n'
  );
}

export function dumpFooter(): string {
  return '</mediawiki>\n';
}

/** The XML of one `<page>`. */
export function pageXml(p: DumpPage, id: number): string {
  const text = xmlEscape(p.text);
  return (
    `  <page>\n    <title>${xmlEscape(p.title)}</title>\n    <ns>${p.ns ?? 0}</ns>\n    <id>${id}</id>\n` +
    (p.redirect !== undefined ? `    <redirect title="${xmlEscape(p.redirect)}" />\n` : '') +
    `    <revision>\n      <id>${id * 10 + 1}</id>\n      <parentid>${id * 10}</parentid>\n      <timestamp>2024-05-01T12:00:00Z</timestamp>\n` +
    `      <contributor>\n        <username>Editor</username>\n        <id>42</id>\n      </contributor>\n      <comment>edit &amp; fix</comment>\n` +
    `      <model>wikitext</model>\n      <format>text/x-wiki</format>\n` +
    `      <text bytes="${Buffer.byteLength(p.text)}" sha1="0000000000000000000000000000000" xml:space="preserve">${text}</text>\n` +
    `      <sha1>0000000000000000000000000000000</sha1>\n    </revision>\n  </page>\n`
  );
}

/** A whole dump as one string (small dumps). */
export function dumpXml(pages: DumpPage[]): string {
  return dumpHeader() + pages.map((p, i) => pageXml(p, i + 1)).join('') + dumpFooter();
}

export { bzip2Sync };

/** bzip2 by a subprocess, async (benchmarks compress hundreds of MB: lbzip2 when present, else bzip2). */
export async function bzip2Async(data: Buffer): Promise<Buffer> {
  const tool = spawnSync('sh', ['-c', 'command -v lbzip2'], { encoding: 'utf8' }).status === 0 ? 'lbzip2' : 'bzip2';
  const child = spawn(tool, ['-c', '-9'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const parts: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => parts.push(d));
  child.stdin.end(data);
  const [code] = (await once(child, 'close')) as [number];
  if (code !== 0) throw new Error(`${tool} exited with ${code}`);
  return Buffer.concat(parts);
}

/** Paths of a written dump. */
export interface WrittenDump {
  path: string;
  /** Multistream index (bz2), when format is 'multistream'. */
  index?: string;
  /** Uncompressed XML bytes. */
  xmlBytes: number;
}

/**
 * Writes `pages` as a dump. For 'multistream', `path` should end in `-multistream.xml.bz2`; the
 * index is written beside it as `…-multistream-index.txt.bz2`, as Wikimedia names it.
 */
export function writeDump(path: string, pages: DumpPage[], format: DumpFormat, opts: { pagesPerStream?: number } = {}): WrittenDump {
  if (format !== 'multistream') {
    const xml = Buffer.from(dumpXml(pages));
    writeFileSync(path, format === 'xml' ? xml : format === 'gz' ? gzipSync(xml) : bzip2Sync(xml));
    return { path, xmlBytes: xml.length };
  }
  const per = opts.pagesPerStream ?? 100;
  const streams: Buffer[] = [bzip2Sync(dumpHeader())];
  const index: string[] = [];
  let offset = streams[0]!.length;
  let xmlBytes = Buffer.byteLength(dumpHeader());
  for (let i = 0; i < pages.length; i += per) {
    const group = pages.slice(i, i + per);
    const xml = group.map((p, k) => pageXml(p, i + k + 1)).join('');
    xmlBytes += Buffer.byteLength(xml);
    group.forEach((p, k) => index.push(`${offset}:${i + k + 1}:${p.title}`));
    const z = bzip2Sync(xml);
    streams.push(z);
    offset += z.length;
  }
  streams.push(bzip2Sync(dumpFooter()));
  xmlBytes += Buffer.byteLength(dumpFooter());
  writeFileSync(path, Buffer.concat(streams));
  const indexPath = multistreamIndexPath(path);
  writeFileSync(indexPath, bzip2Sync(index.join('\n') + '\n'));
  return { path, index: indexPath, xmlBytes };
}

/** Wikimedia's index name for a multistream dump. */
export function multistreamIndexPath(dump: string): string {
  if (/multistream\.xml\.bz2$/.test(dump)) return dump.replace(/multistream\.xml\.bz2$/, 'multistream-index.txt.bz2');
  return `${dump.replace(/(\.xml)?\.bz2$/, '')}-index.txt.bz2`;
}

/** Deterministic random numbers (mulberry32). */
export class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'vo', 'zi', 'bel', 'dar', 'fen', 'gor', 'hul', 'jin', 'kor', 'lum', 'mar', 'nor', 'pel', 'quin', 'ros', 'sil', 'tor', 'ul', 'ven', 'wes', 'yar', 'zor'];

/** A made-up word (syllables), capitalised when `cap`. */
export function fakeWord(rng: Rng, syllables = 2 + rng.int(2), cap = false): string {
  let w = '';
  for (let i = 0; i < syllables; i++) w += rng.pick(SYLLABLES);
  return cap ? w[0]!.toUpperCase() + w.slice(1) : w;
}

/**
 * Where the cleaner drops a span inside a line (src/querygen/wikitext.ts): `visible` lines hold it
 * too, and no bigram is counted across it.
 */
export const SPAN_BREAK = '\u2029';

/** Options of {@link syntheticPages}. */
export interface SyntheticOptions {
  seed: number;
  /** Pages to make (articles, redirects and other-namespace pages together). */
  pages: number;
  /** Distinct common words (Zipf-distributed). Default 5000. */
  vocabulary?: number;
  /** Paragraphs per article, max (default 6). */
  paragraphs?: number;
  /** Words per sentence, max (default 18). */
  sentenceWords?: number;
  /** Unique made-up names per article (grow the vocabulary with the dump; default 2). */
  namesPerArticle?: number;
}

/**
 * Pages with the markup of real articles: bold title, links with and without labels, templates
 * (nested, multi-line infoboxes), refs (paired and self-closing), tables, comments, file and
 * category links, headings, lists, entities; plus redirects (1 in 10) and Talk/File/Template pages
 * (1 in 10). Deterministic for a seed. Yields pages one at a time (benchmarks make gigabytes).
 */
export function* syntheticPages(opts: SyntheticOptions): Generator<DumpPage> {
  const rng = new Rng(opts.seed);
  const vocabSize = opts.vocabulary ?? 5000;
  const vocab: string[] = [];
  const seen = new Set<string>();
  while (vocab.length < vocabSize) {
    // short words first (the frequent ones), longer ones after: 28^5 possible words
    const w = fakeWord(rng, vocab.length < 5000 ? 1 + rng.int(3) : 2 + rng.int(4));
    if (!seen.has(w)) {
      seen.add(w);
      vocab.push(w);
    }
  }
  // Zipf(1) sampling table: O(1) draws
  const table = new Int32Array(1 << 16);
  {
    let h = 0;
    for (let i = 1; i <= vocabSize; i++) h += 1 / i;
    let acc = 0;
    let j = 0;
    for (let i = 0; i < vocabSize && j < table.length; i++) {
      acc += 1 / (i + 1) / h;
      const upto = Math.round(acc * table.length);
      while (j < upto && j < table.length) table[j++] = i;
    }
    while (j < table.length) table[j++] = vocabSize - 1;
  }
  const word = () => vocab[table[rng.int(table.length)]!]!;
  const maxPar = opts.paragraphs ?? 6;
  const maxWords = opts.sentenceWords ?? 18;
  const namesPer = opts.namesPerArticle ?? 2;
  const titles: string[] = [];
  for (let n = 0; n < opts.pages; n++) {
    const kind = rng.int(10);
    if (kind === 0 && titles.length > 0) {
      const target = rng.pick(titles);
      yield { title: `${fakeWord(rng, 3, true)} ${fakeWord(rng, 2)}`, redirect: target, text: `#REDIRECT [[${target}]]\n\n{{R from alternative name}}` };
      continue;
    }
    if (kind === 1) {
      const ns = rng.pick([1, 6, 10, 14]);
      const prefix = { 1: 'Talk', 6: 'File', 10: 'Template', 14: 'Category' }[ns]!;
      yield { title: `${prefix}:${fakeWord(rng, 3, true)}`, ns, text: `${word()} ${word()} talkonlyword ${word()} == Section ==\n${word()} {{${word()}}}` };
      continue;
    }
    const names = Array.from({ length: namesPer }, () => `${fakeWord(rng, 3, true)} ${fakeWord(rng, 3, true)}`);
    const title = `${fakeWord(rng, 2, true)} ${word()}`;
    titles.push(title);
    const wiki: string[] = [];
    const visible: string[] = [];
    wiki.push(`{{Short description|${word()} ${word()} of the ${word()}}}`);
    wiki.push(`{{Infobox thing\n| name = ${title}\n| image = ${word()}.jpg\n| caption = ${word()} {{nowrap|${word()} ${word()}}}\n| founded = {{start date|1990|1|1}}\n}}`);
    const paragraphs = 1 + rng.int(maxPar);
    for (let p = 0; p < paragraphs; p++) {
      if (p > 0 && rng.int(3) === 0) {
        const h = `${word()} ${word()}`;
        wiki.push('', `== ${h} ==`);
        visible.push(h);
      }
      const segW: string[] = [];
      const segV: string[] = [];
      if (p === 0) {
        segW.push(`'''${title}'''`);
        segV.push(title);
      }
      const sentences = 1 + rng.int(4);
      for (let s = 0; s < sentences; s++) {
        const len = 3 + rng.int(maxWords);
        for (let k = 0; k < len; k++) {
          const r = rng.int(40);
          if (r === 0) {
            const a = word();
            const b = word();
            segW.push(`[[${a} ${b}|${b} ${a}]]`);
            segV.push(`${b} ${a}`);
          } else if (r === 1) {
            const a = word();
            segW.push(`[[${a}]]`);
            segV.push(a);
          } else if (r === 2) {
            segW.push(`<ref name="r${k}">{{cite web |url=https://example.org/${word()} |title=${word()} refonlyword}}</ref>`);
            segV.push(SPAN_BREAK);
          } else if (r === 3) {
            segW.push(`<ref name="r${k}" />`);
            segV.push(SPAN_BREAK);
          } else if (r === 4) {
            // a prose template shows its text; any other template is dropped, leaving a break
            const a = word();
            if (rng.int(2) === 0) {
              segW.push(`{{lang|fr|${a}}}`);
              segV.push(a);
            } else {
              segW.push(`{{citation needed|date=${a} templateonlyword}}`);
              segV.push(SPAN_BREAK);
            }
          } else if (r === 5) {
            const a = word();
            segW.push(`''${a}''`);
            segV.push(a);
          } else if (r === 6) {
            segW.push(`<!-- ${word()} commentonlyword -->`);
            segV.push(SPAN_BREAK);
          } else if (r === 7) {
            const a = rng.pick(names);
            segW.push(`[[${a}]]`);
            segV.push(a);
          } else if (r === 8) {
            const a = word();
            segW.push(`[https://example.com/${a} ${a} site]`);
            segV.push(`${a} site`);
          } else if (r === 9) {
            segW.push(`${word()}&nbsp;km`);
            segV.push(segW[segW.length - 1]!.replace('&nbsp;', ' '));
          } else {
            const w = word();
            segW.push(w);
            segV.push(w);
          }
        }
        segW[segW.length - 1] += '.';
        if (segV.length > 0) segV[segV.length - 1] += '.';
        else segV.push('.');
      }
      wiki.push(segW.join(' '));
      visible.push(segV.join(' '));
      if (rng.int(4) === 0) {
        wiki.push(`{| class="wikitable"\n|+ ${word()} tableonlyword\n|-\n! ${word()} !! ${word()}\n|-\n| ${word()} || {{flag|${word()}}}\n|}`);
      }
      if (rng.int(5) === 0) {
        const items = 1 + rng.int(3);
        for (let i = 0; i < items; i++) {
          const a = `${word()} ${word()}`;
          wiki.push(`* [[${a}]]`);
          visible.push(a);
        }
      }
      if (rng.int(6) === 0) wiki.push(`[[File:${word()}.jpg|thumb|left|A ${word()} fileonlyword [[${word()}]]]]`);
    }
    wiki.push('', '== References ==', '{{Reflist}}', `[[Category:${word()} categoryonlyword]]`, `[[fr:${word()}]]`);
    visible.push('References');
    yield { title, text: wiki.join('\n'), visible };
  }
}

/**
 * Streams synthetic pages into a dump of at least `xmlBytes` uncompressed bytes (benchmarks).
 * 'multistream' groups `pagesPerStream` pages per bz2 stream (compressed by lbzip2/bzip2).
 */
export async function writeLargeDump(path: string, xmlBytes: number, format: 'xml' | 'bz2' | 'multistream', opts: Omit<SyntheticOptions, 'pages'> & { pagesPerStream?: number }): Promise<WrittenDump> {
  const ws = createWriteStream(path);
  const write = async (b: Buffer | string) => {
    if (!ws.write(b)) await once(ws, 'drain');
  };
  const per = opts.pagesPerStream ?? 100;
  const gen = syntheticPages({ ...opts, pages: Number.MAX_SAFE_INTEGER });
  let written = 0;
  let id = 0;
  let offset = 0;
  const index: string[] = [];
  let bzChild: ReturnType<typeof spawn> | undefined;
  let bzDone: Promise<unknown> | undefined;
  if (format === 'bz2') {
    const tool = spawnSync('sh', ['-c', 'command -v lbzip2'], { encoding: 'utf8' }).status === 0 ? 'lbzip2' : 'bzip2';
    bzChild = spawn(tool, ['-c', '-9'], { stdio: ['pipe', 'pipe', 'inherit'] });
    bzChild.stdout!.pipe(ws);
    bzDone = once(ws, 'finish');
  }
  const out = async (s: string) => {
    const b = Buffer.from(s);
    written += b.length;
    if (format === 'xml') await write(b);
    else if (bzChild) {
      if (!bzChild.stdin!.write(b)) await once(bzChild.stdin!, 'drain');
    }
  };
  if (format === 'multistream') {
    const h = await bzip2Async(Buffer.from(dumpHeader()));
    written += Buffer.byteLength(dumpHeader());
    await write(h);
    offset += h.length;
    // compress groups two at a time so both cores work
    let batch: Array<{ xml: string; titles: Array<[number, string]> }> = [];
    const flush = async () => {
      const zs = await Promise.all(batch.map((g) => bzip2Async(Buffer.from(g.xml))));
      for (let i = 0; i < zs.length; i++) {
        for (const [pid, t] of batch[i]!.titles) index.push(`${offset}:${pid}:${t}`);
        await write(zs[i]!);
        offset += zs[i]!.length;
      }
      batch = [];
    };
    while (written < xmlBytes) {
      let xml = '';
      const titles: Array<[number, string]> = [];
      for (let k = 0; k < per; k++) {
        const p = gen.next().value as DumpPage;
        id++;
        xml += pageXml(p, id);
        titles.push([id, p.title]);
      }
      written += Buffer.byteLength(xml);
      batch.push({ xml, titles });
      if (batch.length >= 4) await flush();
    }
    await flush();
    const f = await bzip2Async(Buffer.from(dumpFooter()));
    written += Buffer.byteLength(dumpFooter());
    await write(f);
    ws.end();
    await once(ws, 'finish');
    const indexPath = multistreamIndexPath(path);
    writeFileSync(indexPath, await bzip2Async(Buffer.from(index.join('\n') + '\n')));
    return { path, index: indexPath, xmlBytes: written };
  }
  await out(dumpHeader());
  let buf = '';
  while (written + buf.length < xmlBytes) {
    const p = gen.next().value as DumpPage;
    buf += pageXml(p, ++id);
    if (buf.length > 1 << 20) {
      await out(buf);
      buf = '';
    }
  }
  await out(buf + dumpFooter());
  if (bzChild) {
    bzChild.stdin!.end();
    await bzDone;
  } else {
    ws.end();
    await once(ws, 'finish');
  }
  return { path, xmlBytes: written };
}
