// Writing a Criteo dictionary file (src/data/criteo_dictionary.ts holds its format and reads it)
// for `dlrm preprocess criteo`: Node's safetensors writer (src/io/safetensors.ts).

import { dictionaryFile, type CriteoDictionary } from "./criteo_dictionary.ts";
import { writeSafetensors } from "../io/safetensors.ts";

/** Writes `d` atomically (temp file, then rename). */
export function saveDictionary(path: string, d: CriteoDictionary): void {
  const f = dictionaryFile(path, d);
  writeSafetensors(path, f.tensors, f.metadata);
}
