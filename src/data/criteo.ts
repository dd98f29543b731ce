// The Criteo click-log reader (Kaggle Display Advertising Challenge `train.txt`, Terabyte
// `day_N`), streaming one chunk at a time into the in-memory Dataset.
//
// A line is: label, 13 integer features I1–I13, 26 categorical features C1–C26 (hashed,
// hexadecimal), tab-separated; any feature may be empty. The transformations follow the
// reference (facebookresearch/dlrm data_utils.py getCriteoAdData / processCriteoAdData and
// dlrm_data_pytorch.py CriteoDataset):
//   - a missing integer is 0 and a negative integer becomes 0, then dense = log(x + 1);
//   - a missing categorical is the reference's token "0", i.e. the raw value 0 (which
//     therefore shares its row with a real "00000000");
//   - a categorical is parsed as hex and, with maxIndRange R > 0, taken modulo R;
//   - raw values are then numbered per feature 0, 1, 2, … in order of first appearance in
//     the data (files in the order given, lines in file order). This is the reference's
//     order: it fills one insertion-ordered Python dict per feature while reading the days
//     in order, then numbers the keys by enumerating the dict. With sub-sampling
//     (subSampleRate), a dropped row is skipped before its values are numbered, as there.
// Each sample has exactly one lookup per table (bag length 1).
//
// With a given dictionary (eval data), the dictionary is not extended: a raw value it has
// not seen maps to the "unknown" row of that feature, the row just past the known ones
// (id = number of known values). criteoTableSizes() therefore counts one row more than the
// dictionary holds, so the unknown row exists in every model built from a dictionary;
// training data never touches it.
//
// Categorical values are 32-bit (at most 8 hex digits), as in both Criteo data sets and as
// the reference's int32 arrays hold them; integer features are exact up to 15 digits.
//
// Glossary: N samples, Dd = 13 dense features, F = 26 tables, R max index range.

import { statSync } from "node:fs";
import { readLineBatches } from "./lines.ts";
import type { Dataset, SparseFeature } from "./dataset.ts";
import { readSafetensors, SafetensorsError, writeSafetensors, type SafetensorsTensor } from "../io/safetensors.ts";
import { Rng } from "../tensor/rng.ts";

/** Dd: integer (dense) features per line. */
export const CRITEO_DENSE = 13;
/** F: categorical features (tables) per line. */
export const CRITEO_SPARSE = 26;
const FIELDS = 1 + CRITEO_DENSE + CRITEO_SPARSE;

/** Column names as the Kaggle data set names them: label, I1..I13, C1..C26. */
export function criteoFieldName(f: number): string {
  if (f === 0) return "label";
  return f <= CRITEO_DENSE ? `I${f}` : `C${f - CRITEO_DENSE}`;
}

// ---------------------------------------------------------------------------------------
// Per-feature dictionary: raw 32-bit value → contiguous id.

/** An open-addressing hash map from raw value (uint32) to id (0, 1, … in insertion order).
 *  Typed arrays rather than a Map: a JS Map holds at most 2^24 entries, fewer than one
 *  Terabyte feature has, and costs far more memory per entry. */
export class IdMap {
  #keys: Uint32Array; // (capacity,) raw value in each slot
  #ids: Int32Array; // (capacity,) id in each slot, -1 for an empty slot
  #mask: number;
  #raw: Uint32Array; // (≥ size,) raw value of each id, in id order
  #size = 0;

  constructor(expected = 16) {
    let capacity = 16;
    while (capacity < 2 * expected) capacity *= 2;
    this.#keys = new Uint32Array(capacity);
    this.#ids = new Int32Array(capacity).fill(-1);
    this.#mask = capacity - 1;
    this.#raw = new Uint32Array(Math.max(8, expected));
  }

  /** Number of distinct raw values (ids are 0 .. size-1). */
  get size(): number {
    return this.#size;
  }

  /** The id of `raw`, or -1 when it has none. */
  get(raw: number): number {
    for (let s = hash32(raw) & this.#mask; ; s = (s + 1) & this.#mask) {
      const id = this.#ids[s] as number;
      if (id === -1 || this.#keys[s] === raw) return id;
    }
  }

  /** The id of `raw`, giving it the next id if it is new. */
  add(raw: number): number {
    let s = hash32(raw) & this.#mask;
    for (; ; s = (s + 1) & this.#mask) {
      const id = this.#ids[s] as number;
      if (id === -1) break;
      if (this.#keys[s] === raw) return id;
    }
    const id = this.#size;
    if (id === 0x7fffffff) throw new Error("IdMap: more than 2^31 - 1 distinct values");
    this.#keys[s] = raw;
    this.#ids[s] = id;
    if (id === this.#raw.length) this.#raw = grow(this.#raw, id + 1);
    this.#raw[id] = raw;
    this.#size = id + 1;
    if (2 * this.#size > this.#ids.length) this.#rehash(2 * this.#ids.length); // load factor ≤ 1/2
    return id;
  }

  /** (size,) the raw value of each id, in id order (a copy). */
  rawValues(): Uint32Array {
    return this.#raw.slice(0, this.#size);
  }

  #rehash(capacity: number): void {
    const keys = new Uint32Array(capacity);
    const ids = new Int32Array(capacity).fill(-1);
    const mask = capacity - 1;
    for (let id = 0; id < this.#size; id++) {
      const raw = this.#raw[id] as number;
      let s = hash32(raw) & mask;
      while (ids[s] !== -1) s = (s + 1) & mask;
      keys[s] = raw;
      ids[s] = id;
    }
    this.#keys = keys;
    this.#ids = ids;
    this.#mask = mask;
  }
}

/** murmur3's 32-bit finaliser: spreads nearby raw values over the table. */
function hash32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export interface CriteoDictionary {
  /** R the raw values were reduced modulo before numbering; 0 when they were not. */
  readonly maxIndRange: number;
  /** F = 26 maps, feature C1 first: raw value (hashed, modulo R) → contiguous id, numbered in order of first appearance. */
  readonly features: readonly IdMap[];
}

/** Rows per table for a model that reads data through `d`: the known values plus the unknown row (last). */
export function criteoTableSizes(d: CriteoDictionary): number[] {
  return d.features.map((m) => m.size + 1);
}

// ---------------------------------------------------------------------------------------
// Reading

export interface CriteoOptions {
  /** R: take each raw categorical value modulo R before numbering (the reference's --max-ind-range); 0 or absent: no modulo. */
  maxIndRange?: number;
  /** A malformed line is an error (default) or is skipped and counted. */
  onBadLine?: "error" | "skip";
  /** Map through this dictionary without extending it (eval data); unseen values go to the unknown row. */
  dictionary?: CriteoDictionary;
  /** p: drop each negative sample with probability p (the reference's --data-sub-sample-rate). */
  subSampleRate?: number;
  /** Seed of the sub-sampling draws (default 0); or give `rng`. */
  seed?: number;
  /** The generator of the sub-sampling draws, when they continue from an earlier read (several files). */
  rng?: Rng;
  /** Called after every chunk read, and once at the end. */
  onProgress?: (linesRead: number, bytesRead: number, bytesTotal: number) => void;
}

export interface CriteoResult {
  data: Dataset;
  dictionary: CriteoDictionary;
  /** Malformed lines skipped (onBadLine "skip"). */
  skipped: number;
  /** Lines read, whether kept, sub-sampled away or skipped. */
  lines: number;
  /** (N,) the line of its file (0-based) that each sample came from: where a sub-sampled file's days begin and end. */
  rowLines: Int32Array;
}

/** The samples of `files`, read in order, as one Dataset with 13 dense features and 26 single-lookup tables. */
export async function readCriteo(files: readonly string[], opts: CriteoOptions = {}): Promise<CriteoResult> {
  const given = opts.dictionary;
  const R = opts.maxIndRange ?? given?.maxIndRange ?? 0;
  if (!Number.isInteger(R) || R < 0 || R > 0x7fffffff) {
    throw new Error(`readCriteo: maxIndRange must be an integer in [0, 2^31 - 1] (0 for none), got ${R}`);
  }
  if (given !== undefined) {
    if (given.features.length !== CRITEO_SPARSE) {
      throw new Error(`readCriteo: the dictionary has ${given.features.length} features, expected ${CRITEO_SPARSE}`);
    }
    if (given.maxIndRange !== R) {
      throw new Error(`readCriteo: the dictionary was built with maxIndRange ${given.maxIndRange}, but ${R} was given`);
    }
  }
  const p = opts.subSampleRate ?? 0;
  if (!(p >= 0 && p <= 1)) throw new Error(`readCriteo: subSampleRate must be in [0, 1], got ${p}`);
  const skipBad = (opts.onBadLine ?? "error") === "skip";
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const dictionary: CriteoDictionary = given ?? {
    maxIndRange: R,
    features: Array.from({ length: CRITEO_SPARSE }, () => new IdMap(1024)),
  };
  const maps = dictionary.features;
  const unknown = maps.map((m) => m.size); // the unknown row of each feature (used only with a given dictionary)

  let bytesTotal = 0;
  for (const f of files) {
    try {
      bytesTotal += statSync(f).size;
    } catch (e) {
      throw new Error(`readCriteo: cannot read ${f}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  const out = new GrowingCriteo();
  const row = new ParsedRow();
  let lines = 0;
  let skipped = 0;
  let bytesBefore = 0; // bytes of the files already finished
  let rowLines = new Int32Array(1024); // (≥ N,)
  for (const file of files) {
    let fileBytes = 0;
    for await (const batch of readLineBatches(file)) {
      for (let k = 0; k < batch.lines.length; k++) {
        lines++;
        const line = batch.firstLine - 1 + k; // 0-based in this file
        const problem = parseCriteoLine(batch.lines[k] as string, R, row);
        if (problem !== null) {
          if (skipBad) {
            skipped++;
            continue;
          }
          throw new Error(`criteo: ${file}:${batch.firstLine + k}: ${problem}`);
        }
        // The reference's sub-sampling (data_utils.py): one draw per line, and a dropped row is
        // skipped before its values are numbered, so the dictionary holds only kept rows' values.
        if (p > 0 && rng.uniform() < p && row.label === 0) continue;
        const i = out.push(row);
        if (i === rowLines.length) rowLines = grow(rowLines, i + 1);
        rowLines[i] = line;
        for (let t = 0; t < CRITEO_SPARSE; t++) {
          const raw = row.cats[t] as number;
          const m = maps[t] as IdMap;
          let id: number;
          if (given === undefined) id = m.add(raw);
          else {
            id = m.get(raw);
            if (id === -1) id = unknown[t] as number;
          }
          out.setIndex(t, i, id);
        }
      }
      fileBytes = batch.bytesRead;
      opts.onProgress?.(lines, bytesBefore + fileBytes, bytesTotal);
    }
    bytesBefore += fileBytes;
  }
  opts.onProgress?.(lines, bytesBefore, bytesTotal);
  const data = out.finish();
  return { data, dictionary, skipped, lines, rowLines: trim(rowLines, data.n) };
}

/** One line's values before numbering. */
class ParsedRow {
  label = 0;
  /** (13,) integer features after the negative → 0 rule. */
  readonly ints = new Float64Array(CRITEO_DENSE);
  /** (26,) raw categorical values after the modulo. */
  readonly cats = new Float64Array(CRITEO_SPARSE);
}

/** Parses one line into `row`; returns what is wrong with it, or null. Scans characters
 *  instead of splitting, so that a line allocates nothing. */
function parseCriteoLine(line: string, R: number, row: ParsedRow): string | null {
  let pos = 0;
  for (let f = 0; f < FIELDS; f++) {
    let end = line.indexOf("\t", pos);
    if (f === FIELDS - 1) {
      if (end !== -1) return fieldCountProblem(line);
      end = line.length;
    } else if (end === -1) return fieldCountProblem(line);

    if (f === 0) {
      if (end - pos !== 1 || (line.charCodeAt(pos) !== 48 && line.charCodeAt(pos) !== 49)) {
        return `label must be 0 or 1, got ${quote(line.slice(pos, end))}`;
      }
      row.label = line.charCodeAt(pos) - 48;
    } else if (f <= CRITEO_DENSE) {
      const v = parseInteger(line, pos, end);
      if (Number.isNaN(v)) return `field ${criteoFieldName(f)} is not an integer: ${quote(line.slice(pos, end))}`;
      row.ints[f - 1] = v < 0 ? 0 : v;
    } else {
      const v = parseHex(line, pos, end);
      if (Number.isNaN(v)) {
        return `field ${criteoFieldName(f)} is not a hexadecimal value of at most 8 digits: ${quote(line.slice(pos, end))}`;
      }
      row.cats[f - 1 - CRITEO_DENSE] = R > 0 ? v % R : v;
    }
    pos = end + 1;
  }
  return null;
}

function fieldCountProblem(line: string): string {
  if (line.length === 0) return `empty line (expected ${FIELDS} tab-separated fields)`;
  const found = line.split("\t").length;
  return `expected ${FIELDS} tab-separated fields (label, I1–I${CRITEO_DENSE}, C1–C${CRITEO_SPARSE}), found ${found}`;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/** A decimal integer in line[start, end): "" → 0, optional "-", 1–15 digits; NaN when malformed. */
function parseInteger(line: string, start: number, end: number): number {
  if (start === end) return 0;
  let i = start;
  const negative = line.charCodeAt(i) === 45; // "-"
  if (negative) i++;
  if (i === end || end - i > 15) return Number.NaN;
  let v = 0;
  for (; i < end; i++) {
    const d = line.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    v = v * 10 + d;
  }
  return negative ? -v : v;
}

/** A hexadecimal value in line[start, end): "" → 0 (the reference's missing token "0"), 1–8 digits; NaN when malformed. */
function parseHex(line: string, start: number, end: number): number {
  if (start === end) return 0;
  if (end - start > 8) return Number.NaN;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return Number.NaN;
    v = v * 16 + d;
  }
  return v;
}

/** The Dataset under construction; its arrays grow by doubling. */
class GrowingCriteo {
  #n = 0;
  #capacity = 1024;
  #dense = new Float32Array(this.#capacity * CRITEO_DENSE); // (capacity, 13)
  #labels = new Float32Array(this.#capacity); // (capacity,)
  #indices = Array.from({ length: CRITEO_SPARSE }, () => new Int32Array(this.#capacity)); // F × (capacity,)

  /** Appends a sample's dense features and label; returns its position. */
  push(row: ParsedRow): number {
    if (this.#n === this.#capacity) this.#grow();
    const i = this.#n++;
    for (let d = 0; d < CRITEO_DENSE; d++) this.#dense[i * CRITEO_DENSE + d] = Math.log((row.ints[d] as number) + 1);
    this.#labels[i] = row.label;
    return i;
  }

  setIndex(t: number, i: number, id: number): void {
    (this.#indices[t] as Int32Array)[i] = id;
  }

  #grow(): void {
    this.#capacity *= 2;
    this.#dense = grow(this.#dense, this.#capacity * CRITEO_DENSE);
    this.#labels = grow(this.#labels, this.#capacity);
    this.#indices = this.#indices.map((a) => grow(a, this.#capacity));
  }

  /** Trimmed to N samples. Every table has bag length 1, so all tables share one lengths and one offsets array. */
  finish(): Dataset {
    const N = this.#n;
    const lengths = new Int32Array(N).fill(1); // (N,)
    const offsets = Int32Array.from({ length: N + 1 }, (_, i) => i); // (N + 1,)
    const sparse: SparseFeature[] = this.#indices.map((a) => ({ lengths, offsets, indices: trim(a, N), weights: null }));
    return { n: N, denseFeatures: CRITEO_DENSE, dense: trim(this.#dense, N * CRITEO_DENSE), labels: trim(this.#labels, N), sparse };
  }
}

function grow<T extends Float32Array | Int32Array | Uint32Array>(a: T, atLeast: number): T {
  let capacity = Math.max(8, a.length);
  while (capacity < atLeast) capacity *= 2;
  const b = new (a.constructor as new (n: number) => T)(capacity);
  b.set(a);
  return b;
}

function trim<T extends Float32Array | Int32Array>(a: T, n: number): T {
  return a.length === n ? a : (a.slice(0, n) as T);
}

// ---------------------------------------------------------------------------------------
// Splits and sub-sampling

/** The reference's split of Kaggle's single file: N samples cut into 7 "days" (the first
 *  N mod 7 one sample longer, as the reference's divmod), train = days 0–5, and day 6
 *  halved with the larger half first (np.array_split) into test, then validation.
 *  Ranges are [start, end). */
export function kaggleSplits(n: number): { train: [number, number]; test: [number, number]; val: [number, number] } {
  if (!Number.isInteger(n) || n < 0) throw new Error(`kaggleSplits: n must be a non-negative integer, got ${n}`);
  const trainEnd = kaggleDays(n).slice(0, -1).reduce((a, b) => a + b, 0);
  const last = n - trainEnd;
  const testEnd = trainEnd + Math.ceil(last / 2);
  return { train: [0, trainEnd], test: [trainEnd, testEnd], val: [testEnd, n] };
}

/** The reference's 7 "days" of Kaggle's n lines: ⌊n/7⌋ each, the first n mod 7 one longer. */
export function kaggleDays(n: number): number[] {
  const DAYS = 7;
  return Array.from({ length: DAYS }, (_, d) => Math.floor(n / DAYS) + (d < n % DAYS ? 1 : 0));
}

// ---------------------------------------------------------------------------------------
// Dictionary files: safetensors with one I64 tensor per feature, "C1" … "C26", holding the
// raw value of each id in id order (what the reference keeps in its *_fea_dict_{j}.npz as
// "unique"), and the metadata {format, max_ind_range}.

const DICT_FORMAT = "dlrm-ts criteo dictionary";
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes `d` atomically (temp file, then rename). */
export function saveDictionary(path: string, d: CriteoDictionary): void {
  const f = dictionaryFile(path, d);
  writeSafetensors(path, f.tensors, f.metadata);
}

/** The tensors and metadata of `d`'s dictionary file; `path` names it in errors. */
export function dictionaryFile(path: string, d: CriteoDictionary): { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> } {
  if (d.features.length !== CRITEO_SPARSE) {
    throw new Error(`saveDictionary: ${path}: the dictionary has ${d.features.length} features, expected ${CRITEO_SPARSE}`);
  }
  const tensors = new Map<string, SafetensorsTensor>();
  d.features.forEach((m, t) => {
    const raw = m.rawValues();
    const data = new BigInt64Array(raw.length);
    if (HOST_LITTLE_ENDIAN) {
      // Low word = the value, high word = 0: no BigInt per element.
      const words = new Uint32Array(data.buffer);
      for (let i = 0; i < raw.length; i++) words[2 * i] = raw[i] as number;
    } else {
      for (let i = 0; i < raw.length; i++) data[i] = BigInt(raw[i] as number);
    }
    tensors.set(criteoFieldName(1 + CRITEO_DENSE + t), { dtype: "I64", shape: [raw.length], data });
  });
  return { tensors, metadata: { format: DICT_FORMAT, max_ind_range: String(d.maxIndRange) } };
}

/** Reads a dictionary written by saveDictionary; errors name the file and the feature. */
export function loadDictionary(path: string): CriteoDictionary {
  const { tensors, metadata } = readSafetensors(path);
  const fail = (what: string): never => {
    throw new SafetensorsError(`${path}: ${what}`);
  };
  if (metadata["format"] !== DICT_FORMAT) fail(`not a Criteo dictionary (metadata format is ${JSON.stringify(metadata["format"] ?? null)}, expected "${DICT_FORMAT}")`);
  const R = Number(metadata["max_ind_range"]);
  if (!Number.isInteger(R) || R < 0 || R > 0x7fffffff) fail(`metadata max_ind_range must be an integer in [0, 2^31 - 1], got ${JSON.stringify(metadata["max_ind_range"] ?? null)}`);
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
      const v = data[i] as bigint;
      if (v < 0n || v > 0xffffffffn) fail(`${name}: value ${v} at position ${i} is not a 32-bit raw value`);
      const raw = Number(v);
      if (R > 0 && raw >= R) fail(`${name}: value ${raw} at position ${i} is not below max_ind_range ${R}`);
      if (m.add(raw) !== i) fail(`${name}: value ${raw} at position ${i} appears twice`);
    }
    features.push(m);
  }
  for (const name of tensors.keys()) {
    if (!/^C([1-9]|1\d|2[0-6])$/.test(name)) fail(`unexpected tensor ${JSON.stringify(name)} (a dictionary holds C1 … C${CRITEO_SPARSE})`);
  }
  return { maxIndRange: R, features };
}
