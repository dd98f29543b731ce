// Row-wise sparse Adagrad: the reference DLRM's `--optimizer rwsadagrad`
// (facebookresearch/dlrm optim/rwsadagrad.py, class RWSAdagrad). For an embedding table
// the element-wise Adagrad state is as big as the table; row-wise Adagrad keeps one
// accumulator per row instead (R floats, not R·E), fed by the mean square of the row's
// gradient:
//   acc[r] += mean_e(g[r, e]²);  w[r, :] -= lr · g[r, :] / (sqrt(acc[r]) + eps)
// on the touched rows only (kernels.rowwise_adagrad_rows).
//
// What the reference does, read from rwsadagrad.py (and followed here):
// - A row-sparse gradient gets the row-wise update above; its state is a float vector of
//   the table's row count, initialised to initial_accumulator_value (0 in DLRM, which
//   passes only lr); an empty sparse gradient changes nothing. (Its state is float32, the
//   dtype of DLRM's parameters; here it takes the parameter's dtype, so float64 runs work.)
// - A dense gradient gets plain element-wise Adagrad: sum += g², w -= lr·g/(sqrt(sum)+eps),
//   with a state the shape of the parameter. So the MLP weights are trained by Adagrad.
// - A vector (1-D parameter: the reference's learned pooling weights v_W_l.{t}) has rows of
//   one element, where the row-wise and the element-wise update are the same arithmetic; the
//   reference gives it a dense gradient (gather's backward) and so element-wise state "sum".
//   Here its gradient is row-sparse, and it gets the row-wise update on the touched rows
//   with element-wise state (R,): the same numbers and the reference's state name.
// - eps defaults to 1e-10; lr_decay and weight_decay are 0 in DLRM and left out here.
// - The kind of state (row-wise or element-wise) is chosen from the first gradient seen and
//   never changes. The reference then fails with a KeyError if a parameter's gradient
//   changes form; here that is an error naming the parameter. (The reference also decides
//   for all parameters at the first step, so a parameter without a gradient at step 1
//   never gets state and crashes later; here state is created per parameter at its own
//   first gradient.)
//
// Glossary: R rows of a table, E row length, U unique touched rows, n elements of a parameter.

import { kernels } from "../kernels/index.ts";
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

export interface RowWiseAdagradOptions {
  lr: number;
  /** Added to sqrt(acc) in the denominator (default 1e-10, the reference's). */
  eps?: number;
}

/** The state of one parameter: row-wise (R,) for sparse gradients, element-wise (n,) for dense ones. */
export interface RowWiseAdagradState {
  kind: "rows" | "dense";
  acc: FloatArray;
}

export class RowWiseAdagrad implements Optimizer {
  readonly params: readonly Tensor[];
  lr: number;
  readonly eps: number;
  readonly #state: (RowWiseAdagradState | null)[];

  constructor(params: readonly Tensor[], opts: RowWiseAdagradOptions) {
    this.params = checkParams("RowWiseAdagrad", params);
    this.lr = checkNonNegative("RowWiseAdagrad", "lr", opts.lr);
    this.eps = checkNonNegative("RowWiseAdagrad", "eps", opts.eps ?? 1e-10);
    this.#state = this.params.map(() => null);
  }

  /** The state of parameter i, or null before its first gradient. For checkpoints and tests. */
  state(i: number): RowWiseAdagradState | null {
    return this.#state[i] ?? null;
  }

  /**
   * The accumulators of parameter i of this kind (row-wise (R,) or element-wise (n,)), made
   * now at zero if it has not stepped yet: what a checkpoint saves and a resumed run loads.
   * Asking for the other kind than the one it has is the error of a gradient changing form.
   */
  stateArray(i: number, kind: "rows" | "dense"): FloatArray {
    const p = this.params[i];
    if (p === undefined)
      throw new OpError("RowWiseAdagrad.stateArray", `no parameter ${i} (${this.params.length} parameters)`);
    let st = this.#state[i] ?? null;
    if (st === null) {
      st = { kind, acc: allocFloatLike(p.data, kind === "rows" ? p.shape[0] : p.size) }; // resident when the table is
      this.#state[i] = st;
    } else if (st.kind !== kind) {
      const was = st.kind === "rows" ? "row-sparse" : "dense";
      const now = kind === "rows" ? "row-sparse" : "dense";
      throw new OpError(
        "RowWiseAdagrad.step",
        `parameter ${i} ${formatShape(p.shape)} had a ${was} gradient at its first step and has a ${now} one now; its ${st.kind === "rows" ? "row-wise" : "element-wise"} accumulators cannot serve both (the reference fixes the kind at the first step too)`,
      );
    }
    return st.acc;
  }

  step(share?: DenseShare): void {
    const lr = checkNonNegative("RowWiseAdagrad.step", "lr", this.lr);
    const eps = this.eps;
    this.params.forEach((p, i) => {
      const sg = gradForStep("RowWiseAdagrad.step", i, p);
      if (sg === null) return;
      p.markModified();
      // a vector's rows are single elements: its state is element-wise whatever its gradient's form
      const acc = this.stateArray(i, p.shape.length === 1 ? "dense" : sg.kind); // (R,) row-wise or (n,) element-wise
      const w = p.data; // (n,)
      if (sg.kind === "rows") {
        const { ids, values, cols } = sg.rg; // ids (U,), values (U, E)
        kernels.rowwise_adagrad_rows(ids.length, cols, lr, eps, w, 0, acc, 0, ids, values, 0);
      } else {
        const g = sg.g; // (n,)
        const [from, to] = denseRange("RowWiseAdagrad.step", share, i, w.length);
        for (let j = from; j < to; j++) {
          const gj = g[j];
          const a = acc[j] + gj * gj; // sum += g²
          acc[j] = a;
          w[j] -= (lr * gj) / (Math.sqrt(a) + eps); // w -= lr·g/(sqrt(sum)+eps)
        }
      }
    });
  }

  zeroGrad(): void {
    zeroGrads(this.params);
  }
}
