// DLRM for inference with quantized tables (the reference's --quantize-emb-with-bit 8|4):
// every table piece (plain tables, QR's two halves, MD's narrow tables; src/dlrm/tables.ts)
// held as fbgemm's fused row-wise quantized rows (src/kernels/fused_rows.ts), pooled by
// quantizedEmbeddingBag, and the float32 head of the model (MLPs, MD projections) as it is,
// as are learned pooling weights (v_W_l.{t}, one float per row: the reference's
// --weighted-pooling=learned), which scale each lookup as in the float32 model.
// Inference only: nothing here records a graph.
//
// A quantized checkpoint (dlrm convert --quantize-emb-with-bit) is a safetensors file with
// the model's names: each table piece (emb_l.{t}.weight, .weight_q/.weight_r, .embs.weight)
// as U8 [R, row bytes] — the shape and bytes of PyTorch's
// torch.ops.quantized.embedding_bag_byte_prepack / embedding_bag_4bit_prepack output, which
// PyTorch's quantized embedding-bag ops read — and every other parameter F32; its
// metadata says the layout (QUANTIZED_KEY, below) and records the model config (dlrm_config),
// since a U8 row does not tell E unambiguously. docs/checkpoints.md describes it.
//
// Glossary: R rows of a piece, E embedding dim, d a piece's width (E, or MD's d_t), B batch.

import type { DLRMConfig } from "../../dlrm/config.ts";
import { DLRMHead, type DLRM } from "../../dlrm/model.ts";
import { parameterSpecs } from "../../dlrm/init.ts";
import { pieceLookups } from "../../dlrm/tables/pool.ts";
import { tableLayout } from "../../dlrm/tables/layout.ts";
import { type EmbeddingPiece } from "../../dlrm/tables/piece.ts";
import { readCheckpointIndex } from "../checkpoint_file.ts";
import { batchOf, type Batch } from "../../data/batch.ts";
import type { Dataset } from "../../data/dataset.ts";
import { noGrad } from "../../autograd/tape.ts";
import { fusedRowBytes, type QuantBits } from "../../kernels/fused_rows.ts";
import { readTensor, type SafetensorsIndex, type SafetensorsTensor } from "../../io/safetensors.ts";
import { readPiece } from "../../dlrm/checkpoint.ts";
import {
  quantizedEmbeddingBag,
  quantizedTable,
  quantizeTable,
  type QuantizedTable,
} from "./quantized_embedding_bag.ts";
import { OpError, formatShape } from "../../tensor/shape.ts";
import { allocResident, withStepArena } from "../../tensor/storage.ts";
import { Tensor } from "../../tensor/tensor.ts";

/** The metadata key of a quantized checkpoint: JSON { bits, layout }. */
export const QUANTIZED_KEY = "dlrm_quantized";

/** The layout names written under QUANTIZED_KEY, per bit width. */
export const QUANTIZED_LAYOUT: Record<QuantBits, string> = {
  8: "fbgemm_fused_rowwise_uint8_fp32_scale_bias",
  4: "fbgemm_fused_rowwise_uint4_fp16_scale_bias",
};

/** The bit widths --quantize-emb-with-bit takes (32: float32, the reference's default: no quantization). */
export function quantBits(value: number, what: string): QuantBits | null {
  if (value === 32) return null;
  if (value === 8 || value === 4) return value;
  throw new OpError(what, `--quantize-emb-with-bit takes 8 or 4 (or 32: float32 tables), got ${value}`);
}

export class QuantizedDLRM {
  readonly config: DLRMConfig;
  readonly bits: QuantBits;
  readonly head: DLRMHead;
  /** The tables' pieces, in embeddingPieces order, and their quantized rows. */
  readonly pieces: readonly EmbeddingPiece[];
  readonly tables: readonly QuantizedTable[];
  /** Per piece, its learned pooling weights (R,) float32, or null (DLRM.poolingWeights). */
  readonly poolingWeights: readonly (Tensor | null)[];

  constructor(
    config: DLRMConfig,
    bits: QuantBits,
    head: DLRMHead,
    tables: readonly QuantizedTable[],
    poolingWeights: readonly (Tensor | null)[],
  ) {
    this.config = config;
    this.bits = bits;
    this.head = head;
    this.pieces = tableLayout(config).pieces;
    if (tables.length !== this.pieces.length)
      throw new OpError("QuantizedDLRM", `${tables.length} quantized tables for ${this.pieces.length} table pieces`);
    this.pieces.forEach((p, i) => {
      const t = tables[i];
      if (t.rows !== p.rows || t.dim !== p.dim || t.bits !== bits)
        throw new OpError(
          "QuantizedDLRM",
          `${p.label} (${p.name}) is (${p.rows}, ${p.dim}) but its quantized rows are (${t.rows}, ${t.dim}) at ${t.bits} bits`,
        );
    });
    this.tables = tables;
    this.pieces.forEach((p, i) => {
      const w = poolingWeights[i] ?? null;
      if ((w === null) !== (p.poolingWeight === null) || (w !== null && w.size !== p.rows))
        throw new OpError(
          "QuantizedDLRM",
          `${p.label}: learned pooling weights ${p.poolingWeight ?? "(none)"} do not fit`,
        );
    });
    this.poolingWeights = poolingWeights;
  }

  /** A trained model's tables quantized to `bits`; the head is the model's own (shared, not copied). */
  static fromModel(model: DLRM, bits: QuantBits): QuantizedDLRM {
    const tables = model.tables.pieces.map((p, i) =>
      quantizeTable(model.pieceWeights[i], bits, `${p.label} (${p.name})`),
    );
    return new QuantizedDLRM(model.config, bits, model.head, tables, model.poolingWeights);
  }

  /** Each piece's pooled bags of the batch, in piece order: (B, d) each. */
  pool(batch: Batch): Tensor[] {
    const F = this.config.table_sizes.length;
    if (batch.sparse.length !== F)
      throw new OpError(
        "QuantizedDLRM.forward",
        `the batch has ${batch.sparse.length} sparse features but the model has ${F} tables`,
      );
    return this.pieces.map((p, i) => {
      const sparse = batch.sparse[p.table];
      const { indices, weights } = pieceLookups(p, sparse, this.poolingWeights[i]);
      return quantizedEmbeddingBag(this.tables[i], indices, sparse.offsets, {
        mode: this.config.pooling,
        perSampleWeights: weights,
        table: p.label,
        idsBelow: p.rows,
      });
    });
  }

  /** Click probabilities (B,) for a batch. */
  forward(batch: Batch): Tensor {
    return noGrad(() => this.head.forward(batch.dense, this.pool(batch)));
  }

  /** Predictions (N,) for every sample, in data order; each batch in the step arena, as LocalExecutor.predictSync. */
  predict(data: Dataset, batchSize: number): Float32Array {
    const out = new Float32Array(data.n);
    for (let s = 0; s < data.n; s += batchSize)
      withStepArena(() => out.set(this.forward(batchOf(data, s, Math.min(data.n, s + batchSize))).data, s));
    return out;
  }

  /** Bytes of the quantized tables. */
  tableBytes(): number {
    return this.tables.reduce((n, t) => n + t.data.length, 0);
  }

  /** The tensors of a quantized checkpoint, in state_dict order: pieces U8 [R, row bytes], the rest F32. */
  checkpointTensors(): [string, SafetensorsTensor][] {
    const head = new Map(this.head.namedParameters());
    this.pieces.forEach((p, i) => {
      const w = this.poolingWeights[i] ?? null;
      if (p.poolingWeight !== null && w !== null) head.set(p.poolingWeight, w);
    });
    const tables = new Map(this.pieces.map((p, i) => [p.name, this.tables[i]]));
    return parameterSpecs(this.config).map((spec): [string, SafetensorsTensor] => {
      const t = tables.get(spec.name);
      if (t !== undefined)
        return [spec.name, { dtype: "U8", shape: [t.rows, fusedRowBytes(t.bits, t.dim)], data: t.data }];
      const p = head.get(spec.name);
      if (p === undefined) throw new Error(`QuantizedDLRM: no parameter "${spec.name}"`);
      return [spec.name, { dtype: "F32", shape: spec.shape, data: p.data as Float32Array }];
    });
  }

  /** The metadata of a quantized checkpoint: the layout and the model config. */
  checkpointMetadata(): Record<string, string> {
    return {
      [QUANTIZED_KEY]: JSON.stringify({ bits: this.bits, layout: QUANTIZED_LAYOUT[this.bits] }),
      dlrm_config: JSON.stringify(this.config),
    };
  }
}

/** The bit width a checkpoint's tables are quantized to (its QUANTIZED_KEY metadata), or null for float tables. */
export function checkpointBits(index: SafetensorsIndex): QuantBits | null {
  const text = index.metadata[QUANTIZED_KEY];
  if (text === undefined) return null;
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch {
    throw new OpError("loadQuantized", `${index.path}: its ${QUANTIZED_KEY} metadata is not JSON: ${text}`);
  }
  const bits = (info as { bits?: unknown }).bits;
  const layout = (info as { layout?: unknown }).layout;
  if ((bits !== 8 && bits !== 4) || layout !== QUANTIZED_LAYOUT[bits])
    throw new OpError(
      "loadQuantized",
      `${index.path}: ${QUANTIZED_KEY} ${text} names no layout we read (${QUANTIZED_LAYOUT[8]} with bits 8, ${QUANTIZED_LAYOUT[4]} with bits 4)`,
    );
  return bits;
}

/** Whether the checkpoint at path holds quantized tables (and at which width). */
export function quantizedCheckpointBits(path: string): QuantBits | null {
  return checkpointBits(readCheckpointIndex(path));
}

/** A quantized checkpoint read into a QuantizedDLRM of config: every tensor checked for name, dtype and shape first. */
export function loadQuantizedCheckpoint(path: string, config: DLRMConfig): QuantizedDLRM {
  const index = readCheckpointIndex(path);
  const bits = checkpointBits(index);
  if (bits === null)
    throw new OpError("loadQuantized", `${path}: not a quantized checkpoint (no ${QUANTIZED_KEY} metadata)`);
  const pieces = new Map(tableLayout(config).pieces.map((p) => [p.name, p]));
  const specs = parameterSpecs(config);
  const known = new Set(specs.map((s) => s.name));
  for (const name of index.entries.keys())
    if (!known.has(name))
      throw new OpError("loadQuantized", `${path}: unexpected tensor "${name}": the model has no such parameter`);
  for (const spec of specs) {
    const e = index.entries.get(spec.name);
    const piece = pieces.get(spec.name);
    const want = piece === undefined ? spec.shape : [piece.rows, fusedRowBytes(bits, piece.dim)];
    const dtype = piece === undefined ? "F32" : "U8";
    if (e === undefined)
      throw new OpError("loadQuantized", `${path}: missing tensor "${spec.name}" (${dtype} ${formatShape(want)})`);
    if (e.dtype !== dtype || e.shape.length !== want.length || e.shape.some((d, i) => d !== want[i]))
      throw new OpError(
        "loadQuantized",
        `${path}: tensor "${spec.name}" is ${e.dtype} ${formatShape(e.shape)} but the model at ${bits} bits expects ${dtype} ${formatShape(want)}${piece === undefined ? "" : ` (${piece.rows} rows of ${fusedRowBytes(bits, piece.dim)} bytes: dim ${piece.dim})`}`,
      );
  }
  const head = new DLRMHead(config, null);
  for (const [name, p] of head.namedParameters()) readPiece(index, name, 0, p.data as Float32Array); // checked finite
  const poolingWeights = tableLayout(config).pieces.map((p) => {
    if (p.poolingWeight === null) return null;
    const w = new Tensor(allocResident(p.rows), [p.rows]); // (R,)
    readPiece(index, p.poolingWeight, 0, w.data as Float32Array);
    return w;
  });
  const tables = tableLayout(config).pieces.map((p) => {
    const t = readTensor(index, p.name);
    return quantizedTable(bits, p.rows, p.dim, t.data as Uint8Array, `${path}: ${p.name}`);
  });
  return new QuantizedDLRM(config, bits, head, tables, poolingWeights);
}

/** Bytes of a float32 model's table pieces (what quantizing them shrinks; learned pooling weights stay float32). */
export function floatTableBytes(model: DLRM): number {
  return model.pieceWeights.reduce((n, w) => n + w.data.byteLength, 0);
}
