// The dictionary of a Criteo data set: per feature, the map from raw value to id that the
// reader built (or was given), and its file format. Training data builds one; evaluation
// data is numbered through the training data's, so that an id means the same row.
//
// Glossary: F = 26 features (tables), R max index range.

import { IdMap } from "./id_map.ts";
import { CRITEO_DENSE, CRITEO_SPARSE, criteoFieldName } from "./criteo_fields.ts";
import type { DataFiles } from "./files.ts";
import { readSafetensorsFile } from "./safetensors_files.ts";
import { SafetensorsError, type SafetensorsTensor } from "../io/safetensors_bytes.ts";

import type { CriteoDictionary } from "./criteo_parse.ts";
export { criteoTableSizes, type CriteoDictionary } from "./criteo_parse.ts";
// ---------------------------------------------------------------------------------------
// Dictionary files: safetensors with one I64 tensor per feature, "C1" … "C26", holding the
// raw value of each id in id order (what the reference keeps in its *_fea_dict_{j}.npz as
// "unique"), and the metadata {format, max_ind_range}.

const DICT_FORMAT = "dlrm-ts criteo dictionary";
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The tensors and metadata of `d`'s dictionary file; `path` names it in errors. */
export function dictionaryFile(
  path: string,
  d: CriteoDictionary,
): { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> } {
  if (d.features.length !== CRITEO_SPARSE) {
    throw new Error(
      `saveDictionary: ${path}: the dictionary has ${d.features.length} features, expected ${CRITEO_SPARSE}`,
    );
  }
  const tensors = new Map<string, SafetensorsTensor>();
  d.features.forEach((m, t) => {
    const raw = m.rawValues();
    const data = new BigInt64Array(raw.length);
    if (HOST_LITTLE_ENDIAN) {
      // Low word = the value, high word = 0: no BigInt per element.
      const words = new Uint32Array(data.buffer);
      for (let i = 0; i < raw.length; i++) words[2 * i] = raw[i];
    } else {
      for (let i = 0; i < raw.length; i++) data[i] = BigInt(raw[i]);
    }
    tensors.set(criteoFieldName(1 + CRITEO_DENSE + t), { dtype: "I64", shape: [raw.length], data });
  });
  return { tensors, metadata: { format: DICT_FORMAT, max_ind_range: String(d.maxIndRange) } };
}

/** Reads a dictionary file (dictionaryFile's tensors and metadata, through the host's files);
 *  errors name the file and the feature. */
export function loadDictionary(path: string, files: DataFiles): CriteoDictionary {
  const { tensors, metadata } = readSafetensorsFile(path, files);
  const fail = (what: string): never => {
    throw new SafetensorsError(`${path}: ${what}`);
  };
  if (metadata["format"] !== DICT_FORMAT)
    fail(
      `not a Criteo dictionary (metadata format is ${JSON.stringify(metadata["format"] ?? null)}, expected "${DICT_FORMAT}")`,
    );
  const R = Number(metadata["max_ind_range"]);
  if (!Number.isInteger(R) || R < 0 || R > 0x7fffffff)
    fail(
      `metadata max_ind_range must be an integer in [0, 2^31 - 1], got ${JSON.stringify(metadata["max_ind_range"] ?? null)}`,
    );
  const features: IdMap[] = [];
  for (let t = 0; t < CRITEO_SPARSE; t++) {
    const name = criteoFieldName(1 + CRITEO_DENSE + t);
    const tensor = tensors.get(name) ?? fail(`${name}: missing`);
    if (tensor.dtype !== "I64" || !(tensor.data instanceof BigInt64Array) || tensor.shape.length !== 1) {
      fail(`${name}: expected a 1-D I64 tensor, got ${tensor.dtype} of shape (${tensor.shape.join(", ")})`);
    }
    const data = tensor.data as BigInt64Array;
    const m = new IdMap(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < 0n || v > 0xffffffffn) fail(`${name}: value ${v} at position ${i} is not a 32-bit raw value`);
      const raw = Number(v);
      if (R > 0 && raw >= R) fail(`${name}: value ${raw} at position ${i} is not below max_ind_range ${R}`);
      if (m.add(raw) !== i) fail(`${name}: value ${raw} at position ${i} appears twice`);
    }
    features.push(m);
  }
  for (const name of tensors.keys()) {
    if (!/^C([1-9]|1\d|2[0-6])$/.test(name))
      fail(`unexpected tensor ${JSON.stringify(name)} (a dictionary holds C1 … C${CRITEO_SPARSE})`);
  }
  return { maxIndRange: R, features };
}
