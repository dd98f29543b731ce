// The quotient-remainder trick (Shi et al. 2019, arXiv 1909.02107; the
// reference's tricks/qr_embedding_bag.py). A table of n rows is replaced by two small ones,
//   quotient  Q (ceil(n / c), E), looked up at q(i) = i // c,
//   remainder M (c, E),           looked up at r(i) = i mod c,
// each pooled over the bag on its own (same bags, same per-sample weights), and the two
// pooled vectors combined per bag: mult (product), add (sum) or concat (E + E wide). The
// pair (q(i), r(i)) is unique for every i, so no two ids share both rows.
//
// The quotient is computed as the reference computes it: `(input / c).long()`, a float32
// true division (torch promotes int64 / int to float32) truncated to an integer. Up to
// 2^24 it equals i // c; above, float32(i) rounds, so q(i) may differ from i // c by a few
// (different ids then share a quotient row) and may even reach ceil(n / c), past the table
// (the reference fails there with an index error; here it is an error naming the id).
//
// The model looks the two halves up as two pieces of the table (src/dlrm/tables/qr.ts), which
// the sharding plan may place on different ranks. The backward needs nothing new: each half is an embeddingBag (row-sparse gradients of Q
// and M, the rows the batch touched) and the combination is mul, add or concat, each with
// its own backward (src/ops/elementwise.ts, src/ops/shape.ts).
//
// Glossary: n ids of the original table, c collisions (remainder rows), E embedding dim,
// B bags, L lookups.

import { checkIds, embeddingBag, type Bags } from "./embedding_bag.ts";
import { add, mul } from "./elementwise.ts";
import { concat } from "./shape.ts";
import { checkIndex } from "./common.ts";
import { OpError, shapeError } from "../tensor/shape.ts";
import { IndexTensor, type Tensor } from "../tensor/tensor.ts";

const OP = "qrEmbeddingBag";

export type QROperation = "mult" | "add" | "concat";

/** The quotient row of id i, as the reference computes it: trunc(float32(i) / float32(c)) in float32. */
export function qrQuotient(i: number, c: number): number {
  // A float64 division of two float32 values rounded to float32 is the float32 division.
  return Math.trunc(Math.fround(Math.fround(i) / Math.fround(c)));
}

/** Rows of the quotient and remainder tables of an n-row table with c collisions. */
export function qrRows(n: number, c: number): { quotient: number; remainder: number } {
  return { quotient: Math.ceil(n / c), remainder: c };
}

/**
 * The quotient ids (which = "quotient") or remainder ids ("remainder") of ids (L,) of an
 * n-row table, each id checked against n first; table names it in errors.
 */
export function qrIds(
  ids: Int32Array,
  which: "quotient" | "remainder",
  c: number,
  n: number,
  table: string,
): Int32Array {
  checkIds(OP, ids, null, n, table);
  const L = ids.length;
  const out = new Int32Array(L); // (L,)
  const Q = qrRows(n, c).quotient;
  for (let l = 0; l < L; l++) {
    const id = ids[l];
    if (which === "remainder") {
      out[l] = id % c;
      continue;
    }
    const q = qrQuotient(id, c);
    if (q >= Q) {
      throw new OpError(
        OP,
        `index ${id} of ${table} maps to quotient row ${q} (float32 division by ${c}, as the reference computes it), past the ${Q} rows of its quotient table (lookup ${l})`,
      );
    }
    out[l] = q;
  }
  return out;
}

/** The two pooled halves (B, E) combined per bag: mult → (B, E), add → (B, E), concat → (B, 2E). */
export function combineQR(quotient: Tensor, remainder: Tensor, operation: QROperation): Tensor {
  if (
    quotient.shape.length !== 2 ||
    remainder.shape[0] !== quotient.shape[0] ||
    (operation !== "concat" && remainder.shape[1] !== quotient.shape[1])
  ) {
    throw shapeError("combineQR", `the pooled halves must be (B, E) alike for "${operation}"`, { quotient, remainder });
  }
  if (operation === "mult") return mul(quotient, remainder); // d/dQ = dout ⊙ M, d/dM = dout ⊙ Q
  if (operation === "add") return add(quotient, remainder); // d/dQ = d/dM = dout
  if (operation === "concat") return concat([quotient, remainder], 1); // dout split by columns
  throw new OpError("combineQR", `operation must be "mult", "add" or "concat", got ${JSON.stringify(operation)}`);
}
