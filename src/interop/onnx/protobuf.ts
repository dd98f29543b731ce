// A protocol-buffers (proto2/proto3 wire format) encoder: enough to write ONNX models, with
// no dependency. A message is built field by field into a list of pieces; a bytes field may
// be a deferred source (a table read from a checkpoint piece by piece as the file is
// written), so a message never has to exist as one buffer and its length is known before
// its bytes are.
//
// Wire format (protobuf.dev/programming-guides/encoding): each field is a key
// varint(field << 3 | wire type), then its value: wire type 0 a varint, 2 a varint length
// and that many bytes (strings, bytes, nested messages, packed repeated scalars), 5 four
// little-endian bytes (float). A negative int64 is its 64-bit two's complement as a
// ten-byte varint.

/** Bytes produced on demand: `length` of them, handed to `emit` in chunks, in order. */
export interface DeferredBytes {
  readonly length: number;
  produce(emit: (chunk: Uint8Array) => void): void;
}

type Piece = Uint8Array | DeferredBytes;

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** The varint encoding of an integer (a safe integer, negative ones as 64-bit two's complement). */
export function varint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value)) throw new Error(`protobuf: varint ${value} is not a safe integer`);
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(value));
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? low : low | 0x80);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

const utf8 = new TextEncoder();

/** One message under construction: append fields in field-number order, then nest or write it. */
export class ProtoMessage {
  readonly #pieces: Piece[] = [];
  #length = 0;

  /** Bytes of the encoded message. */
  get length(): number {
    return this.#length;
  }

  #push(p: Piece): void {
    this.#pieces.push(p);
    this.#length += p.length;
  }

  #key(field: number, wire: number): void {
    this.#push(varint(field * 8 + wire));
  }

  /** An integer field (int32, int64, enum, bool as 0/1). */
  int(field: number, value: number): this {
    this.#key(field, WIRE_VARINT);
    this.#push(varint(value));
    return this;
  }

  /** A float field (fixed32). */
  float(field: number, value: number): this {
    this.#key(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.#push(b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  bytes(field: number, value: Uint8Array | DeferredBytes): this {
    this.#key(field, WIRE_LEN);
    this.#push(varint(value.length));
    this.#push(value);
    return this;
  }

  /** A nested message. */
  message(field: number, m: ProtoMessage): this {
    this.#key(field, WIRE_LEN);
    this.#push(varint(m.length));
    for (const p of m.#pieces) this.#push(p);
    return this;
  }

  /** A packed repeated integer field (one length-delimited run of varints). */
  packedInts(field: number, values: readonly number[]): this {
    const run = values.map(varint);
    const bytes = new Uint8Array(run.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of run) {
      bytes.set(r, at);
      at += r.length;
    }
    return this.bytes(field, bytes);
  }

  /** A packed repeated float field. */
  packedFloats(field: number, values: readonly number[]): this {
    const bytes = new Uint8Array(4 * values.length);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setFloat32(4 * i, v, true));
    return this.bytes(field, bytes);
  }

  /** The encoded message, chunk by chunk, in order (deferred sources produce theirs now). */
  emit(write: (chunk: Uint8Array) => void): void {
    for (const p of this.#pieces) {
      if (p instanceof Uint8Array) write(p);
      else {
        let produced = 0;
        p.produce((chunk) => {
          produced += chunk.length;
          write(chunk);
        });
        if (produced !== p.length)
          throw new Error(`protobuf: a deferred field produced ${produced} bytes, not the ${p.length} it declared`);
      }
    }
  }

  /** The encoded message as one buffer (small messages and tests). */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let at = 0;
    this.emit((chunk) => {
      out.set(chunk, at);
      at += chunk.length;
    });
    return out;
  }
}
