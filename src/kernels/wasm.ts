// The WebAssembly kernels (kernels/*.wat, bytes in wasm.gen.ts) behind the signatures of the
// reference kernels in ref.ts, so ops call either set the same way.
//
// Every wrapper does the same three things, and only one function, callWasm, does them:
//   1. describe its operands: each array with its element offset, the extent the kernel
//      touches (a span, or a strided matrix) and whether it is read, written or both;
//   2. callWasm checks every extent against its array (a resident view's neighbours are other
//      tensors, so an overrun would corrupt them silently), then resolves each operand: a
//      Float32Array, Int32Array or Uint8Array on this thread's wasm memory passes as its byte address (no
//      copy: tensor storage allocated resident or in the step arena, src/tensor/storage.ts);
//      any other array is staged, copied into the scratch area before the call and, if
//      written, back after;
//   3. the wrapper's raw call, given the addresses.
// callWasm declines (the wrapper then runs the reference kernel, and wasmFallbacks() counts it) when an operand is a
// Float64Array (gradcheck runs ops in float64), when staging exceeds the scratch limit or the
// memory is full, and when an operand marked as a table is not resident and is large compared
// with what the call touches (copying a whole table in and out to read a few rows costs more
// than the reference kernel's loop). So every call gives the reference's answer (up to float32
// rounding); only the speed depends on where the data lives.
//
// Why staging exists at all: a training step's operands are resident (measured through
// `dlrm train`: about 15 KB a step is staged, the batch's indices and dense features), but a
// library user's tensors made outside allocResident/withStepArena are plain arrays; the
// reference GEMM on them would be several times slower than a copy plus the wasm GEMM.
//
// The modules are instantiated synchronously on first use (no top-level await). GEMM comes
// in two builds of kernels/sgemm.wat: with separate multiplies and adds, and with relaxed
// SIMD's fused multiply-add (f32x4.relaxed_madd), 15–20 % faster on this Xeon. Node 20
// compiles relaxed SIMD only behind V8's --experimental-wasm-relaxed-simd, a process-wide
// flag that a library has no business setting behind its host's back: this file uses the
// relaxed build when the engine compiles it as is (newer Node versions do), and
// enableRelaxedSimd() is the documented opt-in that turns the flag on (the `dlrm` command
// calls it; DLRM_RELAXED_SIMD=0 keeps the plain build either way).
//
// Glossary: M, N, K GEMM dims; B bags, E embedding dim, R table rows, L lookups, U unique
// rows; Ptr a byte address in the wasm memory; operand one array argument of a kernel.

import { hostEnv, setV8Flag } from "./host.ts";
import { wasmModules } from "./wasm.gen.ts";
import { align64, defaultHeap, heapOfBuffer, Scratch, WasmMemoryError, type Ptr, type WasmHeap } from "./memory.ts";
import { fusedRowBytes } from "./fused_rows.ts";
import * as ref from "./ref.ts";
import type { FloatArray } from "./ref.ts";

/** Something a kernel wrapper rejects: out-of-range extents, indices or offsets. */
export class KernelError extends Error {
  override name = "KernelError";
}

/** The table, ids and output of a bag forward (kernels/embedding_bag.wat, quantized_bag.wat). */
type BagForwardArgs = [table: Ptr, R: number, indices: Ptr, offsets: Ptr, L: number, weights: Ptr | 0, out: Ptr];

/** Adagrad's and row-wise Adagrad's row updates (kernels/sparse_rows.wat): acc holds a value
 *  per element or per row; the status names an id out of range. */
type AccumulatorRowsKernel = (
  U: number,
  E: number,
  lr: number,
  eps: number,
  table: Ptr,
  R: number,
  acc: Ptr | 0,
  ids: Ptr,
  grad: Ptr,
) => number;

/** The wasm exports: sizes and byte addresses in, status codes out (see kernels/*.wat). */
export interface RawKernels {
  sgemm_f32(
    transA: number,
    transB: number,
    M: number,
    N: number,
    K: number,
    alpha: number,
    a: Ptr,
    lda: number,
    b: Ptr,
    ldb: number,
    beta: number,
    c: Ptr,
    ldc: number,
    work: Ptr,
    bias: Ptr | 0,
    relu: number,
  ): void;
  sgemm_f32_work_bytes(): number;
  embedding_bag_fwd_f32(B: number, E: number, mode: number, ...bags: BagForwardArgs): number;
  embedding_bag_fwd_quantized_f32(B: number, E: number, mode: number, bits: number, ...bags: BagForwardArgs): number;
  embedding_bag_bwd_f32(
    B: number,
    E: number,
    mode: number,
    dout: Ptr,
    offsets: Ptr,
    L: number,
    slots: Ptr,
    U: number,
    weights: Ptr | 0,
    grad: Ptr,
  ): number;
  sgd_rows_f32(U: number, E: number, lr: number, table: Ptr, R: number, ids: Ptr, grad: Ptr): number;
  adagrad_rows_f32: AccumulatorRowsKernel;
  rowwise_adagrad_rows_f32: AccumulatorRowsKernel;
  dot_interaction_fwd_f32(B: number, F: number, E: number, self: number, xs: Ptr, out: Ptr): void;
  dot_interaction_bwd_f32(B: number, F: number, E: number, self: number, xs: Ptr, dout: Ptr, gs: Ptr, work: Ptr): void;
  relu_fwd_f32(n: number, x: Ptr, y: Ptr): void;
  relu_bwd_f32(n: number, x: Ptr, g: Ptr, gx: Ptr, accumulate: number): void;
  col_sum_f32(R: number, C: number, x: Ptr, y: Ptr): void;
  relu_bwd_col_sum_f32(R: number, C: number, y: Ptr, g: Ptr, gx: Ptr, db: Ptr): void;
  sgd_dense_f32(n: number, lr: number, w: Ptr, g: Ptr): void;
  fill_zero_f32(n: number, y: Ptr): void;
  add_f32(n: number, x: Ptr, y: Ptr): void;
  philox_uniform_f32(
    n: number,
    width: number,
    ld: number,
    out: Ptr,
    first: number,
    k0: number,
    k1: number,
    lo: number,
    hi: number,
  ): void;
}

/** The module (kernels/<module>.wat) of every export: the one list of raw kernel names. */
const MODULE_OF = {
  sgemm_f32: "sgemm",
  sgemm_f32_work_bytes: "sgemm",
  embedding_bag_fwd_f32: "embedding_bag",
  embedding_bag_bwd_f32: "embedding_bag",
  embedding_bag_fwd_quantized_f32: "quantized_bag",
  sgd_rows_f32: "sparse_rows",
  adagrad_rows_f32: "sparse_rows",
  rowwise_adagrad_rows_f32: "sparse_rows",
  dot_interaction_fwd_f32: "interaction",
  dot_interaction_bwd_f32: "interaction",
  relu_fwd_f32: "elementwise",
  relu_bwd_f32: "elementwise",
  col_sum_f32: "elementwise",
  relu_bwd_col_sum_f32: "elementwise",
  sgd_dense_f32: "elementwise",
  fill_zero_f32: "elementwise",
  add_f32: "elementwise",
  philox_uniform_f32: "philox",
} as const satisfies Record<keyof RawKernels, keyof typeof wasmModules>;

/** Which build of sgemm runs: "relaxed" (fused multiply-add) or "plain". */
export type SgemmBuild = "relaxed" | "plain";

/** The bytes of kernels/<name>.wat as built (a thread that instantiates one module itself). */
export function wasmModuleBytes(name: keyof typeof wasmModules): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(wasmModules[name]), (c) => c.charCodeAt(0)); // base64, decoded without Node's Buffer
}

let relaxedAnswer: boolean | null = null;

/** Whether this engine compiles the relaxed-SIMD build as it is now (DLRM_RELAXED_SIMD=0 answers no). */
export function relaxedSimdAvailable(): boolean {
  if (relaxedAnswer === null) {
    if (hostEnv("DLRM_RELAXED_SIMD") === "0") relaxedAnswer = false;
    else {
      try {
        new WebAssembly.Module(wasmModuleBytes("sgemm_relaxed"));
        relaxedAnswer = true;
      } catch {
        relaxedAnswer = false;
      }
    }
  }
  return relaxedAnswer;
}

/**
 * Opt in to the relaxed-SIMD GEMM on engines that compile it only behind V8's
 * --experimental-wasm-relaxed-simd (Node 20): turns that flag on for the whole process
 * (worker threads started afterwards included). A thread that already ran a kernel switches
 * its sgemm to the relaxed build too, so that it computes what the workers started from now on
 * compute (its float32 sums round differently: 1 and 2 workers of one process would disagree).
 * Returns whether the relaxed build compiles now.
 */
export function enableRelaxedSimd(): boolean {
  if (hostEnv("DLRM_RELAXED_SIMD") === "0") return false;
  if (!relaxedSimdAvailable() && setV8Flag("--experimental-wasm-relaxed-simd")) relaxedAnswer = null;
  const relaxed = relaxedSimdAvailable();
  if (relaxed && theState !== null && theState.sgemmBuild === "plain") {
    // the same heap, scratch and GEMM work area (both builds take the same work bytes)
    theState = { ...theState, raw: instantiateKernels(theState.heap.memory, "relaxed"), sgemmBuild: "relaxed" };
    states.set(theState.heap, theState); // table memories follow in stateOf
  }
  return relaxed;
}

const modules = new Map<keyof typeof wasmModules, WebAssembly.Module>();

/** A kernel module, compiled once per thread (each memory instantiates it anew). */
function compiled(file: keyof typeof wasmModules): WebAssembly.Module {
  let m = modules.get(file);
  if (m === undefined) modules.set(file, (m = new WebAssembly.Module(wasmModuleBytes(file))));
  return m;
}

/** Instantiate the kernel modules over a shared memory (each thread or worker its own, each table memory its own). */
export function instantiateKernels(
  memory: WebAssembly.Memory,
  sgemmBuild: SgemmBuild = relaxedSimdAvailable() ? "relaxed" : "plain",
): RawKernels {
  const instances = new Map<string, Record<string, unknown>>();
  const raw: Partial<Record<keyof RawKernels, unknown>> = {};
  for (const [name, module] of Object.entries(MODULE_OF) as [keyof RawKernels, keyof typeof wasmModules][]) {
    const file = module === "sgemm" && sgemmBuild === "relaxed" ? "sgemm_relaxed" : module;
    let exports = instances.get(file);
    if (exports === undefined) {
      exports = new WebAssembly.Instance(compiled(file), { env: { memory } }).exports;
      instances.set(file, exports);
    }
    const f = exports[name];
    if (typeof f !== "function")
      throw new Error(`kernels/${module}.wat: export ${name} is missing — rebuild with npm run kernels`);
    raw[name] = f;
  }
  return raw as RawKernels; // each export checked to be a function above; wasm cannot say its signature
}

/** This thread's kernels: the heap, the instantiated modules, the scratch and GEMM work areas. */
export interface WasmState {
  readonly heap: WasmHeap;
  readonly raw: RawKernels;
  readonly sgemmBuild: SgemmBuild;
  readonly scratch: Scratch;
  readonly work: Ptr;
}

let theState: WasmState | null = null;
/** The kernels of each heap of this thread that ran one: the default heap's and the table memories'. */
const states = new WeakMap<WasmHeap, WasmState>();

/** The kernels of this thread's heap, instantiated on first call. */
export function wasmState(): WasmState {
  if (theState === null) theState = stateOf(defaultHeap());
  return theState;
}

/** The kernels of a heap of this thread (its memory's own instance), made on first call. */
function stateOf(heap: WasmHeap): WasmState {
  const sgemmBuild: SgemmBuild = theState?.sgemmBuild ?? (relaxedSimdAvailable() ? "relaxed" : "plain");
  const s = states.get(heap);
  if (s !== undefined && s.sgemmBuild === sgemmBuild) return s;
  const raw = instantiateKernels(heap.memory, sgemmBuild);
  const made: WasmState =
    s !== undefined
      ? { ...s, raw, sgemmBuild }
      : { heap, raw, sgemmBuild, scratch: new Scratch(heap), work: heap.alloc(raw.sgemm_f32_work_bytes()) };
  states.set(heap, made);
  return made;
}

/**
 * The kernels a call runs on: those of the first operand's memory when it is a table memory
 * of this thread (not the default one), so that a table is read and updated where it lies and
 * the step's operands (ids, offsets, pooled bags, gradient rows) are staged into that memory
 * and out; else the default memory's.
 */
function stateFor(operands: readonly Operand[]): WasmState {
  const s = wasmState();
  for (const o of operands) {
    if (o.array === null) continue;
    const heap = heapOfBuffer(o.array.buffer);
    if (heap !== null && heap !== s.heap) return stateOf(heap);
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// Operands and the one way to call a kernel

/** The arrays a kernel takes: floats, int32 ids, and (quantized tables) bytes. */
type OperandArray = Float32Array | Int32Array | FloatArray | Uint8Array;

/** Bytes per element of an operand (a work area is float32). */
function elementBytes(o: Operand): number {
  return o.array === null ? 4 : o.array.BYTES_PER_ELEMENT;
}

/** How a kernel uses an operand: reads it, writes all of it, reads and writes it, or (work) scratch only. */
type Access = "in" | "out" | "inout" | "work";

/**
 * One array argument: `rows` × `cols` elements from `off` with row stride `ld` (a span is one
 * row). `table`: the operand may be a whole table of which the call touches only
 * `touched` elements, so staging it is declined when it is large (see stagingPays).
 */
interface Operand {
  readonly name: string;
  readonly array: OperandArray | null;
  readonly off: number;
  readonly rows: number;
  readonly cols: number;
  readonly ld: number;
  readonly access: Access;
  readonly touched: number | null;
}

/** n consecutive elements from off; a null array passes address 0 ("none"). */
function span(name: string, array: OperandArray | null, off: number, n: number, access: Access): Operand {
  return { name, array, off, rows: 1, cols: n, ld: n, access, touched: null };
}

/** A rows×cols matrix from off with row stride ld. */
function matrix(
  name: string,
  array: FloatArray,
  off: number,
  rows: number,
  cols: number,
  ld: number,
  access: Access,
): Operand {
  return { name, array, off, rows, cols, ld, access, touched: null };
}

/** A table of n elements of which the call touches `touched`. */
function table(
  name: string,
  array: FloatArray | Uint8Array,
  off: number,
  n: number,
  access: Access,
  touched: number,
): Operand {
  return { name, array, off, rows: 1, cols: n, ld: n, access, touched };
}

/** A scratch area of n elements, contents undefined (the kernel writes before it reads). */
function work(n: number): Operand {
  return { name: "work", array: null, off: 0, rows: 1, cols: n, ld: n, access: "work", touched: null };
}

/** Copying a whole table of `bytes` to touch `touched` bytes of it pays only when it is small. */
function stagingPays(bytes: number, touched: number): boolean {
  return bytes <= Math.max(1 << 20, 8 * touched);
}

function checkCount(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff)
    throw new KernelError(`${op}: ${name} must be a non-negative int32, got ${v}`);
}

/** The operand's extent must lie inside its array. */
function checkExtent(op: string, o: Operand): void {
  const a = o.array;
  if (a === null || o.rows === 0 || o.cols === 0) return;
  checkCount(op, `offset of ${o.name}`, o.off);
  if (o.rows === 1) {
    if (o.off + o.cols > a.length) {
      throw new KernelError(
        `${op}: ${o.name} needs ${o.cols} elements from offset ${o.off} but the array has ${a.length}`,
      );
    }
    return;
  }
  checkCount(op, `leading dim of ${o.name}`, o.ld);
  const end = o.off + (o.rows - 1) * o.ld + o.cols;
  if (end > a.length) {
    throw new KernelError(
      `${op}: ${o.name} (${o.rows}×${o.cols}, leading dim ${o.ld}, offset ${o.off}) needs elements up to ${end} but the array has ${a.length}`,
    );
  }
}

/** Copy the operand into the memory at dst, rows packed (stride cols). */
function stageIn(heap: WasmHeap, o: Operand, dst: Ptr): void {
  const src = o.array as Float32Array | Int32Array | Uint8Array;
  const H = src instanceof Int32Array ? heap.heapI32 : src instanceof Uint8Array ? heap.heapU8 : heap.heapF32;
  const d = dst / src.BYTES_PER_ELEMENT;
  if (o.ld === o.cols || o.rows === 1) H.set(src.subarray(o.off, o.off + o.rows * o.cols), d);
  else
    for (let r = 0; r < o.rows; r++) H.set(src.subarray(o.off + r * o.ld, o.off + r * o.ld + o.cols), d + r * o.cols);
}

/** Copy a packed operand at src in the memory back out to its array (row stride ld). */
function stageOut(heap: WasmHeap, src: Ptr, o: Operand): void {
  const dst = o.array as Float32Array;
  const s = src / 4;
  if (o.ld === o.cols || o.rows === 1) dst.set(heap.heapF32.subarray(s, s + o.rows * o.cols), o.off);
  else
    for (let r = 0; r < o.rows; r++)
      dst.set(heap.heapF32.subarray(s + r * o.cols, s + (r + 1) * o.cols), o.off + r * o.ld);
}

/** Why a call ran on the reference kernel instead of wasm (see the file head). */
export type FallbackReason = "float64" | "table not resident" | "staging over the scratch limit" | "memory full";

const fallbacks = new Map<string, number>();

function fallBack(op: string, reason: FallbackReason): false {
  const key = `${op}: ${reason}`;
  fallbacks.set(key, (fallbacks.get(key) ?? 0) + 1);
  return false;
}

/**
 * The calls of this thread that ran on the reference kernels instead of wasm, counted by
 * "op: reason" (float64 is gradcheck's, by design; the others cost speed, never the answer).
 */
export function wasmFallbacks(): Record<string, number> {
  return Object.fromEntries(fallbacks);
}

/**
 * Run a kernel on its operands: check every extent, pass resident operands by address and
 * stage the others, then `invoke(ptrs, lds)` with each operand's address (0 for a null array)
 * and the row stride it has there (its own when resident, `cols` when staged). Returns false,
 * having changed nothing, when the reference kernel should run instead (see the file head).
 * An error thrown by invoke leaves staged outputs uncopied.
 */
function callWasm(
  op: string,
  operands: readonly Operand[],
  invoke: (s: WasmState, ptrs: Ptr[], lds: number[]) => void,
): boolean {
  for (const o of operands) if (o.array instanceof Float64Array) return fallBack(op, "float64");
  for (const o of operands) checkExtent(op, o);
  const s = stateFor(operands);
  const ptrs: Ptr[] = [];
  const lds: number[] = [];
  const staged: boolean[] = [];
  let stagedBytes = 0;
  for (const o of operands) {
    let p: Ptr | null = o.access === "work" ? null : (0 as Ptr);
    if (o.array !== null) {
      p = s.heap.addressOf(o.array, o.off);
      if (p === 0) p = null; // address 0 means "none" to a kernel
      if (
        p === null &&
        o.touched !== null &&
        !stagingPays(elementBytes(o) * o.rows * o.cols, elementBytes(o) * o.touched)
      )
        return fallBack(op, "table not resident");
    }
    if (p === null) stagedBytes += align64(elementBytes(o) * o.rows * o.cols);
    ptrs.push(p ?? (0 as Ptr));
    lds.push(p === null ? o.cols : o.ld);
    staged.push(p === null);
  }
  if (stagedBytes > 0) {
    try {
      if (!s.scratch.begin(stagedBytes)) return fallBack(op, "staging over the scratch limit");
    } catch (e) {
      if (e instanceof WasmMemoryError) return fallBack(op, "memory full"); // the reference kernel needs no staging
      throw e;
    }
    operands.forEach((o, k) => {
      if (!staged[k]) return;
      ptrs[k] = s.scratch.take(elementBytes(o) * o.rows * o.cols);
      if (o.access === "in" || o.access === "inout") stageIn(s.heap, o, ptrs[k]);
    });
  }
  invoke(s, ptrs, lds);
  operands.forEach((o, k) => {
    if (staged[k] && (o.access === "out" || o.access === "inout")) stageOut(s.heap, ptrs[k], o);
  });
  return true;
}

/** Rows of E elements addressable in arr from off (checking that off lies inside arr). */
function rowsFrom(op: string, name: string, arr: { length: number }, off: number, E: number): number {
  checkCount(op, `offset of ${name}`, off);
  if (off > arr.length)
    throw new KernelError(`${op}: ${name} has ${arr.length} elements, offset ${off} is past its end`);
  return Math.floor((arr.length - off) / E);
}

// ---------------------------------------------------------------------------------------
// The kernels, with the exact signatures of ref.ts

export const sgemm: typeof ref.sgemm = (
  transA,
  transB,
  M,
  N,
  K,
  alpha,
  a,
  aOff,
  lda,
  b,
  bOff,
  ldb,
  beta,
  c,
  cOff,
  ldc,
  bias = null,
  biasOff = 0,
  relu = false,
) => {
  checkCount("sgemm", "M", M);
  checkCount("sgemm", "N", N);
  checkCount("sgemm", "K", K);
  if (M === 0 || N === 0) return;
  // Rows of C that overlap would make the result depend on the order of the writes.
  if (M > 1 && ldc < N)
    throw new KernelError(`sgemm: leading dim of C (${ldc}) is below N (${N}), so rows of C overlap`);
  const operands = [
    transA ? matrix("A", a, aOff, K, M, lda, "in") : matrix("A", a, aOff, M, K, lda, "in"),
    transB ? matrix("B", b, bOff, N, K, ldb, "in") : matrix("B", b, bOff, K, N, ldb, "in"),
    matrix("C", c, cOff, M, N, ldc, beta === 0 ? "out" : "inout"), // β = 0: C is only written
    span("bias", bias, biasOff, N, "in"),
  ];
  const done = callWasm("sgemm", operands, (s, [pa, pb, pc, pBias], [la, lb, lc]) => {
    s.raw.sgemm_f32(
      transA ? 1 : 0,
      transB ? 1 : 0,
      M,
      N,
      K,
      alpha,
      pa,
      la,
      pb,
      lb,
      beta,
      pc,
      lc,
      s.work,
      pBias,
      relu ? 1 : 0,
    );
  });
  if (!done)
    ref.sgemm(transA, transB, M, N, K, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, bias, biasOff, relu);
};

/** Check B, E and offsets (B+1 entries) common to both embedding-bag kernels. */
function checkBags(op: string, B: number, E: number, offsets: Int32Array): void {
  checkCount(op, "B", B);
  checkCount(op, "E", E);
  if (offsets.length < B + 1)
    throw new KernelError(`${op}: offsets has ${offsets.length} entries, B + 1 = ${B + 1} needed`);
}

/** The error for a kernel status: l+1 = bad index at lookup l, -(b+1) = bad offsets at bag b. */
function bagError(
  op: string,
  status: number,
  offsets: Int32Array,
  B: number,
  L: number,
  what: string,
  ids: Int32Array,
  rows: number,
  rowsName: string,
): KernelError {
  if (status < 0) {
    const b = -status - 1;
    return new KernelError(
      `${op}: offsets must rise from offsets[0] ≥ 0 to offsets[B] ≤ ${L} (the lookups given) — ` +
        `offsets[${b}] = ${offsets[b]}, offsets[${b + 1}] = ${offsets[b + 1]}`,
    );
  }
  const l = status - 1;
  let bag = 0;
  while (bag < B - 1 && offsets[bag + 1] <= l) bag++;
  return new KernelError(
    `${op}: ${what} ${ids[l]} at lookup ${l} (bag ${bag}) is out of range for ${rows} ${rowsName}`,
  );
}

/**
 * The operands of a bag forward (the float32 and the quantized one): the table of R rows of
 * `rowElems` elements (staged only as far as the lookups can reach), indices, offsets,
 * weights and out; null when there is nothing to compute.
 */
function bagForwardOperands(
  op: string,
  B: number,
  E: number,
  tbl: FloatArray | Uint8Array,
  tableOff: number,
  rowElems: number,
  indices: Int32Array,
  offsets: Int32Array,
  weights: FloatArray | null,
  out: FloatArray,
  outOff: number,
): { R: number; L: number; operands: Operand[] } | null {
  checkBags(op, B, E, offsets);
  if (B === 0 || E === 0) return null;
  checkExtent(op, span("out", out, outOff, B * E, "out"));
  const R = rowsFrom(op, "table", tbl, tableOff, rowElems);
  const L = weights === null ? indices.length : Math.min(indices.length, weights.length);
  const touched = Math.max(0, Math.min(L, offsets[B])) * rowElems;
  const operands = [
    table("table", tbl, tableOff, R * rowElems, "in", touched),
    span("indices", indices, 0, L, "in"),
    span("offsets", offsets, 0, B + 1, "in"),
    span("weights", weights, 0, L, "in"),
    span("out", out, outOff, B * E, "out"),
  ];
  return { R, L, operands };
}

export const embedding_bag_fwd: typeof ref.embedding_bag_fwd = (...a) => {
  const [B, E, mode, tbl, tableOff, indices, offsets, weights, out, outOff] = a;
  const op = "embedding_bag_fwd";
  const call = bagForwardOperands(op, B, E, tbl, tableOff, E, indices, offsets, weights, out, outOff);
  if (call === null) return;
  const { R, L } = call;
  const done = callWasm(op, call.operands, (s, p) => {
    const [pT, pIdx, pOffs, pW, pOut] = p;
    const status = s.raw.embedding_bag_fwd_f32(B, E, mode, pT, R, pIdx, pOffs, L, pW, pOut);
    if (status !== 0) throw bagError(op, status, offsets, B, L, "index", indices, R, "table rows");
  });
  if (!done) ref.embedding_bag_fwd(...a);
};

export const embedding_bag_fwd_quantized: typeof ref.embedding_bag_fwd_quantized = (...a) => {
  const [B, E, mode, bits, tbl, tableOff, indices, offsets, weights, out, outOff] = a;
  const op = "embedding_bag_fwd_quantized";
  if (bits !== 8 && bits !== 4) throw new KernelError(`${op}: bits must be 8 or 4, got ${String(bits)}`);
  const rowBytes = fusedRowBytes(bits, E);
  const call = bagForwardOperands(op, B, E, tbl, tableOff, rowBytes, indices, offsets, weights, out, outOff);
  if (call === null) return;
  const { R, L } = call;
  const done = callWasm(op, call.operands, (s, p) => {
    const [pT, pIdx, pOffs, pW, pOut] = p;
    const status = s.raw.embedding_bag_fwd_quantized_f32(B, E, mode, bits, pT, R, pIdx, pOffs, L, pW, pOut);
    if (status !== 0) throw bagError(op, status, offsets, B, L, "index", indices, R, "table rows");
  });
  if (!done) ref.embedding_bag_fwd_quantized(...a);
};

export const embedding_bag_bwd: typeof ref.embedding_bag_bwd = (...a) => {
  const [B, E, mode, dout, doutOff, offsets, slots, weights, gradRows, gradOff] = a;
  const op = "embedding_bag_bwd";
  checkBags(op, B, E, offsets);
  if (B === 0 || E === 0) return;
  checkExtent(op, span("dout", dout, doutOff, B * E, "in"));
  const U = rowsFrom(op, "gradRows", gradRows, gradOff, E); // gradient rows addressable
  const L = weights === null ? slots.length : Math.min(slots.length, weights.length);
  const operands = [
    span("dout", dout, doutOff, B * E, "in"),
    span("offsets", offsets, 0, B + 1, "in"),
    span("slots", slots, 0, L, "in"),
    span("weights", weights, 0, L, "in"),
    span("gradRows", gradRows, gradOff, U * E, "inout"), // += needs the old values
  ];
  const done = callWasm(op, operands, (s, p) => {
    const [pDout, pOffs, pSlots, pW, pGrad] = p;
    const status = s.raw.embedding_bag_bwd_f32(B, E, mode, pDout, pOffs, L, pSlots, U, pW, pGrad);
    if (status !== 0) throw bagError(op, status, offsets, B, L, "slot", slots, U, "gradient rows");
  });
  if (!done) ref.embedding_bag_bwd(...a);
};

/** A row update's operands: U gradient rows (U, E) for the table rows ids, and the optimizer's
 *  state, with a value per element (Adagrad) or per row (row-wise Adagrad), or none (SGD). */
interface RowUpdateArgs {
  U: number;
  E: number;
  tbl: FloatArray;
  tableOff: number;
  acc: FloatArray | null;
  accOff: number;
  accPerElement: boolean;
  ids: Int32Array;
  gradRows: FloatArray;
  gradOff: number;
}

/**
 * The common part of the three row updates: the checks (every id addresses a row, before
 * any row changes, so an error leaves the table as it was) and the call.
 */
function rowUpdate(
  op: string,
  { U, E, tbl, tableOff, acc, accOff, accPerElement, ids, gradRows, gradOff }: RowUpdateArgs,
  raw: (s: WasmState, pTable: Ptr, R: number, pAcc: Ptr, pIds: Ptr, pGrad: Ptr) => void,
): boolean {
  checkCount(op, "U", U);
  checkCount(op, "E", E);
  if (U === 0 || E === 0) return true;
  checkExtent(op, span("gradRows", gradRows, gradOff, U * E, "in"));
  let R = rowsFrom(op, "table", tbl, tableOff, E);
  if (acc !== null)
    R = Math.min(R, accPerElement ? rowsFrom(op, "acc", acc, accOff, E) : rowsFrom(op, "acc", acc, accOff, 1));
  if (ids.length < U) throw new KernelError(`${op}: ids has ${ids.length} entries, U = ${U} needed`);
  for (let u = 0; u < U; u++) {
    const r = ids[u];
    if (r < 0 || r >= R) throw new KernelError(`${op}: id ${r} at position ${u} is out of range for ${R} table rows`);
  }
  const operands = [
    table("table", tbl, tableOff, R * E, "inout", U * E),
    acc === null ? span("acc", null, 0, 0, "in") : table("acc", acc, accOff, accPerElement ? R * E : R, "inout", U * E),
    span("ids", ids, 0, U, "in"),
    span("gradRows", gradRows, gradOff, U * E, "in"),
  ];
  return callWasm(op, operands, (s, [pT, pA, pI, pG]) => raw(s, pT, R, pA, pI, pG));
}

export const sgd_rows: typeof ref.sgd_rows = (...a) => {
  const [U, E, lr, tbl, tableOff, ids, gradRows, gradOff] = a;
  const operands = { U, E, tbl, tableOff, acc: null, accOff: 0, accPerElement: false, ids, gradRows, gradOff };
  const done = rowUpdate("sgd_rows", operands, (s, pT, R, _pA, pI, pG) => s.raw.sgd_rows_f32(U, E, lr, pT, R, pI, pG));
  if (!done) ref.sgd_rows(...a);
};

/** The wrapper of an accumulator row update: its kernel, and whether the state has a value
 *  per element (Adagrad) or per row (row-wise Adagrad). */
function accumulatorRows(name: "adagrad_rows" | "rowwise_adagrad_rows", accPerElement: boolean): ref.AccRows {
  return (...a) => {
    const [U, E, lr, eps, tbl, tableOff, acc, accOff, ids, gradRows, gradOff] = a;
    const operands = { U, E, tbl, tableOff, acc, accOff, accPerElement, ids, gradRows, gradOff };
    const done = rowUpdate(name, operands, (s, pT, R, pA, pI, pG) =>
      s.raw[`${name}_f32`](U, E, lr, eps, pT, R, pA, pI, pG),
    );
    if (!done) ref[name](...a);
  };
}

export const adagrad_rows = accumulatorRows("adagrad_rows", true);
export const rowwise_adagrad_rows = accumulatorRows("rowwise_adagrad_rows", false);

// ---------------------------------------------------------------------------------------
// Interaction: F feature matrices, passed to the kernel as a table of F addresses

/**
 * The distinct arrays of a list (a feature may repeat; it is staged once) as operands, and a
 * function that writes the list's address table at `at` once they are placed (0 for null).
 */
function addressTable(name: string, arrs: readonly (FloatArray | null)[], n: number, access: Access) {
  const distinct: FloatArray[] = [];
  const slot = arrs.map((a) => {
    if (a === null) return -1;
    let k = distinct.indexOf(a);
    if (k < 0) k = distinct.push(a) - 1;
    return k;
  });
  const operands = distinct.map((a) => span(`${name}[${arrs.indexOf(a)}]`, a, 0, n, access));
  const write = (s: WasmState, at: Ptr, ptrs: readonly Ptr[]): void => {
    slot.forEach((k, f) => {
      s.heap.heapI32[at / 4 + f] = k < 0 ? 0 : ptrs[k];
    });
  };
  return { operands, write };
}

/** The output width of the interaction: E plus one dot product per pair. */
function interactionWidth(op: string, B: number, F: number, E: number, self: boolean, n: number): number {
  checkCount(op, "B", B);
  checkCount(op, "F", F);
  checkCount(op, "E", E);
  if (n !== F) throw new KernelError(`${op}: ${n} feature arrays for F = ${F}`);
  if (F === 0) throw new KernelError(`${op}: needs F ≥ 1 (the bottom vector), got 0`);
  return E + (self ? (F * (F + 1)) / 2 : (F * (F - 1)) / 2);
}

export const dot_interaction_fwd: typeof ref.dot_interaction_fwd = (B, F, E, self, xs, out, outOff) => {
  const op = "dot_interaction_fwd";
  const W = interactionWidth(op, B, F, E, self, xs.length);
  xs.forEach((x, k) => checkExtent(op, span(`xs[${k}]`, x, 0, B * E, "in")));
  if (B === 0 || W === 0) return;
  const x = addressTable("xs", xs, B * E, "in");
  const nx = x.operands.length;
  const operands = [...x.operands, span("out", out, outOff, B * W, "out"), work(F)];
  const done = callWasm(op, operands, (s, ptrs) => {
    const table = ptrs[nx + 1];
    x.write(s, table, ptrs);
    s.raw.dot_interaction_fwd_f32(B, F, E, self ? 1 : 0, table, ptrs[nx]);
  });
  if (!done) ref.dot_interaction_fwd(B, F, E, self, xs, out, outOff);
};

export const dot_interaction_bwd: typeof ref.dot_interaction_bwd = (B, F, E, self, xs, dout, doutOff, gs) => {
  const op = "dot_interaction_bwd";
  const W = interactionWidth(op, B, F, E, self, xs.length);
  if (gs.length !== F) throw new KernelError(`${op}: ${gs.length} gradient arrays for F = ${F}`);
  if (B === 0 || E === 0) return; // no gradient element exists
  const x = addressTable("xs", xs, B * E, "in");
  const g = addressTable("gs", gs, B * E, "inout"); // staged gradients carry their old values in: the kernel adds
  const nx = x.operands.length;
  const ng = g.operands.length;
  const operands = [
    ...x.operands,
    ...g.operands,
    span("dout", dout, doutOff, B * W, "in"),
    work(F),
    work(F),
    work(F * F),
  ];
  const done = callWasm(op, operands, (s, ptrs) => {
    const [pDout, xTable, gTable, pWork] = ptrs.slice(nx + ng);
    x.write(s, xTable, ptrs);
    g.write(s, gTable, ptrs.slice(nx));
    s.raw.dot_interaction_bwd_f32(B, F, E, self ? 1 : 0, xTable, pDout, gTable, pWork);
  });
  if (!done) ref.dot_interaction_bwd(B, F, E, self, xs, dout, doutOff, gs);
};

// ---------------------------------------------------------------------------------------
// Elementwise kernels

export const relu_fwd: typeof ref.relu_fwd = (n, x, xOff, y, yOff) => {
  checkCount("relu_fwd", "n", n);
  if (n === 0) return;
  const done = callWasm("relu_fwd", [span("x", x, xOff, n, "in"), span("y", y, yOff, n, "out")], (s, [px, py]) => {
    s.raw.relu_fwd_f32(n, px, py);
  });
  if (!done) ref.relu_fwd(n, x, xOff, y, yOff);
};

export const relu_bwd: typeof ref.relu_bwd = (n, x, xOff, g, gOff, gx, gxOff, accumulate) => {
  checkCount("relu_bwd", "n", n);
  if (n === 0) return;
  const operands = [
    span("x", x, xOff, n, "in"),
    span("g", g, gOff, n, "in"),
    span("gx", gx, gxOff, n, accumulate ? "inout" : "out"),
  ];
  const done = callWasm("relu_bwd", operands, (s, [px, pg, pgx]) => {
    s.raw.relu_bwd_f32(n, px, pg, pgx, accumulate ? 1 : 0);
  });
  if (!done) ref.relu_bwd(n, x, xOff, g, gOff, gx, gxOff, accumulate);
};

export const col_sum: typeof ref.col_sum = (R, C, x, xOff, y, yOff) => {
  checkCount("col_sum", "R", R);
  checkCount("col_sum", "C", C);
  if (R === 0 || C === 0) return;
  const done = callWasm("col_sum", [span("x", x, xOff, R * C, "in"), span("y", y, yOff, C, "inout")], (s, [px, py]) => {
    s.raw.col_sum_f32(R, C, px, py);
  });
  if (!done) ref.col_sum(R, C, x, xOff, y, yOff);
};

export const relu_bwd_col_sum: typeof ref.relu_bwd_col_sum = (R, C, y, yOff, g, gOff, gx, gxOff, db, dbOff) => {
  checkCount("relu_bwd_col_sum", "R", R);
  checkCount("relu_bwd_col_sum", "C", C);
  if (R === 0 || C === 0) return;
  const n = R * C;
  const operands = [
    span("y", y, yOff, n, "in"),
    span("g", g, gOff, n, "in"),
    span("gx", gx, gxOff, n, "out"),
    span("db", db, dbOff, C, "inout"),
  ];
  const done = callWasm("relu_bwd_col_sum", operands, (s, [py, pg, pgx, pdb]) => {
    s.raw.relu_bwd_col_sum_f32(R, C, py, pg, pgx, pdb);
  });
  if (!done) ref.relu_bwd_col_sum(R, C, y, yOff, g, gOff, gx, gxOff, db, dbOff);
};

export const sgd_dense: typeof ref.sgd_dense = (n, lr, w, wOff, g, gOff) => {
  checkCount("sgd_dense", "n", n);
  if (n === 0) return;
  const done = callWasm("sgd_dense", [span("w", w, wOff, n, "inout"), span("g", g, gOff, n, "in")], (s, [pw, pg]) => {
    s.raw.sgd_dense_f32(n, lr, pw, pg);
  });
  if (!done) ref.sgd_dense(n, lr, w, wOff, g, gOff);
};

export const add: typeof ref.add = (n, x, xOff, y, yOff) => {
  checkCount("add", "n", n);
  if (n === 0) return;
  const done = callWasm("add", [span("x", x, xOff, n, "in"), span("y", y, yOff, n, "inout")], (s, [px, py]) => {
    s.raw.add_f32(n, px, py);
  });
  if (!done) ref.add(n, x, xOff, y, yOff);
};

// The two fills write without reading: a large array outside the memory is filled in place by
// the reference (JS's fill, the reference's loop) rather than staged in and out (touched 0).

export const fill_zero: typeof ref.fill_zero = (n, y, yOff) => {
  checkCount("fill_zero", "n", n);
  if (n === 0) return;
  const done = callWasm("fill_zero", [table("y", y, yOff, n, "out", 0)], (s, [py]) => {
    s.raw.fill_zero_f32(n, py);
  });
  if (!done) ref.fill_zero(n, y, yOff);
};

export const philox_uniform: typeof ref.philox_uniform = (n, width, ld, out, outOff, first, k0, k1, lo, hi) => {
  checkCount("philox_uniform", "n", n);
  if (n === 0) return;
  if (!Number.isInteger(width) || width < 1 || n % width !== 0 || !Number.isInteger(ld) || ld < width)
    throw new KernelError(
      `philox_uniform: ${n} elements in rows of width ${width} every ${ld} (whole rows, width >= 1, ld >= width)`,
    );
  if (!Number.isSafeInteger(first) || first < 0)
    throw new KernelError(`philox_uniform: first must be a non-negative safe integer, got ${first}`);
  // An output outside the memory is written in place by the reference unless it is small (touched 0: no reads).
  const o: Operand = { ...matrix("out", out, outOff, n / width, width, ld, "out"), touched: 0 };
  const done = callWasm("philox_uniform", [o], (s, [p], [ldIn]) => {
    s.raw.philox_uniform_f32(n, width, ldIn as number, p, first, k0 | 0, k1 | 0, lo, hi);
  });
  if (!done) ref.philox_uniform(n, width, ld, out, outOff, first, k0, k1, lo, hi);
};

/** The wasm kernel set: the one list of the kernels the ops call, with the signatures of ref.ts. */
export const wasmKernels = {
  sgemm,
  embedding_bag_fwd,
  embedding_bag_fwd_quantized,
  embedding_bag_bwd,
  sgd_rows,
  adagrad_rows,
  rowwise_adagrad_rows,
  dot_interaction_fwd,
  dot_interaction_bwd,
  relu_fwd,
  relu_bwd,
  col_sum,
  relu_bwd_col_sum,
  sgd_dense,
  fill_zero,
  add,
  philox_uniform,
};
