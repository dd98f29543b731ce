// The parts of a checkpoint that need no file access, so that a browser page saves the very
// safetensors file the CLI reads (src/dlrm/checkpoint.ts writes files with them and
// re-exports them): which tensors a checkpoint of a model holds (checkpointTensors), the run
// metadata, the pieces a thread or a rank holds (modelPieces), writing pieces at their
// slots in a dtype (writePiecesWith), and a whole safetensors checkpoint laid out in memory
// (checkpointImage: the header written, each tensor's slot, then filled with writeSlicesInto).
//
// Glossary: a piece is elements [first, first + n) of one checkpoint tensor; a slot is where
// a tensor's data starts in the file (absolute byte offset) and its dtype there.

import type { DLRMConfig } from "./config.ts";
import type { CheckpointTensor, RunState } from "./checkpoint_types.ts";
import { isTableParameter } from "./tables/layout.ts";
import { parameterSpecs } from "./init.ts";
import { type DLRM } from "./model.ts";
import { downcastToHalfs, saveDTypeSize, type SaveDType } from "../io/dtype.ts";
import { layoutSafetensors } from "../io/safetensors_bytes.ts";
import { stateArray, stateTensorName, stateTensors, type OptimizerSpec } from "../optim/make.ts";
import type { Optimizer } from "../optim/optimizer.ts";

/** Every tensor a checkpoint of this model and optimizer holds, in file order; parameters in dtype, optimizer state in F32. */
export function checkpointTensors(
  config: DLRMConfig,
  optimizer: OptimizerSpec | null,
  dtype: SaveDType = "F32",
): CheckpointTensor[] {
  const params = parameterSpecs(config);
  const out: CheckpointTensor[] = params.map((p) => ({
    name: p.name,
    shape: p.shape,
    param: p.name,
    key: null,
    dtype,
  }));
  if (optimizer !== null) {
    for (const p of params) {
      for (const s of stateTensors(optimizer, p.shape, isTableParameter(p.name)))
        out.push({ name: stateTensorName(p.name, s.key), shape: s.shape, param: p.name, key: s.key, dtype: "F32" });
    }
  }
  return out;
}

export function runMetadata(
  config: DLRMConfig,
  run: RunState,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    format: "pt",
    ...extra,
    dlrm_config: JSON.stringify(config),
    dlrm_run: JSON.stringify({ format: 1, ...run }),
  };
}

/** A piece of a checkpoint tensor: elements [first, first + data.length) of tensor name. */
export interface CheckpointSlice {
  name: string;
  first: number;
  data: Float32Array;
}

/** Where a tensor's data starts in the file being written (absolute byte offset), and its dtype there. */
export interface TensorSlot {
  at: number;
  dtype: SaveDType;
}

/** Elements converted at a time to or from a dtype other than F32 (a bounded scratch buffer, not one the size of a table). */
const CONVERT_CHUNK = 1 << 20;

/**
 * Write pieces at the slots of a checkpoint's layout, in each slot's dtype, through
 * write(bytes, at) (a positional write into a file, or a copy into the file's bytes in memory).
 * Pieces in another dtype than F32 are converted in bounded chunks.
 */
export function writePiecesWith(
  write: (bytes: Uint8Array, at: number) => void,
  slots: ReadonlyMap<string, TensorSlot>,
  pieces: readonly CheckpointSlice[],
  file: string,
): void {
  for (const p of pieces) {
    const slot = slots.get(p.name);
    if (slot === undefined) throw new Error(`${file}: no tensor "${p.name}" in the checkpoint's layout`);
    const at = slot.at + saveDTypeSize(slot.dtype) * p.first;
    if (slot.dtype === "F32") {
      write(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength), at);
      continue;
    }
    const halfs = new Uint16Array(Math.min(CONVERT_CHUNK, p.data.length));
    for (let k = 0; k < p.data.length; k += CONVERT_CHUNK) {
      const part = p.data.subarray(k, k + CONVERT_CHUNK);
      const bits = downcastToHalfs(
        slot.dtype,
        part,
        `${file}: tensor "${p.name}" (from element ${p.first + k})`,
        halfs.subarray(0, part.length),
      );
      write(new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength), at + 2 * k);
    }
  }
}

/** The pieces of a whole model (and its optimizer's state) on this thread. */
export function modelPieces(model: DLRM, optimizer: Optimizer | null, spec: OptimizerSpec | null): CheckpointSlice[] {
  const pieces: CheckpointSlice[] = [];
  const named = model.namedParameters();
  for (const [name, p] of named) pieces.push({ name, first: 0, data: p.data as Float32Array });
  if (optimizer !== null && spec !== null) {
    const index = new Map(optimizer.params.map((p, i) => [p, i]));
    for (const [name, p] of named) {
      const i = index.get(p);
      if (i === undefined) continue; // a parameter the optimizer does not train keeps no state
      for (const s of stateTensors(spec, p.shape, isTableParameter(name)))
        pieces.push({
          name: stateTensorName(name, s.key),
          first: 0,
          data: stateArray(optimizer, i, s.key) as Float32Array,
        });
    }
  }
  return pieces;
}

/** A safetensors checkpoint in memory: its bytes (header written, data still to fill) and each tensor's slot. */
export interface CheckpointImage {
  bytes: Uint8Array;
  slots: Map<string, TensorSlot>;
}

/**
 * The safetensors file of these tensors with this metadata, laid out in memory: the header
 * at offset 0, zeros where the data goes. alloc gives the buffer (default an ArrayBuffer; a
 * SharedArrayBuffer lets the ranks of a hybrid run fill their own pieces in place).
 */
export function checkpointImage(
  tensors: readonly CheckpointTensor[],
  metadata: Record<string, string>,
  alloc: (bytes: number) => ArrayBufferLike = (n) => new ArrayBuffer(n),
): CheckpointImage {
  const layout = layoutSafetensors(
    tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
    metadata,
  );
  const bytes = new Uint8Array(alloc(layout.totalBytes));
  bytes.set(layout.header, 0);
  const dtypes = new Map(tensors.map((t) => [t.name, t.dtype]));
  const slots = new Map([...layout.offsets].map(([name, at]) => [name, { at, dtype: dtypes.get(name) as SaveDType }]));
  return { bytes, slots };
}

/** Write pieces into a checkpoint's bytes in memory (checkpointImage), at their slots. */
export function writeSlicesInto(
  bytes: Uint8Array,
  slots: ReadonlyMap<string, TensorSlot>,
  pieces: readonly CheckpointSlice[],
  file: string,
): void {
  writePiecesWith((b, at) => bytes.set(b, at), slots, pieces, file);
}

/** The safetensors checkpoint of a whole model on this thread (and its optimizer's state, given), as bytes. */
export function modelCheckpointBytes(
  model: DLRM,
  metadata: Record<string, string>,
  optimizer: Optimizer | null = null,
  spec: OptimizerSpec | null = null,
  dtype: SaveDType = "F32",
): Uint8Array {
  const tensors = checkpointTensors(model.config, optimizer === null ? null : spec, dtype);
  const image = checkpointImage(tensors, { format: "pt", ...metadata });
  writeSlicesInto(image.bytes, image.slots, modelPieces(model, optimizer, spec), "modelCheckpointBytes");
  return image.bytes;
}
