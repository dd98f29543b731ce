// The wasm sparse row updates (SGD, Adagrad, row-wise Adagrad) against the reference ones
// (src/kernels/ref.ts): random touched rows of random tables, row lengths with and without
// a tail of E mod 4, element offsets, resident or staged tables, accumulators and gradients.
//
// Tolerance: none. The wasm kernels compute in f64 in the reference's order and round only
// what they store, as JS does, so the results must be identical bit for bit.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import * as ref from "../../src/kernels/ref.ts";
import { adagrad_rows, KernelError, rowwise_adagrad_rows, sgd_rows } from "../../src/kernels/wasm.ts";
import { placeF32, placeI32, values, whereArb, type Where } from "./placement.ts";

type Kind = "sgd" | "adagrad" | "rowwise";

interface Rows {
  kind: Kind;
  R: number;
  E: number;
  ids: number[]; // (U,) unique
  lr: number;
  tableOff: number;
  accOff: number;
  gradOff: number;
  where: { table: Where; acc: Where; ids: Where; grad: Where };
  seed: number;
}

const rowsArb: fc.Arbitrary<Rows> = fc
  .record({
    kind: fc.constantFrom<Kind>("sgd", "adagrad", "rowwise"),
    R: fc.integer({ min: 1, max: 50 }),
    E: fc.constantFrom(0, 1, 2, 3, 4, 5, 8, 13, 16, 17, 64),
    lr: fc.oneof(fc.constantFrom(0.01, 0.1, 1), fc.double({ min: 1e-4, max: 2, noNaN: true })),
    tableOff: fc.integer({ min: 0, max: 7 }),
    accOff: fc.integer({ min: 0, max: 7 }),
    gradOff: fc.integer({ min: 0, max: 7 }),
    where: fc.record({ table: whereArb, acc: whereArb, ids: whereArb, grad: whereArb }),
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    pick: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  })
  .map(({ pick, ...c }) => {
    // a random subset of the rows, in random order (ids are unique)
    const u = values(pick, c.R, 0, 1);
    const ids = Array.from({ length: c.R }, (_, r) => r).filter((r) => (u[r] as number) < 0.5);
    ids.sort((x, y) => (u[x] as number) - (u[y] as number));
    return { ...c, ids };
  });

const EPS = 1e-8;

function check(c: Rows): void {
  const U = c.ids.length;
  const accLen = c.kind === "adagrad" ? c.R * c.E : c.R;
  const table = values(c.seed, c.R * c.E);
  const acc = values(c.seed + 1, accLen, 0, 2); // accumulators are non-negative
  const grad = values(c.seed + 2, U * c.E);
  const tw = placeF32(table, c.where.table, c.tableOff);
  const aw = placeF32(acc, c.where.acc, c.accOff);
  const gw = placeF32(grad, c.where.grad, c.gradOff);
  const ids = placeI32(c.ids, c.where.ids);
  const tBefore = Float32Array.from(tw);
  const aBefore = Float32Array.from(aw);
  const tr = Float32Array.from(table);
  const ar = Float32Array.from(acc);
  const idr = Int32Array.from(c.ids);
  if (c.kind === "sgd") {
    sgd_rows(U, c.E, c.lr, tw, c.tableOff, ids, gw, c.gradOff);
    ref.sgd_rows(U, c.E, c.lr, tr, 0, idr, grad, 0);
  } else if (c.kind === "adagrad") {
    adagrad_rows(U, c.E, c.lr, EPS, tw, c.tableOff, aw, c.accOff, ids, gw, c.gradOff);
    ref.adagrad_rows(U, c.E, c.lr, EPS, tr, 0, ar, 0, idr, grad, 0);
  } else {
    rowwise_adagrad_rows(U, c.E, c.lr, EPS, tw, c.tableOff, aw, c.accOff, ids, gw, c.gradOff);
    ref.rowwise_adagrad_rows(U, c.E, c.lr, EPS, tr, 0, ar, 0, idr, grad, 0);
  }
  compare("table", tw, tBefore, c.tableOff, tr);
  if (c.kind !== "sgd") compare("acc", aw, aBefore, c.accOff, ar);
}

/** Inside [off, off + want.length): equal to want bit for bit; outside: untouched. */
function compare(what: string, got: Float32Array, before: Float32Array, off: number, want: Float32Array): void {
  for (let p = 0; p < got.length; p++) {
    const q = p - off;
    const inside = q >= 0 && q < want.length;
    const expected = inside ? want[q] : before[p];
    if (!Object.is(got[p], expected)) {
      throw new Error(
        inside
          ? `${what}[${q}] = ${got[p]}, reference ${expected}`
          : `${what}: element ${p} outside the array's extent changed`,
      );
    }
  }
}

test("sgd_rows / adagrad_rows / rowwise_adagrad_rows: wasm equals ref on random rows, tails and placements", () => {
  fc.assert(
    fc.property(rowsArb, (c) => check(c)),
    { seed: 4301, numRuns: 200 },
  );
});

test("sgd_rows: a hand-computed update", () => {
  const table = Float32Array.of(1, 2, 3, 4, 5, 6); // 3 rows of 2
  sgd_rows(2, 2, 0.5, table, 0, Int32Array.of(2, 0), Float32Array.of(2, 4, -2, 8), 0);
  assert.equal(Array.from(table), [2, -2, 3, 4, 4, 4]); // row 2 -= 0.5·(2, 4); row 0 -= 0.5·(−2, 8)
});

test("rowwise_adagrad_rows: a hand-computed update", () => {
  // g = (3, 4): mean(g²) = 12.5; acc 3.5 → 16; step = 1/(4 + 0) = 0.25
  const table = Float32Array.of(1, 1);
  const acc = Float32Array.of(3.5);
  rowwise_adagrad_rows(1, 2, 1, 0, table, 0, acc, 0, Int32Array.of(0), Float32Array.of(3, 4), 0);
  assert.equal(Array.from(acc), [16]);
  assert.equal(Array.from(table), [0.25, 0]); // exact in float32
});

test("row updates: an out-of-range id is an error that leaves the table unchanged", () => {
  for (const where of ["resident", "plain"] as const) {
    const table = placeF32(values(3, 8), where, 0, 0); // 4 rows of 2
    const before = Array.from(table);
    assert.throws(
      () => sgd_rows(2, 2, 1, table, 0, Int32Array.of(1, 4), Float32Array.of(1, 1, 1, 1), 0),
      (e: unknown) =>
        e instanceof KernelError && /sgd_rows: id 4 at position 1 is out of range for 4 table rows/.test(e.message),
    );
    assert.equal(Array.from(table), before);
  }
  const acc = new Float32Array(3); // only 3 row accumulators: row 3 has none
  assert.throws(
    () =>
      rowwise_adagrad_rows(1, 2, 1, 1e-8, new Float32Array(8), 0, acc, 0, Int32Array.of(3), Float32Array.of(1, 1), 0),
    /rowwise_adagrad_rows: id 3 at position 0 is out of range for 3 table rows/,
  );
});

test("row updates: float64 arrays go to the reference and give its exact result", () => {
  const t1 = Float64Array.of(1, 2, 3, 4);
  const t2 = Float64Array.from(t1);
  const a1 = Float64Array.of(0.5, 0.25, 1, 2);
  const a2 = Float64Array.from(a1);
  const g = Float64Array.of(0.3, -0.7);
  adagrad_rows(1, 2, 0.1, 1e-8, t1, 0, a1, 0, Int32Array.of(1), g, 0);
  ref.adagrad_rows(1, 2, 0.1, 1e-8, t2, 0, a2, 0, Int32Array.of(1), g, 0);
  assert.equal(Array.from(t1), Array.from(t2)); // tolerance: none, same code
  assert.equal(Array.from(a1), Array.from(a2));
});

test.run();
