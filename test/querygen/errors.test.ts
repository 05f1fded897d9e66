import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticPages, writeDump, dumpHeader, dumpFooter, pageXml, bzip2Sync, type DumpPage } from '../helpers/wiki-dump.js';
import { querygen } from '../../src/querygen/index.js';
import { InputError, UsageError } from '../../src/util/errors.js';
import { needs } from '../helpers/needs.js';

const dir = mkdtempSync(join(tmpdir(), 'wit-qg-errors-'));
let pages: DumpPage[];

beforeAll(() => {
  pages = [...syntheticPages({ seed: 3, pages: 300 })];
});

/** Runs querygen expecting an InputError; checks that no output appeared. */
async function expectInputError(wiki: string[], pattern: RegExp, extra: Record<string, unknown> = {}): Promise<InputError> {
  const out = join(dir, `err-${Math.random().toString(36).slice(2)}.tsv`);
  const err = await querygen({ wiki, out, workers: 2, wordnet: 'none', ...extra }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  expect((err as Error).message).toMatch(pattern);
  expect(existsSync(out)).toBe(false);
  // no temporary files left beside the output
  expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  return err as InputError;
}

describe('bad input gives a clear error naming the file and position', () => {
  it('missing file', async () => {
    const f = join(dir, 'nope.xml');
    await expectInputError([f], /nope\.xml: wiki dump not found/);
  });

  /** A .bz2 dump cut at 60 %. */
  const truncatedBz2 = (): string => {
    const full = writeDump(join(dir, 'full.xml.bz2'), pages, 'bz2').path;
    const cut = join(dir, 'cut.xml.bz2');
    const data = readFileSync(full);
    writeFileSync(cut, data.subarray(0, Math.floor(data.length * 0.6)));
    return cut;
  };

  for (const bz2Decoder of ['lbzip2', 'bzip2'] as const) {
    it.skipIf(!needs(bz2Decoder))(`truncated .bz2 decoded by ${bz2Decoder}`, async () => {
      await expectInputError([truncatedBz2()], /cut\.xml\.bz2: .*(bzip2 data is corrupt or truncated|truncated)/, { bz2Decoder });
    });
  }

  it('truncated .bz2 (streamed, JS decoder) and truncated multistream range', async () => {
    await expectInputError([truncatedBz2()], /cut\.xml\.bz2: .*(bzip2 data is corrupt or truncated|truncated)/, { bz2Decoder: 'js' });
    const ms = writeDump(join(dir, 'm-multistream.xml.bz2'), pages, 'multistream', { pagesPerStream: 20 });
    const md = readFileSync(ms.path);
    const mcut = join(dir, 'mcut-multistream.xml.bz2');
    writeFileSync(mcut, md.subarray(0, md.length - 200));
    writeFileSync(join(dir, 'mcut-multistream-index.txt.bz2'), readFileSync(ms.index!));
    await expectInputError([mcut], /mcut-multistream\.xml\.bz2: .*(corrupt or truncated|truncated).*compressed bytes \d+-\d+/);
  });

  it('corrupt .bz2 data', async () => {
    const full = readFileSync(join(dir, 'full.xml.bz2'));
    const bad = Buffer.from(full);
    for (let i = 2000; i < 2100; i++) bad[i] = bad[i]! ^ 0x5a;
    const f = join(dir, 'corrupt.xml.bz2');
    writeFileSync(f, bad);
    await expectInputError([f], /corrupt\.xml\.bz2: bzip2 data is corrupt or truncated .* after \d+ decompressed bytes/);
    await expectInputError([f], /corrupt\.xml\.bz2: bzip2 data is corrupt or truncated/, { bz2Decoder: 'js' });
  });

  it('malformed XML: unclosed page, truncated document, garbage between pages, not an export', async () => {
    const p = pages.slice(0, 5).map((pg, i) => pageXml(pg, i + 1));
    const unclosed = dumpHeader() + p[0] + p[1]!.replace('</page>', '') + p[2] + dumpFooter();
    writeFileSync(join(dir, 'unclosed.xml'), unclosed);
    const e = await expectInputError([join(dir, 'unclosed.xml')], /unclosed\.xml: malformed XML at byte (\d+) .*<page> not closed before the next <page>/);
    const at = Number(/byte (\d+)/.exec(e.message)![1]);
    expect(Buffer.from(unclosed).subarray(at, at + 6).toString()).toBe('<page>');

    writeFileSync(join(dir, 'nofooter.xml'), dumpHeader() + p.join(''));
    await expectInputError([join(dir, 'nofooter.xml')], /nofooter\.xml: truncated: the XML ends without <\/mediawiki>/);
    writeFileSync(join(dir, 'midpage.xml'), dumpHeader() + p.join('') + p[0]!.slice(0, 100));
    await expectInputError([join(dir, 'midpage.xml')], /midpage\.xml: malformed XML at byte \d+ .*truncated: <page> not closed/);
    writeFileSync(join(dir, 'garbage.xml'), dumpHeader() + p[0] + 'stray text' + p[1] + dumpFooter());
    await expectInputError([join(dir, 'garbage.xml')], /garbage\.xml: malformed XML .*unexpected content between pages: 'stray text'/);
    writeFileSync(join(dir, 'notitle.xml'), dumpHeader() + p[0]!.replace(/<title>.*<\/title>/, '') + dumpFooter());
    await expectInputError([join(dir, 'notitle.xml')], /notitle\.xml: malformed XML .*without <title>/);
    writeFileSync(join(dir, 'html.xml'), '<html><body>hello</body></html>\n');
    await expectInputError([join(dir, 'html.xml')], /html\.xml: .*(not a MediaWiki XML export|unexpected content)/);
    // the same damage inside a bz2 file is reported the same way
    writeFileSync(join(dir, 'unclosed.xml.bz2'), bzip2Sync(unclosed));
    await expectInputError([join(dir, 'unclosed.xml.bz2')], /unclosed\.xml\.bz2: malformed XML at byte \d+/);
  });

  it('a multistream index that does not belong to the dump', async () => {
    const ms = writeDump(join(dir, 'a-multistream.xml.bz2'), pages, 'multistream', { pagesPerStream: 20 });
    const idx = join(dir, 'wrong-index.txt');
    writeFileSync(idx, '12345:1:Foo\n99999:2:Bar\n');
    await expectInputError([ms.path], /wrong-index\.txt: no bz2 stream starts at offset 12345/, { wikiIndex: [idx] });
    writeFileSync(idx, '600:1:Foo\nbroken line\n');
    await expectInputError([ms.path], /wrong-index\.txt: line 2: not an 'offset:page_id:title' line/, { wikiIndex: [idx] });
  });

  it('an abort stops the run and leaves no output or temporary files', async () => {
    const big = writeDump(join(dir, 'abort.xml'), [...syntheticPages({ seed: 9, pages: 3000 })], 'xml').path;
    const out = join(dir, 'aborted.tsv');
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop now')), 150);
    await expect(querygen({ wiki: [big, big, big], out, workers: 2, wordnet: 'none', signal: ac.signal })).rejects.toThrow(/stop now/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('bad options are usage errors', async () => {
    const out = join(dir, 'x.tsv');
    await expect(querygen({ wiki: [], out })).rejects.toThrow(UsageError);
    await expect(querygen({ wiki: ['a.xml'], out, minCount: 0 })).rejects.toThrow(/querygen: --min-count must be >= 1, got 0/);
    await expect(querygen({ wiki: ['a.xml'], out, minCount: 2.5 })).rejects.toThrow(/--min-count expects an integer/);
    await expect(querygen({ wiki: ['a.xml'], out, maxMemory: 'lots' })).rejects.toThrow(/--max-memory expects a size/);
    await expect(querygen({ wiki: ['a.xml'], out, wordnetLemmas: 'some' as 'all' })).rejects.toThrow(UsageError);
  });
});
