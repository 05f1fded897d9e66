import { describe, expect, it } from 'vitest';
import { wikitextToText, forEachTextLine } from '../../src/querygen/wikitext.js';
import { wordTokens } from '../../src/text/tokenize.js';

/** Tokens per kept line, the way the counter sees the text. */
function lines(wikitext: string): string[] {
  const text = wikitextToText(wikitext);
  const out: string[] = [];
  forEachTextLine(text, (t, a, b) => out.push(wordTokens(t.slice(a, b)).join(' ')));
  return out.filter((l) => l.length > 0);
}

describe('wikitext to text', () => {
  it('links: label, target, trail; file/category/interlanguage links vanish', () => {
    expect(lines('A [[Paris|city of light]] and [[London]]s [[:Category:Foo|cat link]].')).toEqual(['A city of light and Londons cat link .']);
    expect(lines('x [[File:A.jpg|thumb|left|A [[b]] caption]] y [[Category:Z]] [[fr:Paris]] [[Image:B.png]] z')).toEqual(['x y z']);
    expect(lines('[[Help:Contents|help]] [[wikt:word|word]] [[Foo (band)|]]')).toEqual(['help word Foo']);
  });
  it('templates (nested, multi-line), refs, comments, tags', () => {
    expect(lines('{{Infobox\n| a = {{nowrap|b}}\n| c = [[d]]\n}}Text{{sfn|X|2000}} here.')).toEqual(['Text here .']);
    expect(lines('One<ref name="a">{{cite web|title=T}}</ref> two<ref name="a" /> three<REF>x</REF>.')).toEqual(['One two three .']);
    expect(lines('a <!-- hidden\ncomment --> b <math>x^2</math> c <small>d</small> e<br/>f')).toEqual(['a b c d e', 'f']);
    expect(lines('p <syntaxhighlight lang="js">let x</syntaxhighlight> q <gallery>\nA.jpg|x\n</gallery> r')).toEqual(['p q r']);
  });
  it('tables vanish whole, nested and with templates inside', () => {
    expect(lines('before\n{| class="wikitable"\n|-\n! h1 !! h2\n|-\n| a || {{flag|b}}\n|-\n|\n{|\n| inner\n|}\n|}\nafter')).toEqual(['before', 'after']);
  });
  it('formatting, headings, lists, entities, magic words, external links', () => {
    expect(lines("'''Bold''' and ''italic'' and '''''both'''''")).toEqual(['Bold and italic and both']);
    expect(lines('== History ==\n=== Early life ===\n* item one\n# item two\n: indented\n; term')).toEqual(['History', 'Early life', 'item one', 'item two', 'indented', 'term']);
    expect(lines('5&nbsp;km &ndash; A&amp;B &#8364;3 &#x41; &bogus;')).toEqual(['5 km – A & B € 3 A & bogus ;']);
    expect(lines('__NOTOC__ text [https://example.org a site] [https://x.org] end')).toEqual(['text a site end']);
    expect(lines('x\n----\ny')).toEqual(['x', 'y']);
  });
  it('unbalanced markup is text, never a crash', () => {
    expect(lines('a {{ b')).toEqual(['a b']);
    expect(lines('a [[ b')).toEqual(['a b']);
    expect(lines('a <ref>b')).toEqual(['a b']);
    expect(lines("it's o'clock")).toEqual(["it's o'clock"]);
  });
});
