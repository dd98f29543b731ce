// A checkpoint file's format, told by its name as the reference and PyTorch name them: .pt and
// .pth are torch.save files (src/interop/torch/checkpoint_pt.ts), anything else is safetensors. The
// core reads and writes whatever format it is handed (src/dlrm/checkpoint_format.ts); the
// command picks it here.

import { safetensorsFormat, type CheckpointFormat } from "../dlrm/checkpoint_format.ts";
import { ptFormat } from "./torch/checkpoint_pt.ts";
import type { SafetensorsIndex } from "../io/safetensors.ts";

/** The format of the checkpoint at path, by its extension. */
export function checkpointFormat(path: string): CheckpointFormat {
  return /\.(pt|pth)$/i.test(path) ? ptFormat : safetensorsFormat;
}

/** The index of a checkpoint file of either format, every entry checked against the file. */
export function readCheckpointIndex(path: string): SafetensorsIndex {
  return checkpointFormat(path).readIndex(path);
}

/** The metadata strings of a checkpoint of either format. */
export function readCheckpointMetadata(path: string): Record<string, string> {
  return readCheckpointIndex(path).metadata;
}
