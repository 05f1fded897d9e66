/**
 * Wikitext to plain text, the way WikiExtractor-style cleaners do it, in one hand-written pass
 * (a chain of regex replacements costs several times more on 90 GB of text). What is kept and what
 * is dropped is listed in README.md ("querygen", "What the wikitext cleaner keeps"):
 * - dropped with their content: templates `{{…}}` (infoboxes, citations, navboxes), tables `{| … |}`,
 *   `<ref>…</ref>` and other non-prose tags (math, code, gallery, …), comments, magic words,
 *   file/image/category links and interlanguage links (only real language codes, WIKIPEDIA_LANGUAGE_CODES);
 * - prose-rendering templates give their visible text where it is simple (RENDERED_TEMPLATES: lang,
 *   transl, nihongo, convert without its conversion, nowrap, …);
 * - kept as their visible text: links `[[target|label]]` -> label, `[[target]]` -> target,
 *   external links `[url label]` -> label (a label may hold wikilinks), formatting tags
 *   (`<b>x</b>` -> x), headings, list items, `<nowiki>` content as literal text;
 * - removed markup: bold/italic quotes, list and indent markers, heading `=`s;
 * - HTML entities decoded (all HTML5 named entities, by the `entities` package; numeric references),
 *   in link targets too.
 * Every dropped span leaves SPAN_BREAK, and paragraph structure survives as lines: the counter never
 * makes a bigram across either, so "extinct {{convert|…}} ''[[Prionosuchus]]''" gives no
 * "extinct Prionosuchus", and a heading and the sentence under it do not form a pair.
 */
import { decodeHTMLStrict } from 'entities';
import { WIKIPEDIA_LANGUAGE_CODES } from './wiki-languages.js';

/**
 * Left where a span was dropped: a Unicode paragraph separator, so it is whitespace to the tokenizer
 * (never a token) and forEachTextLine cuts the token sequence there.
 */
export const SPAN_BREAK = '\u2029';

/** Tags whose content is not prose. */
const DROP_TAGS = new Set([
  'ref', 'references', 'math', 'chem', 'ce', 'code', 'syntaxhighlight', 'source', 'pre', 'gallery', 'timeline',
  'score', 'graph', 'mapframe', 'maplink', 'templatedata', 'templatestyles', 'imagemap', 'hiero', 'inputbox',
  'categorytree', 'charinsert', 'indicator', 'section', 'noinclude', 'includeonly', 'onlyinclude', 'style', 'script',
  'table', 'math-chem', 'phonos', 'langconvert', 'rss',
]);

/** Link namespaces whose links show nothing in the article text (with interlanguage links). */
const DROP_LINK_NS = new Set(['file', 'image', 'category', 'media', 'talk', 'template', 'module']);

/** Entities rendered as a plain space; invisible format characters (soft hyphen, ZWJ, marks) vanish. */
const SPACE_ENTITY_RE = /^[\s\u00a0]+$/u;
const FORMAT_CHAR_RE = /^\p{Cf}+$/u;

/** The decoded text of the entity s[i, semi] ('&…;'), undefined when it is not one. */
function entityAt(s: string, i: number, semi: number): string | undefined {
  const raw = s.slice(i, semi + 1);
  let dec = entityCache.get(raw);
  if (dec !== undefined || entityCache.has(raw)) return dec;
  dec = decodeHTMLStrict(raw);
  dec = dec === raw ? undefined : SPACE_ENTITY_RE.test(dec) ? ' ' : FORMAT_CHAR_RE.test(dec) ? '' : dec;
  if (entityCache.size < 4096) entityCache.set(raw, dec);
  return dec;
}
/** Decoded entities seen so far (articles use a few dozen distinct ones, over and over). */
const entityCache = new Map<string, string | undefined>();

/** Decodes every entity of `s` (link targets). */
export function decodeEntities(s: string): string {
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let run = 0;
  while (amp >= 0) {
    const semi = s.indexOf(';', amp);
    if (semi < 0) break;
    const dec = semi - amp <= 40 ? entityAt(s, amp, semi) : undefined;
    if (dec !== undefined) {
      out += s.slice(run, amp) + dec;
      run = semi + 1;
    }
    amp = s.indexOf('&', dec !== undefined ? run : amp + 1);
  }
  return out + s.slice(run);
}


// Characters that may start markup; everything else is copied through in runs.
const SPECIAL = new Uint8Array(128);
for (const ch of '<{[\'&_') SPECIAL[ch.charCodeAt(0)] = 1;

const closeTagRes = new Map<string, RegExp>();
function closeTagRe(name: string): RegExp {
  let re = closeTagRes.get(name);
  if (!re) {
    re = new RegExp(`</${name}\\s*>`, 'gi');
    closeTagRes.set(name, re);
  }
  return re;
}

/** Index just past the `close` that balances the `open` at `i` (both two chars), or -1. */
function matchPair(s: string, i: number, end: number, open: number, close: number): number {
  let depth = 0;
  let j = i;
  while (j < end - 1) {
    const c = s.charCodeAt(j);
    if (c === open && s.charCodeAt(j + 1) === open) {
      depth++;
      j += 2;
    } else if (c === close && s.charCodeAt(j + 1) === close) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  return -1;
}

/** True when position i is at the start of a line, ignoring spaces and ':' indents before it. */
function atLineStart(s: string, i: number): boolean {
  for (let k = i - 1; k >= 0; k--) {
    const c = s.charCodeAt(k);
    if (c === 0x0a) return true;
    if (c !== 0x20 && c !== 0x09 && c !== 0x3a) return false;
  }
  return true;
}

/** End of a `{| … |}` table starting at i (tables nest; delimiters count only at line starts). */
function skipTable(s: string, i: number, end: number): number {
  let depth = 0;
  let j = i;
  while (j < end) {
    const c = s.charCodeAt(j);
    if (c === 0x7b /* { */ && s.charCodeAt(j + 1) === 0x7c && atLineStart(s, j)) {
      depth++;
      j += 2;
    } else if (c === 0x7c /* | */ && s.charCodeAt(j + 1) === 0x7d && atLineStart(s, j)) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else if (c === 0x7b && s.charCodeAt(j + 1) === 0x7b) {
      // a template inside a cell may contain '|}' at a line start of its own; skip it whole
      const t = matchPair(s, j, end, 0x7b, 0x7d);
      j = t < 0 ? j + 2 : t;
    } else j++;
  }
  return end; // unclosed table: drop the rest, as MediaWiki renders it as a table to the end
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}

/** Handles `[[…]]` at i (content [i+2, close-2)); returns where to continue. */
function link(s: string, i: number, close: number, out: string[]): void {
  const inner = s.slice(i + 2, close - 2);
  // target = up to the first '|' outside nested links/templates
  let bar = -1;
  let lastBar = -1;
  let depth = 0;
  for (let k = 0; k < inner.length; k++) {
    const c = inner.charCodeAt(k);
    if ((c === 0x5b || c === 0x7b) && inner.charCodeAt(k + 1) === c) { depth++; k++; }
    else if ((c === 0x5d || c === 0x7d) && inner.charCodeAt(k + 1) === c) { depth--; k++; }
    else if (c === 0x7c && depth === 0) {
      if (bar < 0) bar = k;
      lastBar = k;
    }
  }
  const target = decodeEntities(bar < 0 ? inner : inner.slice(0, bar)).trim();
  if (target.charCodeAt(0) !== 0x3a /* ':' = a visible link to a namespace page */) {
    const colon = target.indexOf(':');
    if (colon > 0) {
      const ns = target.slice(0, colon).trim().toLowerCase();
      // File/Category/… and interlanguage links ([[fr:…]], [[zh-yue:…]]) render nothing inline;
      // any other prefix is part of the title ([[CSI: Miami]], [[Ram: The Novel|Ram]])
      if (DROP_LINK_NS.has(ns) || WIKIPEDIA_LANGUAGE_CODES.has(ns)) {
        out.push(SPAN_BREAK);
        return;
      }
    }
  }
  if (bar < 0) {
    const t = target.charCodeAt(0) === 0x3a ? target.slice(1) : target;
    out.push(t);
    return;
  }
  const label = inner.slice(lastBar + 1);
  if (label.length === 0) {
    // pipe trick [[Foo (bar)|]] shows "Foo"
    out.push(target.replace(/^:/, '').replace(/\s*\(.*\)\s*$/, '').replace(/^[^:]*:/, ''));
    return;
  }
  clean(label, 0, label.length, out);
}

/** A template call split at its top-level '|'s: the name (lowercased, '_' -> ' ') and its arguments. */
interface TemplateCall {
  name: string;
  /** Positional arguments, in order (untrimmed wikitext). */
  args: string[];
  /** Named arguments (`key=value`), keys trimmed and lowercased. */
  named: Map<string, string>;
}

function parseTemplate(inner: string): TemplateCall {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let k = 0; k < inner.length; k++) {
    const c = inner.charCodeAt(k);
    if ((c === 0x5b || c === 0x7b) && inner.charCodeAt(k + 1) === c) { depth++; k++; }
    else if ((c === 0x5d || c === 0x7d) && inner.charCodeAt(k + 1) === c) { depth--; k++; }
    else if (c === 0x7c && depth === 0) {
      parts.push(inner.slice(from, k));
      from = k + 1;
    }
  }
  parts.push(inner.slice(from));
  const name = parts[0]!.trim().replace(/_/g, ' ').replace(/\s+/g, ' ').toLowerCase();
  const args: string[] = [];
  const named = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    // '=' inside a nested link or template does not name the argument
    const nest = Math.min(...[p.indexOf('[['), p.indexOf('{{')].filter((x) => x >= 0), Infinity);
    if (eq > 0 && eq < nest && /^\s*[\w -]+\s*$/.test(p.slice(0, eq))) named.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1));
    else args.push(p);
  }
  return { name, args, named };
}

/** Convert's units (input unit code -> [singular, plural, symbol]), the common ones of articles. */
const UNITS: Record<string, [string, string, string]> = {
  m: ['metre', 'metres', 'm'], km: ['kilometre', 'kilometres', 'km'], cm: ['centimetre', 'centimetres', 'cm'],
  mm: ['millimetre', 'millimetres', 'mm'], ft: ['foot', 'feet', 'ft'], in: ['inch', 'inches', 'in'], mi: ['mile', 'miles', 'mi'],
  yd: ['yard', 'yards', 'yd'], nmi: ['nautical mile', 'nautical miles', 'nmi'], kg: ['kilogram', 'kilograms', 'kg'],
  g: ['gram', 'grams', 'g'], lb: ['pound', 'pounds', 'lb'], oz: ['ounce', 'ounces', 'oz'], t: ['tonne', 'tonnes', 't'],
  km2: ['square kilometre', 'square kilometres', 'km²'], m2: ['square metre', 'square metres', 'm²'],
  sqmi: ['square mile', 'square miles', 'sq mi'], sqft: ['square foot', 'square feet', 'sq ft'], ha: ['hectare', 'hectares', 'ha'],
  acre: ['acre', 'acres', 'acres'], l: ['litre', 'litres', 'L'], c: ['°C', '°C', '°C'], f: ['°F', '°F', '°F'],
  'km/h': ['kilometre per hour', 'kilometres per hour', 'km/h'], mph: ['mile per hour', 'miles per hour', 'mph'],
  kn: ['knot', 'knots', 'kn'], hp: ['horsepower', 'horsepower', 'hp'], kw: ['kilowatt', 'kilowatts', 'kW'],
};
const RANGE_WORDS = new Set(['to', 'and', 'or', '-', '–', 'x', 'by', 'and(-)', 'to(-)']);

/** `{{convert|9|m}}` -> "9 metres" (`abbr=on`: "9 m"); the conversion in parentheses is left out. */
function renderConvert(t: TemplateCall): string | undefined {
  const a = t.args.map((x) => x.trim());
  const num = (x: string | undefined) => x !== undefined && /^[-−+]?[\d.,]+(?:e\d+)?$/.test(x);
  if (!num(a[0])) return undefined;
  let value = a[0]!;
  let k = 1;
  while (RANGE_WORDS.has(a[k] ?? '') && num(a[k + 1])) {
    value += ` ${a[k]} ${a[k + 1]}`;
    k += 2;
  }
  const code = (a[k] ?? '').toLowerCase();
  const unit = Object.hasOwn(UNITS, code) ? UNITS[code] : undefined;
  if (!unit) return undefined;
  const abbr = (t.named.get('abbr') ?? '').trim() === 'on';
  return `${value} ${abbr ? unit[2] : value === '1' ? unit[0] : unit[1]}`;
}

/**
 * Templates whose visible text is prose and simple to get, and how: the wikitext to show, and
 * whether the template shows more than that (a language name, a conversion), in which case a break
 * follows (the counter makes no bigram across what it did not see).
 */
type Render = (t: TemplateCall) => { text: string; breakAfter: boolean } | undefined;
const RENDERED_TEMPLATES = new Map<string, Render>(Object.entries({
  lang: (t) => (t.args[1] !== undefined ? { text: t.args[1], breakAfter: false } : undefined),
  transl: (t) => (t.args.length >= 2 ? { text: t.args[t.args.length - 1]!, breakAfter: false } : undefined),
  nihongo: (t) => {
    const [en, ...rest] = t.args.slice(0, 3).map((x) => x.trim());
    const extra = rest.filter((x) => x.length > 0);
    if (!en && extra.length === 0) return undefined;
    return { text: en ? (extra.length > 0 ? `${en} (${extra.join(', ')})` : en) : extra.join(', '), breakAfter: true };
  },
  convert: (t) => {
    const text = renderConvert(t);
    return text === undefined ? undefined : { text, breakAfter: true };
  },
  ill: (t) => (t.args[0] !== undefined ? { text: t.args[0], breakAfter: true } : undefined),
  nowrap: (t) => (t.args[0] !== undefined ? { text: t.args[0], breakAfter: false } : undefined),
  abbr: (t) => (t.args[0] !== undefined ? { text: t.args[0], breakAfter: false } : undefined),
  ndash: () => ({ text: '–', breakAfter: false }),
  mdash: () => ({ text: '—', breakAfter: false }),
  snd: () => ({ text: ' – ', breakAfter: false }),
  nbsp: () => ({ text: ' ', breakAfter: false }),
} satisfies Record<string, Render>));
for (const alias of ['transliteration']) RENDERED_TEMPLATES.set(alias, RENDERED_TEMPLATES.get('transl')!);
for (const alias of ['cvt']) RENDERED_TEMPLATES.set(alias, RENDERED_TEMPLATES.get('convert')!);
for (const alias of ['nobr', 'small', 'smaller', 'big', 'larger', 'em', 'strong', 'var', 'sc', 'smallcaps', 'nowrap begin']) {
  RENDERED_TEMPLATES.set(alias, RENDERED_TEMPLATES.get('nowrap')!);
}
for (const alias of ['spaced ndash', 'spnd', 'spaced en dash']) RENDERED_TEMPLATES.set(alias, RENDERED_TEMPLATES.get('snd')!);
for (const alias of ['interlanguage link', 'interlanguage link multi']) RENDERED_TEMPLATES.set(alias, RENDERED_TEMPLATES.get('ill')!);

/** Handles `{{…}}` at i (closing at `close`): a prose template's text, or a break for any other. */
function template(s: string, i: number, close: number, out: string[]): void {
  let bar = s.indexOf('|', i + 2);
  if (bar < 0 || bar > close - 2) bar = close - 2;
  let head = s.slice(i + 2, bar).trim().toLowerCase();
  if (head.includes('_')) head = head.replace(/_/g, ' ');
  const render = RENDERED_TEMPLATES.get(head) ?? (head.startsWith('lang-') && /^lang-[a-z-]+$/.test(head) ? langX : undefined);
  const shown = render?.(parseTemplate(s.slice(i + 2, close - 2)));
  if (!shown) {
    out.push(SPAN_BREAK);
    return;
  }
  clean(shown.text, 0, shown.text.length, out);
  if (shown.breakAfter) out.push(SPAN_BREAK);
}

/** `{{lang-fr|text}}` shows "French: text": the text, after a break for the language name left out. */
function langX(t: TemplateCall): { text: string; breakAfter: boolean } | undefined {
  return t.args[0] !== undefined ? { text: `${SPAN_BREAK}${t.args[0]}`, breakAfter: false } : undefined;
}

/**
 * Index of the ']' closing the external link `[url label]` at i, -1 when it does not close on its
 * line. Wikilinks in the label (`[https://x.org a [[b]] c]`) are skipped whole.
 */
function externalLinkEnd(s: string, i: number, end: number): number {
  for (let j = i + 1; j < end; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x5d /* ] */) return j;
    if (c === 0x0a) return -1;
    if (c === 0x5b && s.charCodeAt(j + 1) === 0x5b) {
      const k = matchPair(s, j, end, 0x5b, 0x5d);
      if (k < 0) return -1;
      j = k - 1;
    }
  }
  return -1;
}

/**
 * Appends the plain text of s[start, end) to out.
 * Long on purpose: one pass over the text with one switch on the character that may start markup, the
 * loop every byte of the dump goes through; each case is a few lines and the larger constructs (links,
 * templates, tables, external links) are functions of their own.
 */
function clean(s: string, start: number, end: number, out: string[]): void {
  let run = start; // start of the pending run of plain text
  let i = start;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c >= 128 || SPECIAL[c] === 0) {
      i++;
      continue;
    }
    const c1 = s.charCodeAt(i + 1);
    let next = -1; // where to continue after a construct, -1 = not markup
    let emit: string | undefined;
    switch (c) {
      case 0x7b: // {
        if (c1 === 0x7b) {
          const j = matchPair(s, i, end, 0x7b, 0x7d);
          if (j < 0) next = i + 2;
          else {
            if (i > run) out.push(s.slice(run, i));
            template(s, i, j, out);
            run = i = j;
            continue;
          }
        } else if (c1 === 0x7c && atLineStart(s, i)) {
          next = skipTable(s, i, end);
          emit = SPAN_BREAK;
        }
        break;
      case 0x5b: // [
        if (c1 === 0x5b) {
          const j = matchPair(s, i, end, 0x5b, 0x5d);
          if (j < 0) next = i + 2;
          else {
            if (i > run) out.push(s.slice(run, i));
            link(s, i, j, out);
            run = i = j;
            continue;
          }
        } else if (s.startsWith('http', i + 1) || s.startsWith('//', i + 1) || s.startsWith('ftp', i + 1) || s.startsWith('mailto:', i + 1)) {
          const j = externalLinkEnd(s, i, end);
          if (j < 0) break; // a lone '[' followed by a URL: keep as text
          if (i > run) out.push(s.slice(run, i));
          const sp = s.indexOf(' ', i);
          if (sp >= 0 && sp < j) clean(s, sp + 1, j, out);
          run = i = j + 1;
          continue;
        }
        break;
      case 0x27: // ' : bold/italic quote runs of two or more
        if (c1 === 0x27) {
          let j = i + 2;
          while (j < end && s.charCodeAt(j) === 0x27) j++;
          next = j;
        }
        break;
      case 0x5f: // _ : magic words __TOC__
        if (c1 === 0x5f) {
          const m = /^__[A-Z]+__/.exec(s.slice(i, Math.min(end, i + 40)));
          if (m) {
            next = i + m[0].length;
            emit = SPAN_BREAK;
          }
        }
        break;
      case 0x26: { // & : entities (HTML5 named, numeric)
        const semi = s.indexOf(';', i);
        if (semi > i + 1 && semi - i <= 40 && semi < end) {
          const dec = entityAt(s, i, semi);
          if (dec !== undefined) {
            next = semi + 1;
            emit = dec;
          }
        }
        break;
      }
      case 0x3c: { // <
        if (c1 === 0x21 /* ! */ && s.startsWith('<!--', i)) {
          const j = s.indexOf('-->', i + 4);
          next = j < 0 || j >= end ? end : j + 3;
          emit = SPAN_BREAK;
          break;
        }
        const closing = c1 === 0x2f;
        const n0 = closing ? i + 2 : i + 1;
        if (!isAsciiLetter(s.charCodeAt(n0))) break;
        let n1 = n0 + 1;
        while (n1 < end) {
          const d = s.charCodeAt(n1);
          if (isAsciiLetter(d) || (d >= 0x30 && d <= 0x39) || d === 0x2d) n1++;
          else break;
        }
        const gt = s.indexOf('>', n1);
        const d = s.charCodeAt(n1);
        if (gt < 0 || gt >= end || !(d === 0x3e || d === 0x2f || d === 0x20 || d === 0x09 || d === 0x0a)) break;
        const name = s.slice(n0, n1).toLowerCase();
        const selfClosing = s.charCodeAt(gt - 1) === 0x2f;
        if (name === 'nowiki' && !closing) {
          // <nowiki>[[x]]</nowiki> shows "[[x]]": literal text (entities still decoded); <nowiki/> shows nothing
          next = gt + 1;
          if (!selfClosing) {
            const re = closeTagRe(name);
            re.lastIndex = gt + 1;
            const m = re.exec(s);
            if (m && m.index < end) {
              next = m.index + m[0].length;
              emit = decodeEntities(s.slice(gt + 1, m.index));
            }
          }
        } else if (!closing && DROP_TAGS.has(name)) {
          emit = SPAN_BREAK;
          if (selfClosing) next = gt + 1;
          else {
            const re = closeTagRe(name);
            re.lastIndex = gt + 1;
            const m = re.exec(s);
            next = m && m.index < end ? m.index + m[0].length : gt + 1;
          }
        } else {
          next = gt + 1;
          if (name === 'br' || name === 'p' || name === 'div' || name === 'li') emit = '\n';
        }
        break;
      }
    }
    if (next < 0) {
      i++;
      continue;
    }
    if (i > run) out.push(s.slice(run, i));
    if (emit !== undefined) out.push(emit);
    run = i = next;
  }
  if (end > run) out.push(s.slice(run, end));
}

/**
 * Plain text of an article's wikitext, one paragraph, heading or list item per line (see module doc).
 * Never throws: unbalanced markup is treated as text.
 */
export function wikitextToText(wikitext: string): string {
  const pieces: string[] = [];
  clean(wikitext, 0, wikitext.length, pieces);
  return pieces.join('');
}

/**
 * Calls `fn(text, from, to)` for each run of plain text the counter may pair words across: each line
 * with its line-level markup removed (heading '='s, list and indent markers), cut at every
 * SPAN_BREAK (where the cleaner dropped a span), skipping table residue and rules.
 */
export function forEachTextLine(text: string, fn: (line: string, from: number, to: number) => void): void {
  const n = text.length;
  let a = 0;
  while (a < n) {
    let b = text.indexOf('\n', a);
    if (b < 0) b = n;
    let from = a;
    let to = b;
    a = b + 1;
    while (from < to && isSpace(text.charCodeAt(from))) from++;
    while (to > from && isSpace(text.charCodeAt(to - 1))) to--;
    if (from === to) continue;
    let c = text.charCodeAt(from);
    if (c === 0x3d /* = heading */) {
      while (from < to && text.charCodeAt(from) === 0x3d) from++;
      while (to > from && (text.charCodeAt(to - 1) === 0x3d || isSpace(text.charCodeAt(to - 1)))) to--;
    } else if (c === 0x2a || c === 0x23 || c === 0x3a || c === 0x3b) {
      while (from < to && ((c = text.charCodeAt(from)) === 0x2a || c === 0x23 || c === 0x3a || c === 0x3b)) from++;
    } else if (c === 0x7c || c === 0x21 /* table rows left by a broken table */) continue;
    else if (c === 0x2d && text.startsWith('----', from)) continue;
    // segments between breaks
    let p = from;
    while (p < to) {
      let q = text.indexOf(SPAN_BREAK, p);
      if (q < 0 || q > to) q = to;
      let s0 = p;
      let s1 = q;
      while (s0 < s1 && isSpace(text.charCodeAt(s0))) s0++;
      while (s1 > s0 && isSpace(text.charCodeAt(s1 - 1))) s1--;
      if (s0 < s1) fn(text, s0, s1);
      p = q + 1;
    }
  }
}

/** Spaces trimmed around lines and segments (SPAN_BREAK included: a line may start or end with one). */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x2029;
}
