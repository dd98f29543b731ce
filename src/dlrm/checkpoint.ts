// Checkpoints: every parameter in safetensors, F32, under the reference's state_dict names,
// so a PyTorch DLRM saved with safetensors loads here and ours loads there.

import type { DLRM } from "./model.ts";
import { readSafetensors, toFloat32, writeSafetensors, type SafetensorsTensor } from "../io/safetensors.ts";

export function saveCheckpoint(path: string, model: DLRM, metadata: Record<string, string> = {}): void {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, p] of model.namedParameters()) {
    tensors.set(name, { dtype: "F32", shape: [...p.shape], data: Float32Array.from(p.data) });
  }
  writeSafetensors(path, tensors, { format: "pt", ...metadata });
}

/** Load parameters from a checkpoint; nothing changes unless every tensor is present with its shape. */
export function loadCheckpoint(path: string, model: DLRM): void {
  const file = readSafetensors(path);
  const state = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of file.tensors) state.set(name, { shape: t.shape, data: toFloat32(t, `${path}: tensor "${name}"`) });
  model.loadStateDict(state, { source: path });
}
