// quantizedEmbeddingBag: embeddingBag's forward over a table held as fbgemm's fused
// row-wise quantized rows (int8 or int4; src/kernels/fused_rows.ts has the layouts), for
// inference: the result is embeddingBag's on the dequantized table, bit for bit, and no
// gradient is recorded (a quantized table does not train). It runs the kernel
// embedding_bag_fwd_quantized (src/kernels/ref.ts defines it) after checking every input,
// because the kernel reads memory unchecked.
//
// QuantizedTable is the table itself: its rows' bytes, resident in wasm memory when the wasm
// kernels run (so the kernel reads them in place), and what they stand for.
//
// Glossary: R rows, E embedding dim (row length), B bags, L lookups.

import { kernels, kernelSet, POOL_MEAN, POOL_SUM } from "../../kernels/index.ts";
import { fusedRowBytes, quantizeRows, rowScaleBias, type QuantBits } from "../../kernels/fused_rows.ts";
import { defaultHeap, residentU8 } from "../../kernels/memory.ts";
import { OpError, shapeError } from "../../tensor/shape.ts";
import type { IndexTensor, Tensor } from "../../tensor/tensor.ts";
import { checkIndex, checkRank, checkTensor, output } from "../../ops/common.ts";
import { checkIds } from "../../ops/embedding_bag.ts";

const OP = "quantizedEmbeddingBag";

/** A table (R, E) as fused quantized rows: R × fusedRowBytes(bits, E) bytes. */
export interface QuantizedTable {
  readonly bits: QuantBits;
  readonly rows: number;
  readonly dim: number;
  readonly data: Uint8Array;
}

/** Bytes for the fused rows: resident with the wasm kernels (read in place), else plain. */
function rowBytes(n: number): Uint8Array {
  return kernelSet === "wasm" ? residentU8(defaultHeap(), n) : new Uint8Array(n);
}

/** A float32 table (R, E) quantized row by row to `bits`; `what` names it in errors. */
export function quantizeTable(table: Tensor, bits: QuantBits, what: string): QuantizedTable {
  checkTensor(OP, "table", table);
  checkRank(OP, "table", table, 2);
  const [R, E] = table.shape as [number, number];
  const data = table.data instanceof Float32Array ? table.data : Float32Array.from(table.data);
  return { bits, rows: R, dim: E, data: quantizeRows(bits, data, R, E, what, rowBytes(R * fusedRowBytes(bits, E))) };
}

/** A quantized table over fused rows read from a file (copied into resident bytes with the wasm kernels). */
export function quantizedTable(
  bits: QuantBits,
  rows: number,
  dim: number,
  bytes: Uint8Array,
  what: string,
): QuantizedTable {
  if (bits !== 8 && bits !== 4) throw new OpError(OP, `${what}: quantized to 8 or 4 bits, got ${String(bits)}`);
  const n = rows * fusedRowBytes(bits, dim);
  if (bytes.length !== n)
    throw new OpError(
      OP,
      `${what}: ${rows} rows of dim ${dim} at ${bits} bits need ${n} bytes (${fusedRowBytes(bits, dim)} a row), got ${bytes.length}`,
    );
  // every row's scale and bias must be numbers: a NaN there would poison its lookups silently
  const rb = fusedRowBytes(bits, dim);
  for (let r = 0; r < rows; r++) {
    const [scale, bias] = rowScaleBias(bits, bytes, r * rb, dim);
    if (!Number.isFinite(scale) || !Number.isFinite(bias))
      throw new OpError(OP, `${what}: row ${r} has scale ${scale} and bias ${bias}; both must be finite`);
  }
  const data = rowBytes(n);
  data.set(bytes);
  return { bits, rows, dim, data };
}

export interface QuantizedBagOptions {
  /** "sum" (default) or "mean" (an empty bag pools to zeros in both). */
  mode?: "sum" | "mean";
  /** (L,) one weight per lookup. */
  perSampleWeights?: Tensor | null;
  /** The table's name in error messages, e.g. "table 3" (default "table"). */
  table?: string;
  /** The ids are known to lie in [0, idsBelow), checked where they entered the table (pieceIds): not scanned again. */
  idsBelow?: number;
}

/**
 * out[b] = scale_b · Σ_{l in bag b} w_l · x̂(indices[l]), x̂ a row dequantized (q·scale + bias),
 * as embeddingBag: table R rows, indices (L,), offsets (B+1,) CSR from 0 to L, weights (L,) → (B, E).
 */
export function quantizedEmbeddingBag(
  table: QuantizedTable,
  indices: IndexTensor,
  offsets: IndexTensor,
  opts: QuantizedBagOptions = {},
): Tensor {
  checkIndex(OP, "indices", indices);
  checkIndex(OP, "offsets", offsets);
  checkRank(OP, "indices", indices, 1);
  checkRank(OP, "offsets", offsets, 1);
  const mode = opts.mode ?? "sum";
  if (mode !== "sum" && mode !== "mean")
    throw new OpError(OP, `mode must be "sum" or "mean", got ${JSON.stringify(mode)}`);
  const L = indices.size;
  const offs = offsets.data; // (B+1,)
  if (offs.length === 0) throw shapeError(OP, "offsets must hold B+1 >= 1 entries (CSR, starting with 0)", { offsets });
  if (offs[0] !== 0) throw new OpError(OP, `offsets[0] must be 0, got ${offs[0]}`);
  for (let b = 1; b < offs.length; b++)
    if (offs[b] < offs[b - 1])
      throw new OpError(
        OP,
        `offsets must be non-decreasing, but offsets[${b}] = ${offs[b]} < offsets[${b - 1}] = ${offs[b - 1]}`,
      );
  if (offs[offs.length - 1] !== L)
    throw shapeError(OP, `offsets[B] must equal the number of lookups L = ${L}, got ${offs[offs.length - 1]}`, {
      offsets,
      indices,
    });
  const B = offs.length - 1;
  const weights = opts.perSampleWeights ?? null;
  if (weights !== null) {
    checkTensor(OP, "perSampleWeights", weights);
    if (weights.shape.length !== 1 || weights.size !== L || !(weights.data instanceof Float32Array))
      throw shapeError(OP, `perSampleWeights must be float32 (L,) with one weight per lookup, L = ${L}`, {
        perSampleWeights: weights,
        indices,
      });
  }
  const ids = indices.data;
  checkIds(OP, ids, offs, table.rows, opts.table ?? "table", opts.idsBelow);
  const out = output([B, table.dim], "float32"); // (B, E)
  kernels.embedding_bag_fwd_quantized(
    B,
    table.dim,
    mode === "mean" ? POOL_MEAN : POOL_SUM,
    table.bits,
    table.data,
    0,
    ids,
    offs,
    weights === null ? null : (weights.data as Float32Array),
    out.data as Float32Array,
    0,
  );
  return out;
}
