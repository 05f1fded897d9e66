/**
 * Wikitext to plain text, the way WikiExtractor-style cleaners do it, in one hand-written pass
 * (a chain of regex replacements costs several times more on 90 GB of text):
 * - dropped with their content: templates `{{…}}` (infoboxes, citations, navboxes), tables `{| … |}`,
 *   `<ref>…</ref>` and other non-prose tags (math, code, gallery, …), comments, magic words,
 *   file/image/category/interlanguage links;
 * - kept as their visible text: links `[[target|label]]` -> label, `[[target]]` -> target,
 *   external links `[url label]` -> label, formatting tags (`<b>x</b>` -> x), headings, list items;
 * - removed markup: bold/italic quotes, list and indent markers, heading `=`s;
 * - HTML entities decoded (`&nbsp;` -> space, `&ndash;` -> –, numeric references).
 * Paragraph structure survives as lines: the counter never makes a bigram across a line break, so
 * a heading and the sentence under it do not form a pair.
 */

/** Tags whose content is not prose. */
const DROP_TAGS = new Set([
  'ref', 'references', 'math', 'chem', 'ce', 'code', 'syntaxhighlight', 'source', 'pre', 'gallery', 'timeline',
  'score', 'graph', 'mapframe', 'maplink', 'templatedata', 'templatestyles', 'imagemap', 'hiero', 'inputbox',
  'categorytree', 'charinsert', 'indicator', 'section', 'noinclude', 'includeonly', 'onlyinclude', 'style', 'script',
  'table', 'math-chem', 'phonos', 'langconvert', 'rss',
]);

/** Link namespaces whose links show nothing in the article text. */
const DROP_LINK_NS = new Set(['file', 'image', 'category', 'media', 'talk', 'template', 'module']);

const NAMED_ENTITIES: Record<string, string> = {
  nbsp: ' ', ensp: ' ', emsp: ' ', thinsp: ' ', hairsp: ' ', zwsp: '', shy: '', zwj: '', zwnj: '', lrm: '', rlm: '',
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", ndash: '–', mdash: '—', minus: '−', hellip: '…', times: '×',
  divide: '÷', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', laquo: '«', raquo: '»', deg: '°', middot: '·', bull: '•',
  prime: '′', Prime: '″', euro: '€', pound: '£', yen: '¥', cent: '¢', copy: '©', reg: '®', trade: '™', sect: '§',
  para: '¶', plusmn: '±', frac12: '½', frac14: '¼', frac34: '¾', sup2: '²', sup3: '³', micro: 'µ', alpha: 'α', beta: 'β',
  gamma: 'γ', delta: 'δ', pi: 'π', sigma: 'σ', mu: 'μ', lambda: 'λ', omega: 'ω', larr: '←', rarr: '→', harr: '↔',
  uarr: '↑', darr: '↓', le: '≤', ge: '≥', ne: '≠', asymp: '≈', infin: '∞', dagger: '†', Dagger: '‡', iexcl: '¡', iquest: '¿',
};

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
  const target = (bar < 0 ? inner : inner.slice(0, bar)).trim();
  if (target.charCodeAt(0) !== 0x3a /* ':' = a visible link to a namespace page */) {
    const colon = target.indexOf(':');
    if (colon > 0) {
      const ns = target.slice(0, colon).trim().toLowerCase();
      // File/Category/… and interlanguage links ([[fr:…]], [[zh-yue:…]]) render nothing inline
      if (DROP_LINK_NS.has(ns) || /^[a-z]{2,3}(-[a-z]+)*$/.test(ns) || ns === 'simple') return;
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

/** Appends the plain text of s[start, end) to out. */
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
          next = j < 0 ? i + 2 : j;
        } else if (c1 === 0x7c && atLineStart(s, i)) next = skipTable(s, i, end);
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
          let j = s.indexOf(']', i);
          const nl = s.indexOf('\n', i);
          if (j < 0 || j > end || (nl >= 0 && nl < j)) break; // a lone '[' followed by a URL: keep as text
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
          if (m) next = i + m[0].length;
        }
        break;
      case 0x26: { // & : entities
        const semi = s.indexOf(';', i);
        if (semi > i && semi - i <= 10 && semi < end) {
          const name = s.slice(i + 1, semi);
          if (name.charCodeAt(0) === 0x23 /* # */) {
            const hex = name.charCodeAt(1) === 0x78 || name.charCodeAt(1) === 0x58;
            const cp = hex ? parseInt(name.slice(2), 16) : Number(name.slice(1));
            if (Number.isInteger(cp) && cp > 0 && cp <= 0x10ffff) {
              next = semi + 1;
              emit = String.fromCodePoint(cp);
            }
          } else if (NAMED_ENTITIES[name] !== undefined) {
            next = semi + 1;
            emit = NAMED_ENTITIES[name];
          }
        }
        break;
      }
      case 0x3c: { // <
        if (c1 === 0x21 /* ! */ && s.startsWith('<!--', i)) {
          const j = s.indexOf('-->', i + 4);
          next = j < 0 || j >= end ? end : j + 3;
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
        if (!closing && !selfClosing && DROP_TAGS.has(name)) {
          const re = closeTagRe(name);
          re.lastIndex = gt + 1;
          const m = re.exec(s);
          next = m && m.index < end ? m.index + m[0].length : gt + 1;
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
 * Calls `fn(line, from, to)` for each line of plain text with its line-level markup removed
 * (heading '='s, list and indent markers), skipping table residue and rules. Used by the counter.
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
      while (to > from && text.charCodeAt(to - 1) === 0x3d) to--;
    } else if (c === 0x2a || c === 0x23 || c === 0x3a || c === 0x3b) {
      while (from < to && ((c = text.charCodeAt(from)) === 0x2a || c === 0x23 || c === 0x3a || c === 0x3b)) from++;
    } else if (c === 0x7c || c === 0x21 /* table rows left by a broken table */) continue;
    else if (c === 0x2d && text.startsWith('----', from)) continue;
    if (from < to) fn(text, from, to);
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d;
}
