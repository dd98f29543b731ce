// Reductions over axes: sum and mean, forward and backward side by side.
//
// Glossary: x the input, of rank R; axes the reduced axes (normalized to [0, R)); kept the
// shape of x with every reduced axis set to 1 (the keepDims shape); K the number of elements
// of x that fall into one output element (the product of the reduced dims); y the output;
// g the upstream gradient (y's shape); i a flat index into x.
//
// A reduction is broadcasting run backwards: with map = broadcastIndex(x.shape, kept),
// map[i] is the output element that x element i falls into. The forward adds x[i] into
// y[map[i]]; the backward hands g[map[i]] back to every x[i] — the same index map
// elementwise.ts uses, in the other direction.
//
// Conventions: no axis reduces every axis (a rank-0 result). An empty axis list reduces
// none (NumPy's axis=(); PyTorch's dim=[] would reduce all). Negative axes count from the end.
// mean over zero elements (K = 0) is NaN, as in PyTorch and NumPy (0/0); sum over zero
// elements is 0.

import { gradOf } from "../autograd/grad.ts";
import { record } from "../autograd/tape.ts";
import { OpError, normAxis, shapeError, sizeOf } from "../tensor/shape.ts";
import type { FloatArray, Tensor } from "../tensor/tensor.ts";
import { checkTensor, output } from "./common.ts";
import { broadcastIndex } from "./elementwise.ts";

/** What both reductions need: the checked input, the output, the index map and K. */
interface Reduction {
  x: Tensor;
  out: Tensor; // kept, or kept without the reduced axes
  map: Int32Array; // (x.size,) output element of each element of x
  K: number; // elements of x per output element
}

function reduction(op: string, x: unknown, axis: unknown, keepDims: unknown): Reduction {
  const t = checkTensor(op, "x", x);
  if (keepDims !== undefined && typeof keepDims !== "boolean") {
    throw new OpError(op, `keepDims must be a boolean, got ${typeof keepDims}`);
  }
  const R = t.rank;
  let axes: number[];
  if (axis === undefined) {
    axes = Array.from({ length: R }, (_, d) => d);
  } else if (typeof axis === "number") {
    axes = [normAxis(op, axis, R, t)];
  } else if (Array.isArray(axis)) {
    axes = [];
    for (const a of axis as unknown[]) {
      if (typeof a !== "number") throw shapeError(op, `axis must be a number, got ${typeof a}`, { input: t });
      const d = normAxis(op, a, R, t);
      if (axes.includes(d)) {
        throw shapeError(op, `axis ${a} is repeated (it is dim ${d}) in axes [${axis.join(", ")}]`, { input: t });
      }
      axes.push(d);
    }
  } else {
    throw new OpError(op, `axis must be a number, an array of numbers or undefined, got ${typeof axis}`);
  }

  const kept = t.shape.map((s, d) => (axes.includes(d) ? 1 : s));
  const outShape = keepDims === true ? kept : t.shape.filter((_, d) => !axes.includes(d));
  let K = 1;
  for (const d of axes) K *= t.shape[d];
  return { x: t, out: output(outShape, t.dtype), map: broadcastIndex(t.shape, kept), K };
}

/** Sum of x over the given axes (all when omitted). */
export function sum(x: Tensor, axis?: number | readonly number[], keepDims?: boolean): Tensor {
  const { x: t, out, map } = reduction("sum", x, axis, keepDims);
  accumulate(t.data, map, out.data, 1);
  return record("sum", out, [t], (g) => {
    const gx = gradOf(t); // (x)
    for (let i = 0; i < gx.length; i++) gx[i] += g[map[i]]; // d(Σ x)/dxᵢ = 1
  });
}

/** Mean of x over the given axes (all when omitted); NaN where no element is reduced. */
export function mean(x: Tensor, axis?: number | readonly number[], keepDims?: boolean): Tensor {
  const { x: t, out, map, K } = reduction("mean", x, axis, keepDims);
  accumulate(t.data, map, out.data, K); // K = 0: every output is 0/0 = NaN
  return record("mean", out, [t], (g) => {
    const gx = gradOf(t); // (x)
    for (let i = 0; i < gx.length; i++) gx[i] += g[map[i]] / K; // d(Σ x / K)/dxᵢ = 1/K
  });
}

/**
 * y[map[i]] += x[i] for every i, then y /= K. The sums run in float64 even for float32
 * data, so a long reduction loses no more than the final rounding.
 */
function accumulate(xv: FloatArray, map: Int32Array, y: FloatArray, K: number): void {
  const acc = y instanceof Float64Array ? y : new Float64Array(y.length); // (y)
  for (let i = 0; i < xv.length; i++) acc[map[i]] += xv[i];
  for (let j = 0; j < y.length; j++) y[j] = acc[j] / K;
}
