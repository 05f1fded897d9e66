/**
 * Does wink-nlp earn its cost in wit? Its tokenizer against wit's (src/text/tokenize.ts) on alt-text
 * like captions: load time and memory of wink-nlp with wink-eng-lite-web-model, tokens per second of
 * each, and whether wink's token types would tell the things the basic caption filters care about
 * (file names, URLs, hashtags, numbers) from words. The result is in README.md ("Dependencies").
 *
 *   npm run bench:wink [-- --captions 100000]
 */
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { wordTokens } from '../src/text/tokenize.js';
import { mulberry32 } from '../src/util/rng.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('captions', 100_000);

const WORDS = 'the a of and in to with on at for from by red blue old new small large black white dog cat house river mountain church bridge street portrait view city park garden'.split(' ');
const KINDS = ['file', 'url', 'hashtag', 'number', 'words'] as const;
type Kind = (typeof KINDS)[number];

/** Captions with one planted item of a known kind among ordinary words. */
function captions(n: number): Array<{ text: string; kind: Kind; item: string }> {
  const rnd = mulberry32(7);
  const pick = <T>(a: readonly T[]) => a[Math.floor(rnd() * a.length)]!;
  const out: Array<{ text: string; kind: Kind; item: string }> = [];
  for (let i = 0; i < n; i++) {
    const kind = pick(KINDS);
    const num = Math.floor(rnd() * 100000);
    const item = { file: `IMG_${num}.jpg`, url: `https://example.org/p/${num}.png`, hashtag: `#${pick(WORDS)}${num % 100}`, number: (num * 10).toLocaleString('en-US'), words: pick(WORDS) }[kind];
    const words = Array.from({ length: 4 + Math.floor(rnd() * 8) }, () => pick(WORDS));
    words.splice(Math.floor(rnd() * words.length), 0, item);
    out.push({ text: words.join(' '), kind, item });
  }
  return out;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const data = captions(N);
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const require = createRequire(import.meta.url);
const winkNLP = require('wink-nlp') as (model: unknown) => { readDoc(t: string): { tokens(): { out(f?: unknown): string[] } }; its: { type: unknown } };
const nlp = winkNLP(require('wink-eng-lite-web-model'));
const loadMs = performance.now() - t0;
nlp.readDoc('warm up');
const rssWink = process.memoryUsage().rss - rss0;

let tWit = Infinity;
let tWink = Infinity;
let witTokens = 0;
let winkTokens = 0;
for (let r = 0; r < 3; r++) {
  let c = cpuSeconds();
  witTokens = 0;
  for (const d of data) witTokens += wordTokens(d.text).length;
  tWit = Math.min(tWit, cpuSeconds() - c);
  c = cpuSeconds();
  winkTokens = 0;
  for (const d of data) winkTokens += nlp.readDoc(d.text).tokens().out().length;
  tWink = Math.min(tWink, cpuSeconds() - c);
}

// What wink's types say about the planted item: the type of the token(s) covering it.
const found: Record<Kind, Record<string, number>> = { file: {}, url: {}, hashtag: {}, number: {}, words: {} };
for (const d of data.slice(0, 5000)) {
  const doc = nlp.readDoc(d.text);
  const toks = doc.tokens().out();
  const types = doc.tokens().out(nlp.its.type);
  const k = toks.findIndex((t) => t === d.item || d.item.startsWith(t));
  const whole = toks[k] === d.item ? 'whole' : 'split';
  const key = k < 0 ? 'not found' : `${types[k]} (${whole})`;
  found[d.kind][key] = (found[d.kind][key] ?? 0) + 1;
}

console.log(`wink bench: ${N} alt-text-like captions; ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
console.log('tokenizer                         load ms  memory MB  tokens/s (CPU)   tokens');
console.log(`wit (src/text/tokenize.ts)        0        0          ${Math.round(witTokens / tWit).toLocaleString('en-US').padEnd(16)} ${witTokens}`);
console.log(`wink-nlp + eng-lite-web-model     ${loadMs.toFixed(0).padEnd(8)} ${(rssWink / 2 ** 20).toFixed(0).padEnd(10)} ${Math.round(winkTokens / tWink).toLocaleString('en-US').padEnd(16)} ${winkTokens}`);
console.log(`\nwink's token type for the planted item (5000 captions):`);
for (const k of KINDS) console.log(`  ${k.padEnd(8)} ${Object.entries(found[k]).map(([t, n]) => `${t}: ${n}`).join(', ')}`);
