// A mixed-dimension table (Ginart et al. 2019; the reference's --md-flag, docs/tricks.md),
// when R > md.threshold: one piece emb_l.{t}.embs.weight (R, d_t), pooled at its own width,
// then projected to E by the head's emb_l.{t}.proj.weight (E, d_t) when d_t < E. The table
// starts U(±sqrt(1/R)) as a plain one, the projection Xavier-uniform U(±sqrt(6/(d_t + E))).
// The widths d_t come from the reference's md_solver (mdDims).
//
// Glossary: t table, R rows, E embedding dim, d_t MD width of table t.

import { linear } from "../../ops/matmul.ts";
import { plainInit, type AddPiece, type ParameterSpec, type TableKind } from "./piece.ts";

export function mdTable(t: number, R: number, E: number, d: number, add: AddPiece): TableKind {
  const piece = add({
    table: t,
    tableRows: R,
    name: `emb_l.${t}.embs.weight`,
    rows: R,
    dim: d,
    ids: { kind: "same" },
    init: plainInit(R),
    label: `table ${t}`,
    poolingWeight: null,
  });
  return {
    kind: "md",
    pieces: [piece],
    headParameter: d < E ? projectionSpec(t, d, E) : null,
    // (B, E) = v · projᵀ, from v (B, d_t)
    vector: (pooled, proj) => (proj === null ? pooled[0] : linear(pooled[0], proj, null)),
  };
}

/** The MD projection's state_dict name, shape (E, d) and initialisation. */
export function projectionSpec(t: number, d: number, E: number): ParameterSpec {
  const a = Math.sqrt(6 / (d + E)); // xavier_uniform_: fan_in d, fan_out E
  return { name: `emb_l.${t}.proj.weight`, shape: [E, d], init: { kind: "uniform", lo: -a, hi: a } };
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
  const lamb = f(E * f(Math.pow(f(order[0].R), f(alpha))));
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
