// A batch's ids are checked once, on their way into a table piece (pieceIds,
// src/dlrm/tables/piece.ts), and what is derived from them (a QR half's ids, a rank's row
// range, the learned pooling weights' gather) reaches the ops as in range (idsBelow). The
// one check still names the op, the table and the offending id, on one thread and on a
// rank's rows; the ops refuse ids said to be in range for more rows than the table has.

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { SparseInput } from "../../src/data/batch.ts";
import { parseConfig } from "../../src/dlrm/config.ts";
import { tableLayout } from "../../src/dlrm/tables/layout.ts";
import { poolPiece } from "../../src/dlrm/tables/pool.ts";
import { embeddingBag, gatherRowWeights } from "../../src/ops/embedding_bag.ts";
import { interactionWidth } from "../../src/ops/interaction.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { fromArray, indexTensor, Tensor } from "../../src/tensor/tensor.ts";

const E = 2;

function layout(o: { qr?: boolean; learned?: boolean }) {
  const tables = [5, 23];
  return tableLayout(
    parseConfig({
      dense_features: 1,
      bottom_mlp: [1, E],
      embedding_dim: E,
      table_sizes: tables,
      top_mlp: [interactionWidth(E, tables.length, "dot", false), 1],
      ...(o.qr ? { qr: { threshold: 10, collisions: 4, operation: "add" } } : {}),
      ...(o.learned ? { weighted_pooling: "learned" } : {}),
    }),
  ).pieces;
}

/** Two bags of table t's ids: [ids[0]], [ids[1], ids[2]]. */
function bags(ids: number[]): SparseInput {
  return { indices: indexTensor(ids), offsets: indexTensor([0, 1, 3]), weights: null };
}

const weight = (rows: number): Tensor => new Tensor(new Float32Array(rows * E), [rows, E]);

test("a plain piece: the id past the table is an error naming embeddingBag, the table, the id and its bag, whole or a rank's rows", () => {
  const [p] = layout({});
  const whole = /^embeddingBag: index 5 out of range for table 0 with 5 rows \(bag 1\)$/;
  assertThrows(() => poolPiece(p, weight(5), null, bags([0, 1, 5]), "sum"), whole);
  // A rank holding rows [0, 2) of table 0: id 5 is in none of its rows, and still an error, not dropped.
  assertThrows(() => poolPiece(p, weight(2), null, bags([0, 1, 5]), "sum", { rowStart: 0, rowEnd: 2 }), whole);
  assertThrows(
    () => poolPiece(p, weight(5), null, bags([-1, 1, 2]), "mean"),
    /^embeddingBag: index -1 out of range for table 0 with 5 rows \(bag 0\)$/,
  );
});

test("learned pooling: the id is checked once, before the row weights' gather, with the same message", () => {
  const [p] = layout({ learned: true });
  const rowWeights = new Tensor(new Float32Array(5).fill(1), [5]);
  assertThrows(
    () => poolPiece(p, weight(5), rowWeights, bags([0, 7, 1]), "sum"),
    /^embeddingBag: index 7 out of range for table 0 with 5 rows \(bag 1\)$/,
  );
});

test("a QR half: the table's id is checked against the table's rows by qrEmbeddingBag, whole or a rank's rows", () => {
  const pieces = layout({ qr: true });
  const [q, r] = pieces.filter((x) => x.table === 1); // (6, E) quotient, (4, E) remainder
  const past = /^qrEmbeddingBag: index 23 out of range for table 1 with 23 rows \(lookup 2\)$/;
  assertThrows(() => poolPiece(q, weight(q.rows), null, bags([0, 22, 23]), "sum"), past);
  assertThrows(() => poolPiece(r, weight(r.rows), null, bags([0, 22, 23]), "sum"), past);
  assertThrows(() => poolPiece(q, weight(3), null, bags([0, 22, 23]), "sum", { rowStart: 3, rowEnd: 6 }), past);
  // In range, both halves pool: ids 22 → quotient row 5 and remainder row 2.
  const w = new Tensor(
    Float32Array.from({ length: 12 }, (_, i) => i),
    [6, E],
  );
  assert.equal(Array.from(poolPiece(q, w, null, bags([0, 22, 22]), "sum").data), [0, 1, 20, 22]);
});

test("ids said to be in range for more rows than the table has are refused, naming the op and the table", () => {
  const ids = indexTensor([0, 1]);
  const offsets = { offsets: indexTensor([0, 2]) };
  assertThrows(
    () => embeddingBag(weight(3), ids, offsets, { table: "table 4", idsBelow: 5 }),
    /^embeddingBag: the ids were checked against 5 rows, more than the 3 of table 4$/,
  );
  assertThrows(
    () => gatherRowWeights(fromArray([1, 1]), ids, { table: "table 4", idsBelow: 3 }),
    /^gatherRowWeights: the ids were checked against 3 rows, more than the 2 of the row weights of table 4$/,
  );
  assert.equal(Array.from(embeddingBag(weight(3), ids, offsets, { idsBelow: 3 }).data), [0, 0]);
});

test.run();
