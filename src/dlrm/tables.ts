// The embedding layout of a DLRM config: what each table becomes, as lookup "pieces".
// A piece is one parameter looked up by embeddingBag with ids derived from the table's
// ids; it is the unit the sharding plan places on ranks (src/parallel/plan.ts), so the two
// halves of a QR table may live on different ranks. What turns a table's pooled pieces
// into its (B, E) vector (the QR combination, the MD projection) is part of the head,
// replicated on every rank (src/dlrm/model.ts).
//
//   plain   emb_l.{t}.weight (R, E), ids as they are
//   QR      emb_l.{t}.weight_q (ceil(R/c), E) at ids // c and emb_l.{t}.weight_r (c, E) at
//           ids mod c, when R > qr.threshold (src/ops/qr_embedding_bag.ts)
//   MD      emb_l.{t}.embs.weight (R, d_t), when R > md.threshold, then (head)
//           emb_l.{t}.proj.weight (E, d_t) when d_t < E
//
// Initial values (src/dlrm/init.ts draws them): a plain or MD table U(-sqrt(1/R), sqrt(1/R))
// (the reference's create_emb); QR halves U(sqrt(1/R), 1), what the reference's
// `nn.init.uniform_(w, sqrt(1/R))` gives (only the lower bound set: every value positive);
// MD projections Xavier-uniform U(±sqrt(6/(d_t + E))).
//
// Learned weighted pooling (the config's weighted_pooling "learned", the reference's
// --weighted-pooling learned) gives a plain table one more parameter, v_W_l.{t} (R,), ones at
// first: row r's lookups are scaled by v_W_l.{t}[r] before pooling. It belongs to the piece
// (poolingWeight), so it lives wherever the piece does, split by the same rows.
//
// Glossary: t table, R rows of a table, E embedding dim, c QR collisions, d_t MD width of table t.

import type { DLRMConfig } from "./config.ts";
import { qrIds, qrRows } from "../ops/qr_embedding_bag.ts";

/** How a piece's ids come from its table's ids. */
export type PieceIds =
  { kind: "same" } | { kind: "quotient"; collisions: number } | { kind: "remainder"; collisions: number };

export type InitRule =
  { kind: "normal"; std: number } | { kind: "uniform"; lo: number; hi: number } | { kind: "constant"; value: number };

export interface EmbeddingPiece {
  /** The table (sparse feature) whose ids it looks up. */
  table: number;
  /** That table's rows (its ids' range). */
  tableRows: number;
  /** Its state_dict name. */
  name: string;
  rows: number;
  dim: number;
  ids: PieceIds;
  init: InitRule;
  /** Its name in error messages, e.g. "table 3 (quotient)". */
  label: string;
  /** The state_dict name of its learned per-row pooling weights (R,), v_W_l.{t}, or null. */
  poolingWeight: string | null;
}

/** The state_dict name of table t's learned per-row pooling weights (the reference's ParameterList v_W_l). */
export function poolingWeightName(t: number): string {
  return `v_W_l.${t}`;
}

/** The initial value of every learned pooling weight: one, as the reference's torch.ones(n). */
export const POOLING_WEIGHT_INIT: InitRule = { kind: "constant", value: 1 };

/** What a table is: its pieces' positions in embeddingPieces order, and how the head makes its vector. */
export type TableLayout =
  | { kind: "plain"; piece: number }
  | { kind: "qr"; quotient: number; remainder: number; operation: "mult" | "add" | "concat" }
  | { kind: "md"; piece: number; dim: number };

/** Every table's layout, and the pieces in order (table after table; quotient before remainder). */
export function embeddingLayout(config: DLRMConfig): { tables: TableLayout[]; pieces: EmbeddingPiece[] } {
  const E = config.embedding_dim;
  const pieces: EmbeddingPiece[] = [];
  const tables: TableLayout[] = [];
  const dims =
    config.md === undefined ? null : mdDims(config.table_sizes, config.md.temperature, E, config.md.round_dims);
  config.table_sizes.forEach((R, t) => {
    /** Appends a piece of table t; its index. */
    const add = (name: string, rows: number, dim: number, ids: PieceIds, init: InitRule, half = ""): number => {
      const label = half === "" ? `table ${t}` : `table ${t} (${half})`;
      // weighted pooling excludes QR and MD (parseConfig): only a plain table ("weight") has weights
      const poolingWeight = config.weighted_pooling === "learned" && name === "weight" ? poolingWeightName(t) : null;
      pieces.push({ table: t, tableRows: R, name: `emb_l.${t}.${name}`, rows, dim, ids, init, label, poolingWeight });
      return pieces.length - 1;
    };
    const plainInit: InitRule = { kind: "uniform", lo: -Math.sqrt(1 / R), hi: Math.sqrt(1 / R) };
    const qr = config.qr;
    if (qr !== undefined && R > qr.threshold) {
      const c = qr.collisions;
      const rows = qrRows(R, c);
      const init: InitRule = { kind: "uniform", lo: Math.sqrt(1 / R), hi: 1 };
      const quotient = add("weight_q", rows.quotient, E, { kind: "quotient", collisions: c }, init, "quotient");
      const remainder = add("weight_r", rows.remainder, E, { kind: "remainder", collisions: c }, init, "remainder");
      tables.push({ kind: "qr", quotient, remainder, operation: qr.operation });
    } else if (dims !== null && config.md !== undefined && R > config.md.threshold) {
      const d = dims[t];
      tables.push({ kind: "md", piece: add("embs.weight", R, d, { kind: "same" }, plainInit), dim: d });
    } else {
      tables.push({ kind: "plain", piece: add("weight", R, E, { kind: "same" }, plainInit) });
    }
  });
  return { tables, pieces };
}

/** The pieces of a config (embeddingLayout's), in order. */
export function embeddingPieces(config: DLRMConfig): EmbeddingPiece[] {
  return embeddingLayout(config).pieces;
}

/** The MD projection's state_dict name, shape (E, d) and initialisation. */
export function projectionSpec(t: number, d: number, E: number): { name: string; shape: number[]; init: InitRule } {
  const a = Math.sqrt(6 / (d + E)); // xavier_uniform_: fan_in d, fan_out E
  return { name: `emb_l.${t}.proj.weight`, shape: [E, d], init: { kind: "uniform", lo: -a, hi: a } };
}

/**
 * A piece's ids from its table's ids (L,): the same array for a plain piece (the lookup
 * checks it), else quotient or remainder ids, each table id checked against the table's rows.
 */
export function pieceIds(piece: EmbeddingPiece, ids: Int32Array): Int32Array {
  if (piece.ids.kind === "same") return ids;
  return qrIds(ids, piece.ids.kind, piece.ids.collisions, piece.tableRows, `table ${piece.table}`);
}

/**
 * The reference's md_solver with d0 = E: widths by the alpha-power rule. Tables sorted by
 * rows; the smallest gets E, table i gets round(E · (R_min / R_i)^alpha), at least 1, each step
 * in float32 as torch computes it; with roundDims, 2^round(log2 d). The result is in table order.
 */
export function mdDims(tableSizes: readonly number[], alpha: number, E: number, roundDims: boolean): number[] {
  const f = Math.fround;
  const order = tableSizes.map((R, t) => ({ R, t })).sort((a, b) => a.R - b.R || a.t - b.t);
  const dims = new Array<number>(tableSizes.length);
  if (order.length === 0) return dims;
  const lamb = f(E * f(Math.pow(f((order[0] as { R: number }).R), f(alpha))));
  order.forEach(({ R, t }, i) => {
    let d = i === 0 ? E : Math.max(1, f(lamb * f(Math.pow(f(R), f(-alpha)))));
    d = roundHalfEven(d);
    if (roundDims) d = 2 ** roundHalfEven(Math.log2(d));
    dims[t] = d;
  });
  return dims;
}

/** torch.round: to the nearest integer, ties to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
