import { describe, expect, it } from 'vitest';
import { wikitextToText, forEachTextLine } from '../../src/querygen/wikitext.js';
import { wordTokens } from '../../src/text/tokenize.js';
import { querygen } from '../../src/querygen/index.js';
import { writeDump } from '../helpers/wiki-dump.js';
import { readTsv } from './helpers.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tmp = mkdtempSync(join(tmpdir(), 'wit-qg-wikitext-'));

/**
 * Tokens per kept line, the way the counter sees the text: the segments of a line (cut where a
 * span was dropped; no bigram crosses a cut) joined by ' ¦ '.
 */
function lines(wikitext: string): string[] {
  const text = wikitextToText(wikitext);
  const out: string[] = [];
  let last = -1;
  forEachTextLine(text, (t, a, b) => {
    const seg = wordTokens(t.slice(a, b)).join(' ');
    if (last >= 0 && !t.slice(last, a).includes('\n') && out.length > 0) out[out.length - 1] += ` ¦ ${seg}`;
    else out.push(seg);
    last = b;
  });
  return out.filter((l) => l.length > 0);
}

describe('removed spans break the token sequence (no false bigrams)', () => {
  it('a template, ref, math, comment or table between two words leaves no bigram across it', () => {
    // the case found on enwiki: "extinct Prionosuchus" was a selected bigram
    expect(lines("the extinct {{convert|9|m}} ''[[Prionosuchus]]'' was")).toEqual(['the extinct 9 metres ¦ Prionosuchus was']);
    expect(lines('alpha {{citation needed}} beta')).toEqual(['alpha ¦ beta']);
    expect(lines('alpha<ref>x</ref> beta<ref name="a"/> gamma <math>x</math> delta <!-- c --> eps')).toEqual(['alpha ¦ beta ¦ gamma ¦ delta ¦ eps']);
    expect(lines('alpha [[Category:X]] beta __NOTOC__ gamma')).toEqual(['alpha ¦ beta ¦ gamma']);
  });
  it('wit querygen selects no bigram across a removed span', async () => {
    const pages = Array.from({ length: 4 }, (_, k) => ({
      title: `Page ${k}`,
      text: `The extinct {{convert|9|m}} ''[[Prionosuchus]]'' lived here. Some {{lang|la|magna carta}} was signed.<ref>x</ref> Then nothing.`,
    }));
    const dump = writeDump(join(tmp, 'enwiki-test-pages-articles.xml'), pages, 'xml').path;
    const out = join(tmp, 'q.tsv');
    await querygen({ wiki: [dump], out, wordnet: 'none', minCount: 1000, minPmi: 0, minBigramCount: 2, workers: 1 });
    const bigrams = readTsv(out).filter((r) => r.source === 'bigram').map((r) => r.query);
    expect(bigrams).not.toContain('extinct Prionosuchus');
    expect(bigrams).not.toContain('signed Then');
    expect(bigrams).toEqual(expect.arrayContaining(['Prionosuchus lived', 'The extinct', 'magna carta', 'Some magna']));
  });
});

describe('prose-rendering templates show their text', () => {
  it('lang, transl, nihongo, convert, nowrap, ill, dashes; anything else is dropped', () => {
    expect(lines('a {{lang|fr|pain au chocolat}} is')).toEqual(['a pain au chocolat is']);
    expect(lines("the {{lang-de|Autobahn}} road")).toEqual(['the ¦ Autobahn road']);
    expect(lines('called {{transl|ar|DIN|al-Qāhira}} by')).toEqual(['called al-Qāhira by']);
    expect(lines("{{nihongo|Tokyo Tower|東京タワー|Tōkyō tawā}} is")).toEqual(['Tokyo Tower ( 東京タワー , Tōkyō tawā ) ¦ is']);
    expect(lines('a {{convert|1|km|mi}} walk, {{convert|3|to|5|ft|abbr=on}} tall, {{convert|7|furlongs}} x')).toEqual(['a 1 kilometre ¦ walk , 3 to 5 ft ¦ tall , ¦ x']);
    expect(lines('{{nowrap|New [[York]]}} and {{ill|Foo Bar|de|Foo}} here {{ndash}} there')).toEqual(['New York and Foo Bar ¦ here – there']);
    expect(lines('x {{Infobox person|name=Y}} z')).toEqual(['x ¦ z']);
    // names that are also properties of every JS object are ordinary unknown templates and units
    expect(lines('x {{constructor|y}} {{toString}} {{convert|9|constructor}} {{__proto__}} z')).toEqual(['x ¦ z']);
  });
});

describe('wikitext to text', () => {
  it('links: label, target, trail; file/category/interlanguage links vanish', () => {
    expect(lines('A [[Paris|city of light]] and [[London]]s [[:Category:Foo|cat link]].')).toEqual(['A city of light and Londons cat link .']);
    expect(lines('x [[File:A.jpg|thumb|left|A [[b]] caption]] y [[Category:Z]] [[fr:Paris]] [[Image:B.png]] z')).toEqual(['x ¦ y ¦ z']);
    expect(lines('[[Help:Contents|help]] [[wikt:word|word]] [[Foo (band)|]]')).toEqual(['help word Foo']);
  });
  it('a prefix and colon is an interlanguage link only for a real language code', () => {
    expect(lines('[[CSI: Miami]] and [[Ram: The Novel|Ram]] and [[Star Trek: Voyager]]')).toEqual(['CSI : Miami and Ram and Star Trek : Voyager']);
    expect(lines('x [[de:Paris]] [[zh-yue:Foo]] [[simple:Bar]] [[Fr:Baz]] y')).toEqual(['x ¦ y']);
  });
  it('nowiki content is literal text', () => {
    expect(lines("<nowiki>[[not a link]] {{nor a template}} ''x''</nowiki> y")).toEqual(["[ [ not a link ] ] { { nor a template } } ' ' x ' ' y"]);
    expect(lines('[[Foo]]<nowiki/>s and <nowiki>&amp;</nowiki>')).toEqual(['Foos and &']);
  });
  it('templates (nested, multi-line), refs, comments, tags', () => {
    expect(lines('{{Infobox\n| a = {{nowrap|b}}\n| c = [[d]]\n}}Text{{sfn|X|2000}} here.')).toEqual(['Text ¦ here .']);
    expect(lines('One<ref name="a">{{cite web|title=T}}</ref> two<ref name="a" /> three<REF>x</REF>.')).toEqual(['One ¦ two ¦ three ¦ .']);
    expect(lines('a <!-- hidden\ncomment --> b <math>x^2</math> c <small>d</small> e<br/>f')).toEqual(['a ¦ b ¦ c d e', 'f']);
    expect(lines('p <syntaxhighlight lang="js">let x</syntaxhighlight> q <gallery>\nA.jpg|x\n</gallery> r')).toEqual(['p ¦ q ¦ r']);
  });
  it('tables vanish whole, nested and with templates inside', () => {
    expect(lines('before\n{| class="wikitable"\n|-\n! h1 !! h2\n|-\n| a || {{flag|b}}\n|-\n|\n{|\n| inner\n|}\n|}\nafter')).toEqual(['before', 'after']);
  });
  it('formatting, headings, lists, entities, magic words, external links', () => {
    expect(lines("'''Bold''' and ''italic'' and '''''both'''''")).toEqual(['Bold and italic and both']);
    expect(lines('== History ==\n=== Early life ===\n* item one\n# item two\n: indented\n; term')).toEqual(['History', 'Early life', 'item one', 'item two', 'indented', 'term']);
    expect(lines('5&nbsp;km &ndash; A&amp;B &#8364;3 &#x41; &bogus;')).toEqual(['5 km – A & B € 3 A & bogus ;']);
    // every HTML5 named entity, also in link targets; soft hyphens and marks vanish
    expect(lines('Pok&eacute;mon and &Aring;ngstr&ouml;m, co&shy;operate, &CounterClockwiseContourIntegral;')).toEqual(['Pokémon and Ångström , cooperate , ∳']);
    expect(lines('[[Pok&eacute;mon]] and [[Caf&eacute;|the caf&eacute;]]')).toEqual(['Pokémon and the café']);
    expect(lines('__NOTOC__ text [https://example.org a site] [https://x.org] end')).toEqual(['text a site end']);
    expect(lines('see [https://x.org the [[Foo|foo]] page] now')).toEqual(['see the foo page now']);
    expect(lines('x\n----\ny')).toEqual(['x', 'y']);
  });
  it('unbalanced markup is text, never a crash', () => {
    expect(lines('a {{ b')).toEqual(['a b']);
    expect(lines('a [[ b')).toEqual(['a b']);
    expect(lines('a <ref>b')).toEqual(['a ¦ b']);
    expect(lines("it's o'clock")).toEqual(["it's o'clock"]);
  });
});
