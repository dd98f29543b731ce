// Tests of src/ops/elementwise.ts: add, sub, mul, div (broadcast) and neg, exp, log, relu,
// sigmoid, tanh. Each op: a fast-check property (forward vs a naive float64 reference,
// every gradient vs float64 central differences, via checkOp), hand-computed cases, and
// bad input.
//
// Glossary: out the broadcast output shape; a, b the operand shapes; R rank.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { gradcheck } from "../../src/autograd/gradcheck.ts";
import { noGrad } from "../../src/autograd/tape.ts";
import { add, div, exp, log, mul, neg, relu, sigmoid, sub, tanh } from "../../src/ops/elementwise.ts";
import { fromArray, ones, randn, scalar, zeros, type Tensor } from "../../src/tensor/tensor.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { assertClose, assertThrows, checkOp, randomValues } from "../../src/testing/index.ts";

// Forward of a float32 op against float64: the op rounds once to float32, so 2^-24 ≈ 6e-8
// relative; we allow 1e-6 relative + 1e-7 absolute.
const FWD = { atol: 1e-7, rtol: 1e-6 };
// Gradients are accumulated in float32 (up to 3^4 terms along broadcast dims) and compared
// with float64 central differences (step 1e-6, error ~1e-9 here).
const BWD = { atol: 1e-5, rtol: 1e-4 };

// ---------------------------------------------------------------------------------------
// Naive float64 references, written independently of the op code: multi-indices by div/mod.

function size(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** The NumPy broadcast shape of two shapes that are known to broadcast. */
function broadcastShapeRef(a: readonly number[], b: readonly number[]): number[] {
  const R = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let d = 0; d < R; d++) {
    const da = a[d - (R - a.length)] ?? 1;
    const db = b[d - (R - b.length)] ?? 1;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Flat index into `from` of the element that output multi-index idx reads. */
function readIndex(idx: number[], from: readonly number[]): number {
  const lead = idx.length - from.length;
  let flat = 0;
  for (let d = 0; d < from.length; d++) {
    const n = from[d] as number;
    flat = flat * n + (n === 1 ? 0 : (idx[d + lead] as number));
  }
  return flat;
}

function multiIndex(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d] as number;
    idx[d] = flat % n;
    flat = Math.floor(flat / n);
  }
  return idx;
}

function binaryRef(f: (x: number, y: number) => number, as: readonly number[], bs: readonly number[]) {
  const out = broadcastShapeRef(as, bs);
  return (a: Float64Array, b: Float64Array): Float64Array => {
    const y = new Float64Array(size(out));
    for (let n = 0; n < y.length; n++) {
      const idx = multiIndex(n, out);
      y[n] = f(a[readIndex(idx, as)] as number, b[readIndex(idx, bs)] as number);
    }
    return y;
  };
}

// ---------------------------------------------------------------------------------------
// Arbitraries

// Dims 1–3, and now and then 0 (size-0 tensors must work too).
const dim = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 9 },
  { arbitrary: fc.constant(0), weight: 1 },
);

/** A shape that broadcasts to out: a suffix of out (rank-mismatch) with some dims set to 1. */
function operandOf(out: number[]): fc.Arbitrary<number[]> {
  return fc
    .integer({ min: 0, max: out.length })
    .chain((r) =>
      fc
        .array(fc.boolean(), { minLength: r, maxLength: r })
        .map((ones) => out.slice(out.length - r).map((d, i) => (ones[i] ? 1 : d))),
    );
}

/** Two operand shapes that broadcast together (rank 0–4 each), and a value seed. */
const broadcastPair = fc
  .array(dim, { minLength: 0, maxLength: 4 })
  .chain((out) => fc.record({ a: operandOf(out), b: operandOf(out), seed: fc.nat() }));

/** Signed values with |v| in [lo, hi]: keeps div away from 0 and relu away from its kink. */
function awayFromZero(n: number, seed: number, lo: number, hi: number): number[] {
  return randomValues(n, seed).map((u) => Math.sign(u || 1) * (lo + (hi - lo) * Math.abs(u)));
}

function binaryProperty(
  name: string,
  op: (a: Tensor, b: Tensor) => Tensor,
  f: (x: number, y: number) => number,
  bValues: (n: number, seed: number) => number[],
  seed: number,
): void {
  fc.assert(
    fc.property(broadcastPair, ({ a, b, seed: s }) => {
      const want = broadcastShapeRef(a, b);
      checkOp({
        inputs: [
          { data: randomValues(size(a), s, -2, 2), shape: a },
          { data: bValues(size(b), s + 1), shape: b },
        ],
        op: (x, y) => {
          const out = op(x, y);
          assert.equal(out.shape, want, `${name} shape of a ${JSON.stringify(a)}, b ${JSON.stringify(b)}`);
          return out;
        },
        ref: binaryRef(f, a, b),
        forward: FWD,
        backward: BWD,
      });
    }),
    { seed, numRuns: 60 },
  );
}

// ---------------------------------------------------------------------------------------
// Properties: binary ops over random broadcasting shapes (rank 0–4, size-1 and size-0
// dims, operands of different ranks).

const anyValues = (n: number, seed: number): number[] => randomValues(n, seed, -2, 2);

test("add matches a float64 reference and central differences under broadcasting (tol: FWD, BWD)", () => {
  binaryProperty("add", add, (x, y) => x + y, anyValues, 101);
});

test("sub matches a float64 reference and central differences under broadcasting (tol: FWD, BWD)", () => {
  binaryProperty("sub", sub, (x, y) => x - y, anyValues, 102);
});

test("mul matches a float64 reference and central differences under broadcasting (tol: FWD, BWD)", () => {
  binaryProperty("mul", mul, (x, y) => x * y, anyValues, 103);
});

test("div matches a float64 reference and central differences, divisor |b| in [0.5, 2] (tol: FWD, BWD)", () => {
  binaryProperty(
    "div",
    div,
    (x, y) => x / y,
    (n, s) => awayFromZero(n, s, 0.5, 2),
    104,
  );
});

test("binary ops accept a number on either side, which gets no gradient (tol: FWD, BWD)", () => {
  const ops = { add, sub, mul, div };
  const fs = {
    add: (x: number, y: number) => x + y,
    sub: (x: number, y: number) => x - y,
    mul: (x: number, y: number) => x * y,
    div: (x: number, y: number) => x / y,
  };
  fc.assert(
    fc.property(
      fc.array(dim, { maxLength: 4 }),
      fc.constantFrom("add", "sub", "mul", "div" as const),
      fc.boolean(),
      fc.nat(),
      (shape, name, numberFirst, s) => {
        // The number is 0.75 or -1.5: exact in float32, and away from 0 for div.
        const c = s % 2 === 0 ? 0.75 : -1.5;
        const data =
          name === "div" && numberFirst ? awayFromZero(size(shape), s, 0.5, 2) : randomValues(size(shape), s, -2, 2);
        const f = fs[name];
        checkOp({
          inputs: [{ data, shape }],
          op: (x) => (numberFirst ? ops[name](c, x) : ops[name](x, c)),
          ref: (x) => x.map((v) => (numberFirst ? f(c, v) : f(v, c))),
          forward: FWD,
          backward: BWD,
        });
      },
    ),
    { seed: 105, numRuns: 60 },
  );
});

// ---------------------------------------------------------------------------------------
// Properties: unary ops over random shapes (rank 0–4, size-1 and size-0 dims).

function unaryProperty(
  op: (x: Tensor) => Tensor,
  f: (x: number) => number,
  values: (n: number, seed: number) => number[],
  seed: number,
): void {
  fc.assert(
    fc.property(fc.array(dim, { maxLength: 4 }), fc.nat(), (shape, s) => {
      checkOp({
        inputs: [{ data: values(size(shape), s), shape }],
        op: (x) => {
          const y = op(x);
          assert.equal(y.shape, shape);
          return y;
        },
        ref: (x) => x.map(f),
        forward: FWD,
        backward: BWD,
      });
    }),
    { seed, numRuns: 50 },
  );
}

test("neg matches -x and its gradient (tol: FWD, BWD)", () => {
  unaryProperty(neg, (x) => -x, anyValues, 201);
});

test("exp matches Math.exp on [-3, 3] and its gradient (tol: FWD, BWD)", () => {
  unaryProperty(exp, Math.exp, (n, s) => randomValues(n, s, -3, 3), 202);
});

test("log matches Math.log on positive inputs [0.1, 3] and its gradient (tol: FWD, BWD)", () => {
  unaryProperty(log, Math.log, (n, s) => randomValues(n, s, 0.1, 3), 203);
});

test("relu matches max(x, 0) away from the kink (|x| >= 0.05) and its gradient (tol: FWD, BWD)", () => {
  unaryProperty(
    relu,
    (x) => (x > 0 ? x : 0),
    (n, s) => awayFromZero(n, s, 0.05, 2),
    204,
  );
});

test("sigmoid matches 1/(1+e^-x) on [-6, 6] and its gradient (tol: FWD, BWD)", () => {
  unaryProperty(
    sigmoid,
    (x) => 1 / (1 + Math.exp(-x)),
    (n, s) => randomValues(n, s, -6, 6),
    205,
  );
});

test("tanh matches (e^x - e^-x)/(e^x + e^-x) on [-3, 3] and its gradient (tol: FWD, BWD)", () => {
  unaryProperty(
    tanh,
    (x) => (Math.exp(x) - Math.exp(-x)) / (Math.exp(x) + Math.exp(-x)),
    (n, s) => randomValues(n, s, -3, 3),
    206,
  );
});

// ---------------------------------------------------------------------------------------
// Hand-computed cases (exact in float32: small integers and binary fractions, so tol 0).

test("add (2, 3) + (3,): the bias gradient sums over the broadcast rows", () => {
  const a = fromArray(
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    undefined,
    { requiresGrad: true },
  );
  const b = fromArray([10, 20, 30], undefined, { requiresGrad: true });
  const y = add(a, b);
  assert.equal(y.shape, [2, 3]);
  assert.equal(y.toArray(), [
    [11, 22, 33],
    [14, 25, 36],
  ]);
  y.backward(
    fromArray([
      [1, 2, 3],
      [4, 5, 6],
    ]),
  );
  assert.equal(Array.from(a.grad ?? []), [1, 2, 3, 4, 5, 6]); // da = g
  assert.equal(Array.from(b.grad ?? []), [5, 7, 9]); // db = column sums of g: 1+4, 2+5, 3+6
});

test("mul (2, 1) · (1, 3): an outer product; each gradient sums over the other's dim", () => {
  const a = fromArray([[2], [3]], undefined, { requiresGrad: true });
  const b = fromArray([[1, 10, 100]], undefined, { requiresGrad: true });
  const y = mul(a, b);
  assert.equal(y.toArray(), [
    [2, 20, 200],
    [3, 30, 300],
  ]);
  y.backward(ones([2, 3]));
  assert.equal(Array.from(a.grad ?? []), [111, 111]); // da_i = Σ_j b_j = 1 + 10 + 100
  assert.equal(Array.from(b.grad ?? []), [5, 5, 5]); // db_j = Σ_i a_i = 2 + 3
});

test("sub and div with rank-0 operands: values and gradients", () => {
  const x = scalar(0.25, { requiresGrad: true });
  const y = sub(1, x);
  assert.equal(y.shape, []);
  assert.is(y.item(), 0.75);
  y.backward();
  assert.equal(Array.from(x.grad ?? []), [-1]); // d(1 - x)/dx = -1

  const a = fromArray([1, 2], undefined, { requiresGrad: true });
  const b = scalar(4, { requiresGrad: true });
  const q = div(a, b);
  assert.equal(Array.from(q.data), [0.25, 0.5]);
  q.backward(ones([2]));
  assert.equal(Array.from(a.grad ?? []), [0.25, 0.25]); // 1/b
  assert.equal(Array.from(b.grad ?? []), [-0.1875]); // Σ -a/b² = -(1 + 2)/16
});

test("unary ops at hand-known points: values and derivatives (tol 1e-15 in float64)", () => {
  const tol = { atol: 1e-15, rtol: 1e-15 };
  const cases: [string, (x: Tensor) => Tensor, number[], number[], number[]][] = [
    // name, op, x, f(x), f'(x)
    ["neg", neg, [-2, 0, 3], [2, -0, -3], [-1, -1, -1]],
    ["exp", exp, [0, 1, -1], [1, Math.E, 1 / Math.E], [1, Math.E, 1 / Math.E]],
    ["log", log, [1, Math.E, 0.5], [0, 1, -Math.LN2], [1, 1 / Math.E, 2]],
    ["relu", relu, [-1, 0, 2], [0, 0, 2], [0, 0, 1]], // the kink x = 0 has derivative 0
    ["sigmoid", sigmoid, [0, Math.log(3)], [0.5, 0.75], [0.25, 0.1875]], // σ(ln 3) = 3/4; σ' = σ(1-σ)
    ["tanh", tanh, [0, Math.log(2)], [0, 0.6], [1, 0.64]], // tanh(ln 2) = (2 - 1/2)/(2 + 1/2) = 3/5
  ];
  for (const [name, op, xs, fx, dfx] of cases) {
    const x = fromArray(xs, undefined, { dtype: "float64", requiresGrad: true });
    const y = op(x);
    assertClose(y.data, fx, tol, `${name} forward`);
    y.backward(ones([xs.length], { dtype: "float64" }));
    assertClose(x.grad ?? [], dfx, tol, `${name} derivative`);
  }
});

test("sigmoid is stable for large |x|: no NaN, saturates to 0 and 1, gradient 0 there", () => {
  const x = fromArray([-1000, -720, -100, 0, 100, 1000], undefined, { dtype: "float64", requiresGrad: true });
  const y = sigmoid(x);
  // σ(x) = e^x / (1 + e^x) = e^x to double precision for x ≤ -100: e^-100 = 3.72007597602083596e-44,
  // e^-720 = 2.03223080242429315e-313 (a subnormal, kept to ~1e-11 relative; 1/(1 + e^720)
  // would give 0). Tolerance: 1e-9 relative, no absolute slack.
  const want = [0, 2.0322308024242932e-313, 3.720075976020836e-44, 0.5, 1, 1];
  assertClose(y.data, want, { atol: 0, rtol: 1e-9 });
  y.backward(ones([6], { dtype: "float64" }));
  assertClose(
    x.grad ?? [],
    want.map((s) => s * (1 - s)),
    { atol: 0, rtol: 1e-9 },
  ); // σ(1 - σ)

  const x32 = fromArray([-1000, -88, 0, 88, 1000], undefined, { requiresGrad: true });
  const y32 = sigmoid(x32);
  y32.backward(ones([5]));
  for (const v of [...y32.data, ...(x32.grad ?? [])]) assert.ok(Number.isFinite(v), `float32 sigmoid gave ${v}`);
  assert.equal([y32.data[0], y32.data[2], y32.data[4]], [0, 0.5, 1]);
});

// ---------------------------------------------------------------------------------------
// Rank 0, size 0, dtypes, accumulation

test("rank-0 and size-0 tensors: shapes, values, and empty backward", () => {
  assert.equal(add(scalar(2), scalar(3)).toArray(), 5);
  assert.equal(mul(scalar(2), scalar(3)).shape, []);

  // A rank-0 tensor broadcast against (2, 2): its gradient is Σ g·x.
  const s = scalar(3, { requiresGrad: true });
  const m = fromArray([
    [1, 2],
    [3, 4],
  ]);
  mul(s, m).backward(ones([2, 2]));
  assert.equal(Array.from(s.grad ?? []), [10]);

  // (0, 3) + (1, 3) is (0, 3); (1,) * (0,) is (0,); the size-1 operand gets a zero gradient.
  const b = ones([1, 3], { requiresGrad: true });
  const e = add(zeros([0, 3]), b);
  assert.equal(e.shape, [0, 3]);
  e.backward(new Float32Array(0));
  assert.equal(Array.from(b.grad ?? []), [0, 0, 0]);
  assert.equal(mul(ones([1]), zeros([0])).shape, [0]);
  for (const op of [neg, exp, log, relu, sigmoid, tanh]) assert.equal(op(zeros([2, 0])).shape, [2, 0]);
});

test("every op keeps the dtype: float32 in, float32 out; float64 in, float64 out (numbers too)", () => {
  for (const dtype of ["float32", "float64"] as const) {
    const x = fromArray([0.5, 1.5], undefined, { dtype });
    for (const op of [add, sub, mul, div]) {
      assert.is(op(x, x).dtype, dtype);
      assert.is(op(2, x).dtype, dtype);
      assert.is(op(x, 2).dtype, dtype);
    }
    for (const op of [neg, exp, log, relu, sigmoid, tanh]) assert.is(op(x).dtype, dtype);
  }
});

test("gradients accumulate: mul(x, x) gives 2x, and a second backward adds to the first", () => {
  const x = fromArray([1, -2, 3], undefined, { requiresGrad: true });
  mul(x, x).backward(ones([3]));
  assert.equal(Array.from(x.grad ?? []), [2, -4, 6]); // d(x²)/dx = 2x
  add(x, neg(x)).backward(ones([3]));
  assert.equal(Array.from(x.grad ?? []), [2, -4, 6]); // + (1 - 1) = + 0
  exp(mul(x, 0)).backward(ones([3]));
  assert.equal(Array.from(x.grad ?? []), [2, -4, 6]); // d e^(0·x)/dx = 0 · e^0 = 0
  sub(x, 1).backward(ones([3]));
  assert.equal(Array.from(x.grad ?? []), [3, -3, 7]); // + 1
});

test("only inputs that require a gradient get one; noGrad records nothing", () => {
  const a = fromArray([1, 2], undefined, { requiresGrad: true });
  const b = fromArray([3, 4]);
  const y = mul(a, b);
  assert.ok(y.requiresGrad);
  y.backward(ones([2]));
  assert.equal(Array.from(a.grad ?? []), [3, 4]);
  assert.is(b.grad, null);
  const z = noGrad(() => sigmoid(add(a, b)));
  assert.not.ok(z.requiresGrad);
  assert.is(z.node, null);
  assert.not.ok(add(b, b).requiresGrad);
});

test("gradcheck passes on a composite user function of every elementwise op (float64; atol 1e-5, rtol 1e-3)", () => {
  const rng = new Rng(7);
  const x = randn([3, 4], { rng, requiresGrad: true });
  const w = randn([4], { rng, requiresGrad: true });
  const c = randn([3, 1], { rng, requiresGrad: true });
  // f(x, w, c) = (relu(x·w + c) - tanh(x)) / (1 + e^-x) + log(1 + σ(c)) · w
  const f = (x: Tensor, w: Tensor, c: Tensor): Tensor =>
    add(div(sub(relu(add(mul(x, w), c)), tanh(x)), add(1, exp(neg(x)))), mul(log(add(1, sigmoid(c))), w));
  const r = gradcheck(f, [x, w, c]);
  assert.ok(r.ok, `mismatches: ${JSON.stringify(r.mismatches)}`);
  assert.ok(r.maxAbsError < 1e-6, `max error ${r.maxAbsError}`);
});

// ---------------------------------------------------------------------------------------
// Bad input

test("non-broadcastable shapes: the message names the op and both shapes", () => {
  const a = zeros([2, 3]);
  const b = zeros([4]);
  for (const [name, op] of [
    ["add", add],
    ["sub", sub],
    ["mul", mul],
    ["div", div],
  ] as const) {
    assertThrows(
      () => op(a, b),
      new RegExp(`^${name}: shapes cannot be broadcast \\(dim -1 is 3 vs 4\\) — a is \\(2, 3\\), b is \\(4,\\)$`),
    );
  }
  assertThrows(
    () => add(zeros([2, 1, 3]), zeros([5, 3, 3])),
    /^add: shapes cannot be broadcast \(dim -3 is 2 vs 5\) — a is \(2, 1, 3\), b is \(5, 3, 3\)$/,
  );
  assertThrows(() => mul(zeros([0]), zeros([2])), /^mul: shapes cannot be broadcast .* — a is \(0,\), b is \(2,\)$/);
});

test("mixed dtypes are rejected, naming the op and each dtype", () => {
  const a = zeros([2]);
  const b = zeros([2], { dtype: "float64" });
  assertThrows(() => add(a, b), /^add: inputs must share a dtype — a is float32, b is float64$/);
  assertThrows(() => div(b, a), /^div: inputs must share a dtype — a is float64, b is float32$/);
});

test("non-Tensor arguments are rejected, naming the op and the argument", () => {
  const x = zeros([2]);
  // @ts-expect-error an array is not a Tensor
  assertThrows(() => add([1, 2], x), /^add: a must be a Tensor or a number, got Array$/);
  // @ts-expect-error a string is not a Tensor
  assertThrows(() => mul(x, "2"), /^mul: b must be a Tensor or a number, got string$/);
  // @ts-expect-error null is not a Tensor
  assertThrows(() => sub(null, x), /^sub: a must be a Tensor or a number, got null$/);
  assertThrows(() => div(1, 2), /^div: at least one argument must be a Tensor, got two numbers \(1, 2\)$/);
  // @ts-expect-error a number is not a Tensor for a unary op
  assertThrows(() => relu(3), /^relu: x must be a Tensor, got number$/);
  // @ts-expect-error a typed array is not a Tensor
  assertThrows(() => exp(new Float32Array(2)), /^exp: x must be a Tensor, got Float32Array$/);
});

test.run();
