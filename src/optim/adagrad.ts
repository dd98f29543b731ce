// Adagrad, as torch.optim.Adagrad without lr_decay (the reference DLRM's `--optimizer
// adagrad` builds it with only lr): one accumulator per element, the same shape as the
// parameter, starting at initialAccumulator:
//   g += wd·w (weight decay, when wd > 0);  acc += g²;  w -= lr · g / (sqrt(acc) + eps)
// Row-sparse gradients touch only their rows, in w and in acc (kernels.adagrad_rows), like
// PyTorch's sparse Adagrad: a row that was not looked up keeps its weights and its
// accumulator. A dense step with g = 0 on that row would change nothing either (when
// eps > 0), so the two agree; the sparse one costs O(U·E) instead of O(R·E). Weight decay
// on a row-sparse gradient is lazy: it decays the touched rows, as the rows' own gradient
// would (PyTorch refuses weight decay with sparse gradients; a dense decay would touch every
// row of a table each step). The decayed gradient is a new array: p.grad stays as computed.
//
// The accumulators are allocated at a parameter's first step (a parameter that never gets a
// gradient costs nothing), in the parameter's dtype.
//
// Glossary: R rows of a table, E row length, U unique touched rows, n elements of a parameter.

import { kernels } from "../kernels/index.ts";
import { OpError } from "../tensor/shape.ts";
import { allocFloat, allocFloatLike } from "../tensor/storage.ts";
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

export interface AdagradOptions {
  lr: number;
  /** Added to sqrt(acc) in the denominator (default 1e-10, PyTorch's). */
  eps?: number;
  /** Starting value of every accumulator (default 0, PyTorch's). */
  initialAccumulator?: number;
  /**
   * L2 weight decay wd, PyTorch's weight_decay (g += wd·w before the update): one value for
   * every parameter, or one per parameter (default 0).
   */
  weightDecay?: number | readonly number[];
}

export class Adagrad implements Optimizer {
  readonly params: readonly Tensor[];
  lr: number;
  readonly eps: number;
  readonly initialAccumulator: number;
  /** Per parameter: its weight decay. */
  readonly weightDecay: readonly number[];
  /** Per parameter: the accumulators (n,), or null before its first gradient. */
  readonly #acc: (FloatArray | null)[];

  constructor(params: readonly Tensor[], opts: AdagradOptions) {
    this.params = checkParams("Adagrad", params);
    this.lr = checkNonNegative("Adagrad", "lr", opts.lr);
    this.eps = checkNonNegative("Adagrad", "eps", opts.eps ?? 1e-10);
    this.initialAccumulator = checkNonNegative("Adagrad", "initialAccumulator", opts.initialAccumulator ?? 0);
    this.#acc = this.params.map(() => null);
    const wd = opts.weightDecay ?? 0;
    if (typeof wd !== "number" && wd.length !== this.params.length) {
      throw new OpError("Adagrad", `weightDecay has ${wd.length} values for ${this.params.length} parameters`);
    }
    this.weightDecay = this.params.map((_, i) =>
      checkNonNegative("Adagrad", `weightDecay[${i}]`, typeof wd === "number" ? wd : wd[i]),
    );
  }

  /** The accumulators of parameter i (n,), or null before its first step. For checkpoints and tests. */
  state(i: number): FloatArray | null {
    return this.#acc[i] ?? null;
  }

  /**
   * The accumulators of parameter i (n,), made now at the initial value if it has not stepped
   * yet: what a checkpoint saves, and where a resumed run loads the saved state.
   */
  stateArray(i: number): FloatArray {
    const p = this.params[i];
    if (p === undefined)
      throw new OpError("Adagrad.stateArray", `no parameter ${i} (${this.params.length} parameters)`);
    let acc = this.#acc[i] ?? null;
    if (acc === null) {
      acc = allocFloatLike(p.data, p.size); // resident when the table is: no staging in the update
      acc.fill(this.initialAccumulator);
      this.#acc[i] = acc;
    }
    return acc;
  }

  step(share?: DenseShare): void {
    const lr = checkNonNegative("Adagrad.step", "lr", this.lr);
    const eps = this.eps;
    this.params.forEach((p, i) => {
      const sg = gradForStep("Adagrad.step", i, p);
      if (sg === null) return;
      p.markModified();
      const acc = this.stateArray(i); // (n,)
      const w = p.data; // (n,)
      const wd = this.weightDecay[i];
      if (sg.kind === "dense") {
        let g = sg.g; // (n,)
        const [from, to] = denseRange("Adagrad.step", share, i, w.length);
        if (wd > 0) {
          const decayed = allocFloat(p.dtype, g.length); // g + wd·w (n,), over [from, to)
          for (let j = from; j < to; j++) decayed[j] = g[j] + wd * w[j];
          g = decayed;
        }
        for (let j = from; j < to; j++) {
          const gj = g[j];
          const a = acc[j] + gj * gj; // acc += g²
          acc[j] = a;
          w[j] -= (lr * gj) / (Math.sqrt(a) + eps); // w -= lr·g/(sqrt(acc)+eps)
        }
      } else {
        const { ids, cols } = sg.rg; // ids (U,)
        let values = sg.rg.values; // (U, E)
        if (wd > 0) {
          const decayed = allocFloat(p.dtype, values.length); // the touched rows' g + wd·w (U, E)
          for (let u = 0; u < ids.length; u++) {
            const row = ids[u] * cols;
            for (let c = 0; c < cols; c++) decayed[u * cols + c] = values[u * cols + c] + wd * w[row + c];
          }
          values = decayed;
        }
        kernels.adagrad_rows(ids.length, cols, lr, eps, w, 0, acc, 0, ids, values, 0);
      }
    });
  }

  zeroGrad(): void {
    zeroGrads(this.params);
  }
}
