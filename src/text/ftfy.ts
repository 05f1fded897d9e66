/**
 * ftfy.fix_text with its default settings (ftfy 6, which open_clip's tokenizer runs before BPE), in
 * TypeScript: docs/ARCHITECTURE.md, "CLIP's text cleaning". The tables and the two heuristics'
 * patterns (BADNESS: "does this look like mojibake", UTF8_DETECTOR: runs of it inside other text)
 * come from ftfy itself through scripts/gen-ftfy-data.py; the steps are ftfy's, in its order:
 *
 *   per line: until nothing changes: unescape HTML (ftfy's: entities with a semicolon, some in
 *   capitals; off from the first line holding '<'), fix the encoding (text that was UTF-8 decoded
 *   as latin-1, sloppy windows-1252/1251/1250/1253/1254/1257, iso-8859-2, MacRoman or cp437: encode
 *   back, restore a0 bytes turned into spaces, mark lost bytes, decode as UTF-8 or CESU-8; else
 *   fix mojibake embedded in good text; else latin-1 read as windows-1252; else C1 controls as
 *   windows-1252), C1 controls, Latin ligatures, full-width forms, curly quotes, line breaks,
 *   surrogates, terminal escapes, control characters, NFC.
 *
 * Not repeated: ftfy's `explain` bookkeeping (nothing reads it) and segments longer than 10^6
 * characters being cut (captions never are).
 */
import { decodeHTML } from 'entities';
import { pyNfc } from './py-unicode.js';
import { BADNESS, ENCODINGS, ENTITIES, LIGATURES, UTF8_DETECTOR, WIDTH } from './ftfy-data.js';

const BADNESS_RE = new RegExp(BADNESS, 'u');
const UTF8_DETECTOR_RE = new RegExp(UTF8_DETECTOR, 'gu');
const ENTITY_TABLE = ENTITIES as Record<string, string>;
const LIGATURE_TABLE = LIGATURES as Record<string, string>;
const WIDTH_TABLE = WIDTH as Record<string, string>;

/** One single-byte encoding: byte -> character and back, and whether a text fits it. */
interface Charmap { name: string; decode: string; encode: Map<string, number> }

const CHARMAPS: Charmap[] = Object.entries(ENCODINGS as Record<string, string>).map(([name, decode]) => {
  const encode = new Map<string, number>();
  // What ftfy's possible_encoding allows: ASCII but 0x1a, and what bytes 0x80-0xff and 0x1a decode to.
  for (let b = 0; b < 0x80; b++) if (b !== 0x1a) encode.set(String.fromCharCode(b), b);
  for (const b of [0x1a, ...Array.from({ length: 128 }, (_, i) => 0x80 + i)]) if (!encode.has(decode[b]!)) encode.set(decode[b]!, b);
  return { name, decode, encode };
});

/** The text as bytes of `map` (one char per byte, a "binary string"), or undefined when a character does not fit. */
function encodeAs(text: string, map: Charmap): string | undefined {
  let out = '';
  for (const ch of text) {
    const b = map.encode.get(ch);
    if (b === undefined) return undefined;
    out += String.fromCharCode(b);
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
function decodeUtf8(bin: string): string | undefined {
  try {
    return utf8.decode(Buffer.from(bin, 'latin1'));
  } catch {
    return undefined;
  }
}

/** ftfy's utf-8-variants codec: CESU-8 surrogate pairs and Java's C0 80 for NUL, then UTF-8. */
function decodeUtf8Variants(bin: string): string | undefined {
  const fixed = bin
    .replace(/\xed([\xa0-\xaf])([\x80-\xbf])\xed([\xb0-\xbf])([\x80-\xbf])/g, (_m, a: string, b: string, c: string, d: string) => {
      const hi = 0xd000 | ((a.charCodeAt(0) & 0x3f) << 6) | (b.charCodeAt(0) & 0x3f);
      const lo = 0xd000 | ((c.charCodeAt(0) & 0x3f) << 6) | (d.charCodeAt(0) & 0x3f);
      return Buffer.from(String.fromCharCode(hi, lo), 'utf8').toString('latin1');
    })
    .replace(/\xc0\x80/g, '\x00');
  return decodeUtf8(fixed);
}

const ALTERED_UTF8_RE = /[\xc2\xc3\xc5\xce\xd0\xd9] |[\xe2\xe3] [\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf] |\xf0 [\x80-\xbf][\x80-\xbf]|\xf0[\x80-\xbf] [\x80-\xbf]|\xf0[\x80-\xbf][\x80-\xbf] /g;
const A_GRAVE_WORD_RE = /\xc3 (?! |quele|quela|quilo|s )/g;
const LOSSY_UTF8_RE = /[\xc2-\xdf]\x1a|[\xc2-\xc3]\?|\xed[\xa0-\xaf][\x1a?]\xed[\xb0-\xbf][\x1a?\x80-\xbf]|\xed[\xa0-\xaf][\x1a?\x80-\xbf]\xed[\xb0-\xbf][\x1a?]|[\xe0-\xef][\x1a?][\x1a\x80-\xbf]|[\xe0-\xef][\x1a\x80-\xbf][\x1a?]|[\xf0-\xf4][\x1a?][\x1a\x80-\xbf][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a?][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a\x80-\xbf][\x1a?]|\x1a/g;

function restoreByteA0(bin: string): string {
  return bin.replace(A_GRAVE_WORD_RE, '\xc3\xa0 ').replace(ALTERED_UTF8_RE, (m) => m.replace(/ /g, '\xa0'));
}

const C1_RE = /[\x80-\x9f]/g;
const WIN1252 = CHARMAPS.find((m) => m.name === 'sloppy-windows-1252')!.decode;
function fixC1Controls(text: string): string {
  return text.replace(C1_RE, (c) => WIN1252[c.charCodeAt(0)]!);
}

const codePoints = (s: string): number => { let n = 0; for (const _ of s) n++; return n; };

/** One step of ftfy's fix_encoding (see the module comment); returns the text unchanged when nothing applies. */
function fixEncodingStep(text: string): string {
  // eslint-disable-next-line no-control-regex
  if (text.length === 0 || /^[\x00-\x7f]*$/.test(text) || !BADNESS_RE.test(text)) return text;
  const possible = new Set<string>();
  for (const map of CHARMAPS) {
    let bin = encodeAs(text, map);
    if (bin === undefined) continue;
    possible.add(map.name);
    ALTERED_UTF8_RE.lastIndex = 0;
    if (map.name !== 'macroman' && ALTERED_UTF8_RE.test(bin)) bin = restoreByteA0(bin);
    if (map.name.startsWith('sloppy')) bin = bin.replace(LOSSY_UTF8_RE, '\xef\xbf\xbd');
    const fixed = bin.includes('\xed') || bin.includes('\xc0') ? decodeUtf8Variants(bin) : decodeUtf8(bin);
    if (fixed !== undefined) return fixed;
  }
  if (new RegExp(UTF8_DETECTOR_RE.source, 'u').test(text)) {
    const n = codePoints(text);
    const fixed = text.replace(UTF8_DETECTOR_RE, (sub) => (codePoints(sub) < n && BADNESS_RE.test(sub) ? fixEncoding(sub) : sub));
    if (fixed !== text) return fixed;
  }
  // Latin-1 meant as windows-1252 ("windows-1252" is never among ftfy's candidates, only its sloppy form).
  if (possible.has('latin-1')) {
    const bin = encodeAs(text, CHARMAPS[0]!)!;
    if (!/[\x81\x8d\x8f\x90\x9d]/.test(bin)) {
      const fixed = fixC1Controls(bin);
      if (fixed !== text) return fixed;
    }
  }
  C1_RE.lastIndex = 0;
  if (/[\x80-\x9f]/.test(text)) return fixC1Controls(text);
  return text;
}

/** ftfy.fix_encoding: steps until nothing changes. */
export function fixEncoding(text: string): string {
  for (;;) {
    const next = fixEncodingStep(text);
    if (next === text) return text;
    text = next;
  }
}

// Python's html.unescape: numeric references with the HTML5 replacements, named ones (longest legacy prefix).
const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;
const WIN1252_REFS: Record<number, string> = {
  0x00: '\ufffd', 0x0d: '\r', 0x80: '\u20ac', 0x81: '\x81', 0x82: '\u201a', 0x83: '\u0192', 0x84: '\u201e', 0x85: '\u2026', 0x86: '\u2020',
  0x87: '\u2021', 0x88: '\u02c6', 0x89: '\u2030', 0x8a: '\u0160', 0x8b: '\u2039', 0x8c: '\u0152', 0x8d: '\x8d', 0x8e: '\u017d', 0x8f: '\x8f',
  0x90: '\x90', 0x91: '\u2018', 0x92: '\u2019', 0x93: '\u201c', 0x94: '\u201d', 0x95: '\u2022', 0x96: '\u2013', 0x97: '\u2014', 0x98: '\u02dc',
  0x99: '\u2122', 0x9a: '\u0161', 0x9b: '\u203a', 0x9c: '\u0153', 0x9d: '\x9d', 0x9e: '\u017e', 0x9f: '\u0178',
};
function invalidCodepoint(n: number): boolean {
  return (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) || (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;
}

/** html.unescape of Python's standard library. */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF_RE, (whole, ref: string) => {
    if (ref[0] === '#') {
      const hex = ref[1] === 'x' || ref[1] === 'X';
      const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
      const num = parseInt(digits, hex ? 16 : 10);
      if (num in WIN1252_REFS) return WIN1252_REFS[num]!;
      if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff || !Number.isFinite(num)) return '\ufffd';
      if (invalidCodepoint(num)) return '';
      return String.fromCodePoint(num);
    }
    // Named: the whole name when it is one, else the longest legacy (no-semicolon) prefix, as the HTML5 table.
    return decodeHTML(whole);
  });
}

/** ftfy's unescape_html: entities ending in ';' (and some in capitals, &EACUTE;), numeric ones only when whole. */
function ftfyUnescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&#?[0-9A-Za-z]{1,24};/g, (m) => {
    const named = ENTITY_TABLE[m.slice(1, -1)];
    if (named !== undefined && m[1] !== '#') return named;
    if (m.startsWith('&#')) {
      const u = htmlUnescape(m);
      return u.includes(';') ? m : u;
    }
    return m;
  });
}

const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURE_TABLE).join('')}]`, 'gu');
const WIDTH_RE = new RegExp(`[${Object.keys(WIDTH_TABLE).map((c) => `\\u{${c.codePointAt(0)!.toString(16)}}`).join('')}]`, 'gu');
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
// eslint-disable-next-line no-control-regex
const ANSI_RE = /\u001b\[((?:\d|;)*)([a-zA-Z])/g;
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function fixSegment(text: string, unescape: boolean, encoding: boolean): string {
  for (;;) {
    const orig = text;
    if (unescape) text = ftfyUnescapeHtml(text);
    if (encoding) text = fixEncoding(text);
    text = fixC1Controls(text)
      .replace(LIGATURE_RE, (c) => LIGATURE_TABLE[c]!)
      .replace(WIDTH_RE, (c) => WIDTH_TABLE[c]!)
      .replace(/[\u02bc\u2018-\u201b]/g, "'")
      .replace(/[\u201c-\u201f]/g, '"')
      .replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\u0085]/g, '\n')
      .replace(LONE_SURROGATE_RE, '\ufffd')
      .replace(ANSI_RE, '')
      .replace(CONTROL_RE, '');
    text = pyNfc(text); // Python's NFC (Unicode 14), not ICU's: src/text/py-unicode.ts
    if (text === orig) return text;
  }
}

/**
 * ftfy.fix_text(text) with ftfy's defaults: line by line, HTML unescaping off from the first line
 * with '<' on. `fixEncoding: false` is ftfy's option of that name (no mojibake repair).
 */
export function fixText(text: string, opts: { fixEncoding?: boolean } = {}): string {
  const encoding = opts.fixEncoding ?? true;
  let out = '';
  let unescape = true;
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl + 1;
    const segment = text.slice(pos, end);
    if (unescape && segment.includes('<')) unescape = false;
    out += fixSegment(segment, unescape, encoding);
    pos = end;
  }
  return out;
}
