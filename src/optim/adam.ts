// Adam (Kingma & Ba 2015) for DLRM: dense Adam for the MLPs, as torch.optim.Adam, and for the
// embedding tables the row-wise Adam state TorchRec keeps (FBGEMM's PARTIAL_ROWWISE_ADAM,
// TorchRec's EmbOptimType.PARTIAL_ROWWISE_ADAM). docs/ops.md writes the math out.
//
// With t the optimizer's step count (this step included), bc1 = 1 − β1^t, bc2 = 1 − β2^t:
// - Dense gradient (torch.optim.Adam without weight decay or amsgrad; state "exp_avg" and
//   "exp_avg_sq", each the shape of the parameter):
//     m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  w −= (lr/bc1) · m / (sqrt(v)/sqrt(bc2) + eps)
// - Row-sparse gradient (a table; state TorchRec's "momentum1" (R, E) and "momentum2" (R,)):
//   for each touched row r only,
//     v[r] = β2·v[r] + (1−β2)·mean_e(g[r, e]²);  m[r] = β1·m[r] + (1−β1)·g[r]
//     w[r] −= (lr/bc1) · m[r] / (sqrt(v[r])/sqrt(bc2) + eps)
//   the same expression as the dense one with one second moment per row, as FBGEMM's kernel
//   (m̂ / (sqrt(v̂) + eps) with m̂ = m/bc1, v̂ = v/bc2). An untouched row keeps its weights and
//   both moments (lazy, as FBGEMM and torch.optim.SparseAdam): its moments do not decay in the
//   steps it is not looked up. A vector (the learned pooling weights, rows of one element) is
//   updated the same way; its row-wise second moment is then element-wise.
// - t is one count for every parameter: FBGEMM's `iter`, the training step. torch.optim.Adam
//   counts per parameter the steps in which it had a gradient; in DLRM every dense parameter
//   has one at every step, so the two agree. A resumed run starts t at the steps the run had
//   done (OptimizerSpec "adam".step, from the run metadata's step).
//
// Arithmetic as the other optimizers and the sparse_rows kernels: float32 state and weights
// widened to float64, each expression evaluated in float64, rounded to float32 when stored.
// torch rounds each of its tensor ops to float32 instead, so the two agree to about 1e-6
// relative, not bit for bit (test/optim/adam_torch.test.ts).
//
// Why a TypeScript loop over the touched rows and no sparse_rows kernel: the loop is O(U·E)
// like the kernels, and measured on the shared 2-core machine (load average ~20, 2026-12-07)
// it does not cost enough to pay for one:
// - alone, on a resident 100000 × 16 table with 2560 touched rows: 1.7 ms per step, against
//   0.8-1.0 ms for the row-wise and element-wise Adagrad kernels (as many floats moved);
// - in a step of the Kaggle-shaped model (bench/train.bench.ts, tables capped at 100000 rows,
//   batch 2048, one thread): optimizer.step 58-118 ms with Adam (dense Adam included) against
//   36-45 ms with row-wise Adagrad, in steps of 775-1318 ms: 2-6% of a step, of which a kernel
//   could save about half;
// - the built-in model through `dlrm train` (300 steps): 6.8-8.3 s with Adam, 6.5-8.2 s with
//   the Adagrads, no difference above the noise.
//
// The state is allocated at a parameter's first step (or when a checkpoint is loaded into
// it), in the parameter's dtype, resident when the parameter is (allocFloatLike).
//
// Glossary: R rows of a table, E row length, U unique touched rows, n elements of a parameter,
// t the step count.

import { formatShape, OpError } from "../tensor/shape.ts";
import { allocFloatLike } from "../tensor/storage.ts";
import type { FloatArray, Tensor } from "../tensor/tensor.ts";
import {
  checkNonNegative,
  checkParams,
  denseRange,
  gradForStep,
  zeroGrads,
  type DenseShare,
  type Optimizer,
} from "./optimizer.ts";

export interface AdamOptions {
  lr: number;
  /** β1, β2 (default torch's 0.9, 0.999); each in [0, 1). */
  betas?: readonly [number, number];
  /** Added to the denominator (default torch's 1e-8). */
  eps?: number;
  /** Steps already taken (a resumed run's); the next step is t = step + 1. Default 0. */
  step?: number;
}

/** A parameter's state: element-wise moments for dense gradients, or a table's row-wise second moment. */
export type AdamState =
  | { kind: "dense"; m: FloatArray; v: FloatArray } // m, v (n,)
  | { kind: "rows"; m: FloatArray; v: FloatArray }; // m (R·E,), v (R,)

export type AdamStateKey = "exp_avg" | "exp_avg_sq" | "momentum1" | "momentum2";

export class Adam implements Optimizer {
  readonly params: readonly Tensor[];
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Steps taken (t of the last step). */
  #t: number;
  readonly #state: (AdamState | null)[];

  constructor(params: readonly Tensor[], opts: AdamOptions) {
    this.params = checkParams("Adam", params);
    this.lr = checkNonNegative("Adam", "lr", opts.lr);
    const [b1, b2] = opts.betas ?? [0.9, 0.999];
    this.beta1 = checkBeta(0, b1);
    this.beta2 = checkBeta(1, b2);
    this.eps = checkNonNegative("Adam", "eps", opts.eps ?? 1e-8);
    const step = opts.step ?? 0;
    if (!Number.isInteger(step) || step < 0)
      throw new OpError("Adam", `step must be a non-negative integer, got ${String(step)}`);
    this.#t = step;
    this.#state = this.params.map(() => null);
  }

  /** Steps taken so far: the bias corrections' t of the last step. */
  get stepCount(): number {
    return this.#t;
  }

  /** The state of parameter i, or null before its first gradient. For tests. */
  state(i: number): AdamState | null {
    return this.#state[i] ?? null;
  }

  /**
   * State tensor `key` of parameter i, made now at zero if it has not stepped yet: what a
   * checkpoint saves and a resumed run loads into. exp_avg/exp_avg_sq are a dense parameter's,
   * momentum1/momentum2 a table's; asking for the other kind than the parameter has is the
   * error of a gradient changing form.
   */
  stateArray(i: number, key: AdamStateKey): FloatArray {
    const st = this.#stateOf(i, key === "exp_avg" || key === "exp_avg_sq" ? "dense" : "rows");
    return key === "exp_avg" || key === "momentum1" ? st.m : st.v;
  }

  #stateOf(i: number, kind: "dense" | "rows"): AdamState {
    const p = this.params[i];
    if (p === undefined) throw new OpError("Adam.stateArray", `no parameter ${i} (${this.params.length} parameters)`);
    let st = this.#state[i] ?? null;
    if (st === null) {
      const m = allocFloatLike(p.data, p.size);
      const v = allocFloatLike(p.data, kind === "rows" ? p.shape[0] : p.size);
      st = kind === "rows" ? { kind, m, v } : { kind, m, v };
      this.#state[i] = st;
    } else if (st.kind !== kind) {
      const was = st.kind === "rows" ? "row-sparse" : "dense";
      const now = kind === "rows" ? "row-sparse" : "dense";
      throw new OpError(
        "Adam.step",
        `parameter ${i} ${formatShape(p.shape)} had a ${was} gradient at its first step and has a ${now} one now; its ${st.kind === "rows" ? "row-wise" : "element-wise"} second moments cannot serve both`,
      );
    }
    return st;
  }

  step(share?: DenseShare): void {
    const lr = checkNonNegative("Adam.step", "lr", this.lr);
    const t = this.#t + 1;
    const { beta1: b1, beta2: b2, eps } = this;
    const stepSize = lr / (1 - b1 ** t); // lr / bc1
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    this.params.forEach((p, i) => {
      const sg = gradForStep("Adam.step", i, p);
      if (sg === null) return;
      p.markModified();
      const w = p.data; // (n,)
      if (sg.kind === "dense") {
        const { m, v } = this.#stateOf(i, "dense"); // (n,) each
        const g = sg.g; // (n,)
        const [from, to] = denseRange("Adam.step", share, i, w.length);
        for (let j = from; j < to; j++) {
          const gj = g[j];
          const mj = b1 * m[j] + (1 - b1) * gj;
          const vj = b2 * v[j] + (1 - b2) * gj * gj;
          m[j] = mj;
          v[j] = vj;
          w[j] -= (stepSize * mj) / (Math.sqrt(vj) / bc2Sqrt + eps);
        }
      } else {
        const { m, v } = this.#stateOf(i, "rows"); // m (R·E,), v (R,)
        adamRows(sg.rg.ids, sg.rg.values, sg.rg.cols, w, m, v, b1, b2, eps, stepSize, bc2Sqrt);
      }
    });
    this.#t = t;
  }

  zeroGrad(): void {
    zeroGrads(this.params);
  }
}

/**
 * Row-wise Adam on the touched rows: ids (U,) unique, values (U, E) their gradients; table
 * and m (R·E,), v (R,). The second moment of a row is fed the mean of its squared gradient
 * (summed in order, in float64).
 */
function adamRows(
  ids: Int32Array,
  values: FloatArray,
  E: number,
  table: FloatArray,
  m: FloatArray,
  v: FloatArray,
  b1: number,
  b2: number,
  eps: number,
  stepSize: number,
  bc2Sqrt: number,
): void {
  for (let u = 0; u < ids.length; u++) {
    const r = ids[u];
    const g0 = u * E;
    let sq = 0;
    for (let e = 0; e < E; e++) sq += values[g0 + e] * values[g0 + e];
    const vr = b2 * v[r] + (1 - b2) * (E === 0 ? 0 : sq / E);
    v[r] = vr;
    const denom = Math.sqrt(vr) / bc2Sqrt + eps; // one per row
    const w0 = r * E;
    for (let e = 0; e < E; e++) {
      const me = b1 * m[w0 + e] + (1 - b1) * values[g0 + e];
      m[w0 + e] = me;
      table[w0 + e] -= (stepSize * me) / denom;
    }
  }
}

function checkBeta(k: number, b: number): number {
  if (typeof b !== "number" || !(b >= 0 && b < 1))
    throw new OpError("Adam", `betas[${k}] must be in [0, 1), got ${String(b)}`);
  return b;
}
