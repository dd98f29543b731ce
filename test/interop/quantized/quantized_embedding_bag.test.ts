// quantizedEmbeddingBag (src/interop/quantized/quantized_embedding_bag.ts): the op equals embeddingBag on
// the dequantized table bit for bit (sum and mean, weights), records nothing, and refuses bad
// input with messages naming the op, the table, the bag or the offending value. Under
// DLRM_KERNELS=js (test/run.ts runs test/ops/ twice) the TypeScript twin gives the same bits.
//
// Glossary: R rows, E embedding dim, B bags, L lookups.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { dequantizeRows } from "../../../src/kernels/fused_rows.ts";
import { embeddingBag } from "../../../src/ops/embedding_bag.ts";
import {
  quantizedEmbeddingBag,
  quantizedTable,
  quantizeTable,
} from "../../../src/interop/quantized/quantized_embedding_bag.ts";
import { assertThrows } from "../../../src/testing/index.ts";
import { Rng } from "../../../src/tensor/rng.ts";
import { fromArray, indexTensor, rand } from "../../../src/tensor/tensor.ts";

const R = 9;
const E = 6;

test("quantizedEmbeddingBag = embeddingBag on the dequantized table, bit for bit (int8/int4, sum/mean, weights)", () => {
  const weight = rand([R, E], { rng: new Rng(4), lo: -0.4, hi: 0.4 });
  const indices = indexTensor([0, 8, 3, 3, 5, 1]);
  const offsets = indexTensor([0, 1, 1, 4, 6]); // bags {0}, {}, {8, 3, 3}, {5, 1}
  const w = fromArray([0.5, 1, -2, 0.25, 1.5, 3]);
  for (const bits of [8, 4] as const) {
    const q = quantizeTable(weight, bits, "table 0");
    const dq = fromArray(Array.from(dequantizeRows(bits, q.data, R, E)), [R, E]);
    for (const mode of ["sum", "mean"] as const) {
      for (const perSampleWeights of [null, w]) {
        const got = quantizedEmbeddingBag(q, indices, offsets, { mode, perSampleWeights });
        const want = embeddingBag(dq, indices, { offsets }, { mode, perSampleWeights });
        assert.equal(got.shape, [4, E]);
        assert.equal(
          Array.from(got.data),
          Array.from(want.data),
          `int${bits} ${mode} ${perSampleWeights ? "weighted" : ""}`,
        );
        assert.is(got.requiresGrad, false);
      }
    }
  }
});

test("quantizedEmbeddingBag: bad ids, offsets, weights and mode are errors naming the op and what is wrong", () => {
  const q = quantizeTable(rand([R, E], { rng: new Rng(1) }), 8, "table 2");
  const ok = indexTensor([0, 1]);
  assertThrows(
    () => quantizedEmbeddingBag(q, indexTensor([0, 9]), indexTensor([0, 1, 2]), { table: "table 2" }),
    /quantizedEmbeddingBag: index 9 out of range for table 2 with 9 rows \(bag 1\)/,
  );
  assertThrows(() => quantizedEmbeddingBag(q, ok, indexTensor([1, 2])), /offsets\[0\] must be 0, got 1/);
  assertThrows(
    () => quantizedEmbeddingBag(q, ok, indexTensor([0, 2, 1, 2])),
    /offsets must be non-decreasing, but offsets\[2\] = 1 < offsets\[1\] = 2/,
  );
  assertThrows(
    () => quantizedEmbeddingBag(q, ok, indexTensor([0, 1])),
    /offsets\[B\] must equal the number of lookups L = 2, got 1/,
  );
  assertThrows(
    () => quantizedEmbeddingBag(q, ok, indexTensor([0, 2]), { perSampleWeights: fromArray([1, 2, 3]) }),
    /perSampleWeights must be float32 \(L,\) with one weight per lookup, L = 2/,
  );
  assertThrows(
    () => quantizedEmbeddingBag(q, ok, indexTensor([0, 2]), { mode: "max" as "sum" }),
    /mode must be "sum" or "mean", got "max"/,
  );
  assertThrows(
    () => quantizedTable(8, R, E, new Uint8Array(R * (E + 8) - 1), "file.safetensors: emb_l.0.weight"),
    /emb_l\.0\.weight: 9 rows of dim 6 at 8 bits need 126 bytes \(14 a row\), got 125/,
  );
});

test.run();
