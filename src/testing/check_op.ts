// checkOp, the op contract the project tests every op with: forward values against a naive
// float64 reference, and every input gradient against float64 central differences of that
// reference, in one call, like tinygrad's helper_test_op. Also randomValues and assertThrows.

import { denseGradient } from "../autograd/gradcheck.ts";
import { Rng } from "../tensor/rng.ts";
import { fromArray, type Tensor } from "../tensor/tensor.ts";
import { assertClose, type Tolerance } from "./assert_close.ts";

/** An input of checkOp: flat values and shape; values are rounded to float32 first. */
export interface OpInput {
  data: ArrayLike<number>;
  shape: readonly number[];
  /** Whether to check this input's gradient (default true). */
  grad?: boolean;
}

export interface CheckOpSpec {
  inputs: OpInput[];
  /** The op under test, on float32 tensors. */
  op: (...xs: Tensor[]) => Tensor;
  /** A naive float64 implementation on flat arrays (same shapes as the inputs). */
  ref: (...xs: Float64Array[]) => ArrayLike<number>;
  /** Forward tolerance against the reference. */
  forward: Tolerance;
  /** Gradient tolerance against central differences of the reference. */
  backward: Tolerance;
  /** Seed of the random upstream gradient. */
  seed?: number;
  /** Finite-difference step (default 1e-6). */
  eps?: number;
}

/** Forward vs reference, then each gradient vs float64 central differences. */
export function checkOp(spec: CheckOpSpec): void {
  const xs64 = spec.inputs.map((x) => Float64Array.from(Float32Array.from(x.data)));
  const ts = spec.inputs.map((x, i) => fromArray(xs64[i] as Float64Array, x.shape, { requiresGrad: x.grad !== false }));
  const y = spec.op(...ts);
  const expected = spec.ref(...xs64);
  // NaN where the reference gives NaN is the contract (e.g. the mean over zero elements).
  assertClose(y.data, expected, { ...spec.forward, equalNan: true }, "forward");

  if (!ts.some((t) => t.requiresGrad)) return;
  const rng = new Rng(spec.seed ?? 1);
  const g = new Float64Array(y.size);
  for (let i = 0; i < g.length; i++) g[i] = rng.uniformIn(-1, 1);
  y.backward(Float32Array.from(g));

  const eps = spec.eps ?? 1e-6;
  const objective = (): number => {
    const out = spec.ref(...xs64);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += g[i] * out[i];
    return s;
  };
  ts.forEach((t, k) => {
    if (!t.requiresGrad) return;
    const x = xs64[k] as Float64Array;
    const numeric = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const saved = x[i];
      x[i] = saved + eps;
      const plus = objective();
      x[i] = saved - eps;
      const minus = objective();
      x[i] = saved;
      numeric[i] = (plus - minus) / (2 * eps);
    }
    assertClose(denseGradient(t), numeric, { ...spec.backward, equalNan: true }, `gradient of input ${k}`);
  });
}

/** Deterministic values in [lo, hi) for fixed-seed tests. */
export function randomValues(n: number, seed: number, lo = -1, hi = 1): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.uniformIn(lo, hi));
}

/** Assert that fn throws and that the message matches. */
export function assertThrows(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (!pattern.test(msg)) throw new Error(`threw "${msg}", which does not match ${pattern}`);
    return;
  }
  throw new Error(`did not throw (expected ${pattern})`);
}
