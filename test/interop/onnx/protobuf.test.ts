// The protobuf encoder against the wire-format examples of the protobuf encoding guide
// (protobuf.dev/programming-guides/encoding): a varint field, a string field, a nested
// message, a packed repeated field, a negative int64, a float; and a deferred bytes field
// that lies about its length is caught.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { ProtoMessage, varint } from "../../../src/interop/onnx/protobuf.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test('the guide\'s examples: field 1 = 150, field 2 = "testing", field 3 = that first message, packed field 4 = [3, 270, 86942]', () => {
  assert.is(hex(new ProtoMessage().int(1, 150).toBytes()), "089601");
  assert.is(hex(new ProtoMessage().string(2, "testing").toBytes()), "120774657374696e67");
  assert.is(hex(new ProtoMessage().message(3, new ProtoMessage().int(1, 150)).toBytes()), "1a03089601");
  assert.is(hex(new ProtoMessage().packedInts(4, [3, 270, 86942]).toBytes()), "2206038e029ea705");
});

test("varints: 0, 1, 127, 128, 2^53 - 1, and -1 as ten bytes of two's complement", () => {
  assert.is(hex(varint(0)), "00");
  assert.is(hex(varint(1)), "01");
  assert.is(hex(varint(127)), "7f");
  assert.is(hex(varint(128)), "8001");
  assert.is(hex(varint(2 ** 53 - 1)), "ffffffffffffff0f");
  assert.is(hex(varint(-1)), "ffffffffffffffffff01");
  assert.throws(() => varint(2 ** 53), /not a safe integer/);
});

test("a float field is fixed32 little-endian; lengths count deferred bytes before they exist", () => {
  assert.is(hex(new ProtoMessage().float(2, 1).toBytes()), "150000803f");
  const produced: number[] = [];
  const m = new ProtoMessage().bytes(9, {
    length: 5,
    produce(emit) {
      produced.push(1);
      emit(Uint8Array.of(1, 2));
      emit(Uint8Array.of(3, 4, 5));
    },
  });
  assert.is(m.length, 7);
  assert.equal(produced, []); // nothing read until the message is written
  assert.is(hex(m.toBytes()), "4a050102030405");
  const liar = new ProtoMessage().bytes(9, { length: 4, produce: (emit) => emit(Uint8Array.of(1)) });
  assert.throws(() => liar.toBytes(), /produced 1 bytes, not the 4 it declared/);
});

test.run();
