// Losses: binary cross-entropy on probabilities (PyTorch's BCELoss, what the reference DLRM
// trains with after its final sigmoid), the numerically stable form on logits
// (BCEWithLogitsLoss), and mean squared error (the reference's default loss).
//
// Each takes a prediction and a target of the same shape and a reduction: "mean" (default)
// and "sum" give a scalar, "none" gives the per-element losses in the input's shape.
// Per-element values are computed in float64 and the sum is accumulated in float64.
//
// Glossary: N elements of the prediction (usually the batch B).

import { gradOf } from "../autograd/grad.ts";
import { record } from "../autograd/tape.ts";
import { OpError, sameShape, shapeError } from "../tensor/shape.ts";
import type { DType, FloatArray, Tensor } from "../tensor/tensor.ts";
import { checkTensor, commonDType, output } from "./common.ts";

export type Reduction = "mean" | "sum" | "none";

export interface LossOptions {
  reduction?: Reduction;
}

/** PyTorch's floor on log p and log(1 - p): a probability of exactly 0 or 1 costs 100, not ∞. */
const LOG_FLOOR = -100;
/** PyTorch's floor on p(1 - p) in the gradient of bce, which keeps it finite at p = 0 or 1. */
const GRAD_EPS = 1e-12;

/**
 * l_i = -(y_i · max(log p_i, -100) + (1 - y_i) · max(log(1 - p_i), -100)).
 * p and y (any shape, the same), p in [0, 1] → scalar, or p's shape with reduction "none".
 */
export function bce(p: Tensor, y: Tensor, opts: LossOptions = {}): Tensor {
  const op = "bce";
  const { N, dtype, reduction } = checkPair(op, "p", p, "y", y, opts);
  const pd = p.data; // (N,)
  const yd = y.data; // (N,)
  for (let i = 0; i < N; i++) {
    const v = pd[i];
    if (!(v >= 0 && v <= 1)) throw new OpError(op, `p must hold probabilities in [0, 1], got ${v} at position ${i}`);
  }
  const logP = (i: number): number => Math.max(Math.log(pd[i]), LOG_FLOOR);
  const log1mP = (i: number): number => Math.max(Math.log1p(-pd[i]), LOG_FLOOR);
  const out = reduce(p, dtype, reduction, (i) => {
    const t = yd[i];
    return -(t * logP(i) + (1 - t) * log1mP(i));
  });
  return record(op, out, [p, y], (dout) => {
    const up = upstream(dout, reduction, N);
    if (p.requiresGrad) {
      // dl/dp = -y/p + (1 - y)/(1 - p) = (p - y) / (p(1 - p)); the denominator is floored at
      // 1e-12 as PyTorch does, so the gradient stays finite at p = 0 or 1.
      const gp = gradOf(p);
      for (let i = 0; i < N; i++) {
        const v = pd[i];
        gp[i] += (up(i) * (v - yd[i])) / Math.max(v * (1 - v), GRAD_EPS);
      }
    }
    if (y.requiresGrad) {
      // dl/dy = max(log(1 - p), -100) - max(log p, -100)
      const gy = gradOf(y);
      for (let i = 0; i < N; i++) gy[i] += up(i) * (log1mP(i) - logP(i));
    }
  });
}

/**
 * bce(sigmoid(x), y) without forming sigmoid(x): l_i = max(x_i, 0) - x_i·y_i + log(1 + e^{-|x_i|}),
 * which never overflows and keeps full precision for large |x|.
 * x and y (any shape, the same) → scalar, or x's shape with reduction "none".
 */
export function bceWithLogits(x: Tensor, y: Tensor, opts: LossOptions = {}): Tensor {
  const op = "bceWithLogits";
  const { N, dtype, reduction } = checkPair(op, "x", x, "y", y, opts);
  const xd = x.data; // (N,)
  const yd = y.data; // (N,)
  const out = reduce(x, dtype, reduction, (i) => {
    const v = xd[i];
    return Math.max(v, 0) - v * yd[i] + Math.log1p(Math.exp(-Math.abs(v)));
  });
  return record(op, out, [x, y], (dout) => {
    const up = upstream(dout, reduction, N);
    if (x.requiresGrad) {
      // dl/dx = sigmoid(x) - y
      const gx = gradOf(x);
      for (let i = 0; i < N; i++) gx[i] += up(i) * (sigmoid(xd[i]) - yd[i]);
    }
    if (y.requiresGrad) {
      // dl/dy = -x
      const gy = gradOf(y);
      for (let i = 0; i < N; i++) gy[i] -= up(i) * xd[i];
    }
  });
}

/**
 * l_i = (a_i - b_i)².
 * a and b (any shape, the same) → scalar, or a's shape with reduction "none".
 */
export function mse(a: Tensor, b: Tensor, opts: LossOptions = {}): Tensor {
  const op = "mse";
  const { N, dtype, reduction } = checkPair(op, "a", a, "b", b, opts);
  const ad = a.data; // (N,)
  const bd = b.data; // (N,)
  const out = reduce(a, dtype, reduction, (i) => {
    const d = ad[i] - bd[i];
    return d * d;
  });
  return record(op, out, [a, b], (dout) => {
    const up = upstream(dout, reduction, N);
    // dl/da = 2(a - b), dl/db = -2(a - b)
    if (a.requiresGrad) {
      const ga = gradOf(a);
      for (let i = 0; i < N; i++) ga[i] += up(i) * 2 * (ad[i] - bd[i]);
    }
    if (b.requiresGrad) {
      const gb = gradOf(b);
      for (let i = 0; i < N; i++) gb[i] -= up(i) * 2 * (ad[i] - bd[i]);
    }
  });
}

/** 1 / (1 + e^{-x}) without overflow for either sign of x. */
function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const z = Math.exp(x);
  return z / (1 + z);
}

/** Checks a prediction/target pair: Tensors, the same shape and dtype, a known reduction. */
function checkPair(
  op: string,
  predName: string,
  pred: Tensor,
  targetName: string,
  target: Tensor,
  opts: LossOptions,
): { N: number; dtype: DType; reduction: Reduction } {
  checkTensor(op, predName, pred);
  checkTensor(op, targetName, target);
  if (!sameShape(pred.shape, target.shape)) {
    throw shapeError(op, `${predName} and ${targetName} must have the same shape`, {
      [predName]: pred,
      [targetName]: target,
    });
  }
  const reduction = opts.reduction ?? "mean";
  if (reduction !== "mean" && reduction !== "sum" && reduction !== "none") {
    throw new OpError(op, `reduction must be "mean", "sum" or "none", got ${JSON.stringify(reduction)}`);
  }
  const dtype = commonDType(op, { [predName]: pred, [targetName]: target });
  return { N: pred.size, dtype, reduction };
}

/**
 * The loss tensor from per-element losses: like's shape for "none", else a scalar holding
 * the float64 sum (divided by N for "mean"; the mean of zero elements is NaN, as in PyTorch).
 */
function reduce(like: Tensor, dtype: DType, reduction: Reduction, loss: (i: number) => number): Tensor {
  const N = like.size;
  if (reduction === "none") {
    const out = output(like.shape, dtype);
    for (let i = 0; i < N; i++) out.data[i] = loss(i);
    return out;
  }
  let s = 0;
  for (let i = 0; i < N; i++) s += loss(i);
  const out = output([], dtype);
  out.data[0] = reduction === "mean" ? s / N : s;
  return out;
}

/** The upstream gradient reaching element i: dout[i] for "none", dout[0] (/ N for "mean"). */
function upstream(dout: FloatArray, reduction: Reduction, N: number): (i: number) => number {
  if (reduction === "none") return (i) => dout[i];
  const g = reduction === "mean" ? dout[0] / N : dout[0];
  return () => g;
}
