// The metadata of a safetensors file, read from its header alone: a preprocessed batch file
// may be gigabytes, and its tensors are read once, later; a checkpoint's metadata records the
// model config it was trained with. The header is read and checked by readSafetensorsIndex
// (src/io/safetensors.ts), the one header reader.

import { readSafetensorsIndex } from "./safetensors.ts";

/** The `__metadata__` strings of a safetensors file ({} when it has none). */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  return readSafetensorsIndex(path).metadata;
}
