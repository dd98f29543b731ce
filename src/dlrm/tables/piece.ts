// The table-layout interface (src/dlrm/tables/layout.ts builds one per config): a table is
// one or more lookup "pieces", and a rule that makes the table's (B, E) vector from their
// pooled bags. A piece is one parameter looked up by embeddingBag with ids derived from the
// table's ids; it is the unit the sharding plan places on ranks (src/parallel/plan.ts), so
// the two halves of a QR table may live on different ranks. The rule runs in the head,
// replicated on every rank (src/dlrm/model.ts).
//
// Glossary: t table, R rows of a table, E embedding dim, B batch.

import { checkIds } from "../../ops/embedding_bag.ts";
import { qrIds } from "../../ops/qr_embedding_bag.ts";
import type { Tensor } from "../../tensor/tensor.ts";

export type InitRule =
  { kind: "normal"; std: number } | { kind: "uniform"; lo: number; hi: number } | { kind: "constant"; value: number };

/** A parameter of the model: its state_dict name, shape and initialisation (src/dlrm/init.ts draws it). */
export interface ParameterSpec {
  name: string;
  shape: number[];
  init: InitRule;
}

/** How a piece's ids come from its table's ids. */
export type PieceIds =
  { kind: "same" } | { kind: "quotient"; collisions: number } | { kind: "remainder"; collisions: number };

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

/** One table of a layout: its pieces, and how its vector is made from them. */
export interface TableKind {
  readonly kind: "plain" | "qr" | "md";
  /** Its pieces' positions in the layout's list. */
  readonly pieces: readonly number[];
  /** The head parameter it needs (MD's projection), or null. */
  readonly headParameter: ParameterSpec | null;
  /** Its vector (B, E) (QR concat: (B, 2E)) from its pieces' pooled bags, in its order, and its head parameter. */
  vector(pooled: readonly Tensor[], headParameter: Tensor | null): Tensor;
}

/** Appends a piece to the layout's list; its position. */
export type AddPiece = (piece: EmbeddingPiece) => number;

/** The reference's create_emb initialisation of an R-row table: U(-sqrt(1/R), sqrt(1/R)). */
export function plainInit(R: number): InitRule {
  return { kind: "uniform", lo: -Math.sqrt(1 / R), hi: Math.sqrt(1 / R) };
}

/**
 * A piece's ids (L,) from its table's ids (L,), in [0, piece.rows): the one check of a batch's
 * ids on their way into a piece (naming the bag, given its table's offsets (B+1,)), so that
 * what is derived from them (a rank's row range) and the lookups reach the ops unscanned
 * (embeddingBag's idsBelow). A plain piece's are the same array, checked by checkIds; a QR
 * half's are quotient or remainder ids, each table id checked by qrIds against the table's rows.
 */
export function pieceIds(piece: EmbeddingPiece, ids: Int32Array, offsets: Int32Array | null = null): Int32Array {
  if (piece.ids.kind !== "same")
    return qrIds(ids, piece.ids.kind, piece.ids.collisions, piece.tableRows, `table ${piece.table}`);
  checkIds("embeddingBag", ids, offsets, piece.rows, piece.label);
  return ids;
}
