// The wasm embedding-bag kernels against the reference ones (src/kernels/ref.ts): sum and
// mean, with and without per-lookup weights, empty bags, repeated ids, row lengths E that
// exercise the 16-float blocks, the 4-float blocks and the scalar tail, element offsets, and
// every argument resident in wasm memory or staged from a plain array.
//
// Tolerance: none. The wasm kernels add each term and round it to float32 in lookup order,
// with the f64 products and scales of the reference, so the results must be identical bit
// for bit (see kernels/embedding_bag.wat, "Arithmetic").

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import * as ref from "../../src/kernels/ref.ts";
import { POOL_MEAN, POOL_SUM } from "../../src/kernels/ref.ts";
import { embedding_bag_bwd, embedding_bag_fwd, KernelError } from "../../src/kernels/wasm.ts";
import { wasmCalls, bagsArb, placeF32, placeI32, values, type Bags } from "./placement.ts";

function checkFwd(c: Bags): void {
  const L = c.indices.length;
  const table = values(c.seed, c.R * c.E);
  const weights = c.weighted ? values(c.seed + 1, L, -2, 2) : null;
  const tw = placeF32(table, c.where.table, c.tableOff);
  const ow = placeF32(new Float32Array(c.B * c.E).fill(NaN), c.where.out, c.outOff); // all overwritten
  const before = Float32Array.from(ow);
  embedding_bag_fwd(
    c.B,
    c.E,
    c.mode,
    tw,
    c.tableOff,
    placeI32(c.indices, c.where.indices),
    placeI32(c.offsets, c.where.offsets),
    weights === null ? null : placeF32(weights, c.where.weights, 0),
    ow,
    c.outOff,
  );

  const want = new Float32Array(c.B * c.E);
  ref.embedding_bag_fwd(
    c.B,
    c.E,
    c.mode,
    table,
    0,
    Int32Array.from(c.indices),
    Int32Array.from(c.offsets),
    weights,
    want,
    0,
  );
  sameBits("out", ow, before, c.outOff, want);
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
          ? `${what}[${q}] = ${got[p]}, reference ${expected}`
          : `${what}: element ${p} outside the extent changed`,
      );
    }
  }
}

function checkBwd(c: Bags): void {
  const L = c.indices.length;
  // slots: each lookup's position in the list of unique ids (first-seen order)
  const unique: number[] = [];
  const slotOf = new Map<number, number>();
  const slots = c.indices.map((id) => {
    let s = slotOf.get(id);
    if (s === undefined) {
      s = unique.length;
      slotOf.set(id, s);
      unique.push(id);
    }
    return s;
  });
  const U = unique.length;
  const dout = values(c.seed, c.B * c.E);
  const weights = c.weighted ? values(c.seed + 1, L, -2, 2) : null;
  const grad0 = values(c.seed + 2, U * c.E); // gradients accumulate into what is there
  const gw = placeF32(grad0, c.where.out, c.outOff);
  const before = Float32Array.from(gw);
  embedding_bag_bwd(
    c.B,
    c.E,
    c.mode,
    placeF32(dout, c.where.table, c.tableOff),
    c.tableOff,
    placeI32(c.offsets, c.where.offsets),
    placeI32(slots, c.where.indices),
    weights === null ? null : placeF32(weights, c.where.weights, 0),
    gw,
    c.outOff,
  );

  const want = Float32Array.from(grad0);
  ref.embedding_bag_bwd(
    c.B,
    c.E,
    c.mode,
    dout,
    0,
    Int32Array.from(c.offsets),
    Int32Array.from(slots),
    weights,
    want,
    0,
  );
  sameBits("gradRows", gw, before, c.outOff, want);
}

test("embedding_bag_fwd: wasm equals ref bit for bit (sum/mean, weights, empty bags, repeated ids, tails, placements)", () => {
  fc.assert(
    fc.property(bagsArb, (c) => checkFwd(c)),
    { seed: 4201, numRuns: 150 },
  );
});

test("embedding_bag_bwd: wasm equals ref bit for bit, summing repeated ids into their unique rows", () => {
  fc.assert(
    fc.property(bagsArb, (c) => checkBwd(c)),
    { seed: 4202, numRuns: 150 },
  );
});

test("embedding_bag_fwd: hand-computed bags (weighted mean, empty bag, repeated id)", () => {
  // table rows: r0 = (1, 2), r1 = (10, 20), r2 = (100, 200)
  const table = Float32Array.of(1, 2, 10, 20, 100, 200);
  const indices = Int32Array.of(0, 2, 1, 1);
  const offsets = Int32Array.of(0, 2, 2, 4); // bags {0, 2}, {}, {1, 1}
  const weights = Float32Array.of(1, 0.5, 2, 4);
  const out = new Float32Array(6).fill(7);
  embedding_bag_fwd(3, 2, POOL_MEAN, table, 0, indices, offsets, weights, out, 0);
  // bag 0: (1·r0 + 0.5·r2)/2 = (25.5, 51); bag 1: zeros; bag 2: (2·r1 + 4·r1)/2 = (30, 60)
  assert.equal(Array.from(out), [25.5, 51, 0, 0, 30, 60]); // exact in float32
});

test("embedding_bag_fwd: a large plain table with few lookups takes the reference path, same answer", () => {
  const E = 4;
  const run = (R: number): { out: Float32Array; want: Float32Array; calls: number } => {
    const table = values(9, R * E);
    const indices = Int32Array.of(5, R - 1, 123 % R);
    const offsets = Int32Array.of(0, 1, 3);
    const out = new Float32Array(2 * E);
    const calls = wasmCalls("embedding_bag_fwd_f32", () =>
      embedding_bag_fwd(2, E, POOL_SUM, table, 0, indices, offsets, null, out, 0),
    );
    const want = new Float32Array(2 * E);
    ref.embedding_bag_fwd(2, E, POOL_SUM, table, 0, indices, offsets, null, want, 0);
    return { out, want, calls };
  };
  const large = run(300_000); // 4.8 MB at E = 4: staging it would cost more than the gather
  assert.is(large.calls, 0, "the wasm kernel ran on a large plain table");
  assert.equal(Array.from(large.out), Array.from(large.want)); // tolerance: none, the reference computed it
  const small = run(1000); // 16 KB: staged and run in wasm (the spy sees the kernel)
  assert.is(small.calls, 1, "a small plain table should be staged and run in wasm");
  assert.equal(Array.from(small.out), Array.from(small.want));
});

test("embedding_bag_fwd/bwd: float64 arrays go to the reference and give its exact result", () => {
  const table = Float64Array.of(1, 2, 3, 4, 5, 6);
  const indices = Int32Array.of(2, 0);
  const offsets = Int32Array.of(0, 2);
  const out = new Float64Array(2);
  embedding_bag_fwd(1, 2, POOL_SUM, table, 0, indices, offsets, null, out, 0);
  assert.equal(Array.from(out), [6, 8]);
  const g = new Float64Array(4);
  embedding_bag_bwd(1, 2, POOL_MEAN, Float64Array.of(2, 4), 0, offsets, Int32Array.of(0, 1), null, g, 0);
  assert.equal(Array.from(g), [1, 2, 1, 2]);
});

test("embedding_bag: out-of-range ids and slots, bad offsets and short arrays are errors naming the lookup and bag", () => {
  const table = new Float32Array(10); // 5 rows of 2
  const out = new Float32Array(4);
  const isKernelError = (re: RegExp) => (e: unknown) => e instanceof KernelError && re.test(e.message);
  assert.throws(
    () => embedding_bag_fwd(2, 2, POOL_SUM, table, 0, Int32Array.of(1, 0, 9), Int32Array.of(0, 1, 3), null, out, 0),
    isKernelError(/embedding_bag_fwd: index 9 at lookup 2 \(bag 1\) is out of range for 5 table rows/),
  );
  assert.throws(
    () => embedding_bag_fwd(2, 2, POOL_SUM, table, 0, Int32Array.of(-1), Int32Array.of(0, 0, 1), null, out, 0),
    isKernelError(/embedding_bag_fwd: index -1 at lookup 0 \(bag 1\) is out of range for 5 table rows/),
  );
  assert.throws(
    () => embedding_bag_fwd(2, 2, POOL_SUM, table, 0, Int32Array.of(1, 2), Int32Array.of(0, 2, 1), null, out, 0),
    isKernelError(/embedding_bag_fwd: offsets must rise .* offsets\[1\] = 2, offsets\[2\] = 1/),
  );
  assert.throws(
    () => embedding_bag_fwd(2, 2, POOL_SUM, table, 0, Int32Array.of(1, 2), Int32Array.of(0, 1, 5), null, out, 0),
    isKernelError(/offsets\[B\] ≤ 2 \(the lookups given\) — offsets\[1\] = 1, offsets\[2\] = 5/),
  );
  assert.throws(
    () => embedding_bag_fwd(2, 2, POOL_SUM, table, 0, Int32Array.of(1, 2), Int32Array.of(0, 1), null, out, 0),
    isKernelError(/embedding_bag_fwd: offsets has 2 entries, B \+ 1 = 3 needed/),
  );
  assert.throws(
    () => embedding_bag_fwd(2, 2, POOL_SUM, table, 0, Int32Array.of(1, 2), Int32Array.of(0, 1, 2), null, out, 1),
    isKernelError(/embedding_bag_fwd: out needs 4 elements from offset 1 but the array has 4/),
  );
  assert.throws(
    () =>
      embedding_bag_bwd(
        2,
        2,
        POOL_SUM,
        out,
        0,
        Int32Array.of(0, 1, 2),
        Int32Array.of(0, 3),
        null,
        new Float32Array(4),
        0,
      ),
    isKernelError(/embedding_bag_bwd: slot 3 at lookup 1 \(bag 1\) is out of range for 2 gradient rows/),
  );
});

test.run();
