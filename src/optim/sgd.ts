// Plain stochastic gradient descent, torch.optim.SGD without momentum or weight decay:
// w -= lr · g. Dense gradients update the whole parameter (kernels.sgd_dense); row-sparse
// gradients update only the touched rows (kernels.sgd_rows), so an embedding table costs
// O(U·E) per step, never O(R·E), and its untouched rows stay bit-identical.
//
// Glossary: R rows of a table, E row length, U unique touched rows, n elements of a parameter.

import { kernels } from "../kernels/index.ts";
import type { Tensor } from "../tensor/tensor.ts";
import {
  checkNonNegative,
  checkParams,
  denseRange,
  gradForStep,
  zeroGrads,
  type DenseShare,
  type Optimizer,
} from "./optimizer.ts";

export interface SGDOptions {
  lr: number;
}

export class SGD implements Optimizer {
  readonly params: readonly Tensor[];
  lr: number;

  constructor(params: readonly Tensor[], opts: SGDOptions) {
    this.params = checkParams("SGD", params);
    this.lr = checkNonNegative("SGD", "lr", opts.lr);
  }

  step(share?: DenseShare): void {
    const lr = checkNonNegative("SGD.step", "lr", this.lr); // a schedule may have set it
    this.params.forEach((p, i) => {
      const sg = gradForStep("SGD.step", i, p);
      if (sg === null) return;
      p.markModified();
      const w = p.data; // (n,)
      if (sg.kind === "dense") {
        const [from, to] = denseRange("SGD.step", share, i, w.length);
        kernels.sgd_dense(to - from, lr, w, from, sg.g, from); // w -= lr·g, the expression of sgd_rows, so dense and sparse agree bit for bit
      } else {
        const { ids, values, cols } = sg.rg; // ids (U,), values (U, E)
        kernels.sgd_rows(ids.length, cols, lr, w, 0, ids, values, 0);
      }
    });
  }

  zeroGrad(): void {
    zeroGrads(this.params);
  }
}
