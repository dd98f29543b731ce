// EmbeddingBag: a table of R rows of width E, pooled per bag (PyTorch's nn.EmbeddingBag
// with sparse gradients), initialised as the reference: U(-sqrt(1/R), sqrt(1/R)) from an Rng,
// or zeros (rng null) for a caller that fills the table itself (DLRM: src/dlrm/init.ts).
//
// Glossary: R rows, E embedding dim, B bags, L lookups.

import { embeddingBag, type Bags } from "../ops/embedding_bag.ts";
import { Module } from "./module.ts";
import { OpError } from "../tensor/shape.ts";
import { rand, zeros, type IndexTensor, type Tensor } from "../tensor/tensor.ts";
import { withResidentStorage } from "../tensor/storage.ts";
import type { Rng } from "../tensor/rng.ts";

export class EmbeddingBag extends Module {
  readonly weight: Tensor; // (R, E)
  readonly mode: "sum" | "mean";
  /** Used in error messages, e.g. "table 3". */
  readonly label: string;

  constructor(rows: number, dim: number, opts: { mode: "sum" | "mean"; rng: Rng | null; label?: string }) {
    super();
    if (!Number.isInteger(rows) || !Number.isInteger(dim) || rows < 1 || dim < 1) {
      throw new OpError("EmbeddingBag", `rows and dim must be positive integers, got ${rows} × ${dim}`);
    }
    const bound = Math.sqrt(1 / rows);
    // The table lives in wasm memory (resident): lookups and row updates never copy it.
    this.weight = this.registerParameter(
      "weight",
      withResidentStorage(() =>
        opts.rng === null ? zeros([rows, dim]) : rand([rows, dim], { rng: opts.rng, lo: -bound, hi: bound }),
      ),
    );
    this.mode = opts.mode;
    this.label = opts.label ?? "table";
  }

  /** Pool the bags: indices (L,), bags by offsets (B+1,) or lengths (B,), weights (L,) → (B, E). */
  forward(indices: IndexTensor, bags: Bags, perSampleWeights: Tensor | null = null): Tensor {
    return embeddingBag(this.weight, indices, bags, { mode: this.mode, perSampleWeights, table: this.label });
  }
}

/** The tables of a model as one module whose children are named "0", "1", ... */
export class EmbeddingBagCollection extends Module {
  readonly tables: EmbeddingBag[] = [];

  constructor(tableSizes: readonly number[], dim: number, opts: { mode: "sum" | "mean"; rng: Rng | null }) {
    super();
    tableSizes.forEach((rows, t) => {
      this.tables.push(
        this.registerModule(
          String(t),
          new EmbeddingBag(rows, dim, { mode: opts.mode, rng: opts.rng, label: `table ${t}` }),
        ),
      );
    });
  }
}
