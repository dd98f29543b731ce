// Predictions that are not numbers, explained: `dlrm predict` checks every prediction, and
// when one is NaN (the data's values are checked finite when read, src/dlrm/check_data.ts)
// it looks for the cause in the checkpoint, reading its parameters in bounded chunks (a
// checkpoint may be far larger than memory allows to copy), and names the tensor, the row and
// the column of the first value that is not finite.
//
// Glossary: R rows of a 2-D tensor, C its columns.

import {
  readSafetensorsIndex,
  readTensor,
  readTensorBytes,
  toFloat32,
  type SafetensorsIndex,
} from "../io/safetensors.ts";
import { firstNonFinite } from "../tensor/finite.ts";
import { DataError } from "./check_data.ts";

export interface NonFiniteValue {
  tensor: string;
  /** Row and column of a 2-D (R, C) tensor; a 1-D tensor has the element as its row and column 0. */
  row: number;
  column: number;
  value: number;
}

/** Elements read at a time from F32 tensors (16 MiB). */
const CHUNK_ELEMENTS = 4 * 1024 * 1024;

/** The first value that is not finite, in the file order of the tensors `names` of the file, or null. */
export function firstNonFiniteValue(path: string, names: ReadonlySet<string>): NonFiniteValue | null {
  const index = readSafetensorsIndex(path);
  for (const [name, e] of index.entries) {
    if (!names.has(name)) continue;
    const C = e.shape.length >= 2 ? e.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const at = (k: number, value: number): NonFiniteValue => ({
      tensor: name,
      row: Math.floor(k / C),
      column: k % C,
      value,
    });
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.dtype !== "F32") {
      const values = toFloat32(readTensor(index, name), `${path}: tensor "${name}"`);
      const k = firstNonFinite(values);
      if (k !== -1) return at(k, values[k]);
      continue;
    }
    const found = scanF32(index, name, n);
    if (found !== null) return at(found.k, found.value);
  }
  return null;
}

function scanF32(index: SafetensorsIndex, name: string, n: number): { k: number; value: number } | null {
  const buf = new Float32Array(Math.min(n, CHUNK_ELEMENTS));
  for (let first = 0; first < n; first += buf.length) {
    const part = buf.subarray(0, Math.min(buf.length, n - first));
    readTensorBytes(index, name, 4 * first, part);
    const j = firstNonFinite(part);
    if (j >= 0) return { k: first + j, value: part[j] };
  }
  return null;
}

/** Throws a DataError naming the sample, and the checkpoint's culprit when there is one, if a prediction is not finite. */
export function checkPredictions(
  pred: Float32Array,
  checkpoint: string,
  parameters: ReadonlySet<string>,
  data: string,
): void {
  const i = firstNonFinite(pred);
  if (i === -1) return;
  const bad = firstNonFiniteValue(checkpoint, parameters);
  const what = `the prediction of sample ${i} of ${data} is ${pred[i]}`;
  if (bad !== null)
    throw new DataError(
      `${checkpoint}: tensor "${bad.tensor}" holds ${bad.value} at row ${bad.row}, column ${bad.column}; ${what}`,
    );
  throw new DataError(`${what} although ${checkpoint}'s parameters and the data are finite (an overflow in the model)`);
}
