// The Criteo click-log parser (Kaggle Display Advertising Challenge `train.txt`, Terabyte
// `day_N`), taking one chunk of lines at a time into the in-memory Dataset, and the
// reference's train/test protocol over its days. It needs no file access: its sources are
// chunks of whole lines as bytes (src/data/criteo.ts streams them from files; a page gives
// the bytes of a file the user picked, criteoBytesSource). Each line is parsed straight from
// the bytes (src/data/criteo_line.ts), which is what makes `dlrm preprocess` fast.
//
// The transformations follow the reference (facebookresearch/dlrm data_utils.py
// getCriteoAdData / processCriteoAdData and dlrm_data_pytorch.py CriteoDataset):
//   - a missing integer is 0 and a negative integer becomes 0, then dense = log(x + 1);
//   - a missing categorical is the reference's token "0", i.e. the raw value 0 (which
//     therefore shares its row with a real "00000000");
//   - a categorical is parsed as hex and, with maxIndRange R > 0, taken modulo R;
//   - sub-sampling (the reference's --data-sub-sample-rate p) drops a negative line with
//     probability p, one uniform draw per line, *before* its values are numbered: a value
//     seen only in dropped lines gets no id and no table row, as in the reference, which
//     `continue`s past the line before adding its values to its dicts;
//   - raw values are then numbered per feature 0, 1, 2, … in order of first appearance in
//     the kept lines (files in the order given, lines in file order). This is the
//     reference's order: it fills one insertion-ordered Python dict per feature while
//     reading the days in order, then numbers the keys by enumerating the dict.
// Each sample has exactly one lookup per table (bag length 1).
//
// The samples come out in chunks of a fixed number of rows (parseCriteoChunks hands each to a
// sink as soon as it is full: `dlrm preprocess` writes it and forgets it), so what reading
// holds is one chunk, the dictionary, and one bit per line (which lines were kept, for
// Kaggle's days); parseCriteo collects the chunks into one Dataset.
//
// Days: several files are days (Terabyte's day_0 …); one file is Kaggle's train.txt, which
// the reference cuts into 7 days of its lines (divmod, the first days one line longer)
// before sub-sampling. The protocol (criteoSplit): train on every day but the last, which
// is halved, larger half first, into test and then validation.
//
// With a given dictionary (eval data), the dictionary is not extended: a raw value it has
// not seen maps to the "unknown" row of that feature, the row just past the known ones
// (id = number of known values); see criteo_dictionary.ts.
//
// Categorical values are 32-bit (at most 8 hex digits), as in both Criteo data sets and as
// the reference's int32 arrays hold them; integer features are exact up to 15 digits.
//
// Glossary: N samples, Dd = 13 dense features, F = 26 tables, R max index range.

import type { LineChunk } from "./lines.ts";
import type { Dataset, SparseFeature } from "./dataset.ts";
import { IdMap } from "./id_map.ts";
import { CRITEO_DENSE, CRITEO_SPARSE } from "./criteo_fields.ts";
import { criteoLineProblemAt, parseCriteoBytes, ParsedRow } from "./criteo_line.ts";
import { Rng } from "../tensor/rng.ts";

/** The raw-value numbering of a Criteo data set (its file format: src/data/criteo_dictionary.ts). */
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

/** The days Kaggle's single train.txt is cut into. */
export const KAGGLE_DAYS = 7;

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
  /** Seed of the sub-sampling draws (default 0). */
  seed?: number;
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
  /** Samples kept from each day, in order: one day per file, or for a single file the
   *  reference's 7 days of its lines (see the file head). They add up to data.n. */
  dayRows: number[];
}

/** One input of parseCriteo: its name (in errors), its size in bytes (for progress), and its
 *  bytes in chunks of whole lines (each chunk consumed before the next is asked for). */
export interface CriteoSource {
  name: string;
  bytes: number;
  batches(): AsyncIterable<LineChunk> | Iterable<LineChunk>;
}

/** Bytes per chunk of criteoBytesSource (each chunk then runs on to the next line end). */
const BYTES_SOURCE_CHUNK = 1 << 20;

/** A file's bytes held in memory (a file a page read) as a source. */
export function criteoBytesSource(name: string, bytes: Uint8Array): CriteoSource {
  return {
    name,
    bytes: bytes.length,
    *batches() {
      for (let start = 0; start < bytes.length;) {
        const lf = bytes.indexOf(10, Math.min(bytes.length, start + BYTES_SOURCE_CHUNK) - 1);
        const end = lf === -1 ? bytes.length : lf + 1;
        yield { bytes: bytes.subarray(start, end), bytesRead: end };
        start = end;
      }
    },
  };
}

/** Rows per chunk of parseCriteoChunks, unless told otherwise. */
export const CRITEO_CHUNK_ROWS = 65536;

/** What parseCriteoChunks returns: the result without the samples, which went to the sink. */
export type CriteoChunksResult = Omit<CriteoResult, "data"> & { rows: number };

/** The samples of `sources`, read in order, as one Dataset with 13 dense features and 26 single-lookup tables. */
export async function parseCriteo(sources: readonly CriteoSource[], opts: CriteoOptions = {}): Promise<CriteoResult> {
  const chunks: Dataset[] = [];
  const r = await parseCriteoChunks(sources, opts, (c) => chunks.push(c));
  const data = chunks.length === 1 ? chunks[0] : concatCriteoChunks(chunks);
  const { rows: _rows, ...rest } = r;
  return { ...rest, data };
}

/**
 * The samples of `sources`, read in order, handed to `sink` in chunks of `chunkRows` rows (the
 * last one shorter, none when there are no samples); each chunk is a fresh Dataset the sink may
 * keep. Returns the dictionary, the days and the counts.
 */
export async function parseCriteoChunks(
  sources: readonly CriteoSource[],
  opts: CriteoOptions,
  sink: (chunk: Dataset) => void,
  chunkRows = CRITEO_CHUNK_ROWS,
): Promise<CriteoChunksResult> {
  if (!Number.isSafeInteger(chunkRows) || chunkRows < 1)
    throw new Error(`readCriteo: chunkRows must be a positive integer, got ${chunkRows}`);
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
  const rng = new Rng(opts.seed ?? 0);
  const dictionary: CriteoDictionary = given ?? {
    maxIndRange: R,
    features: Array.from({ length: CRITEO_SPARSE }, () => new IdMap(1024)),
  };
  const maps = dictionary.features;
  const unknown = maps.map((m) => m.size); // the unknown row of each feature (used only with a given dictionary)

  const bytesTotal = sources.reduce((a, s) => a + s.bytes, 0);

  // A chunk's raw values are numbered table by table when it is full: one table's lookups in
  // a row, independent of each other, overlap their cache misses (the big tables are far
  // larger than the cache), which a line's 26 lookups in 26 tables do not.
  const numberChunk = (t: number, values: Int32Array, n: number): void => {
    const m = maps[t];
    if (given === undefined) m.addInPlace(values, n);
    else m.getInPlace(values, n, unknown[t]);
  };
  const out = new CriteoChunk(chunkRows);
  const row = new ParsedRow();
  let rows = 0;
  let lines = 0;
  let skipped = 0;
  let bytesBefore = 0; // bytes of the files already finished
  const fileRows: number[] = [];
  // One file is cut into days of its lines once its length is known: which lines were kept.
  const kept = sources.length === 1 ? new GrowingBits() : null;
  for (const source of sources) {
    let fileBytes = 0;
    const rowsBefore = rows;
    let fileLines = 0;
    for await (const chunk of source.batches()) {
      const b = chunk.bytes;
      for (let pos = 0; pos < b.length;) {
        lines++;
        fileLines++;
        const next = parseCriteoBytes(b, pos, R, row);
        if (next === -1) {
          const bad = criteoLineProblemAt(b, pos, R);
          if (!skipBad) throw new Error(`criteo: ${source.name}:${fileLines}: ${bad.problem}`);
          skipped++;
          kept?.push(false);
          pos = bad.next;
          continue;
        }
        pos = next;
        // One draw per well-formed line, before numbering: a dropped line adds no value to the dictionary.
        if (p > 0 && rng.uniform() < p && row.label === 0) {
          kept?.push(false);
          continue;
        }
        kept?.push(true);
        out.push(row);
        rows++;
        if (out.n === chunkRows) sink(out.take(numberChunk));
      }
      fileBytes = chunk.bytesRead;
      opts.onProgress?.(lines, bytesBefore + fileBytes, bytesTotal);
    }
    bytesBefore += fileBytes;
    fileRows.push(rows - rowsBefore);
  }
  if (out.n > 0) sink(out.take(numberChunk));
  opts.onProgress?.(lines, bytesBefore, bytesTotal);
  const dayRows = kept === null ? fileRows : kept.countPerRange(kaggleDays(lines));
  return { rows, dictionary, skipped, lines, dayRows };
}

/** One bit per line (kept or not), growing by doubling: 1/8 byte per line. */
class GrowingBits {
  #words = new Uint32Array(1024);
  #n = 0;
  push(bit: boolean): void {
    if (this.#n === 32 * this.#words.length) {
      const w = new Uint32Array(2 * this.#words.length);
      w.set(this.#words);
      this.#words = w;
    }
    if (bit) this.#words[this.#n >>> 5] |= 1 << (this.#n & 31);
    this.#n++;
  }
  /** How many set bits fall in each of the consecutive ranges of `sizes` bits. */
  countPerRange(sizes: readonly number[]): number[] {
    let at = 0;
    return sizes.map((size) => {
      let c = 0;
      for (let i = at; i < at + size; i++) c += (this.#words[i >>> 5] >>> (i & 31)) & 1;
      at += size;
      return c;
    });
  }
}

/** log(x + 1) of the small integers, the most of Criteo's: the same numbers Math.log gives, looked up. */
const LOG1P_TABLE = Float64Array.from({ length: 1 << 16 }, (_, x) => Math.log(x + 1));

/** The chunk under construction: a fixed capacity of rows, handed out whole (take) and started afresh. */
class CriteoChunk {
  readonly #capacity: number;
  #n = 0;
  #dense: Float32Array; // (capacity, 13)
  #labels: Float32Array; // (capacity,)
  #indices: Int32Array[]; // F × (capacity,)

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.#dense = new Float32Array(capacity * CRITEO_DENSE);
    this.#labels = new Float32Array(capacity);
    this.#indices = Array.from({ length: CRITEO_SPARSE }, () => new Int32Array(capacity));
  }

  /** Samples so far. */
  get n(): number {
    return this.#n;
  }

  /** Appends a sample: its dense features, label and raw categorical values (numbered by take). */
  push(row: ParsedRow): void {
    const i = this.#n++;
    const dense = this.#dense;
    const ints = row.ints;
    for (let d = 0; d < CRITEO_DENSE; d++) {
      const x = ints[d];
      dense[i * CRITEO_DENSE + d] = x < LOG1P_TABLE.length ? LOG1P_TABLE[x] : Math.log(x + 1);
    }
    this.#labels[i] = row.label;
    const cats = row.cats;
    for (let t = 0; t < CRITEO_SPARSE; t++) this.#indices[t][i] = cats[t]; // uint32 bits
  }

  /** The chunk's samples as a Dataset (its arrays, trimmed), after `number` has replaced each
   *  table's raw values (as int32 bits) by their ids in place; the chunk starts empty with new
   *  arrays. Every table has bag length 1, so all tables share one lengths and one offsets array. */
  take(number: (t: number, values: Int32Array, n: number) => void): Dataset {
    const N = this.#n;
    this.#indices.forEach((a, t) => number(t, a, N));
    const lengths = new Int32Array(N).fill(1); // (N,)
    const offsets = Int32Array.from({ length: N + 1 }, (_, i) => i); // (N + 1,)
    const sparse: SparseFeature[] = this.#indices.map((a) => ({
      lengths,
      offsets,
      indices: trim(a, N),
      weights: null,
    }));
    const d: Dataset = {
      n: N,
      denseFeatures: CRITEO_DENSE,
      dense: trim(this.#dense, N * CRITEO_DENSE),
      labels: trim(this.#labels, N),
      sparse,
    };
    this.#n = 0;
    this.#dense = new Float32Array(this.#capacity * CRITEO_DENSE);
    this.#labels = new Float32Array(this.#capacity);
    this.#indices = Array.from({ length: CRITEO_SPARSE }, () => new Int32Array(this.#capacity));
    return d;
  }
}

/** Chunks of Criteo samples as one Dataset, the tables sharing one lengths and one offsets array as a chunk's do. */
export function concatCriteoChunks(chunks: readonly Dataset[]): Dataset {
  const N = chunks.reduce((a, c) => a + c.n, 0);
  const dense = new Float32Array(N * CRITEO_DENSE);
  const labels = new Float32Array(N);
  const indices = Array.from({ length: CRITEO_SPARSE }, () => new Int32Array(N));
  let at = 0;
  for (const c of chunks) {
    dense.set(c.dense, at * CRITEO_DENSE);
    labels.set(c.labels, at);
    c.sparse.forEach((f, t) => (indices[t] as Int32Array).set(f.indices, at));
    at += c.n;
  }
  const lengths = new Int32Array(N).fill(1);
  const offsets = Int32Array.from({ length: N + 1 }, (_, i) => i);
  return {
    n: N,
    denseFeatures: CRITEO_DENSE,
    dense,
    labels,
    sparse: indices.map((a) => ({ lengths, offsets, indices: a, weights: null })),
  };
}

function trim<T extends Float32Array | Int32Array>(a: T, n: number): T {
  return a.length === n ? a : (a.slice(0, n) as T);
}

// ---------------------------------------------------------------------------------------
// Days and the train/test protocol

/** Kaggle's days: n lines cut into 7, the first n mod 7 one line longer (the reference's divmod). */
export function kaggleDays(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`kaggleDays: n must be a non-negative integer, got ${n}`);
  const perDay = Math.floor(n / KAGGLE_DAYS);
  return Array.from({ length: KAGGLE_DAYS }, (_, d) => perDay + (d < n % KAGGLE_DAYS ? 1 : 0));
}

/** Sample ranges [start, end) of the protocol's three parts. */
export interface CriteoSplit {
  train: [number, number];
  test: [number, number];
  val: [number, number];
}

/** The reference's protocol over days of `dayRows` samples (in order): train on all days
 *  but the last; the last halved, larger half first (np.array_split), into test, then validation. */
export function criteoSplit(dayRows: readonly number[]): CriteoSplit {
  const n = dayRows.reduce((a, b) => a + b, 0);
  const last = dayRows.length === 0 ? 0 : dayRows[dayRows.length - 1];
  const trainEnd = n - last;
  const testEnd = trainEnd + Math.ceil(last / 2);
  return { train: [0, trainEnd], test: [trainEnd, testEnd], val: [testEnd, n] };
}
