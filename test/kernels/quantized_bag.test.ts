// The wasm quantized embedding-bag kernel (kernels/quantized_bag.wat) against its TypeScript
// twin (src/kernels/ref.ts, embedding_bag_fwd_quantized), and the twin against the float32
// embedding_bag_fwd on the dequantized table: int8 and int4 rows, sum and mean, with and
// without per-lookup weights, empty bags, repeated ids, row lengths E that exercise the
// 16-float blocks, the 4-float blocks and the scalar tail (odd E: a half-used int4 byte),
// byte offsets of the table, element offsets of the output, every argument resident in wasm
// memory or staged from a plain array.
//
// Tolerance: none. Both compute x̂ = f32(f32(q·s) + β) and pool it as embedding_bag_fwd does
// (see the .wat's "Arithmetic"), so all three agree bit for bit.
//
// Glossary: B bags, E embedding dim, R table rows, L lookups.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { dequantizeRows, fusedRowBytes, quantizeRows, type QuantBits } from "../../src/kernels/fused_rows.ts";
import { defaultHeap, residentU8 } from "../../src/kernels/memory.ts";
import * as ref from "../../src/kernels/ref.ts";
import { POOL_MEAN, POOL_SUM } from "../../src/kernels/ref.ts";
import { embedding_bag_fwd_quantized, KernelError } from "../../src/kernels/wasm.ts";
import { wasmCalls, bagsArb, placeF32, placeI32, values, type Bags, type Where } from "./placement.ts";

/** Float bags (placement.ts's) with a layout; tableOff counts bytes here. */
type QuantBags = Bags & { bits: QuantBits };

const quantBagsArb: fc.Arbitrary<QuantBags> = fc
  .tuple(bagsArb, fc.constantFrom<QuantBits>(8, 4), fc.integer({ min: 0, max: 9 }))
  .map(([bags, bits, tableOff]) => ({ ...bags, bits, tableOff }));

/** The fused rows at byte tableOff of a resident or plain byte array, 0xa5 around them. */
function placeU8(data: Uint8Array, where: Where, off: number): Uint8Array {
  const n = off + data.length + 5;
  const arr = where === "resident" ? residentU8(defaultHeap(), n) : new Uint8Array(n);
  arr.fill(0xa5);
  arr.set(data, off);
  return arr;
}

function check(c: QuantBags): void {
  const L = c.indices.length;
  const floats = values(c.seed, c.R * c.E, -0.7, 0.9);
  const fused = quantizeRows(c.bits, floats, c.R, c.E, "t");
  const weights = c.weighted ? values(c.seed + 1, L, -2, 2) : null;
  const indices = Int32Array.from(c.indices);
  const offsets = Int32Array.from(c.offsets);

  const ow = placeF32(new Float32Array(c.B * c.E).fill(NaN), c.where.out, c.outOff); // all overwritten
  const before = Float32Array.from(ow);
  embedding_bag_fwd_quantized(
    c.B,
    c.E,
    c.mode,
    c.bits,
    placeU8(fused, c.where.table, c.tableOff),
    c.tableOff,
    placeI32(c.indices, c.where.indices),
    placeI32(c.offsets, c.where.offsets),
    weights === null ? null : placeF32(weights, c.where.weights, 0),
    ow,
    c.outOff,
  );

  const twin = new Float32Array(c.B * c.E);
  ref.embedding_bag_fwd_quantized(c.B, c.E, c.mode, c.bits, fused, 0, indices, offsets, weights, twin, 0);
  sameBits("wasm vs twin", ow, before, c.outOff, twin);

  // the twin is embedding_bag_fwd on the dequantized table
  const dequantized = new Float32Array(c.B * c.E);
  const table = dequantizeRows(c.bits, fused, c.R, c.E);
  ref.embedding_bag_fwd(c.B, c.E, c.mode, table, 0, indices, offsets, weights, dequantized, 0);
  sameBits("twin vs float32 bag of the dequantized table", twin, twin, 0, dequantized);
}

/** Inside [off, off + want.length): equal to want bit for bit; outside: untouched. */
function sameBits(what: string, got: Float32Array, before: Float32Array, off: number, want: Float32Array): void {
  for (let p = 0; p < got.length; p++) {
    const q = p - off;
    const inside = q >= 0 && q < want.length;
    const expected = inside ? want[q] : before[p];
    if (!Object.is(got[p], expected)) {
      throw new Error(
        inside
          ? `${what}: out[${q}] = ${got[p]}, expected ${expected}`
          : `${what}: element ${p} outside the extent changed`,
      );
    }
  }
}

test("embedding_bag_fwd_quantized: wasm equals the TS twin bit for bit, which equals the float32 bag of the dequantized table", () => {
  fc.assert(
    fc.property(quantBagsArb, (c) => check(c)),
    { seed: 1403, numRuns: 300 },
  );
});

test("embedding_bag_fwd_quantized: a resident table runs in wasm; a large plain one takes the twin, same answer", () => {
  const E = 16;
  for (const bits of [8, 4] as const) {
    const run = (R: number, where: Where): { out: Float32Array; want: Float32Array; calls: number } => {
      const fused = quantizeRows(bits, values(7, R * E), R, E, "t");
      const table = placeU8(fused, where, 0);
      const indices = Int32Array.of(5, R - 1, 123 % R);
      const offsets = Int32Array.of(0, 1, 3);
      const out = new Float32Array(2 * E);
      const calls = wasmCalls("embedding_bag_fwd_quantized_f32", () =>
        embedding_bag_fwd_quantized(2, E, POOL_SUM, bits, table, 0, indices, offsets, null, out, 0),
      );
      const want = new Float32Array(2 * E);
      ref.embedding_bag_fwd_quantized(2, E, POOL_SUM, bits, fused, 0, indices, offsets, null, want, 0);
      return { out, want, calls };
    };
    const resident = run(200_000, "resident");
    assert.is(resident.calls, 1, "a resident table should run in wasm");
    assert.equal(Array.from(resident.out), Array.from(resident.want));
    const plain = run(200_000, "plain"); // MBs of rows: staging them would cost more than the gather
    assert.is(plain.calls, 0);
    assert.equal(Array.from(plain.out), Array.from(plain.want));
  }
});

test("embedding_bag_fwd_quantized: out-of-range ids, bad offsets and bits are errors naming the lookup and bag", () => {
  const E = 2;
  const table = quantizeRows(8, new Float32Array(5 * E), 5, E, "t"); // 5 rows
  const out = new Float32Array(4);
  const isKernelError = (re: RegExp) => (e: unknown) => e instanceof KernelError && re.test(e.message);
  assert.throws(
    () =>
      embedding_bag_fwd_quantized(
        2,
        E,
        POOL_SUM,
        8,
        table,
        0,
        Int32Array.of(1, 0, 9),
        Int32Array.of(0, 1, 3),
        null,
        out,
        0,
      ),
    isKernelError(/embedding_bag_fwd_quantized: index 9 at lookup 2 \(bag 1\) is out of range for 5 table rows/),
  );
  assert.throws(
    () =>
      embedding_bag_fwd_quantized(
        2,
        E,
        POOL_SUM,
        8,
        table,
        0,
        Int32Array.of(1, 2),
        Int32Array.of(0, 2, 1),
        null,
        out,
        0,
      ),
    isKernelError(/offsets must rise .* offsets\[1\] = 2, offsets\[2\] = 1/),
  );
  assert.throws(
    () =>
      embedding_bag_fwd_quantized(
        1,
        E,
        POOL_SUM,
        2 as QuantBits,
        table,
        0,
        Int32Array.of(1),
        Int32Array.of(0, 1),
        null,
        out,
        0,
      ),
    isKernelError(/bits must be 8 or 4, got 2/),
  );
  // a table offset past the rows leaves fewer addressable rows
  assert.throws(
    () =>
      embedding_bag_fwd_quantized(
        1,
        E,
        POOL_SUM,
        8,
        table,
        fusedRowBytes(8, E),
        Int32Array.of(4),
        Int32Array.of(0, 1),
        null,
        out,
        0,
      ),
    isKernelError(/index 4 at lookup 0 \(bag 0\) is out of range for 4 table rows/),
  );
});

test("embedding_bag_fwd_quantized: a hand-computed int4 bag (sum of two rows, mean)", () => {
  // rows 0 … 15 and 15 … 0 (E = 16): scale 1, bias 0, so x̂ = x and their sum is 15 everywhere
  const E = 16;
  const up = Float32Array.from({ length: E }, (_, e) => e);
  const down = Float32Array.from({ length: E }, (_, e) => E - 1 - e);
  const table = new Uint8Array(2 * fusedRowBytes(4, E));
  quantizeRows(4, up, 1, E, "t", table, 0);
  quantizeRows(4, down, 1, E, "t", table, fusedRowBytes(4, E));
  const out = new Float32Array(2 * E);
  embedding_bag_fwd_quantized(
    2,
    E,
    POOL_MEAN,
    4,
    table,
    0,
    Int32Array.of(0, 1, 1),
    Int32Array.of(0, 2, 3),
    null,
    out,
    0,
  );
  assert.equal(Array.from(out.subarray(0, E)), new Array(E).fill(7.5));
  assert.equal(Array.from(out.subarray(E)), Array.from(down));
});

test.run();
