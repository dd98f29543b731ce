// The table layout of a DLRM config: what each table becomes (plain.ts, qr.ts, md.ts, with
// learned_pooling.ts), as lookup pieces (piece.ts), built once per config (tableLayout).
//
//   plain   emb_l.{t}.weight (R, E), ids as they are (+ v_W_l.{t} (R,) with learned pooling)
//   QR      emb_l.{t}.weight_q and emb_l.{t}.weight_r, when R > qr.threshold
//   MD      emb_l.{t}.embs.weight (R, d_t), when R > md.threshold, then (head)
//           emb_l.{t}.proj.weight (E, d_t) when d_t < E
//
// Glossary: t table, R rows of a table, E embedding dim, B batch, F tables.

import type { DLRMConfig } from "../config.ts";
import { OpError } from "../../tensor/shape.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { poolingWeightSpec } from "./learned_pooling.ts";
import { mdDims, mdTable } from "./md.ts";
import type { EmbeddingPiece, ParameterSpec, TableKind } from "./piece.ts";
import { plainTable } from "./plain.ts";
import { qrTable } from "./qr.ts";

export class TableLayout {
  /** Every table's pieces, table after table (QR: quotient before remainder). */
  readonly pieces: readonly EmbeddingPiece[];
  /** What each table is. */
  readonly tables: readonly TableKind[];

  constructor(config: DLRMConfig) {
    const E = config.embedding_dim;
    const pieces: EmbeddingPiece[] = [];
    const add = (p: EmbeddingPiece): number => pieces.push(p) - 1;
    const { qr, md } = config;
    const dims = md === undefined ? null : mdDims(config.table_sizes, md.temperature, E, md.round_dims);
    this.tables = config.table_sizes.map((R, t) => {
      if (qr !== undefined && R > qr.threshold) return qrTable(t, R, E, qr, add);
      if (dims !== null && md !== undefined && R > md.threshold) return mdTable(t, R, E, dims[t], add);
      return plainTable(t, R, E, config.weighted_pooling === "learned", add);
    });
    this.pieces = pieces;
  }

  /**
   * The tables' parameters in state_dict order: each table's pieces and head parameter,
   * table after table, then the pooling weights (as the reference's DLRM_Net registers
   * v_W_l after emb_l).
   */
  specs(): ParameterSpec[] {
    const piece = (i: number): ParameterSpec => {
      const p = this.pieces[i];
      return { name: p.name, shape: [p.rows, p.dim], init: p.init };
    };
    return [
      ...this.tables.flatMap((k) => [...k.pieces.map(piece), ...(k.headParameter === null ? [] : [k.headParameter])]),
      ...this.pieces.flatMap((p) => poolingWeightSpec(p) ?? []),
    ];
  }

  /** Each table's vector (B, E) from every piece's pooled bags (pieces order) and each table's head parameter. */
  vectors(pooled: readonly Tensor[], headParameters: readonly (Tensor | null)[]): Tensor[] {
    if (pooled.length !== this.pieces.length)
      throw new OpError(
        "DLRM.forward",
        `got ${pooled.length} pooled embeddings but the model's tables have ${this.pieces.length} pieces`,
      );
    return this.tables.map((k, t) =>
      k.vector(
        k.pieces.map((i) => pooled[i]),
        headParameters[t],
      ),
    );
  }
}

const layouts = new WeakMap<DLRMConfig, TableLayout>();

/** The layout of config, built once per config object. */
export function tableLayout(config: DLRMConfig): TableLayout {
  let l = layouts.get(config);
  if (l === undefined) layouts.set(config, (l = new TableLayout(config)));
  return l;
}

/** The state_dict name of plain table t's weight. */
export function tableParameter(t: number): string {
  return `emb_l.${t}.weight`;
}

/**
 * Whether a state_dict name is a table piece's or its learned pooling weights' (the
 * model-parallel part, row-sparse gradients) rather than the head's.
 */
export function isTableParameter(name: string): boolean {
  return /^emb_l\.\d+\.(weight|weight_q|weight_r|embs\.weight)$|^v_W_l\.\d+$/.test(name);
}
