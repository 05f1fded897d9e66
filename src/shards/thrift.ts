/**
 * Minimal Thrift compact-protocol encoder for the Parquet footer and page headers.
 * Only what the shard writer emits: i32, i64, binary/string, bool, lists, structs.
 */
const T_BOOL_TRUE = 1;
const T_BOOL_FALSE = 2;
const T_I32 = 5;
const T_I64 = 6;
const T_BINARY = 8;
const T_LIST = 9;
const T_STRUCT = 12;

/** A thrift value: numbers are i32 unless wrapped with `i64()`. */
export type ThriftValue = number | bigint | string | Uint8Array | boolean | ThriftStruct | ThriftValue[];
/** Field id -> value; undefined fields are skipped. */
export type ThriftStruct = { [fieldId: number]: ThriftValue | undefined };

/** Marks an integer to be written as i64. */
export function i64(n: number | bigint): bigint {
  return BigInt(n);
}

export class ThriftWriter {
  private buf = Buffer.allocUnsafe(1024);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  private varint(n: number): void {
    this.ensure(10);
    while (n > 0x7f) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }
  private varint64(n: bigint): void {
    this.ensure(10);
    let v = BigInt.asUintN(64, n);
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }
  private zigzag32(n: number): void {
    this.varint(((n << 1) ^ (n >> 31)) >>> 0);
  }
  private zigzag64(n: bigint): void {
    this.varint64((n << 1n) ^ (n >> 63n));
  }
  private bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  private typeOf(v: ThriftValue): number {
    if (typeof v === 'number') return T_I32;
    if (typeof v === 'bigint') return T_I64;
    if (typeof v === 'string' || v instanceof Uint8Array) return T_BINARY;
    if (typeof v === 'boolean') return v ? T_BOOL_TRUE : T_BOOL_FALSE;
    if (Array.isArray(v)) return T_LIST;
    return T_STRUCT;
  }

  private value(v: ThriftValue): void {
    if (typeof v === 'number') this.zigzag32(v);
    else if (typeof v === 'bigint') this.zigzag64(v);
    else if (typeof v === 'string') this.bytes(Buffer.from(v, 'utf8'));
    else if (v instanceof Uint8Array) this.bytes(v);
    else if (typeof v === 'boolean') this.byte(v ? 1 : 0); // only inside lists
    else if (Array.isArray(v)) {
      const et = v.length ? this.typeOf(v[0]!) : T_STRUCT;
      const elemType = et === T_BOOL_FALSE ? T_BOOL_TRUE : et;
      if (v.length < 15) this.byte((v.length << 4) | elemType);
      else {
        this.byte(0xf0 | elemType);
        this.varint(v.length);
      }
      for (const e of v) this.value(e);
    } else this.struct(v);
  }

  /** Writes a struct (fields in ascending id order) and its stop byte. */
  struct(s: ThriftStruct): this {
    let last = 0;
    const ids = Object.keys(s).map(Number).sort((a, b) => a - b);
    for (const id of ids) {
      const v = s[id];
      if (v === undefined) continue;
      const t = this.typeOf(v);
      const delta = id - last;
      if (delta > 0 && delta <= 15) this.byte((delta << 4) | t);
      else {
        this.byte(t);
        this.zigzag32(id);
      }
      if (typeof v !== 'boolean') this.value(v);
      last = id;
    }
    this.byte(0);
    return this;
  }

  /** The bytes written so far (a view, valid until the next write). */
  bytesView(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Encodes one struct to a fresh Buffer. */
export function encodeStruct(s: ThriftStruct): Buffer {
  return Buffer.from(new ThriftWriter().struct(s).bytesView());
}
