// Checkpoints: one file, safetensors or a format handed in (src/dlrm/checkpoint_format.ts), holding every
// parameter under the reference's state_dict names, so a PyTorch DLRM loads here and ours there;
// the optimizer state under optimizer.state.<parameter>.<key> (src/optim/make.ts); and in the
// metadata the model config (dlrm_config) and where the run stands (dlrm_run: seed, steps
// done, data position, optimizer and schedule), so `dlrm train --resume` continues exactly.
// Parameters are F32, or F16/BF16 when saved so (--save-dtype; rounded to nearest, ties to
// even); optimizer state is always F32 (an Adagrad sum of squares soon passes F16's 65504).
// Any float dtype reads back as float32.
//
// A checkpoint is written in pieces at positions its layout fixes in advance
// (CheckpointFormat.layout): on one thread the pieces are whole tensors; in a hybrid run each rank
// writes its own rows of its tables and of their optimizer state into the same temporary
// file (src/parallel/rank.ts), and nobody ever holds the whole model. The file becomes
// visible by a rename only when every piece is on disk. What needs no file access (the
// tensors of a checkpoint, its pieces, writing them in a dtype, a safetensors checkpoint
// in memory for a page) is in src/dlrm/checkpoint_bytes.ts, re-exported here.
//
// Glossary: R rows of a table, E embedding dim.

import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import type { DLRMConfig } from "./config.ts";
import type { CheckpointTensor, RunState } from "./checkpoint_types.ts";
export type { CheckpointTensor, RunState } from "./checkpoint_types.ts";
import { AtomicWriteError, replaceAtomically } from "../io/atomic_file.ts";
import { isTableParameter } from "./tables/layout.ts";
import { type DLRM } from "./model.ts";
import { upcastHalfs, type SaveDType } from "../io/dtype.ts";
import {
  checkpointTensors,
  modelPieces,
  writePiecesWith,
  type CheckpointSlice,
  type TensorSlot,
} from "./checkpoint_bytes.ts";
export {
  checkpointTensors,
  modelPieces,
  runMetadata,
  writePiecesWith,
  type CheckpointSlice,
  type TensorSlot,
} from "./checkpoint_bytes.ts";
import { safetensorsFormat, writeAllAt, type CheckpointFormat } from "./checkpoint_format.ts";
import { readTensorBytes, type SafetensorsEntry, type SafetensorsIndex } from "../io/safetensors.ts";
import { checkFiniteWeights } from "./finite.ts";
import { isStateTensorName, stateArray, stateTensorName, stateTensors, type OptimizerSpec } from "../optim/make.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { OpError, formatShape } from "../tensor/shape.ts";

/** The dlrm_run metadata of a checkpoint, or null when it has none (a reference state_dict, or an older file). */
export function readRunState(path: string, metadata: Record<string, string>): RunState | null {
  const text = metadata["dlrm_run"];
  if (text === undefined) return null;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${path}: its dlrm_run metadata is not JSON`);
  }
  if (!isRunState(o))
    throw new Error(`${path}: its dlrm_run metadata is not a run state this version reads: ${text.slice(0, 200)}`);
  return o;
}

/** Whether parsed dlrm_run metadata has the fields of a RunState of this version. */
function isRunState(o: Record<string, unknown>): o is Record<string, unknown> & RunState {
  return (
    o.format === 1 &&
    Number.isInteger(o.step) &&
    Number.isInteger(o.seed) &&
    Number.isInteger(o.batchSize) &&
    Number.isInteger(o.plannedSteps) &&
    typeof o.optimizer === "object" &&
    typeof o.flags === "object"
  );
}

/** Chunk of a positional write: bounded, so no single write needs a buffer over 2 GiB. */
const WRITE_CHUNK = 64 * 1024 * 1024;

/** Elements converted at a time from a dtype other than F32 when reading (a bounded scratch buffer). */
const CONVERT_CHUNK = 1 << 20;

function writeAt(fd: number, bytes: Uint8Array, at: number): void {
  for (let done = 0; done < bytes.length;)
    done += writeSync(fd, bytes, done, Math.min(WRITE_CHUNK, bytes.length - done), at + done);
}

/** Write pieces into an open checkpoint file at the slots of its layout, in each slot's dtype. */
export function writeSlices(
  fd: number,
  slots: ReadonlyMap<string, TensorSlot>,
  pieces: readonly CheckpointSlice[],
  file: string,
): void {
  writePiecesWith((bytes, at) => writeAt(fd, bytes, at), slots, pieces, file);
}

/**
 * Write a checkpoint atomically: the header goes into a temporary file beside path, sized to
 * the whole file; fill(tmp, offsets) writes every piece (here or on the ranks) and makes it
 * durable; then the temporary file is renamed over path. On any failure the temporary file
 * is removed and an existing path is left as it was.
 */
export async function writeCheckpointFile(
  path: string,
  tensors: readonly CheckpointTensor[],
  metadata: Record<string, string>,
  fill: (tmp: string, slots: ReadonlyMap<string, TensorSlot>) => Promise<void> | void,
  format: CheckpointFormat = safetensorsFormat,
): Promise<void> {
  const layout = format.layout(path, tensors, metadata, readRunState(path, metadata));
  const dtypes = new Map(tensors.map((t) => [t.name, t.dtype]));
  const slots = new Map([...layout.offsets].map(([name, at]) => [name, { at, dtype: dtypes.get(name) as SaveDType }]));
  try {
    await replaceAtomically(path, async (tmp) => {
      let fd = openSync(tmp, "wx");
      try {
        for (const c of layout.chunks) writeAllAt(fd, c.bytes, c.at);
      } finally {
        closeSync(fd);
      }
      await fill(tmp, slots);
      fd = openSync(tmp, "r+");
      try {
        layout.finish(fd);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    });
  } catch (e) {
    const cause = e instanceof AtomicWriteError ? e.cause : e; // what failed: a rank, the disk
    throw new Error(`${path}: cannot write the checkpoint: ${e instanceof Error ? e.message : String(e)}`, { cause });
  }
}

/** Save the model (parameters in dtype; and, given, its optimizer's state) with this metadata, in format; one thread. */
export async function saveCheckpoint(
  path: string,
  model: DLRM,
  metadata: Record<string, string> = {},
  optimizer: Optimizer | null = null,
  spec: OptimizerSpec | null = null,
  dtype: SaveDType = "F32",
  format: CheckpointFormat = safetensorsFormat,
): Promise<void> {
  const tensors = checkpointTensors(model.config, optimizer === null ? null : spec, dtype);
  const pieces = modelPieces(model, optimizer, spec);
  const known = new Set(tensors.map((t) => t.name));
  for (const p of pieces)
    if (!known.has(p.name))
      throw new Error(`saveCheckpoint: the model has "${p.name}", which its config does not describe`);
  await writeCheckpointFile(
    path,
    tensors,
    { format: "pt", ...metadata },
    (tmp, slots) => {
      const fd = openSync(tmp, "r+");
      try {
        writeSlices(fd, slots, pieces, path);
      } finally {
        closeSync(fd);
      }
    },
    format,
  );
}

/**
 * The index of a checkpoint (its header, read in format), checked against the model of
 * config: every parameter present with its exact shape, before anything is allocated or read.
 */
export function openCheckpoint(
  path: string,
  config: DLRMConfig,
  optimizer: OptimizerSpec | null = null,
  format: CheckpointFormat = safetensorsFormat,
): SafetensorsIndex {
  return checkCheckpoint(format.readIndex(path), config, optimizer);
}

/** A checkpoint's index checked against the model of config (openCheckpoint's check, for an index already read). */
export function checkCheckpoint(
  index: SafetensorsIndex,
  config: DLRMConfig,
  optimizer: OptimizerSpec | null = null,
): SafetensorsIndex {
  const path = index.path;
  for (const t of checkpointTensors(config, optimizer)) {
    const e = index.entries.get(t.name);
    if (e === undefined) {
      const what = t.key === null ? "tensor" : `optimizer state (${optimizer?.kind})`;
      throw new OpError("loadCheckpoint", `missing ${what} "${t.name}" of shape ${formatShape(t.shape)} in ${path}`);
    }
    if (e.shape.length !== t.shape.length || e.shape.some((d, i) => d !== t.shape[i])) {
      throw new OpError(
        "loadCheckpoint",
        `${path}: tensor "${t.name}" has shape ${formatShape(e.shape)} but the model expects ${formatShape(t.shape)}`,
      );
    }
  }
  return index;
}

/** Read elements [first, first + into.length) of float tensor name of an opened checkpoint into
 *  `into`, by positional reads of those elements alone: F32 as is, F64 rounded to float32, F16
 *  and BF16 upcast (exactly), in bounded chunks; a value that is not finite is an error naming
 *  the file, the tensor and the element (src/dlrm/finite.ts). */
export function readPiece(index: SafetensorsIndex, name: string, first: number, into: Float32Array, fd?: number): void {
  const e = index.entries.get(name);
  if (e === undefined) throw new Error(`${index.path}: no tensor "${name}"`);
  readFloats(index, e, first, into, fd);
  checkFiniteWeights(into, { path: index.path, tensor: name, shape: e.shape, first });
}

function readFloats(
  index: SafetensorsIndex,
  e: SafetensorsEntry,
  first: number,
  into: Float32Array,
  fd?: number,
): void {
  const name = e.name;
  switch (e.dtype) {
    case "F32":
      readTensorBytes(index, name, 4 * first, into, fd);
      return;
    case "F16":
    case "BF16": {
      const bits = new Uint16Array(Math.min(CONVERT_CHUNK, into.length));
      for (let k = 0; k < into.length; k += CONVERT_CHUNK) {
        const part = bits.subarray(0, Math.min(CONVERT_CHUNK, into.length - k));
        readTensorBytes(index, name, 2 * (first + k), part, fd);
        upcastHalfs(e.dtype, part, into.subarray(k, k + part.length));
      }
      return;
    }
    case "F64": {
      const wide = new Float64Array(Math.min(CONVERT_CHUNK, into.length));
      for (let k = 0; k < into.length; k += CONVERT_CHUNK) {
        const part = wide.subarray(0, Math.min(CONVERT_CHUNK, into.length - k));
        readTensorBytes(index, name, 8 * (first + k), part, fd);
        into.set(part, k);
      }
      return;
    }
    default:
      throw new OpError(
        "loadCheckpoint",
        `${index.path}: tensor "${name}" is ${e.dtype}, not a float tensor (F32, F64, F16 or BF16)`,
      );
  }
}

/**
 * Load parameters (and, given an optimizer and its spec, its state) from a checkpoint in
 * format on this thread; nothing changes unless every tensor is present with its shape. Tensors of the
 * file that the model does not have are an error, except optimizer state when no optimizer
 * is given (predict, --init). Returns the file's metadata.
 */
export function loadCheckpoint(
  path: string,
  model: DLRM,
  optimizer: Optimizer | null = null,
  spec: OptimizerSpec | null = null,
  format: CheckpointFormat = safetensorsFormat,
): Record<string, string> {
  const index = openCheckpoint(path, model.config, optimizer === null ? null : spec, format);
  const expected = new Set(checkpointTensors(model.config, optimizer === null ? null : spec).map((t) => t.name));
  for (const name of index.entries.keys()) {
    if (!expected.has(name) && !(isStateTensorName(name) && optimizer === null)) {
      throw new OpError(
        "loadStateDict",
        `unexpected tensor "${name}" (${path}): the model has no such ${isStateTensorName(name) ? "optimizer state" : "parameter"}`,
      );
    }
  }
  const fd = openSync(path, "r");
  try {
    for (const [name, p] of model.namedParameters()) readPiece(index, name, 0, p.data as Float32Array, fd);
    if (optimizer !== null && spec !== null) {
      const pos = new Map(optimizer.params.map((p, i) => [p, i]));
      for (const [name, p] of model.namedParameters()) {
        const i = pos.get(p);
        if (i === undefined) continue;
        for (const s of stateTensors(spec, p.shape, isTableParameter(name)))
          readPiece(index, stateTensorName(name, s.key), 0, stateArray(optimizer, i, s.key) as Float32Array, fd);
      }
    }
  } finally {
    closeSync(fd);
  }
  return index.metadata;
}
