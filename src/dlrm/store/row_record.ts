// The record of one table row on disk (src/dlrm/store/): the row's weights and, right after
// them, its optimizer state, so that one positional read or write moves everything a step
// needs of the row. The state parts are the optimizer's row-sparse state tensors
// (src/optim/make.ts: stateTensors) in their order, each contributing its per-row floats:
//
//   sgd              [ w (W) ]
//   adagrad          [ w (W) | sum (W) ]
//   rowwise-adagrad  [ w (W) | momentum (1) ]
//   adam             [ w (W) | momentum1 (W) | momentum2 (1) ]
//
// Glossary: W a piece's width, R its rows.

import { stateTensors, type OptimizerSpec, type StateKey } from "../../optim/make.ts";

/** One part of a record: the weights (key null) or one optimizer state tensor. */
export interface RecordPart {
  key: StateKey | null;
  /** Floats per row. */
  perRow: number;
  /** Where the part starts in the record (floats). */
  offset: number;
  /** The value of a fresh row's part (its initial optimizer state); weights come from the generator. */
  initial: number;
}

export interface RowRecord {
  parts: readonly RecordPart[];
  /** Floats per record. */
  floats: number;
}

/** The record of a piece of width W under the optimizer spec (null: weights alone). */
export function rowRecord(W: number, spec: OptimizerSpec | null): RowRecord {
  const parts: RecordPart[] = [{ key: null, perRow: W, offset: 0, initial: 0 }];
  let floats = W;
  if (spec !== null) {
    for (const s of stateTensors(spec, [2, W], true)) {
      const perRow = s.shape.slice(1).reduce((a, b) => a * b, 1);
      const initial = spec.kind === "adagrad" && s.key === "sum" ? spec.initialAccumulator : 0;
      parts.push({ key: s.key, perRow, offset: floats, initial });
      floats += perRow;
    }
  }
  return { parts, floats };
}
