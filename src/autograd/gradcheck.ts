// gradcheck: compare the gradients backward() computes with float64 central differences.
//
// The function is run in float64 (its inputs are converted), so the finite differences
// are accurate to about 1e-10 and any real mismatch is the backward's fault. Every op of
// this library accepts float64 tensors for this reason.

import { noGrad } from "./tape.ts";
import { Rng } from "../tensor/rng.ts";
import { OpError } from "../tensor/shape.ts";
import { toDType, type Tensor } from "../tensor/tensor.ts";

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Allowed |analytic - numeric| <= atol + rtol·|numeric| (defaults 1e-5, 1e-3). */
  atol?: number;
  rtol?: number;
  /** Seed of the random upstream gradient (default 0). */
  seed?: number;
}

export interface GradcheckMismatch {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** The largest |analytic - numeric| over all checked inputs. */
  maxAbsError: number;
  /** The first few elements that failed the tolerance. */
  mismatches: GradcheckMismatch[];
}

/**
 * Check d(sum(g · fn(inputs)))/d(input) for every input with requiresGrad, where g is a
 * random upstream gradient. fn must build its output from this library's ops.
 */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  opts: GradcheckOptions = {},
): GradcheckResult {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  const xs = inputs.map((t) => {
    const x = toDType(t, "float64");
    x.requiresGrad = t.requiresGrad;
    return x;
  });
  if (!xs.some((x) => x.requiresGrad)) throw new OpError("gradcheck", "no input has requiresGrad: nothing to check");

  const y = fn(...xs);
  if (y.dtype !== "float64")
    throw new OpError(
      "gradcheck",
      "fn returned a float32 tensor from float64 inputs; build it from this library's ops",
    );
  const rng = new Rng(opts.seed ?? 0);
  const g = new Float64Array(y.size);
  for (let i = 0; i < g.length; i++) g[i] = rng.uniformIn(-1, 1);
  y.backward(g);

  const objective = (): number =>
    noGrad(() => {
      const out = fn(...xs).data;
      let s = 0;
      for (let i = 0; i < out.length; i++) s += g[i] * out[i];
      return s;
    });

  let maxAbsError = 0;
  const mismatches: GradcheckMismatch[] = [];
  xs.forEach((x, input) => {
    if (!x.requiresGrad) return;
    const analytic = denseGradient(x);
    for (let i = 0; i < x.size; i++) {
      const saved = x.data[i];
      x.data[i] = saved + eps;
      const plus = objective();
      x.data[i] = saved - eps;
      const minus = objective();
      x.data[i] = saved;
      const numeric = (plus - minus) / (2 * eps);
      const a = analytic[i];
      const err = Math.abs(a - numeric);
      maxAbsError = Math.max(maxAbsError, err);
      if (!(err <= atol + rtol * Math.abs(numeric)) && mismatches.length < 10) {
        mismatches.push({ input, index: i, analytic: a, numeric });
      }
    }
  });
  return { ok: mismatches.length === 0, maxAbsError, mismatches };
}

/** A tensor's whole gradient as a dense array (row-sparse gradients scattered into it). */
export function denseGradient(t: Tensor): Float64Array {
  const out = new Float64Array(t.size);
  if (t.grad !== null) out.set(t.grad);
  if (t.rowGrad !== null) {
    const { ids, values, cols } = t.rowGrad;
    for (let i = 0; i < ids.length; i++) {
      for (let c = 0; c < cols; c++) out[ids[i] * cols + c] += values[i * cols + c];
    }
  }
  return out;
}
