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
 *
 * Matching is bound by cache misses, so the tables are laid out for few of them: a token's slot
 * (one 64-byte line) also holds its transition from the root and that node's outputs, and each
 * state carries a 32-bit signature of its children's tokens that skips most edge-table probes.
 * bench/crawl-match.ts measures it against pyahocorasick.
 */

/** Options of {@link QueryMatcher.build}. */
export interface MatcherOptions {
  /** Match case as written (MetaCLIP's behaviour). false lowercases queries and captions. Default true. */
  caseSensitive?: boolean;
}

// Tokens come from the shared scanner, so the matcher agrees with querygen's counts by construction.
import { FNV_INIT, FNV_PRIME, nextToken, scanTokens, tokenSpan } from '../text/tokenize.js';


/** Finalises an FNV-1a state (murmur3 fmix) so the low bits index the table well. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h | 0;
}

/** FNV-1a over the UTF-16 code units of text[start, end), finalised. */
function hashSpan(text: string, start: number, end: number): number {
  let h = FNV_INIT;
  for (let k = start; k < end; k++) h = Math.imul(h ^ text.charCodeAt(k), FNV_PRIME);
  return fmix(h);
}

function insertionSort(a: number[]): void {
  for (let i = 1; i < a.length; i++) {
    const x = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]! > x) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = x;
  }
}

/** Signature bit of a token id: a multiplicative hash, so ids in sequence spread over the bits. */
function sigBit(t: number): number {
  return 1 << (Math.imul(t, 0x9e3779b1) >>> 27);
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

// Layouts of the interleaved tables (one random memory access per probe, not one per field).
/**
 * Token slot: hash, id (-1: empty), pool start, length, node reached from the root, that node's
 * first query + 1 and child signature (so the most common transition, from the root, needs no node
 * access), and the first 18 UTF-16 code units, two per int: 64 bytes, one cache line, and the pool
 * is only read for longer tokens.
 */
const TS = 16;
const T_HASH = 0;
const T_ID = 1;
const T_START = 2;
const T_LEN = 3;
const T_ROOT = 4;
const T_ROOT_QUERY = 5;
const T_ROOT_SIG = 6;
const T_CHARS = 7;
const INLINE_CHARS = 18;
/**
 * Node: failure link, output link, first query ending here (-1: none), and a 32-bit signature of
 * its children's tokens (bit sigBit(t) set for each child token t), which spares most edge-table
 * probes: those are cache misses, and most (node, token) pairs have no edge.
 */
const NS = 4;
const N_FAIL = 0;
const N_OUT = 1;
const N_QUERY = 2;
const N_SIG = 3;
/** Edge slot (below depth 1): parent node (-1: empty), token id, child node. */
const ES = 4;

/**
 * Aho–Corasick automaton over the token sequences of a query list. Build once, then `match` any
 * number of captions; matching allocates nothing but the result array.
 */
export class QueryMatcher {
  /** Number of queries (ids are 0 .. size-1, in the order given to `build`). */
  readonly size: number;
  /** Number of automaton nodes, root included (for reports). */
  readonly nodeCount: number;
  /** Number of distinct tokens over all queries. */
  readonly vocabularySize: number;
  private readonly queries: readonly string[];
  private readonly caseSensitive: boolean;
  // Token interning without allocating: an open-addressing table probed with a hash computed from
  // the caption's code units in place; tokens longer than INLINE_CHARS finish their compare in a pool.
  private readonly tokMask: number;
  private readonly tok: Int32Array;
  private readonly pool: Uint16Array;
  private readonly nodes: Int32Array;
  private readonly nextQuery: Int32Array;
  private readonly edgeMask: number;
  private readonly edges: Int32Array;
  // Scratch for one match call.
  private state = 0;
  /** Child signature of `state` (0: no children, the next token goes straight to its failure link). */
  private stateSig = 0;
  /** Failure link of `state`, cached as the signature is (0 for every depth-1 state). */
  private stateFail = 0;
  private hits: number[] = [];

  private constructor(queries: readonly string[], caseSensitive: boolean) {
    this.size = queries.length;
    this.queries = queries;
    this.caseSensitive = caseSensitive;
    const seqs = tokenizeQueries(queries, caseSensitive);
    this.vocabularySize = seqs.vocab.size;
    const trie = buildTrie(seqs, queries.length);
    this.nodeCount = trie.nodeCount;
    this.nextQuery = trie.nextQuery;
    this.edgeMask = trie.edges.mask;
    this.edges = trie.edges.slots;
    this.nodes = linkFailures(trie);
    const table = buildTokenTable(seqs.vocab, trie);
    this.tokMask = table.mask;
    this.tok = table.slots;
    this.pool = table.pool;
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

  /** Child of node `v` (not the root) by token `t`, -1 when none. */
  private edgeChild(v: number, t: number): number {
    return edgeChild(this.edges, this.edgeMask, v, t);
  }

  /** Slot offset of the token text[start, end) whose FNV state is `fnv`, -1 when no query has it. */
  private tokenSlot(text: string, start: number, end: number, fnv: number): number {
    const h = fmix(fnv);
    const len = end - start;
    const tab = this.tok;
    const mask = this.tokMask;
    let slot = h & mask;
    for (;;) {
      const b = slot * TS;
      if (tab[b + T_ID]! < 0) return -1;
      if (tab[b + T_HASH] === h && tab[b + T_LEN] === len) {
        let k = 0;
        const inline = len < INLINE_CHARS ? len : INLINE_CHARS;
        for (; k < inline; k++) {
          if (((tab[b + T_CHARS + (k >> 1)]! >>> ((k & 1) * 16)) & 0xffff) !== text.charCodeAt(start + k)) break;
        }
        if (k === inline) {
          const pool = this.pool;
          let p = tab[b + T_START]! + k;
          while (k < len && pool[p] === text.charCodeAt(start + k)) {
            p++;
            k++;
          }
          if (k === len) return b;
        }
      }
      slot = (slot + 1) & mask;
    }
  }

  /** Advances the automaton by the caption token text[start, end) and collects the queries ending there. */
  private feed(text: string, start: number, end: number, fnv: number): void {
    const b = this.tokenSlot(text, start, end, fnv);
    if (b < 0) {
      this.state = 0;
      this.stateSig = 0;
      return;
    }
    const nodes = this.nodes;
    let v = this.state;
    let g = -1;
    if (v !== 0) {
      const t = this.tok[b + T_ID]!;
      const bit = sigBit(t);
      if ((this.stateSig & bit) !== 0) g = this.edgeChild(v, t);
      if (g < 0) {
        v = this.stateFail;
        while (v !== 0) {
          if ((nodes[v * NS + N_SIG]! & bit) !== 0) {
            g = this.edgeChild(v, t);
            if (g >= 0) break;
          }
          v = nodes[v * NS + N_FAIL]!;
        }
      }
    }
    if (g < 0) {
      // From the root: the slot knows the child and its outputs.
      g = this.tok[b + T_ROOT]!;
      if (g < 0) {
        this.state = 0;
        this.stateSig = 0;
        return;
      }
      this.state = g;
      this.stateSig = this.tok[b + T_ROOT_SIG]!;
      this.stateFail = 0;
      for (let q = this.tok[b + T_ROOT_QUERY]! - 1; q >= 0; q = this.nextQuery[q]!) this.hits.push(q);
      return;
    }
    this.state = g;
    this.stateSig = nodes[g * NS + N_SIG]!;
    this.stateFail = nodes[g * NS + N_FAIL]!;
    let u = nodes[g * NS + N_QUERY]! >= 0 ? g : nodes[g * NS + N_OUT]!;
    while (u > 0) {
      for (let q = nodes[u * NS + N_QUERY]!; q >= 0; q = this.nextQuery[q]!) this.hits.push(q);
      u = nodes[u * NS + N_OUT]!;
    }
  }

  /**
   * Sorted unique ids of the queries occurring in `caption` as whole words (a contiguous run of
   * its tokens). Throws nothing.
   */
  match(caption: string): number[] {
    const text = this.caseSensitive ? caption : caption.toLowerCase();
    this.state = 0;
    this.stateSig = 0;
    const hits: number[] = [];
    this.hits = hits;
    const n = text.length;
    let i = 0;
    while (nextToken(text, i, n)) {
      i = tokenSpan[1]!;
      this.feed(text, tokenSpan[0]!, i, tokenSpan[3]!);
    }
    if (hits.length > 1) {
      if (hits.length <= 32) insertionSort(hits);
      else hits.sort((a, b) => a - b);
      let k = 1;
      for (let j = 1; j < hits.length; j++) if (hits[j] !== hits[k - 1]) hits[k++] = hits[j]!;
      hits.length = k;
    }
    return hits;
  }
}

/** Every query's tokens as ids into one flat array (query q is flat[start[q], start[q + 1])). */
interface QuerySequences {
  vocab: Map<string, number>;
  start: Int32Array;
  flat: Int32Array;
  total: number;
}

function tokenizeQueries(queries: readonly string[], caseSensitive: boolean): QuerySequences {
  const vocab = new Map<string, number>();
  const start = new Int32Array(queries.length + 1);
  let flat = new Int32Array(Math.max(16, queries.length * 2));
  let total = 0;
  for (let q = 0; q < queries.length; q++) {
    start[q] = total;
    const text = caseSensitive ? queries[q]! : queries[q]!.toLowerCase();
    scanTokens(text, (s, e) => {
      const tok = text.slice(s, e);
      let id = vocab.get(tok);
      if (id === undefined) {
        id = vocab.size;
        vocab.set(tok, id);
      }
      if (total === flat.length) {
        const bigger = new Int32Array(flat.length * 2);
        bigger.set(flat);
        flat = bigger;
      }
      flat[total++] = id;
    });
  }
  start[queries.length] = total;
  return { vocab, start, flat, total };
}

/** Open-addressing table of the edges below depth 1: (parent, token) -> child. */
interface EdgeTable {
  mask: number;
  slots: Int32Array;
}

/** Child of node `v` by token `t` in the edge table, -1 when none. */
function edgeChild(edges: Int32Array, mask: number, v: number, t: number): number {
  let h = (Math.imul(v, 0x9e3779b1) ^ Math.imul(t, 0x85ebca77)) & mask;
  for (;;) {
    const b = h * ES;
    const n = edges[b]!;
    if (n === -1) return -1;
    if (n === v && edges[b + 1] === t) return edges[b + 2]!;
    h = (h + 1) & mask;
  }
}

function insertEdge(table: EdgeTable, v: number, t: number, child: number): void {
  const { mask, slots } = table;
  let h = (Math.imul(v, 0x9e3779b1) ^ Math.imul(t, 0x85ebca77)) & mask;
  while (slots[h * ES] !== -1) h = (h + 1) & mask;
  slots[h * ES] = v;
  slots[h * ES + 1] = t;
  slots[h * ES + 2] = child;
}

/** The trie of the query sequences, in temporary per-field arrays (nodes are at most total + 1). */
interface Trie {
  nodeCount: number;
  parent: Int32Array;
  depth: Int32Array;
  tokenOf: Int32Array;
  sig: Int32Array;
  firstQuery: Int32Array;
  rootNext: Int32Array;
  nextQuery: Int32Array;
  edges: EdgeTable;
}

function buildTrie(seqs: QuerySequences, nQueries: number): Trie {
  const { start, flat, total } = seqs;
  const maxNodes = total + 1;
  const trie: Trie = {
    nodeCount: 1,
    parent: new Int32Array(maxNodes),
    depth: new Int32Array(maxNodes),
    tokenOf: new Int32Array(maxNodes),
    sig: new Int32Array(maxNodes),
    firstQuery: new Int32Array(maxNodes).fill(-1),
    rootNext: new Int32Array(seqs.vocab.size).fill(-1),
    nextQuery: new Int32Array(nQueries).fill(-1),
    edges: { mask: 0, slots: new Int32Array(0) },
  };
  const lastQuery = new Int32Array(maxNodes).fill(-1);
  // Each query's first token is a root edge, so at most sum(len - 1) edges live in the table.
  let deeper = 0;
  for (let q = 0; q < nQueries; q++) deeper += Math.max(0, start[q + 1]! - start[q]! - 1);
  const mask = nextPow2(Math.max(16, Math.ceil(deeper * 1.5))) - 1;
  trie.edges = { mask, slots: new Int32Array((mask + 1) * ES) };
  for (let k = 0; k < trie.edges.slots.length; k += ES) trie.edges.slots[k] = -1;
  for (let q = 0; q < nQueries; q++) {
    const s = start[q]!;
    const e = start[q + 1]!;
    if (s === e) continue; // no tokens: can never match
    let v = 0;
    for (let k = s; k < e; k++) {
      const t = flat[k]!;
      let child = trieStep(trie, v, t);
      if (child < 0) {
        child = trie.nodeCount++;
        trie.parent[child] = v;
        trie.depth[child] = trie.depth[v]! + 1;
        trie.tokenOf[child] = t;
        trie.sig[v]! |= sigBit(t);
        if (v === 0) trie.rootNext[t] = child;
        else insertEdge(trie.edges, v, t, child);
      }
      v = child;
    }
    // Ids ascend along each node's chain.
    if (trie.firstQuery[v] === -1) trie.firstQuery[v] = q;
    else trie.nextQuery[lastQuery[v]!] = q;
    lastQuery[v] = q;
  }
  return trie;
}

function trieStep(trie: Trie, v: number, t: number): number {
  return v === 0 ? trie.rootNext[t]! : edgeChild(trie.edges.slots, trie.edges.mask, v, t);
}

/** The node table: failure and output links, breadth first (nodes ordered by depth with a counting sort). */
function linkFailures(trie: Trie): Int32Array {
  const { nodeCount, depth, parent, tokenOf, firstQuery, sig } = trie;
  const nodes = new Int32Array(nodeCount * NS);
  let maxDepth = 0;
  for (let v = 1; v < nodeCount; v++) if (depth[v]! > maxDepth) maxDepth = depth[v]!;
  const fillPos = new Int32Array(maxDepth + 2);
  for (let v = 1; v < nodeCount; v++) fillPos[depth[v]! + 1]!++;
  for (let d = 1; d <= maxDepth + 1; d++) fillPos[d]! += fillPos[d - 1]!;
  const order = new Int32Array(Math.max(0, nodeCount - 1));
  for (let v = 1; v < nodeCount; v++) order[fillPos[depth[v]!]!++] = v;
  for (let v = 0; v < nodeCount; v++) {
    nodes[v * NS + N_QUERY] = firstQuery[v]!;
    nodes[v * NS + N_SIG] = sig[v]!;
  }
  for (let k = 0; k < order.length; k++) {
    const v = order[k]!;
    if (depth[v] === 1) continue; // fail = root, out = 0
    const t = tokenOf[v]!;
    let f = nodes[parent[v]! * NS + N_FAIL]!;
    let g = trieStep(trie, f, t);
    while (g < 0 && f !== 0) {
      f = nodes[f * NS + N_FAIL]!;
      g = trieStep(trie, f, t);
    }
    const fv = g < 0 ? 0 : g;
    nodes[v * NS + N_FAIL] = fv;
    nodes[v * NS + N_OUT] = firstQuery[fv]! >= 0 ? fv : nodes[fv * NS + N_OUT]!;
  }
  return nodes;
}

/** The token slots (see TS) and the pool of token characters. */
function buildTokenTable(vocab: Map<string, number>, trie: Trie): { mask: number; slots: Int32Array; pool: Uint16Array } {
  let poolLen = 0;
  for (const tok of vocab.keys()) poolLen += tok.length;
  const pool = new Uint16Array(poolLen);
  const mask = nextPow2(Math.max(16, Math.ceil(vocab.size * 1.5))) - 1;
  const tab = new Int32Array((mask + 1) * TS);
  for (let k = 0; k < tab.length; k += TS) tab[k + T_ID] = -1;
  let at = 0;
  for (const [tok, id] of vocab) {
    const h = hashSpan(tok, 0, tok.length);
    let slot = h & mask;
    while (tab[slot * TS + T_ID] !== -1) slot = (slot + 1) & mask;
    const b = slot * TS;
    tab[b + T_HASH] = h;
    tab[b + T_ID] = id;
    tab[b + T_START] = at;
    tab[b + T_LEN] = tok.length;
    const r = trie.rootNext[id]!;
    tab[b + T_ROOT] = r;
    // Depth-1 nodes have no output link: their own queries and children are all a transition needs.
    tab[b + T_ROOT_QUERY] = r < 0 ? 0 : trie.firstQuery[r]! + 1;
    tab[b + T_ROOT_SIG] = r < 0 ? 0 : trie.sig[r]!;
    for (let k = 0; k < Math.min(tok.length, INLINE_CHARS); k++) {
      tab[b + T_CHARS + (k >> 1)]! |= tok.charCodeAt(k) << ((k & 1) * 16);
    }
    for (let k = 0; k < tok.length; k++) pool[at++] = tok.charCodeAt(k);
  }
  return { mask, slots: tab, pool };
}
