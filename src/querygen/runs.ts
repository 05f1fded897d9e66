/**
 * Sorted runs of (key, count) on disk: what the counters spill when their maps reach the memory
 * budget, and what the k-way merge reads back. Keys are front-coded (shared prefix with the previous
 * key, then the rest), which halves the bytes of sorted n-grams ("New York", "New Zealand", …).
 *
 * Entry: varint(shared prefix bytes) varint(suffix bytes) suffix (UTF-8) varint(count).
 * Keys are in JavaScript string order (UTF-16 code units, what Array.prototype.sort gives).
 */
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';

const BLOCK = 1 << 20;

/** Writes one sorted run. Keys must come in ascending string order. */
export class RunWriter {
  private fd: number;
  private buf = Buffer.allocUnsafe(BLOCK + 64);
  private pos = 0;
  private prev = Buffer.allocUnsafe(256);
  private prevLen = 0;
  private cur = Buffer.allocUnsafe(256);
  entries = 0;
  bytes = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  private varint(v: number): void {
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  /** Appends one entry. */
  add(key: string, count: number): void {
    const max = key.length * 3;
    if (this.cur.length < max) this.cur = Buffer.allocUnsafe(max * 2);
    const len = this.cur.write(key, 0, 'utf8');
    let p = 0;
    const lim = Math.min(len, this.prevLen);
    const a = this.cur;
    const b = this.prev;
    while (p < lim && a[p] === b[p]) p++;
    if (this.pos + len + 32 > this.buf.length) {
      this.flush();
      if (len + 32 > this.buf.length) this.buf = Buffer.allocUnsafe(len + 64);
    }
    this.varint(p);
    this.varint(len - p);
    a.copy(this.buf, this.pos, p, len);
    this.pos += len - p;
    this.varint(count);
    this.cur = b;
    this.prev = a;
    this.prevLen = len;
    this.entries++;
    if (this.pos >= BLOCK) this.flush();
  }

  private flush(): void {
    if (this.pos === 0) return;
    let off = 0;
    while (off < this.pos) off += writeSync(this.fd, this.buf, off, this.pos - off);
    this.bytes += this.pos;
    this.pos = 0;
  }

  /** Flushes and closes the file. */
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** Reads a run written by RunWriter, one entry at a time (`next()` then `key`/`count`). */
export class RunReader {
  private fd: number;
  private buf: Buffer;
  private pos = 0;
  private len = 0;
  private eof = false;
  private keyBuf = Buffer.allocUnsafe(256);
  private keyLen = 0;
  key = '';
  count = 0;

  /** `block`: read buffer size (smaller when hundreds of runs are merged at once). */
  constructor(readonly path: string, block = BLOCK) {
    this.fd = openSync(path, 'r');
    this.buf = Buffer.allocUnsafe(block);
  }

  /** Makes at least n bytes available unless the file ends first. */
  private ensure(n: number): boolean {
    if (this.len - this.pos >= n) return true;
    if (this.eof) return false;
    if (n > this.buf.length) {
      const nb = Buffer.allocUnsafe(n * 2);
      this.buf.copy(nb, 0, this.pos, this.len);
      this.buf = nb;
    } else this.buf.copy(this.buf, 0, this.pos, this.len);
    this.len -= this.pos;
    this.pos = 0;
    while (this.len < n && !this.eof) {
      const r = readSync(this.fd, this.buf, this.len, this.buf.length - this.len, null);
      if (r === 0) this.eof = true;
      this.len += r;
    }
    return this.len - this.pos >= n;
  }

  private varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (!this.ensure(1)) throw new Error(`run file ${this.path} is truncated`);
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
  }

  /** Advances to the next entry; false at the end (the file is then closed). */
  next(): boolean {
    if (!this.ensure(1)) {
      this.close();
      return false;
    }
    const shared = this.varint();
    const suffix = this.varint();
    const len = shared + suffix;
    if (this.keyBuf.length < len) {
      const nb = Buffer.allocUnsafe(len * 2);
      this.keyBuf.copy(nb, 0, 0, this.keyLen);
      this.keyBuf = nb;
    }
    if (!this.ensure(suffix)) throw new Error(`run file ${this.path} is truncated`);
    this.buf.copy(this.keyBuf, shared, this.pos, this.pos + suffix);
    this.pos += suffix;
    this.keyLen = len;
    this.key = this.keyBuf.toString('utf8', 0, len);
    this.count = this.varint();
    return true;
  }

  /** Closes the file (idempotent). */
  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/**
 * K-way merge of sorted runs: calls `fn(key, total)` once per distinct key, in ascending order, with
 * the sum of its counts over all runs. Returns the number of distinct keys. Throws on an unreadable run.
 */
export function mergeRuns(paths: string[], fn: (key: string, count: number) => void): number {
  // read buffers share ~64 MB, so memory does not grow with the number of runs
  const block = Math.max(64 * 1024, Math.min(BLOCK, Math.floor((64 << 20) / Math.max(1, paths.length))));
  const readers = paths.map((p) => new RunReader(p, block)).filter((r) => r.next());
  // binary min-heap on the readers' current keys
  const heap = readers;
  const less = (a: RunReader, b: RunReader) => a.key < b.key;
  const down = (i: number) => {
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const m = r < n && less(heap[r]!, heap[l]!) ? r : l;
      if (!less(heap[m]!, heap[i]!)) return;
      const t = heap[m]!;
      heap[m] = heap[i]!;
      heap[i] = t;
      i = m;
    }
  };
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  let distinct = 0;
  while (heap.length > 0) {
    const key = heap[0]!.key;
    let total = 0;
    while (heap.length > 0 && heap[0]!.key === key) {
      const top = heap[0]!;
      total += top.count;
      if (!top.next()) {
        const last = heap.pop()!;
        if (heap.length > 0 && last !== top) heap[0] = last;
      }
      if (heap.length > 0) down(0);
    }
    fn(key, total);
    distinct++;
  }
  return distinct;
}

/**
 * mergeRuns over any number of runs with at most `fanIn` files open at once: groups are first merged
 * into intermediate runs beside `tmpPrefix`. Input runs are deleted once merged (they can be many
 * GB on a full Wikipedia). Returns the number of distinct keys.
 */
export function mergeRunsBounded(paths: string[], fn: (key: string, count: number) => void, fanIn: number, tmpPrefix: string): number {
  let level = paths;
  let round = 0;
  while (level.length > fanIn) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += fanIn) {
      const group = level.slice(i, i + fanIn);
      const w = new RunWriter(`${tmpPrefix}-m${round}-${next.length}.run`);
      mergeRuns(group, (k, c) => w.add(k, c));
      w.close();
      for (const g of group) rmSync(g, { force: true });
      next.push(w.path);
    }
    level = next;
    round++;
  }
  const n = mergeRuns(level, fn);
  for (const g of level) rmSync(g, { force: true });
  return n;
}
