// A checkpoint's file format: how its index is read (tensor name -> dtype, shape, absolute
// byte range; metadata strings) and how a new file is laid out (bytes known now, each tensor's
// offset to fill in place, then finish), so one thread or the ranks of a hybrid run read and
// write any format by positional reads and writes of their own rows (src/dlrm/checkpoint.ts,
// src/parallel/rank.ts). The core knows safetensors (src/io/safetensors.ts); other formats
// (PyTorch's .pt, src/interop/torch/checkpoint_pt.ts) are handed in by whoever picks the file
// (the CLI, by its extension: src/interop/checkpoint_file.ts).

import { closeSync, openSync, writeSync } from "node:fs";
import type { CheckpointTensor, RunState } from "./checkpoint_types.ts";
import {
  layoutSafetensors,
  readSafetensorsIndex,
  readTensorBytes,
  type SafetensorsIndex,
  type SafetensorsTensor,
} from "../io/safetensors.ts";

/** Where a checkpoint's bytes go: what to write now, each tensor's absolute offset, and what completes the file. */
export interface CheckpointLayout {
  chunks: { at: number; bytes: Uint8Array }[];
  offsets: ReadonlyMap<string, number>;
  /** Run once every tensor's bytes are written, on the file opened for reading and writing. */
  finish(fd: number): void;
}

/** A file format of checkpoints. */
export interface CheckpointFormat {
  /** What an error calls it ("safetensors", ".pt"). */
  readonly name: string;
  /** The index of a file of this format, every entry checked against the file. */
  readIndex(path: string): SafetensorsIndex;
  /** The layout of a new file of these tensors; run: the optimizer and position a format may record beside them. */
  layout(
    path: string,
    tensors: readonly CheckpointTensor[],
    metadata: Record<string, string>,
    run: RunState | null,
  ): CheckpointLayout;
}

/** PyTorch's file names: a safetensors reader or writer given one was handed the wrong format. */
function refusePt(path: string): void {
  if (/\.(pt|pth)$/i.test(path))
    throw new Error(
      `${path}: a .pt file is PyTorch's format, not safetensors; pick the format by the file's name (checkpointFormat in src/interop/checkpoint_file.ts)`,
    );
}

/** Safetensors checkpoints (src/io/safetensors.ts): the format of the library's own files. */
export const safetensorsFormat: CheckpointFormat = {
  name: "safetensors",
  readIndex(path) {
    refusePt(path);
    return readSafetensorsIndex(path);
  },
  layout(path, tensors, metadata) {
    refusePt(path);
    const s = layoutSafetensors(
      tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
      metadata,
    );
    return { chunks: [{ at: 0, bytes: s.header }], offsets: s.offsets, finish: () => {} };
  },
};

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
