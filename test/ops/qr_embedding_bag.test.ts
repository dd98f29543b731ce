// The QR lookup: forward and the gradients of both tables and of the per-sample weights
// against a naive float64 reference (checkOp), for mult, add and concat, sum and mean; the
// row-sparse gradients touch only the rows looked up; the reference's float32 quotient above
// 2^24; and bad ids. The two halves are pooled and combined as the model does (qrEmbeddingBag below).
//
// Glossary: n ids of the original table, c collisions, E embedding dim, B bags, L lookups.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { embeddingBag, type Bags } from "../../src/ops/embedding_bag.ts";
import { combineQR, qrIds, qrQuotient, qrRows, type QROperation } from "../../src/ops/qr_embedding_bag.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { fromArray, IndexTensor, indexTensor, type Tensor } from "../../src/tensor/tensor.ts";
import { assertThrows, checkOp, randomValues } from "../../src/testing/index.ts";

/** A QR table's pooled bags as the model makes them (src/dlrm/tables/qr.ts): both halves pooled, then combined. */
function qrEmbeddingBag(
  wq: Tensor,
  wr: Tensor,
  indices: IndexTensor,
  bags: Bags,
  o: {
    collisions: number;
    operation: QROperation;
    rows: number;
    mode?: "sum" | "mean";
    perSampleWeights?: Tensor | null;
  },
): Tensor {
  const half = (w: Tensor, which: "quotient" | "remainder"): Tensor =>
    embeddingBag(w, new IndexTensor(qrIds(indices.data, which, o.collisions, o.rows, "table")), bags, {
      mode: o.mode ?? "sum",
      perSampleWeights: o.perSampleWeights ?? null,
    });
  return combineQR(half(wq, "quotient"), half(wr, "remainder"), o.operation);
}

/** Naive pooling of one table at the given ids, written from the definition. */
function pool(
  table: Float64Array,
  E: number,
  ids: number[],
  offsets: number[],
  w: Float64Array | null,
  mean: boolean,
): Float64Array {
  const B = offsets.length - 1;
  const out = new Float64Array(B * E);
  for (let b = 0; b < B; b++) {
    const a = offsets[b] as number;
    const z = offsets[b + 1] as number;
    for (let l = a; l < z; l++) {
      for (let e = 0; e < E; e++)
        out[b * E + e] += (w === null ? 1 : (w[l] as number)) * (table[(ids[l] as number) * E + e] as number);
    }
    if (mean && z > a) for (let e = 0; e < E; e++) out[b * E + e] /= z - a;
  }
  return out;
}

function combine(q: Float64Array, r: Float64Array, B: number, E: number, op: QROperation): Float64Array {
  if (op === "mult") return q.map((v, i) => v * (r[i] as number));
  if (op === "add") return q.map((v, i) => v + (r[i] as number));
  const out = new Float64Array(B * 2 * E);
  for (let b = 0; b < B; b++) {
    out.set(q.subarray(b * E, (b + 1) * E), b * 2 * E);
    out.set(r.subarray(b * E, (b + 1) * E), b * 2 * E + E);
  }
  return out;
}

for (const op of ["mult", "add", "concat"] as const) {
  for (const mode of ["sum", "mean"] as const) {
    for (const weighted of [false, true]) {
      test(`qrEmbeddingBag ${op}, ${mode}${weighted ? ", weighted" : ""}: forward and gradients of both tables${weighted ? " and the weights" : ""} against float64`, () => {
        const n = 23;
        const c = 4;
        const E = 3;
        const { quotient: Q } = qrRows(n, c); // 6 rows
        const rng = new Rng(op.length * 10 + (mode === "sum" ? 1 : 2) + (weighted ? 5 : 0));
        const lengths = [3, 0, 1, 4, 2]; // an empty bag too
        const offsets = [0];
        for (const k of lengths) offsets.push((offsets[offsets.length - 1] as number) + k);
        const L = offsets[offsets.length - 1] as number;
        const ids = Array.from({ length: L }, () => rng.int(n));
        ids[0] = n - 1; // the last id: quotient row Q - 1
        const B = lengths.length;
        const inputs = [
          { data: randomValues(Q * E, 11), shape: [Q, E] },
          { data: randomValues(c * E, 12), shape: [c, E] },
          ...(weighted ? [{ data: randomValues(L, 13, 0.5, 1.5), shape: [L] }] : []),
        ];
        checkOp({
          inputs,
          op: (wq, wr, w) =>
            qrEmbeddingBag(
              wq!,
              wr!,
              indexTensor(ids),
              { offsets: indexTensor(offsets) },
              { collisions: c, operation: op, rows: n, mode, perSampleWeights: w ?? null },
            ),
          ref: (wq, wr, w) => {
            const qi = ids.map((i) => Math.floor(i / c));
            const ri = ids.map((i) => i % c);
            const mean = mode === "mean";
            return combine(
              pool(wq!, E, qi, offsets, w ?? null, mean),
              pool(wr!, E, ri, offsets, w ?? null, mean),
              B,
              E,
              op,
            );
          },
          forward: { atol: 1e-6, rtol: 1e-6 },
          backward: { atol: 1e-6, rtol: 1e-5 },
        });
      });
    }
  }
}

test("qrEmbeddingBag: the gradients of both tables are row-sparse, on the rows the ids reach", () => {
  const n = 1000;
  const c = 7;
  const E = 2;
  const { quotient: Q } = qrRows(n, c);
  const wq = fromArray(randomValues(Q * E, 1), [Q, E], { requiresGrad: true });
  const wr = fromArray(randomValues(c * E, 2), [c, E], { requiresGrad: true });
  const ids = [999, 3, 500, 3, 71]; // quotients 142, 0, 71, 0, 10; remainders 5, 3, 3, 3, 1
  const out = qrEmbeddingBag(
    wq,
    wr,
    indexTensor(ids),
    { lengths: indexTensor([2, 3]) },
    { collisions: c, operation: "mult", rows: n },
  );
  out.backward(new Float32Array(out.size).fill(1));
  assert.equal([...(wq.rowGrad?.ids ?? [])], [0, 10, 71, 142]);
  assert.equal([...(wr.rowGrad?.ids ?? [])], [1, 3, 5]);
  assert.is(wq.grad, null, "no dense gradient of the quotient table");
  assert.is(wr.grad, null, "no dense gradient of the remainder table");
});

test("qrQuotient: float32 division, as the reference's (input / c).long()", () => {
  // Below 2^24 it is i // c.
  for (const [i, c] of [
    [0, 4],
    [3, 4],
    [4, 4],
    [16777215, 4],
    [16777215, 3],
    [1234567, 7],
  ] as const)
    assert.is(qrQuotient(i, c), Math.floor(i / c), `${i} / ${c}`);
  // Above: the values torch 1.13 gives for (torch.tensor(ids) / c).long() (printed by
  // `python3 -c "import torch; x = torch.tensor([2**24+1, 2**25-1, 2**26-1, 16777217*3+2, 2**31-1]); print((x/4).long().tolist(), (x/3).long().tolist())"`).
  const ids = [2 ** 24 + 1, 2 ** 25 - 1, 2 ** 26 - 1, 16777217 * 3 + 2, 2 ** 31 - 1];
  assert.equal(
    ids.map((i) => qrQuotient(i, 4)),
    [4194304, 8388608, 16777216, 12582913, 536870912],
  );
  assert.equal(
    ids.map((i) => qrQuotient(i, 3)),
    [5592405, 11184811, 22369622, 16777218, 715827904],
  );
  // which differ from integer division: 2^25 - 1 → 8388608, not 8388607
  assert.is.not(qrQuotient(2 ** 25 - 1, 4), Math.floor((2 ** 25 - 1) / 4));
});

test("qrIds: an id past the table, and a float32 quotient past the quotient table, are errors naming the id", () => {
  assertThrows(
    () => qrIds(Int32Array.of(1, 23), "remainder", 4, 23, "table 2"),
    /qrEmbeddingBag: index 23 out of range for table 2 with 23 rows \(lookup 1\)/,
  );
  assertThrows(() => qrIds(Int32Array.of(-1), "quotient", 4, 23, "table 2"), /index -1 out of range for table 2/);
  // n = 2^26: ceil(n / 4) = 2^24 quotient rows, but float32(2^26 - 1) / 4 rounds to 2^24
  assertThrows(
    () => qrIds(Int32Array.of(5, 2 ** 26 - 1), "quotient", 4, 2 ** 26, "table 0"),
    /index 67108863 of table 0 maps to quotient row 16777216 \(float32 division by 4.*past the 16777216 rows of its quotient table \(lookup 1\)/,
  );
});

test.run();
