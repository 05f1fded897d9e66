/**
 * A protobuf writer for the few message shapes an ONNX model needs (docs/ARCHITECTURE.md, "ONNX").
 * A message is a list of byte parts with its total length known, so a 600 MB model is written as the
 * weights' own bytes (views of their Float32Arrays) between small headers, never copied into one buffer.
 * Field numbers are onnx.proto's (onnx/onnx, ONNX IR version 8).
 */

/** An encoded message: its parts in order and their total byte length. */
export class Message {
  readonly parts: Uint8Array[] = [];
  length = 0;

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }

  private tag(field: number, wire: number): void {
    this.push(varint(field * 8 + wire));
  }

  /** A varint field (int32, int64, enum, bool); negative numbers as 10-byte two's complement, as protobuf. */
  int(field: number, v: number | bigint): this {
    this.tag(field, 0);
    this.push(varint(v));
    return this;
  }

  /** A float (fixed32) field. */
  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  /** A string field (UTF-8). */
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** A bytes field, the bytes kept by reference. */
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2);
    this.push(varint(b.length));
    this.push(b);
    return this;
  }

  /** An embedded message field. */
  message(field: number, m: Message): this {
    this.tag(field, 2);
    this.push(varint(m.length));
    for (const p of m.parts) this.push(p);
    return this;
  }

  /** A packed repeated varint field (int64 dims, ints attributes). */
  packedInts(field: number, vs: readonly (number | bigint)[]): this {
    const body = new Message();
    for (const v of vs) body.push(varint(v));
    this.tag(field, 2);
    this.push(varint(body.length));
    for (const p of body.parts) this.push(p);
    return this;
  }

  /** A packed repeated float field. */
  packedFloats(field: number, vs: readonly number[]): this {
    const b = new Uint8Array(4 * vs.length);
    const dv = new DataView(b.buffer);
    vs.forEach((v, i) => dv.setFloat32(4 * i, v, true));
    return this.bytes(field, b);
  }
}

/** Varint bytes of a non-negative or negative integer (negative: 64-bit two's complement, 10 bytes). */
export function varint(v: number | bigint): Uint8Array {
  let x = BigInt.asUintN(64, BigInt(v));
  if (x < 128n) return Uint8Array.of(Number(x));
  const out: number[] = [];
  while (x >= 128n) {
    out.push(Number(x & 127n) | 128);
    x >>= 7n;
  }
  out.push(Number(x));
  return Uint8Array.from(out);
}

/** Concatenates a message's parts (for small messages and tests; large models are written part by part). */
export function concat(m: Message): Uint8Array {
  const out = new Uint8Array(m.length);
  let o = 0;
  for (const p of m.parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
