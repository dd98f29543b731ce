// A batch file written chunk by chunk, in memory bounded by one chunk: what preprocessing
// (Criteo, a user's CSV) writes through, however many rows it reads.
//
// The file is the batch file of src/data/batch_file.ts, plus the block index that lets a
// reader find any row without scanning (docs/datasets.md):
//
//   block_offsets  I64 (F, ⌈N / G⌉ + 1)   entry [t, b]: where row b·G's bag starts in
//                                           indices.{t}; the last entry is L_t
//   metadata       block_rows = G          (rows per block, default 4096)
//                  max_bag_lengths         the longest bag of each table, a JSON array (F,)
//
// Readers that do not know the index ignore it (tensors with other names are ignored).
//
// How: each tensor's values go to a spill file of its own as the chunks arrive (appended,
// never held); finish() lays out the safetensors header from the final sizes, then writes the
// file atomically (src/io/atomic_file.ts) by copying the spill files in, one after the other,
// deleting each once copied, so the disk holds at most the output plus one tensor's spill. The
// spill files are temporary files of the output's name (src/io/temp_file.ts): a crash leaves
// them to be removed by the next write of that name; a normal exit or abort() removes them.
//
// Glossary: N rows written, Dd dense features, F tables, L_t lookups of table t, G block rows.

import { closeSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import type { Dataset } from "./dataset.ts";
import { writeFilesTogether, type Fill } from "../io/atomic_file.ts";
import {
  layoutSafetensors,
  SafetensorsError,
  type SafetensorsDType,
  type SafetensorsTensor,
} from "../io/safetensors.ts";
import { planSafetensors } from "../io/safetensors_bytes.ts";
import { removeStaleTemps, tempPathFor } from "../io/temp_file.ts";

import { BLOCK_OFFSETS, BLOCK_ROWS_KEY, DEFAULT_BLOCK_ROWS, MAX_BAG_KEY } from "./batch_file_source.ts";
export { BLOCK_OFFSETS, BLOCK_ROWS_KEY } from "./batch_file_source.ts";

export interface BatchFileShape {
  /** Dense features per row (Dd). */
  denseFeatures: number;
  /** Tables (F). */
  tables: number;
}

export interface BatchFileWriterOptions {
  /** Dtype of the indices (default I32). */
  indexDtype?: "I32" | "I64";
  /** G: rows per block of the block index (default 4096). */
  blockRows?: number;
}

/** A safetensors file to write together with the batch file (a dictionary): both or neither. */
export interface CompanionFile {
  path: string;
  tensors: Map<string, SafetensorsTensor>;
  metadata?: Record<string, string>;
}

/** One tensor's values, appended to its spill file. */
class Spill {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  /** The table whose lookups it holds one value per (indices, weights), or null: one value (or row) per row. */
  readonly perLookupOf: number | null;
  readonly tmp: string;
  fd: number | null;
  bytes = 0;
  constructor(name: string, dtype: SafetensorsDType, perLookupOf: number | null, tmp: string) {
    this.name = name;
    this.dtype = dtype;
    this.perLookupOf = perLookupOf;
    this.tmp = tmp;
    this.fd = openSync(tmp, "wx");
  }
  append(v: ArrayBufferView): void {
    const b = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    for (let done = 0; done < b.length;)
      done += writeSync(this.fd as number, b, done, b.length - done, this.bytes + done);
    this.bytes += b.length;
  }
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
  remove(): void {
    this.close();
    try {
      unlinkSync(this.tmp);
    } catch {
      // already removed
    }
  }
}

const COPY_BYTES = 8 << 20;

/** Writes a batch file from chunks of rows (append), then finishes it atomically (finish). */
export class BatchFileWriter {
  readonly path: string;
  readonly denseFeatures: number;
  readonly tables: number;
  readonly indexDtype: "I32" | "I64";
  readonly blockRows: number;
  #rows = 0;
  #chunks = 0;
  #spills: Spill[] = [];
  #dense: Spill;
  #labels: Spill;
  #lengths: Spill[] = [];
  #indices: Spill[] = [];
  #weights: (Spill | null)[] | null = null; // decided by the first chunk
  #lookups: number[]; // (F,) L_t so far
  #longest: number[]; // (F,) the longest bag so far
  #blockStarts: number[][]; // F × (blocks so far,) offsets at rows b·G
  #state: "open" | "finished" | "aborted" = "open";
  readonly #onExit = (): void => this.#removeSpills();

  constructor(path: string, shape: BatchFileShape, o: BatchFileWriterOptions = {}) {
    const { denseFeatures, tables } = shape;
    if (!Number.isSafeInteger(denseFeatures) || denseFeatures < 0)
      throw new SafetensorsError(`${path}: dense feature count must be a non-negative integer, got ${denseFeatures}`);
    if (!Number.isSafeInteger(tables) || tables < 0)
      throw new SafetensorsError(`${path}: table count must be a non-negative integer, got ${tables}`);
    const indexDtype = o.indexDtype ?? "I32";
    if (indexDtype !== "I32" && indexDtype !== "I64")
      throw new SafetensorsError(`${path}: indexDtype must be I32 or I64, got ${String(indexDtype)}`);
    const G = o.blockRows ?? DEFAULT_BLOCK_ROWS;
    if (!Number.isSafeInteger(G) || G < 1)
      throw new SafetensorsError(`${path}: blockRows must be a positive integer, got ${G}`);
    this.path = path;
    this.denseFeatures = denseFeatures;
    this.tables = tables;
    this.indexDtype = indexDtype;
    this.blockRows = G;
    this.#lookups = new Array<number>(tables).fill(0);
    this.#longest = new Array<number>(tables).fill(0);
    this.#blockStarts = Array.from({ length: tables }, () => []);
    removeStaleTemps(path);
    process.on("exit", this.#onExit);
    try {
      this.#dense = this.#spill("dense", "F32");
      this.#labels = this.#spill("labels", "F32");
      for (let t = 0; t < tables; t++) {
        this.#lengths.push(this.#spill(`lengths.${t}`, "I32"));
        this.#indices.push(this.#spill(`indices.${t}`, indexDtype, t));
      }
    } catch (e) {
      this.abort();
      throw new SafetensorsError(`${path}: cannot write: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Rows appended so far. */
  get rows(): number {
    return this.#rows;
  }

  #spill(name: string, dtype: SafetensorsDType, perLookupOf: number | null = null): Spill {
    const s = new Spill(name, dtype, perLookupOf, tempPathFor(this.path));
    this.#spills.push(s);
    return s;
  }

  #fail(what: string): never {
    throw new SafetensorsError(`${this.path}: chunk ${this.#chunks} (rows from ${this.#rows}): ${what}`);
  }

  /** Appends the rows of `chunk` (checked in full first: a bad chunk writes nothing). */
  append(chunk: Dataset): void {
    if (this.#state !== "open") throw new SafetensorsError(`${this.path}: append after the writer was ${this.#state}`);
    const n = chunk.n;
    const Dd = this.denseFeatures;
    const F = this.tables;
    if (!Number.isSafeInteger(n) || n < 0) this.#fail(`row count must be a non-negative integer, got ${n}`);
    if (chunk.denseFeatures !== Dd) this.#fail(`has ${chunk.denseFeatures} dense features, the file ${Dd}`);
    if (chunk.dense.length !== n * Dd)
      this.#fail(`dense has ${chunk.dense.length} values but (N, Dd) is (${n}, ${Dd})`);
    if (chunk.labels.length !== n) this.#fail(`labels has ${chunk.labels.length} values for ${n} rows`);
    if (chunk.sparse.length !== F) this.#fail(`has ${chunk.sparse.length} tables, the file ${F}`);
    if (this.#weights === null && F > 0) this.#openWeights(chunk);
    const G = this.blockRows;
    const firstStart = (G - (this.#rows % G)) % G; // the first row of the chunk that starts a block
    // Per table: the offsets of the rows that start a block, and the longest bag; kept only
    // once the whole chunk has passed its checks.
    const starts: number[][] = [];
    const longest: number[] = [];
    chunk.sparse.forEach((f, t) => {
      if (f.lengths.length !== n) this.#fail(`lengths.${t} has ${f.lengths.length} values for ${n} rows`);
      const lengths = f.lengths;
      const at = this.#lookups[t];
      const s: number[] = [];
      let L = 0;
      let most = this.#longest[t];
      for (let i = 0, nextStart = firstStart; i < n; i++) {
        if (i === nextStart) {
          s.push(at + L);
          nextStart += G;
        }
        const l = lengths[i];
        if (l < 0) this.#fail(`lengths.${t}: row ${this.#rows + i} has a negative bag length ${l}`);
        if (l > most) most = l;
        L += l;
      }
      if (f.indices.length !== L)
        this.#fail(`indices.${t} has ${f.indices.length} values but lengths.${t} sum to ${L}`);
      const indices = f.indices;
      for (let j = 0; j < L; j++) {
        const r = indices[j];
        if (r < 0) this.#fail(`indices.${t}: index ${r} at position ${j} of the chunk is negative`);
      }
      const hasWeights = (this.#weights as (Spill | null)[])[t] !== null;
      if (hasWeights !== (f.weights !== null))
        this.#fail(
          `weights.${t}: ${hasWeights ? "absent, but the first chunk has them" : "present, but the first chunk has none"}`,
        );
      if (f.weights !== null && f.weights.length !== L)
        this.#fail(`weights.${t} has ${f.weights.length} values but indices.${t} has ${L}`);
      starts.push(s);
      longest.push(most);
    });
    try {
      this.#dense.append(chunk.dense);
      this.#labels.append(chunk.labels);
      chunk.sparse.forEach((f, t) => {
        const all = this.#blockStarts[t];
        for (const at of starts[t]) all.push(at);
        this.#lookups[t] = this.#lookups[t] + f.indices.length;
        this.#longest[t] = longest[t];
        this.#lengths[t].append(f.lengths);
        this.#indices[t].append(this.indexDtype === "I32" ? f.indices : toI64(f.indices));
        if (f.weights !== null) (this.#weights as Spill[])[t].append(f.weights);
      });
    } catch (e) {
      this.abort();
      throw new SafetensorsError(`${this.path}: cannot write: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.#rows += n;
    this.#chunks++;
  }

  #openWeights(first: Dataset): void {
    this.#weights = first.sparse.map((f, t) => (f.weights === null ? null : this.#spill(`weights.${t}`, "F32", t)));
  }

  /**
   * Writes the file (atomically) with this metadata, and the companion files with it: all
   * are complete on disk before any is renamed into place, companions first. The writer is
   * done after, whether it succeeds or not.
   */
  finish(metadata: Record<string, string> = {}, companions: readonly CompanionFile[] = []): void {
    if (this.#state !== "open") throw new SafetensorsError(`${this.path}: finish after the writer was ${this.#state}`);
    for (const key of [BLOCK_ROWS_KEY, MAX_BAG_KEY])
      if (key in metadata) throw new SafetensorsError(`${this.path}: metadata key ${key} is the writer's own`);
    const N = this.#rows;
    const F = this.tables;
    const blocks = Math.ceil(N / this.blockRows);
    const index = new BigInt64Array(F * (blocks + 1)); // (F, blocks + 1)
    for (let t = 0; t < F; t++) {
      const starts = this.#blockStarts[t];
      for (let b = 0; b < blocks; b++) index[t * (blocks + 1) + b] = BigInt(starts[b]);
      index[t * (blocks + 1) + blocks] = BigInt(this.#lookups[t]);
    }
    const columns: Spill[] = [this.#dense, this.#labels];
    for (let t = 0; t < F; t++) {
      columns.push(this.#lengths[t], this.#indices[t]);
      const w = this.#weights?.[t] ?? null;
      if (w !== null) columns.push(w);
    }
    const shapeOf = (s: Spill): number[] =>
      s === this.#dense ? [N, this.denseFeatures] : s.perLookupOf === null ? [N] : [this.#lookups[s.perLookupOf]];
    const layout = layoutSafetensors(
      [
        ...columns.map((s) => ({ name: s.name, dtype: s.dtype, shape: shapeOf(s) })),
        { name: BLOCK_OFFSETS, dtype: "I64" as const, shape: [F, blocks + 1] },
      ],
      { ...metadata, [BLOCK_ROWS_KEY]: String(this.blockRows), [MAX_BAG_KEY]: JSON.stringify(this.#longest) },
    );
    const fill: Fill = (write) => {
      write(layout.header);
      const buf = new Uint8Array(Math.min(COPY_BYTES, Math.max(1, ...columns.map((s) => s.bytes))));
      for (const s of columns) {
        s.close();
        const fd = openSync(s.tmp, "r");
        try {
          for (let at = 0; at < s.bytes;) {
            const got = readSync(fd, buf, 0, Math.min(buf.length, s.bytes - at), at);
            if (got === 0) throw new Error(`spill file of ${s.name} ended early at byte ${at} of ${s.bytes}`);
            write(buf.subarray(0, got));
            at += got;
          }
        } finally {
          closeSync(fd);
        }
        s.remove();
      }
      write(new Uint8Array(index.buffer));
    };
    try {
      const plans = companions.map((c) => ({ path: c.path, plan: planSafetensors(c.path, c.tensors, c.metadata) }));
      writeFilesTogether([
        ...plans.map(({ path, plan }): { path: string; fill: Fill } => ({
          path,
          fill: (write) => {
            write(plan.header);
            for (const c of plan.chunks) write(c);
          },
        })),
        { path: this.path, fill },
      ]);
      this.#state = "finished";
    } catch (e) {
      this.abort();
      if (e instanceof SafetensorsError) throw e;
      const where = (e as { path?: string }).path ?? this.path;
      throw new SafetensorsError(`${where}: cannot write: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.#removeSpills();
    }
  }

  /** Gives up: removes the spill files; the output is left as it was. */
  abort(): void {
    if (this.#state === "open") this.#state = "aborted";
    this.#removeSpills();
  }

  #removeSpills(): void {
    for (const s of this.#spills) s.remove();
    this.#spills = [];
    process.off("exit", this.#onExit);
  }
}

/** int32 values as int64 (little-endian words: the value, then its sign). */
function toI64(a: Int32Array): BigInt64Array {
  const out = new BigInt64Array(a.length);
  const words = new Int32Array(out.buffer);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    words[2 * i] = v;
    words[2 * i + 1] = v < 0 ? -1 : 0;
  }
  return out;
}
