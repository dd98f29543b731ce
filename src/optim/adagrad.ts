// Adagrad, as torch.optim.Adagrad without lr_decay and weight decay (the reference DLRM's
// `--optimizer adagrad` builds it with only lr): one accumulator per element, the same
// shape as the parameter, starting at initialAccumulator:
//   acc += g²;  w -= lr · g / (sqrt(acc) + eps)
// Row-sparse gradients touch only their rows, in w and in acc (kernels.adagrad_rows), like
// PyTorch's sparse Adagrad: a row that was not looked up keeps its weights and its
// accumulator. A dense step with g = 0 on that row would change nothing either (when
// eps > 0), so the two agree; the sparse one costs O(U·E) instead of O(R·E).
//
// The accumulators are allocated at a parameter's first step (a parameter that never gets a
// gradient costs nothing), in the parameter's dtype.
//
// Glossary: R rows of a table, E row length, U unique touched rows, n elements of a parameter.

import { kernels } from "../kernels/index.ts";
import { allocFloatLike } from "../tensor/storage.ts";
import type { FloatArray, Tensor } from "../tensor/tensor.ts";
import { checkNonNegative, checkParams, gradForStep, zeroGrads, type Optimizer } from "./optimizer.ts";

export interface AdagradOptions {
  lr: number;
  /** Added to sqrt(acc) in the denominator (default 1e-10, PyTorch's). */
  eps?: number;
  /** Starting value of every accumulator (default 0, PyTorch's). */
  initialAccumulator?: number;
}

export class Adagrad implements Optimizer {
  readonly params: readonly Tensor[];
  lr: number;
  readonly eps: number;
  readonly initialAccumulator: number;
  /** Per parameter: the accumulators (n,), or null before its first gradient. */
  readonly #acc: (FloatArray | null)[];

  constructor(params: readonly Tensor[], opts: AdagradOptions) {
    this.params = checkParams("Adagrad", params);
    this.lr = checkNonNegative("Adagrad", "lr", opts.lr);
    this.eps = checkNonNegative("Adagrad", "eps", opts.eps ?? 1e-10);
    this.initialAccumulator = checkNonNegative("Adagrad", "initialAccumulator", opts.initialAccumulator ?? 0);
    this.#acc = this.params.map(() => null);
  }

  /** The accumulators of parameter i (n,), or null before its first step. For checkpoints and tests. */
  state(i: number): FloatArray | null {
    return this.#acc[i] ?? null;
  }

  step(): void {
    const lr = checkNonNegative("Adagrad.step", "lr", this.lr);
    const eps = this.eps;
    this.params.forEach((p, i) => {
      const sg = gradForStep("Adagrad.step", i, p);
      if (sg === null) return;
      let acc = this.#acc[i] as FloatArray | null; // (n,)
      if (acc === null) {
        acc = allocFloatLike(p.data, p.size); // resident when the table is: no staging in the update
        acc.fill(this.initialAccumulator);
        this.#acc[i] = acc;
      }
      const w = p.data; // (n,)
      if (sg.kind === "dense") {
        const g = sg.g; // (n,)
        for (let j = 0; j < w.length; j++) {
          const gj = g[j] as number;
          const a = (acc[j] as number) + gj * gj; // acc += g²
          acc[j] = a;
          w[j] -= (lr * gj) / (Math.sqrt(a) + eps); // w -= lr·g/(sqrt(acc)+eps)
        }
      } else {
        const { ids, values, cols } = sg.rg; // ids (U,), values (U, E)
        kernels.adagrad_rows(ids.length, cols, lr, eps, w, 0, acc, 0, ids, values, 0);
      }
    });
  }

  zeroGrad(): void {
    zeroGrads(this.params);
  }
}
