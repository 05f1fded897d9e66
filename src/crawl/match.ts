/**
 * Whole-word matching of captions against hundreds of thousands of queries at once.
 *
 * A query matches a caption when its tokens (src/text/tokenize.ts) occur as a contiguous run of the
 * caption's tokens: MetaCLIP's space-padded substring match (`" query " in " caption "`), with every
 * punctuation character treated as its own word. Because matches are aligned on tokens, the automaton
 * runs over token ids instead of characters: the caption is scanned once, each token is interned
 * through the query vocabulary (a token no query contains resets the automaton), and an Aho–Corasick
 * automaton over token sequences reports every query ending at each token. All automaton state lives
 * in typed arrays, so 500,000 queries cost a few tens of MB and no per-node objects.
 */

/** Options of {@link QueryMatcher.build}. */
export interface MatcherOptions {
  /** Match case as written (MetaCLIP's behaviour). false lowercases queries and captions. Default true. */
  caseSensitive?: boolean;
}

const CLASS_OTHER = 0;
const CLASS_WORD = 1;
const CLASS_SPACE = 2;

const WORD_RE = /^[\p{L}\p{M}\p{N}]$/u;
const SPACE_RE = /^\s$/u;

/** Class of every BMP code unit; surrogates are classified per code point at scan time. */
const BMP_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(0x10000);
  for (let c = 0; c < 0x10000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c);
    if (WORD_RE.test(ch)) table[c] = CLASS_WORD;
    else if (SPACE_RE.test(ch)) table[c] = CLASS_SPACE;
  }
  return table;
})();

const astralClass = new Map<number, number>();
function classOfAstral(cp: number): number {
  let cls = astralClass.get(cp);
  if (cls === undefined) {
    cls = WORD_RE.test(String.fromCodePoint(cp)) ? CLASS_WORD : CLASS_OTHER;
    if (astralClass.size < 100_000) astralClass.set(cp, cls);
  }
  return cls;
}

/** Joiners kept inside a word when a word character follows: ' ’ - . (as TOKEN_RE in tokenize.ts). */
function isJoiner(c: number): boolean {
  return c === 0x27 || c === 0x2019 || c === 0x2d || c === 0x2e;
}

/**
 * Calls `fn(start, end)` for each token of `text`, exactly the tokens `wordTokens(text)` returns
 * (verified on random Unicode in test/crawl/match.test.ts), without a regex: the hot loop of matching.
 */
export function forEachTokenSpan(text: string, fn: (start: number, end: number) => void): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    let c = text.charCodeAt(i);
    let w = 1;
    let cls: number;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        w = 2;
        c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        cls = classOfAstral(c);
      } else cls = CLASS_OTHER;
    } else cls = BMP_CLASS[c]!;
    if (cls === CLASS_SPACE) {
      i += w;
      continue;
    }
    const start = i;
    i += w;
    if (cls === CLASS_OTHER) {
      fn(start, i);
      continue;
    }
    i = scanWord(text, i, n);
    fn(start, i);
  }
}

/** End of the word token whose first character ends before `i`: word chars, joiner + word chars. */
function scanWord(text: string, i: number, n: number): number {
  for (;;) {
    while (i < n) {
      const w = wordWidthAt(text, i, n);
      if (w === 0) break;
      i += w;
    }
    if (i + 1 < n && isJoiner(text.charCodeAt(i)) && wordWidthAt(text, i + 1, n) > 0) {
      i += 1;
      continue;
    }
    return i;
  }
}

/** Width in code units of the word character at `i`, 0 if it is not one. */
function wordWidthAt(text: string, i: number, n: number): number {
  const c = text.charCodeAt(i);
  if (c < 0xd800 || c > 0xdfff) return BMP_CLASS[c] === CLASS_WORD ? 1 : 0;
  if (c <= 0xdbff && i + 1 < n) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) {
      return classOfAstral(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000) === CLASS_WORD ? 2 : 0;
    }
  }
  return 0;
}

/** Tokens of `text` by the fast scanner (same result as `wordTokens`). */
export function fastTokens(text: string): string[] {
  const out: string[] = [];
  forEachTokenSpan(text, (s, e) => out.push(text.slice(s, e)));
  return out;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Aho–Corasick automaton over the token sequences of a query list. Build once, then `match` any
 * number of captions; matching allocates nothing but the result array.
 */
export class QueryMatcher {
  /** Number of queries (ids are 0 .. size-1, in the order given to `build`). */
  readonly size: number;
  private readonly queries: readonly string[];
  private readonly caseSensitive: boolean;
  /** Token string -> token id, over the tokens of all queries only. */
  private readonly vocab: Map<string, number>;
  /** Token id -> node reached from the root (-1: none). Depth-1 edges are the hot path. */
  private readonly rootNext: Int32Array;
  // Deeper edges: open-addressing hash keyed by (node, token).
  private readonly edgeMask: number;
  private readonly edgeNode: Int32Array;
  private readonly edgeToken: Int32Array;
  private readonly edgeChild: Int32Array;
  /** Failure link of each node. */
  private readonly fail: Int32Array;
  /** Nearest proper suffix node (via failure links) that ends a query; 0 when none. */
  private readonly outLink: Int32Array;
  /** First query ending at a node (-1: none); further ones chained through `nextQuery`. */
  private readonly firstQuery: Int32Array;
  private readonly nextQuery: Int32Array;
  /** Number of automaton nodes, root included (for reports). */
  readonly nodeCount: number;
  // Scratch for one match call.
  private state = 0;
  private hits: number[] = [];

  private constructor(queries: readonly string[], caseSensitive: boolean) {
    this.size = queries.length;
    this.queries = queries;
    this.caseSensitive = caseSensitive;
    this.vocab = new Map();

    // Tokenise every query once into one flat id array.
    const qStart = new Int32Array(queries.length + 1);
    let flat = new Int32Array(Math.max(16, queries.length * 2));
    let total = 0;
    for (let q = 0; q < queries.length; q++) {
      qStart[q] = total;
      const text = caseSensitive ? queries[q]! : queries[q]!.toLowerCase();
      forEachTokenSpan(text, (s, e) => {
        const tok = text.slice(s, e);
        let id = this.vocab.get(tok);
        if (id === undefined) {
          id = this.vocab.size;
          this.vocab.set(tok, id);
        }
        if (total === flat.length) {
          const bigger = new Int32Array(flat.length * 2);
          bigger.set(flat);
          flat = bigger;
        }
        flat[total++] = id;
      });
    }
    qStart[queries.length] = total;

    // Trie. Nodes are at most total + 1.
    const maxNodes = total + 1;
    const parent = new Int32Array(maxNodes);
    const depth = new Int32Array(maxNodes);
    const tokenOf = new Int32Array(maxNodes);
    this.rootNext = new Int32Array(this.vocab.size).fill(-1);
    const cap = nextPow2(Math.max(16, total * 2));
    this.edgeMask = cap - 1;
    this.edgeNode = new Int32Array(cap).fill(-1);
    this.edgeToken = new Int32Array(cap);
    this.edgeChild = new Int32Array(cap);
    this.firstQuery = new Int32Array(maxNodes).fill(-1);
    this.nextQuery = new Int32Array(queries.length).fill(-1);
    const lastQuery = new Int32Array(maxNodes).fill(-1);
    let nodes = 1;
    for (let q = 0; q < queries.length; q++) {
      const s = qStart[q]!;
      const e = qStart[q + 1]!;
      if (s === e) continue; // no tokens: can never match
      let v = 0;
      for (let k = s; k < e; k++) {
        const t = flat[k]!;
        let child = this.step(v, t);
        if (child < 0) {
          child = nodes++;
          parent[child] = v;
          depth[child] = depth[v]! + 1;
          tokenOf[child] = t;
          if (v === 0) this.rootNext[t] = child;
          else this.insertEdge(v, t, child);
        }
        v = child;
      }
      // Keep ids ascending along each node's chain.
      if (this.firstQuery[v] === -1) this.firstQuery[v] = q;
      else this.nextQuery[lastQuery[v]!] = q;
      lastQuery[v] = q;
    }
    this.nodeCount = nodes;

    // Failure and output links, breadth first (nodes sorted by depth with a counting sort).
    let maxDepth = 0;
    for (let v = 1; v < nodes; v++) if (depth[v]! > maxDepth) maxDepth = depth[v]!;
    const byDepthStart = new Int32Array(maxDepth + 2);
    for (let v = 1; v < nodes; v++) byDepthStart[depth[v]! + 1]!++;
    for (let d = 1; d <= maxDepth + 1; d++) byDepthStart[d]! += byDepthStart[d - 1]!;
    const order = new Int32Array(Math.max(0, nodes - 1));
    const fillPos = byDepthStart.slice();
    for (let v = 1; v < nodes; v++) order[fillPos[depth[v]!]!++] = v;
    this.fail = new Int32Array(nodes);
    this.outLink = new Int32Array(nodes);
    for (let k = 0; k < order.length; k++) {
      const v = order[k]!;
      if (depth[v] === 1) continue; // fail = root, outLink = 0
      const t = tokenOf[v]!;
      let f = this.fail[parent[v]!]!;
      let g = this.step(f, t);
      while (g < 0 && f !== 0) {
        f = this.fail[f]!;
        g = this.step(f, t);
      }
      const fv = g < 0 ? 0 : g;
      this.fail[v] = fv;
      this.outLink[v] = this.firstQuery[fv]! >= 0 ? fv : this.outLink[fv]!;
    }
  }

  /**
   * Builds the automaton for `queries` (ids are their indexes). Queries without any token never
   * match; duplicates each get their own id. Throws nothing.
   */
  static build(queries: readonly string[], opts: MatcherOptions = {}): QueryMatcher {
    return new QueryMatcher(queries.slice(), opts.caseSensitive ?? true);
  }

  /** The query with id `id` as given to `build`. Throws RangeError for an unknown id. */
  query(id: number): string {
    const q = this.queries[id];
    if (q === undefined) throw new RangeError(`crawl: no query with id ${id}`);
    return q;
  }

  /** Number of distinct tokens over all queries. */
  get vocabularySize(): number {
    return this.vocab.size;
  }

  private step(v: number, t: number): number {
    if (v === 0) return this.rootNext[t]!;
    const mask = this.edgeMask;
    let h = (Math.imul(v, 0x9e3779b1) ^ Math.imul(t, 0x85ebca77)) & mask;
    for (;;) {
      const n = this.edgeNode[h]!;
      if (n === -1) return -1;
      if (n === v && this.edgeToken[h] === t) return this.edgeChild[h]!;
      h = (h + 1) & mask;
    }
  }

  private insertEdge(v: number, t: number, child: number): void {
    const mask = this.edgeMask;
    let h = (Math.imul(v, 0x9e3779b1) ^ Math.imul(t, 0x85ebca77)) & mask;
    while (this.edgeNode[h] !== -1) h = (h + 1) & mask;
    this.edgeNode[h] = v;
    this.edgeToken[h] = t;
    this.edgeChild[h] = child;
  }

  /** Advances the automaton by one caption token (already case-folded when needed). */
  private feed(tok: string): void {
    const t = this.vocab.get(tok);
    if (t === undefined) {
      this.state = 0;
      return;
    }
    let v = this.state;
    let g = this.step(v, t);
    while (g < 0 && v !== 0) {
      v = this.fail[v]!;
      g = this.step(v, t);
    }
    if (g < 0) {
      this.state = 0;
      return;
    }
    this.state = g;
    for (let u = this.firstQuery[g]! >= 0 ? g : this.outLink[g]!; u > 0; u = this.outLink[u]!) {
      for (let q = this.firstQuery[u]!; q >= 0; q = this.nextQuery[q]!) this.hits.push(q);
    }
  }

  /**
   * Sorted unique ids of the queries occurring in `caption` as whole words (a contiguous run of
   * its tokens). Throws nothing.
   */
  match(caption: string): number[] {
    const text = this.caseSensitive ? caption : caption.toLowerCase();
    this.state = 0;
    const hits: number[] = [];
    this.hits = hits;
    // Inlined copy of forEachTokenSpan: a closure per caption costs ~20% here.
    const n = text.length;
    let i = 0;
    while (i < n) {
      let c = text.charCodeAt(i);
      let w = 1;
      let cls: number;
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          w = 2;
          c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
          cls = classOfAstral(c);
        } else cls = CLASS_OTHER;
      } else cls = BMP_CLASS[c]!;
      if (cls === CLASS_SPACE) {
        i += w;
        continue;
      }
      const start = i;
      i += w;
      if (cls === CLASS_WORD) i = scanWord(text, i, n);
      this.feed(text.slice(start, i));
    }
    if (hits.length > 1) {
      hits.sort((a, b) => a - b);
      let k = 1;
      for (let j = 1; j < hits.length; j++) if (hits[j] !== hits[k - 1]) hits[k++] = hits[j]!;
      hits.length = k;
    }
    return hits;
  }
}
