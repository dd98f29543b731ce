// Which wasm memory each embedding piece (or a rank's row range of one) lives in, so that the
// tables a thread holds are bounded by RAM rather than by one wasm32 memory (4 GiB).
//
// A thread's first memory is the step's: the head (MLPs and their optimizer state), a step's
// activations and the kernels' staging. Tables go there while they fit under
// STEP_MEMORY_TABLE_BYTES; the rest go to table memories of their own, each a WasmHeap with
// its own instance of the kernels (src/kernels/wasm.ts runs a call in its table's memory,
// staging the step's operands in and the pooled bags out), each holding up to
// TABLE_MEMORY_BYTES. A part's bytes are its weights, its learned pooling weights and their
// optimizer state (what the optimizer allocates beside its parameter, allocFloatLike), each
// rounded up to the block the heap hands out. The placement is first-fit, largest part first
// (ties by position), so it depends only on its inputs; where a part lives changes no number:
// every kernel computes the same in any memory.
//
// DLRM_TABLE_MEMORY_BYTES (tests only) caps every memory's table bytes, the first one's
// included, so that a tiny model spreads over several memories.
//
// Glossary: W a piece's width, R its rows (of a row range: the range's).

import { hostEnv } from "../../kernels/host.ts";
import { formatBytes, MAX_BYTES, sizeClass, type WasmHeap } from "../../kernels/memory.ts";
import { stateTensors, type OptimizerSpec } from "../../optim/make.ts";
import { allocResident, tableMemory } from "../../tensor/storage.ts";
import { Tensor } from "../../tensor/tensor.ts";
import type { EmbeddingPiece } from "./piece.ts";

/** Table bytes the step's memory takes: 4 GiB less 1 GiB for the head, its state and a step's activations. */
export const STEP_MEMORY_TABLE_BYTES = MAX_BYTES - 1024 ** 3;
/** Table bytes a table memory takes: 4 GiB less 256 MiB for staging the step's operands. */
export const TABLE_MEMORY_BYTES = MAX_BYTES - 256 * 1024 ** 2;

/** What a memory must hold for one part: a piece, or a rank's row range of one. */
export interface TablePart {
  /** Its name in errors, e.g. "table 3 rows [0, 500)". */
  label: string;
  /** R. */
  rows: number;
  /** W. */
  dim: number;
  /** Whether it has learned pooling weights (one per row). */
  pooling: boolean;
}

/** Bytes of a part's weights, pooling weights and their optimizer state (spec; null: none), as the heap's blocks. */
export function partBytes(part: TablePart, spec: OptimizerSpec | null): number {
  const tensor = (shape: number[]): number => {
    const own = sizeClass(4 * shape.reduce((a, b) => a * b, 1));
    const state = spec === null ? [] : stateTensors(spec, shape, true);
    return own + state.reduce((sum, s) => sum + sizeClass(4 * s.shape.reduce((a, b) => a * b, 1)), 0);
  };
  return tensor([part.rows, part.dim]) + (part.pooling ? tensor([part.rows]) : 0);
}

/** Bytes one row of a part takes with its optimizer state (spec; null: none), unrounded: what the sharding plan cuts by. */
export function rowBytes(dim: number, pooling: boolean, spec: OptimizerSpec | null): number {
  const values = (shape: number[]): number =>
    shape[shape.length - 1] +
    (spec === null ? 0 : stateTensors(spec, shape, true).reduce((s, st) => s + st.shape.reduce((a, b) => a * b, 1), 0));
  return 4 * (values([1, dim]) + (pooling ? values([1]) : 0));
}

/** The table bytes of each memory: the step's, then every table memory's (DLRM_TABLE_MEMORY_BYTES: both). */
export function memoryCapacities(): { step: number; table: number } {
  const v = hostEnv("DLRM_TABLE_MEMORY_BYTES");
  if (v === undefined || v === "") return { step: STEP_MEMORY_TABLE_BYTES, table: TABLE_MEMORY_BYTES };
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`DLRM_TABLE_MEMORY_BYTES must be a non-negative integer of bytes, got ${JSON.stringify(v)}`);
  return { step: n, table: n };
}

/**
 * The memory of each part (0 the step's, 1… table memories) by first-fit, largest first.
 * A part bigger than a table memory is an error naming it and its bytes.
 */
export function placeParts(
  labels: readonly string[],
  bytes: readonly number[],
  capacity: { step: number; table: number },
): number[] {
  bytes.forEach((b, i) => {
    if (b > capacity.table)
      throw new Error(
        `${labels[i]}: its weights and optimizer state take ${formatBytes(b)} (${b} bytes), more than one wasm memory ` +
          `holds for tables (${formatBytes(capacity.table)}): split its rows over more workers (--workers N cuts a piece ` +
          `bigger than a memory into row ranges on different ranks), or keep the tables on disk (--table-dir)`,
      );
  });
  const free = [capacity.step];
  const memory = new Array<number>(bytes.length).fill(0);
  const order = bytes.map((_, i) => i).sort((a, b) => bytes[b] - bytes[a] || a - b);
  for (const i of order) {
    let m = free.findIndex((f) => f >= bytes[i]);
    if (m < 0) m = free.push(capacity.table) - 1;
    free[m] -= bytes[i];
    memory[i] = m;
  }
  return memory;
}

/**
 * Parts placed in memories as a holder places them (DLRM_TABLE_MEMORY_BYTES or the default
 * capacities): each part's memory, and the bytes placed in each memory.
 */
export function placeInMemories(
  parts: readonly TablePart[],
  spec: OptimizerSpec | null,
): { placement: number[]; bytes: number[] } {
  const bytes = parts.map((p) => partBytes(p, spec));
  const placement = placeParts(
    parts.map((p) => p.label),
    bytes,
    memoryCapacities(),
  );
  const perMemory = new Array<number>(Math.max(0, ...placement) + 1).fill(0);
  placement.forEach((m, i) => (perMemory[m] += bytes[i]));
  return { placement, bytes: perMemory };
}

/** A holder's parts placed in memories: the step's memory and table memories made for the rest. */
export class TableMemories {
  /** The memory of each part: 0 the step's, k ≥ 1 table memory k. */
  readonly placement: readonly number[];
  /** Bytes placed in each memory. */
  readonly bytes: readonly number[];
  /** Table memory k at k - 1 (null under DLRM_KERNELS=js, where nothing is resident). */
  readonly #heaps: (WasmHeap | null)[];

  constructor(parts: readonly TablePart[], spec: OptimizerSpec | null) {
    const { placement, bytes } = placeInMemories(parts, spec);
    this.placement = placement;
    this.bytes = bytes;
    // Grown at once to what is placed (+ 16 MiB for staging), so tables are carved without regrowing.
    this.#heaps = bytes.slice(1).map((b) => tableMemory(Math.min(MAX_BYTES, b + 16 * 1024 ** 2)));
  }

  /** How many memories the parts take (the step's included). */
  get count(): number {
    return this.bytes.length;
  }

  /** The memory of part i: null for the step's (this thread's default heap). */
  memoryOf(i: number): WasmHeap | null {
    const m = this.placement[i];
    return m === 0 ? null : this.#heaps[m - 1];
  }

  /** A zero tensor of this shape for part i, in its memory. */
  tensor(i: number, shape: readonly number[]): Tensor {
    return new Tensor(
      allocResident(
        shape.reduce((a, b) => a * b, 1),
        this.memoryOf(i),
      ),
      shape,
    );
  }
}

/** What a memory must hold for a whole piece. */
export function piecePart(p: EmbeddingPiece): TablePart {
  return { label: `${p.label} (${p.name})`, rows: p.rows, dim: p.dim, pooling: p.poolingWeight !== null };
}

/** What a memory must hold for a rank's rows [rowStart, rowEnd) of a piece (all of them: whole). */
export function rangePart(p: EmbeddingPiece, r: { whole: boolean; rowStart: number; rowEnd: number }): TablePart {
  const label = r.whole ? p.label : `${p.label} rows [${r.rowStart}, ${r.rowEnd})`;
  return { label, rows: r.rowEnd - r.rowStart, dim: p.dim, pooling: p.poolingWeight !== null };
}
