// Weights that are not numbers, refused where they are read: every float tensor of a checkpoint
// goes through readPiece (src/dlrm/checkpoint.ts), whatever the file's format (safetensors or
// .pt) and whoever reads it (predict, train --init and --resume, convert, export, the ranks of
// a parallel run), and readPiece checks each piece it reads here, by the one check
// (firstNonFinite, src/tensor/finite.ts). A NaN or an infinity in a
// weight would otherwise make every prediction NaN, or silently 0 or 1, and a training run
// would blame the learning rate. The error names the file, the tensor, the element (its index
// in each dimension) and the value.
//
// `dlrm predict` also checks every prediction: with finite weights and data (the data's values
// are checked when read, src/dlrm/check_data.ts), a prediction that is not finite is an
// overflow inside the model, and the error says so.

import { DataError } from "./check_data.ts";
import { firstNonFinite } from "../tensor/finite.ts";

/** Where a piece of a tensor came from: file, tensor name and shape, and the flat index of the piece's first element. */
export interface PieceSource {
  path: string;
  tensor: string;
  shape: readonly number[];
  first: number;
}

/** The index of flat element k in each dimension of shape, as "[i, j]". */
function elementIndex(shape: readonly number[], k: number): string {
  const at: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d];
    at.unshift(n === 0 ? 0 : k % n);
    k = n === 0 ? k : Math.floor(k / n);
  }
  return `[${at.join(", ")}]`;
}

/** Throws a DataError naming file, tensor, element and value if a value of the piece is NaN or infinite. */
export function checkFiniteWeights(values: Float32Array, from: PieceSource): void {
  const j = firstNonFinite(values);
  if (j === -1) return;
  throw new DataError(
    `${from.path}: tensor "${from.tensor}" holds ${values[j]} at element ${elementIndex(from.shape, from.first + j)}: a checkpoint's weights must be finite numbers (was it saved from a run that diverged?)`,
  );
}

/** Throws a DataError naming the sample if a prediction is not finite (the weights and the data were checked finite when read). */
export function checkPredictions(pred: Float32Array, checkpoint: string, data: string): void {
  const i = firstNonFinite(pred);
  if (i === -1) return;
  throw new DataError(
    `the prediction of sample ${i} of ${data} is ${pred[i]} although ${checkpoint}'s weights and the data are finite (an overflow in the model)`,
  );
}
