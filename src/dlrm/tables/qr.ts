// A quotient-remainder table (Shi et al. 2019; the reference's --qr-flag, docs/tricks.md),
// when R > qr.threshold: two pieces, emb_l.{t}.weight_q (ceil(R/c), E) at ids // c and
// emb_l.{t}.weight_r (c, E) at ids mod c (src/ops/qr_embedding_bag.ts), their pooled bags
// combined by mult, add or concat. Both halves start U(sqrt(1/R), 1), what the reference's
// `nn.init.uniform_(w, sqrt(1/R))` gives (only the lower bound set: every value positive).
//
// Glossary: t table, R rows, E embedding dim, c collisions.

import type { QRConfig } from "../config.ts";
import { combineQR, qrRows } from "../../ops/qr_embedding_bag.ts";
import type { AddPiece, InitRule, TableKind } from "./piece.ts";

export function qrTable(t: number, R: number, E: number, qr: QRConfig, add: AddPiece): TableKind {
  const c = qr.collisions;
  const rows = qrRows(R, c);
  const init: InitRule = { kind: "uniform", lo: Math.sqrt(1 / R), hi: 1 };
  const half = (which: "quotient" | "remainder", suffix: string, n: number): number =>
    add({
      table: t,
      tableRows: R,
      name: `emb_l.${t}.${suffix}`,
      rows: n,
      dim: E,
      ids: { kind: which, collisions: c },
      init,
      label: `table ${t} (${which})`,
      poolingWeight: null,
    });
  const pieces = [half("quotient", "weight_q", rows.quotient), half("remainder", "weight_r", rows.remainder)];
  return {
    kind: "qr",
    pieces,
    headParameter: null,
    vector: (pooled) => combineQR(pooled[0], pooled[1], qr.operation), // (B, E) or (B, 2E)
  };
}
