// Elementwise ops: add, sub, mul, div with NumPy broadcasting, and the unary maps neg, exp,
// log, relu, sigmoid, tanh. Each op computes its forward and, right below it, records its
// backward; the derivative sits in a comment beside the line that applies it. relu, the one
// in every hidden layer, runs on the kernels relu_fwd/relu_bwd (src/kernels/ref.ts; SIMD in
// kernels/elementwise.wat).
//
// Glossary: a, b the operands of a binary op; x the input of a unary op; y the output; g the
// upstream gradient dL/dy (same shape as y); N the number of output elements; n an output
// element's flat index.
//
// Broadcasting works through index maps: ia[n] is the flat index of the element of a that
// output element n reads (likewise ib); an operand of the output's own shape needs no map
// (null: element n reads element n), so same-shape operands cost no per-call index array.
// The forward gathers through the maps, and the backward scatters back through the same
// maps with +=. That scatter is exactly the reduction broadcasting needs in reverse: an
// element of a that was read by several outputs (along a size-1 dim or a missing leading
// dim of a) receives the sum of their gradients.
// sum/mean (reduce.ts) use the same map in the other direction.

import { gradForWrite, gradOf } from "../autograd/grad.ts";
import { record } from "../autograd/tape.ts";
import { kernels } from "../kernels/index.ts";
import { broadcastShapes, OpError, sizeOf, stridesOf, type Shape } from "../tensor/shape.ts";
import { allocFloatUninit, allocInt32 } from "../tensor/storage.ts";
import { scalar, Tensor } from "../tensor/tensor.ts";
import { checkTensor, commonDType, output } from "./common.ts";

/**
 * For each element of `shape` (row-major), the flat index of the element of `from` that
 * it reads under NumPy broadcasting: `from` is aligned on the right, and its size-1 dims
 * and missing leading dims repeat. `from` must broadcast to `shape` (callers check).
 */
export function broadcastIndex(shape: Shape, from: Shape): Int32Array {
  const R = shape.length;
  const lead = R - from.length; // dims of shape that from lacks
  const fromStrides = stridesOf(from);
  // step[d]: how far the index into from moves when dim d of shape advances by one;
  // 0 along a broadcast dim, which is what makes the same element repeat.
  const step = new Array<number>(R);
  for (let d = 0; d < R; d++) {
    step[d] = d < lead || from[d - lead] === 1 ? 0 : fromStrides[d - lead];
  }
  const N = sizeOf(shape);
  const map = allocInt32(N); // (N,)
  const idx = new Array<number>(R).fill(0); // multi-index of output element n
  let f = 0; // flat index into from of output element n
  for (let n = 0; n < N; n++) {
    map[n] = f;
    // Advance the multi-index like an odometer, keeping f in step with it.
    for (let d = R - 1; d >= 0; d--) {
      f += step[d];
      if (++idx[d] < shape[d]) break;
      f -= step[d] * shape[d];
      idx[d] = 0;
    }
  }
  return map;
}

/** The checked operands of a binary op, its output and the broadcast index maps. */
interface Broadcast {
  ta: Tensor; // a as a tensor (a number becomes a rank-0 tensor of b's dtype)
  tb: Tensor;
  out: Tensor; // (broadcast shape)
  ia: Int32Array | null; // (N,) flat index into a of output element n; null = n itself
  ib: Int32Array | null; // (N,) flat index into b of output element n; null = n itself
}

/** The index map of an operand, or null when it has the output's shape (identity). */
function indexMap(shape: Shape, from: Shape): Int32Array | null {
  if (from.length === shape.length && from.every((d, i) => d === shape[i])) return null;
  return broadcastIndex(shape, from);
}

/** Checks shared by add, sub, mul, div; broadcasting happens here and only here. */
function broadcastBinary(op: string, a: unknown, b: unknown): Broadcast {
  const aIsTensor = a instanceof Tensor;
  const bIsTensor = b instanceof Tensor;
  for (const [name, v] of [
    ["a", a],
    ["b", b],
  ] as const) {
    if (!(v instanceof Tensor) && typeof v !== "number") {
      throw new OpError(op, `${name} must be a Tensor or a number, got ${describe(v)}`);
    }
  }
  if (!aIsTensor && !bIsTensor) {
    throw new OpError(op, `at least one argument must be a Tensor, got two numbers (${String(a)}, ${String(b)})`);
  }
  // A number takes the other operand's dtype, so that float64 stays float64 under gradcheck.
  const ta = aIsTensor ? a : scalar(a as number, { dtype: (b as Tensor).dtype });
  const tb = bIsTensor ? b : scalar(b as number, { dtype: ta.dtype });
  const dtype = commonDType(op, { a: ta, b: tb });
  const shape = broadcastShapes(op, ta, tb);
  return {
    ta,
    tb,
    out: new Tensor(allocFloatUninit(dtype, sizeOf(shape)), shape), // every element written by the op
    ia: indexMap(shape, ta.shape),
    ib: indexMap(shape, tb.shape),
  };
}

/** a + b, broadcast. */
export function add(a: Tensor | number, b: Tensor | number): Tensor {
  const { ta, tb, out, ia, ib } = broadcastBinary("add", a, b);
  const av = ta.data; // (a)
  const bv = tb.data; // (b)
  const y = out.data; // (N,)
  for (let n = 0; n < y.length; n++) y[n] = av[ia === null ? n : ia[n]] + bv[ib === null ? n : ib[n]];
  return record("add", out, [ta, tb], (g) => {
    if (ta.requiresGrad) {
      const ga = gradOf(ta);
      for (let n = 0; n < g.length; n++) ga[ia === null ? n : ia[n]] += g[n]; // d(a + b)/da = 1
    }
    if (tb.requiresGrad) {
      const gb = gradOf(tb);
      for (let n = 0; n < g.length; n++) gb[ib === null ? n : ib[n]] += g[n]; // d(a + b)/db = 1
    }
  });
}

/** a - b, broadcast. */
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  const { ta, tb, out, ia, ib } = broadcastBinary("sub", a, b);
  const av = ta.data; // (a)
  const bv = tb.data; // (b)
  const y = out.data; // (N,)
  for (let n = 0; n < y.length; n++) y[n] = av[ia === null ? n : ia[n]] - bv[ib === null ? n : ib[n]];
  return record("sub", out, [ta, tb], (g) => {
    if (ta.requiresGrad) {
      const ga = gradOf(ta);
      for (let n = 0; n < g.length; n++) ga[ia === null ? n : ia[n]] += g[n]; // d(a - b)/da = 1
    }
    if (tb.requiresGrad) {
      const gb = gradOf(tb);
      for (let n = 0; n < g.length; n++) gb[ib === null ? n : ib[n]] -= g[n]; // d(a - b)/db = -1
    }
  });
}

/** a · b elementwise, broadcast. */
export function mul(a: Tensor | number, b: Tensor | number): Tensor {
  const { ta, tb, out, ia, ib } = broadcastBinary("mul", a, b);
  const av = ta.data; // (a)
  const bv = tb.data; // (b)
  const y = out.data; // (N,)
  for (let n = 0; n < y.length; n++) y[n] = av[ia === null ? n : ia[n]] * bv[ib === null ? n : ib[n]];
  return record("mul", out, [ta, tb], (g) => {
    if (ta.requiresGrad) {
      const ga = gradOf(ta);
      for (let n = 0; n < g.length; n++) ga[ia === null ? n : ia[n]] += g[n] * bv[ib === null ? n : ib[n]]; // d(a·b)/da = b
    }
    if (tb.requiresGrad) {
      const gb = gradOf(tb);
      for (let n = 0; n < g.length; n++) gb[ib === null ? n : ib[n]] += g[n] * av[ia === null ? n : ia[n]]; // d(a·b)/db = a
    }
  });
}

/** a / b elementwise, broadcast. Division by zero gives ±Inf or NaN, as in IEEE 754. */
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  const { ta, tb, out, ia, ib } = broadcastBinary("div", a, b);
  const av = ta.data; // (a)
  const bv = tb.data; // (b)
  const y = out.data; // (N,)
  for (let n = 0; n < y.length; n++) y[n] = av[ia === null ? n : ia[n]] / bv[ib === null ? n : ib[n]];
  return record("div", out, [ta, tb], (g) => {
    if (ta.requiresGrad) {
      const ga = gradOf(ta);
      for (let n = 0; n < g.length; n++) ga[ia === null ? n : ia[n]] += g[n] / bv[ib === null ? n : ib[n]]; // d(a/b)/da = 1/b
    }
    if (tb.requiresGrad) {
      const gb = gradOf(tb);
      for (let n = 0; n < g.length; n++) {
        const k = ib === null ? n : ib[n];
        const bn = bv[k];
        gb[k] -= (g[n] * av[ia === null ? n : ia[n]]) / (bn * bn); // d(a/b)/db = -a/b²
      }
    }
  });
}

// ---------------------------------------------------------------------------------------
// Unary maps: y has x's shape, and element n of y depends on element n of x only, so each
// backward is gx[n] += g[n] · f'(x[n]). The backward runs only when x requires a gradient
// (record() attaches it only then), so it needs no requiresGrad check of its own.

/** Checks x and allocates y of the same shape and dtype. */
function unary(op: string, x: unknown): { x: Tensor; out: Tensor } {
  const t = checkTensor(op, "x", x);
  return { x: t, out: output(t.shape, t.dtype) };
}

/** -x */
export function neg(x: Tensor): Tensor {
  const { x: t, out } = unary("neg", x);
  const xv = t.data; // (N,)
  const y = out.data; // (N,)
  for (let n = 0; n < y.length; n++) y[n] = -xv[n];
  return record("neg", out, [t], (g) => {
    const gx = gradOf(t);
    for (let n = 0; n < g.length; n++) gx[n] -= g[n]; // d(-x)/dx = -1
  });
}

/** eˣ */
export function exp(x: Tensor): Tensor {
  const { x: t, out } = unary("exp", x);
  const xv = t.data; // (N,)
  const y = out.data; // (N,)
  for (let n = 0; n < y.length; n++) y[n] = Math.exp(xv[n]);
  return record("exp", out, [t], (g) => {
    const gx = gradOf(t);
    for (let n = 0; n < g.length; n++) gx[n] += g[n] * y[n]; // d eˣ/dx = eˣ = y
  });
}

/** ln x; gives -Inf at 0 and NaN below 0, as in IEEE 754 and PyTorch. */
export function log(x: Tensor): Tensor {
  const { x: t, out } = unary("log", x);
  const xv = t.data; // (N,)
  const y = out.data; // (N,)
  for (let n = 0; n < y.length; n++) y[n] = Math.log(xv[n]);
  return record("log", out, [t], (g) => {
    const gx = gradOf(t);
    for (let n = 0; n < g.length; n++) gx[n] += g[n] / xv[n]; // d ln x/dx = 1/x
  });
}

/** max(x, 0); NaN stays NaN. */
export function relu(x: Tensor): Tensor {
  const t = checkTensor("relu", "x", x);
  const xv = t.data; // (N,)
  const out = new Tensor(allocFloatUninit(t.dtype, t.size), t.shape); // (N,), every element written
  kernels.relu_fwd(t.size, xv, 0, out.data, 0); // y = max(x, 0)
  return record("relu", out, [t], (g) => {
    // d relu/dx = 1 for x > 0, else 0 (at the kink x = 0 too, as PyTorch does)
    const gx = gradForWrite(t); // (N,): written when fresh, added into otherwise (autograd/grad.ts)
    kernels.relu_bwd(t.size, xv, 0, g, 0, gx.g, 0, !gx.fresh);
  });
}

/**
 * 1 / (1 + e⁻ˣ). For x < 0 it is computed as eˣ / (1 + eˣ), so that e to a large positive
 * power is never formed: no Inf/Inf = NaN, and tiny results keep their precision.
 */
export function sigmoid(x: Tensor): Tensor {
  const { x: t, out } = unary("sigmoid", x);
  const xv = t.data; // (N,)
  const y = out.data; // (N,)
  for (let n = 0; n < y.length; n++) {
    const v = xv[n];
    if (v >= 0) {
      y[n] = 1 / (1 + Math.exp(-v));
    } else {
      const e = Math.exp(v);
      y[n] = e / (1 + e);
    }
  }
  return record("sigmoid", out, [t], (g) => {
    const gx = gradOf(t);
    for (let n = 0; n < g.length; n++) gx[n] += g[n] * y[n] * (1 - y[n]); // dσ/dx = σ(1 - σ) = y(1 - y)
  });
}

/** tanh x */
export function tanh(x: Tensor): Tensor {
  const { x: t, out } = unary("tanh", x);
  const xv = t.data; // (N,)
  const y = out.data; // (N,)
  for (let n = 0; n < y.length; n++) y[n] = Math.tanh(xv[n]);
  return record("tanh", out, [t], (g) => {
    const gx = gradOf(t);
    for (let n = 0; n < g.length; n++) gx[n] += g[n] * (1 - y[n] * y[n]); // d tanh/dx = 1 - tanh² = 1 - y²
  });
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (typeof x !== "object") return typeof x;
  return x.constructor?.name ?? "object";
}
