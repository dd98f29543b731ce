// The two file formats of a checkpoint, chosen by the file's extension: .pt and .pth are
// PyTorch torch.save files in the shape of the reference's --save-model dict
// (src/dlrm/checkpoint_pt.ts); anything else is safetensors (src/io/safetensors.ts). Both are
// read through one index (tensor name -> dtype, shape, absolute byte range; metadata strings)
// and written through one layout (bytes known now, each tensor's offset to fill in place,
// then finish), so one thread or the ranks of a hybrid run read and write either by
// positional reads and writes of their own rows (src/dlrm/checkpoint.ts, src/parallel/rank.ts).

import { closeSync, openSync, writeSync } from "node:fs";
import type { CheckpointTensor, RunState } from "./checkpoint_types.ts";
import { layoutPt, readPtIndex } from "./checkpoint_pt.ts";
import {
  layoutSafetensors,
  readSafetensorsIndex,
  readTensorBytes,
  type SafetensorsIndex,
  type SafetensorsTensor,
} from "../io/safetensors.ts";
import { finishZip } from "../io/zip.ts";

export type CheckpointFormat = "pt" | "safetensors";

export function checkpointFormat(path: string): CheckpointFormat {
  return /\.(pt|pth)$/i.test(path) ? "pt" : "safetensors";
}

/** The index of a checkpoint file of either format, every entry checked against the file. */
export function readCheckpointIndex(path: string): SafetensorsIndex {
  return checkpointFormat(path) === "pt" ? readPtIndex(path) : readSafetensorsIndex(path);
}

/** The metadata strings of a checkpoint of either format. */
export function readCheckpointMetadata(path: string): Record<string, string> {
  return readCheckpointIndex(path).metadata;
}

/** Where a checkpoint's bytes go: what to write now, each tensor's absolute offset, and what completes the file. */
export interface CheckpointLayout {
  chunks: { at: number; bytes: Uint8Array }[];
  offsets: ReadonlyMap<string, number>;
  /** Run once every tensor's bytes are written, on the file opened for reading and writing. */
  finish(fd: number): void;
}

/** The layout of a checkpoint of these F32 tensors in the format of path; run: the optimizer and position a .pt records for the reference. */
export function layoutCheckpoint(
  path: string,
  tensors: readonly CheckpointTensor[],
  metadata: Record<string, string>,
  run: RunState | null,
): CheckpointLayout {
  if (checkpointFormat(path) === "safetensors") {
    const s = layoutSafetensors(
      tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
      metadata,
    );
    return { chunks: [{ at: 0, bytes: s.header }], offsets: s.offsets, finish: () => {} };
  }
  const narrow = tensors.find((t) => t.dtype !== "F32");
  if (narrow !== undefined)
    throw new Error(
      `${path}: a .pt checkpoint is written in F32; ${narrow.name} would be ${narrow.dtype} (--save-dtype applies to .safetensors)`,
    );
  let pt;
  try {
    pt = layoutPt(tensors, metadata, run);
  } catch (e) {
    throw new Error(`${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const zip = pt.zip;
  return {
    chunks: zip.chunks,
    offsets: pt.offsets,
    finish: (fd) => finishZip(fd, zip, (bytes, at) => writeAllAt(fd, bytes, at)),
  };
}

/** Write all of bytes at offset at. */
export function writeAllAt(fd: number, bytes: Uint8Array, at: number): void {
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
}

/** A whole tensor of an index in its own dtype, by positional reads (for tensors that are not F32). */
export function readIndexedTensor(index: SafetensorsIndex, name: string): SafetensorsTensor {
  const e = index.entries.get(name);
  if (e === undefined) throw new Error(`${index.path}: no tensor "${name}"`);
  const n = e.shape.reduce((a, b) => a * b, 1);
  const data =
    e.dtype === "F32"
      ? new Float32Array(n)
      : e.dtype === "F64"
        ? new Float64Array(n)
        : e.dtype === "F16" || e.dtype === "BF16"
          ? new Uint16Array(n)
          : e.dtype === "I32"
            ? new Int32Array(n)
            : new BigInt64Array(n);
  const fd = openSync(index.path, "r");
  try {
    readTensorBytes(index, name, 0, data, fd);
  } finally {
    closeSync(fd);
  }
  return { dtype: e.dtype, shape: e.shape, data };
}
