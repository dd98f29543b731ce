// A user's own click log (CSV, TSV, JSON lines) through a schema (src/data/tabular_schema.ts)
// into Datasets, in two streaming passes over the files:
//   1. scanTabular: which rows train and which evaluate, the vocabulary of each categorical
//      column and the mean and deviation of each standardized dense column, over the
//      training rows only (evaluation rows never shape the features);
//   2. tabularChunks: the rows again, as Dataset chunks of at most chunkRows samples, each
//      tagged train or eval, in file order.
// Memory is one chunk of text, one chunk of samples per split and the vocabularies; nothing
// else grows with the rows.
//
// A row is malformed when its record is (src/data/csv_records.ts, tabular_rows.ts) or when
// a value is: a label that is not a number in [0, 1] (or true/false), a dense value that is
// not a finite number (or ≤ −1 under log1p), a split value that cannot be compared. Each is
// an error naming file:line, the column and the value, or with onBadLine "skip" is counted
// and left out of both passes alike.
//
// Glossary: N samples, Dd dense columns, F categorical columns (tables).

import type { Dataset, SparseFeature } from "./dataset.ts";
import { offsetsFromLengths } from "./dataset.ts";
import { grow } from "./id_map.ts";
import type { DataFiles } from "./files.ts";
import { readTabularRows, type Cell, type TabularRow } from "./tabular_rows.ts";
import { schemaColumns, type SplitRule, type TabularSchema } from "./tabular_schema.ts";
import { hashBucket, hashString, Vocabulary, VocabularyCounter } from "./vocabulary.ts";

export interface TabularOptions {
  onBadLine?: "error" | "skip";
  /** Samples per chunk of tabularChunks (default 65536). */
  chunkRows?: number;
  /** Bytes per read from disk (default 1 MiB). */
  chunkBytes?: number;
  /** Called after each chunk read: the file, its bytes read so far, and the rows read in all files. */
  onProgress?: (file: string, bytesRead: number, rowsRead: number) => void;
}

/** How values become features: what the first pass learns from the training rows, or what a
 *  vocabulary file gives (src/data/tabular_vocabulary.ts). */
export interface TabularFeatures {
  /** Per categorical column: its vocabulary, or null when it is hashed. */
  readonly vocabularies: readonly (Vocabulary | null)[];
  /** Per dense column: mean and standard deviation over the training rows (used by "standardize"). */
  readonly dense: readonly { mean: number; std: number }[];
}

/** What the first pass learns. */
export interface TabularStats extends TabularFeatures {
  /** Rows of each table (vocabulary + the other row, or hash_buckets). */
  readonly tableSizes: readonly number[];
  readonly trainRows: number;
  readonly evalRows: number;
  /** Malformed rows left out (onBadLine "skip"). */
  readonly skipped: number;
}

/** One parsed row. */
interface RowValues {
  label: number;
  /** (Dd,) dense values before the transform. */
  dense: Float64Array;
  /** Per table, the values of its bag. */
  cats: string[][];
  isEval: boolean;
}

/** Reads a row's cells per the schema (cells in schemaColumns order); a problem string when malformed. */
class RowReader {
  readonly #s: TabularSchema;
  readonly #col: Map<string, number>;
  readonly #evalValues: Set<string> | null;
  #position = 0; // rows seen, for a split by hashed position

  constructor(s: TabularSchema) {
    this.#s = s;
    this.#col = new Map(schemaColumns(s).map((c, k) => [c, k]));
    this.#evalValues = s.split?.kind === "values" ? new Set(s.split.eval) : null;
  }

  read(cells: readonly Cell[], out: RowValues): string | null {
    const s = this.#s;
    const position = this.#position++;
    const cell = (column: string): Cell => cells[this.#col.get(column) as number];
    const label = labelValue(cell(s.label));
    if (typeof label === "string") return `column "${s.label}" (the label): ${label}`;
    out.label = label;
    for (let d = 0; d < s.dense.length; d++) {
      const col = s.dense[d];
      const c = cell(col.column);
      const v = isEmpty(c) ? col.default : numberValue(c);
      if (Number.isNaN(v)) return `column "${col.column}": not a number: ${shown(c)}`;
      if (!Number.isFinite(v)) return `column "${col.column}": not finite: ${shown(c)}`;
      if (col.transform === "log1p" && v <= -1)
        return `column "${col.column}": log1p needs a value above -1, got ${shown(c)}`;
      out.dense[d] = v;
    }
    for (let t = 0; t < s.categorical.length; t++) {
      const col = s.categorical[t];
      const bag = bagValues(cell(col.column), col.separator, col.default);
      if (typeof bag === "string") return `column "${col.column}": ${bag}`;
      out.cats[t] = bag;
    }
    const isEval = this.#isEval(s.split, cell, position);
    if (typeof isEval === "string") return isEval;
    out.isEval = isEval;
    return null;
  }

  #isEval(split: SplitRule | null, cell: (c: string) => Cell, position: number): boolean | string {
    if (split === null) return false;
    if (split.kind === "values") return (this.#evalValues as Set<string>).has(textOf(cell(split.column)));
    if (split.kind === "fraction") {
      const key = split.column === null ? String(position) : textOf(cell(split.column));
      return mix32(hashString(key, 0x811c9dc5 ^ split.seed)) / 2 ** 32 < split.fraction;
    }
    const c = cell(split.column);
    if (typeof split.cutoff === "string") return textOf(c) >= split.cutoff;
    const v = numberValue(c);
    if (!Number.isFinite(v))
      return `column "${split.column}" (the split's cutoff is a number): not a number: ${shown(c)}`;
    return v >= split.cutoff;
  }
}

/** Pass 1: the split, vocabularies and dense statistics; with `given` (a training run's
 *  vocabulary file), the split only, the values numbered and scaled as `given` says. */
export async function scanTabular(
  files: readonly string[],
  access: DataFiles,
  s: TabularSchema,
  o: TabularOptions = {},
  given: TabularFeatures | null = null,
): Promise<TabularStats> {
  const reader = new RowReader(s);
  const row = emptyRow(s);
  const counters = s.categorical.map((c) =>
    c.hashBuckets > 0 || given !== null ? null : new VocabularyCounter(c.column),
  );
  // Welford's running mean and sum of squared deviations: no cancellation when the mean is large (years, timestamps).
  const mean = new Float64Array(s.dense.length);
  const m2 = new Float64Array(s.dense.length);
  let trainRows = 0;
  let evalRows = 0;
  let skipped = 0;
  let rowsRead = 0;
  for await (const batch of readTabularRows(files, access, schemaColumns(s), readOpts(o))) {
    rowsRead += batch.rows.length;
    for (const r of batch.rows) {
      if (!accept(r, reader, row, o)) {
        skipped++;
        continue;
      }
      if (row.isEval) {
        evalRows++;
        continue;
      }
      trainRows++;
      for (let d = 0; d < row.dense.length; d++) {
        const x = row.dense[d];
        const delta = x - mean[d];
        mean[d] += delta / trainRows;
        m2[d] += delta * (x - mean[d]);
      }
      row.cats.forEach((bag, t) => {
        const counter = counters[t];
        if (counter !== null) for (const v of bag) counter.add(v);
      });
    }
    o.onProgress?.(batch.file, batch.bytesRead, rowsRead);
  }
  if (given !== null) {
    if (trainRows + evalRows === 0) throw new Error(`${files.join(", ")}: no rows (every row is malformed)`);
  } else if (trainRows === 0)
    throw new Error(`${files.join(", ")}: no training rows (every row is malformed or evaluates)`);
  const vocabularies =
    given?.vocabularies ?? counters.map((c, t) => (c === null ? null : c.build(s.categorical[t].minCount)));
  const tableSizes = vocabularies.map((v, t) => (v === null ? s.categorical[t].hashBuckets : v.rows));
  const dense = given?.dense ?? s.dense.map((_, d) => ({ mean: mean[d], std: Math.sqrt(m2[d] / trainRows) }));
  return { vocabularies, tableSizes, dense, trainRows, evalRows, skipped };
}

export interface TabularChunk {
  readonly split: "train" | "eval";
  readonly data: Dataset;
}

/** Pass 2: the rows as Dataset chunks (dense transformed, categorical values as row ids). */
export async function* tabularChunks(
  files: readonly string[],
  access: DataFiles,
  s: TabularSchema,
  stats: TabularStats,
  o: TabularOptions = {},
): AsyncGenerator<TabularChunk> {
  const chunkRows = o.chunkRows ?? 65536;
  if (!Number.isInteger(chunkRows) || chunkRows < 1)
    throw new Error(`tabularChunks: chunkRows must be a positive integer, got ${chunkRows}`);
  const reader = new RowReader(s);
  const row = emptyRow(s);
  const builders = {
    train: new ChunkBuilder(s.dense.length, s.categorical.length, chunkRows),
    eval: new ChunkBuilder(s.dense.length, s.categorical.length, chunkRows),
  };
  const seen = { train: 0, eval: 0 };
  const ids = s.categorical.map((c, t) => {
    const v = stats.vocabularies[t];
    return v === null ? (x: string) => hashBucket(x, c.hashBuckets) : (x: string) => v.id(x);
  });
  const transforms = s.dense.map((c, d) => {
    const { mean, std } = stats.dense[d];
    const scale = std > 0 ? 1 / std : 1; // a constant column stays at 0
    return c.transform === "log1p"
      ? Math.log1p
      : c.transform === "standardize"
        ? (x: number) => (x - mean) * scale
        : (x: number) => x;
  });
  let rowsRead = 0;
  for await (const batch of readTabularRows(files, access, schemaColumns(s), readOpts(o))) {
    rowsRead += batch.rows.length;
    o.onProgress?.(batch.file, batch.bytesRead, rowsRead);
    for (const r of batch.rows) {
      if (!accept(r, reader, row, o)) continue;
      const split = row.isEval ? "eval" : "train";
      seen[split]++;
      const b = builders[split];
      b.add(row, transforms, ids);
      if (b.n === chunkRows) yield { split, data: b.take() };
    }
  }
  if (seen.train !== stats.trainRows || seen.eval !== stats.evalRows)
    throw new Error(
      `${files.join(", ")}: changed while read: ${seen.train} training and ${seen.eval} evaluation rows now, ${stats.trainRows} and ${stats.evalRows} in the first pass`,
    );
  for (const split of ["train", "eval"] as const)
    if (builders[split].n > 0) yield { split, data: builders[split].take() };
}

function readOpts(o: TabularOptions) {
  return o.chunkBytes === undefined ? {} : { chunkBytes: o.chunkBytes };
}

/** Whether a row is well formed (read into `row`); a malformed one throws unless skipped. */
function accept(r: TabularRow, reader: RowReader, row: RowValues, o: TabularOptions): boolean {
  const problem = r.problem ?? reader.read(r.cells as Cell[], row);
  if (problem === null) return true;
  if ((o.onBadLine ?? "error") === "skip") return false;
  throw new Error(`${r.file}:${r.line}: ${problem}`);
}

function emptyRow(s: TabularSchema): RowValues {
  return { label: 0, dense: new Float64Array(s.dense.length), cats: s.categorical.map(() => []), isEval: false };
}

/** A chunk of samples under construction. */
class ChunkBuilder {
  n = 0;
  readonly #Dd: number;
  #dense: Float32Array;
  #labels: Float32Array;
  #lengths: Int32Array[];
  #indices: Int32Array[];
  #used: number[];

  constructor(Dd: number, F: number, chunk: number) {
    this.#Dd = Dd;
    this.#dense = new Float32Array(chunk * Dd);
    this.#labels = new Float32Array(chunk);
    this.#lengths = Array.from({ length: F }, () => new Int32Array(chunk));
    this.#indices = Array.from({ length: F }, () => new Int32Array(Math.min(chunk, 1024)));
    this.#used = new Array<number>(F).fill(0);
  }

  add(row: RowValues, transforms: readonly ((x: number) => number)[], ids: readonly ((v: string) => number)[]): void {
    const i = this.n++;
    this.#labels[i] = row.label;
    for (let d = 0; d < this.#Dd; d++)
      this.#dense[i * this.#Dd + d] = (transforms[d] as (x: number) => number)(row.dense[d]);
    row.cats.forEach((bag, t) => {
      const id = ids[t] as (v: string) => number;
      let used = this.#used[t];
      if (used + bag.length > this.#indices[t].length) this.#indices[t] = grow(this.#indices[t], used + bag.length);
      const indices = this.#indices[t];
      for (const v of bag) indices[used++] = id(v);
      this.#lengths[t][i] = bag.length;
      this.#used[t] = used;
    });
  }

  /** The chunk as a Dataset (copies), and a fresh start. */
  take(): Dataset {
    const N = this.n;
    const sparse: SparseFeature[] = this.#lengths.map((l, t) => {
      const lengths = l.slice(0, N);
      return {
        lengths,
        offsets: offsetsFromLengths(lengths),
        indices: this.#indices[t].slice(0, this.#used[t]),
        weights: null,
      };
    });
    const data: Dataset = {
      n: N,
      denseFeatures: this.#Dd,
      dense: this.#dense.slice(0, N * this.#Dd),
      labels: this.#labels.slice(0, N),
      sparse,
    };
    this.n = 0;
    this.#used.fill(0);
    return data;
  }
}

function isEmpty(c: Cell): boolean {
  return c === null || c === "";
}

/** A label: a number in [0, 1] (text or JSON), or true/false; else what is wrong. */
function labelValue(c: Cell): number | string {
  if (c === true || c === "true") return 1;
  if (c === false || c === "false") return 0;
  if (isEmpty(c)) return "empty (every row needs a label)";
  const v = numberValue(c);
  if (!(v >= 0 && v <= 1)) return `must be a number in [0, 1] (or true/false), got ${shown(c)}`;
  return v;
}

const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

/** A number from text (decimal or exponent notation only) or JSON; NaN otherwise. */
function numberValue(c: Cell): number {
  if (typeof c === "number") return c;
  if (typeof c === "string" && NUMBER.test(c)) return Number(c);
  return Number.NaN;
}

/** The text of a split value: JSON numbers and booleans as JSON writes them. */
function textOf(c: Cell): string {
  if (c === null) return "";
  return typeof c === "string" ? c : typeof c === "object" ? JSON.stringify(c) : String(c);
}

/** A categorical cell's bag of values; a string saying what is wrong. */
function bagValues(c: Cell, separator: string | null, def: string | null): string[] | string {
  if (isEmpty(c)) return def !== null ? [def] : separator !== null ? [] : [""];
  if (Array.isArray(c)) {
    if (separator === null)
      return `a list in a single-valued column (give it a "separator" in the schema): ${shown(c)}`;
    const out: string[] = [];
    for (const v of c) {
      if (typeof v === "object" && v !== null) return `a list holds ${shown(v as Cell)}, not a value`;
      out.push(String(v));
    }
    return out;
  }
  if (typeof c === "object") return `an object is not a value: ${shown(c)}`;
  const text = String(c);
  if (separator === null) return [text];
  return text.split(separator).filter((v) => v !== "");
}

function shown(c: Cell): string {
  const s = typeof c === "string" ? JSON.stringify(c) : (JSON.stringify(c) ?? String(c));
  return s.length > 42 ? `${s.slice(0, 40)}…"` : s;
}

/** murmur3's finaliser: spreads FNV's nearby hashes of similar keys over all 32 bits. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
