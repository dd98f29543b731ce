// A plain table: one piece emb_l.{t}.weight (R, E) at the table's ids, its pooled bags the
// table's vector. With learned weighted pooling it has per-row weights (learned_pooling.ts).

import { poolingWeightName } from "./learned_pooling.ts";
import { plainInit, type AddPiece, type TableKind } from "./piece.ts";

export function plainTable(t: number, R: number, E: number, learnedPooling: boolean, add: AddPiece): TableKind {
  const piece = add({
    table: t,
    tableRows: R,
    name: `emb_l.${t}.weight`,
    rows: R,
    dim: E,
    ids: { kind: "same" },
    init: plainInit(R),
    label: `table ${t}`,
    poolingWeight: learnedPooling ? poolingWeightName(t) : null,
  });
  return { kind: "plain", pieces: [piece], headParameter: null, vector: (pooled) => pooled[0] };
}
