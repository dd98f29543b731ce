// The WebAssembly kernels (kernels/*.wat, bytes in wasm.gen.ts) behind the signatures of the
// reference kernels in ref.ts, so ops call either set the same way.
//
// Every wrapper takes (array, elementOffset) pairs like ref.ts and decides per argument:
//   - a Float32Array or Int32Array whose buffer is this thread's wasm memory is passed as
//     its byte address, byteOffset + 4·offset: no copy (tensor storage allocated resident,
//     see src/tensor/storage.ts);
//   - any other array is staged: copied into the scratch area of the memory before the call
//     and, if the kernel writes it, copied back after;
//   - Float64Array arguments (gradcheck runs ops in float64), staging beyond the scratch
//     limit, and staging a whole table to touch a few rows all go to the reference kernel.
// So every call gives the reference's answer (up to float32 rounding); only the speed
// depends on where the data lives. Each wrapper checks that the extents it will touch lie
// inside the arrays it was given, because a resident view's neighbours are other tensors.
//
// The modules are instantiated synchronously on first use (no top-level await). GEMM comes
// in two builds of kernels/sgemm.wat: with separate multiplies and adds, and with relaxed
// SIMD's fused multiply-add (f32x4.relaxed_madd), 15–20 % faster on this Xeon. Node 20
// accepts relaxed SIMD only behind V8's --experimental-wasm-relaxed-simd, so when the engine
// rejects the relaxed module this file turns that flag on (v8.setFlagsFromString, which
// only affects modules compiled afterwards) and tries once more; newer Node versions accept
// it as is. DLRM_RELAXED_SIMD=0 keeps the plain build.
//
// Glossary: M, N, K GEMM dims; B bags, E embedding dim, R table rows, L lookups, U unique
// rows; Ptr a byte address in the wasm memory.

import { setFlagsFromString } from "node:v8";
import { wasmModules } from "./wasm.gen.ts";
import { align64, defaultHeap, Scratch, WasmMemoryError, type Ptr, type WasmHeap } from "./memory.ts";
import * as ref from "./ref.ts";
import type { FloatArray } from "./ref.ts";

/** Something a kernel wrapper rejects: out-of-range extents, indices or offsets. */
export class KernelError extends Error {
  override name = "KernelError";
}

/** The wasm exports: sizes and byte addresses in, status codes out (see kernels/*.wat). */
export interface RawKernels {
  sgemm_f32(
    transA: number, transB: number, M: number, N: number, K: number, alpha: number,
    a: Ptr, lda: number, b: Ptr, ldb: number, beta: number, c: Ptr, ldc: number, work: Ptr, bias: Ptr | 0, relu: number,
  ): void;
  sgemm_f32_work_bytes(): number;
  embedding_bag_fwd_f32(
    B: number, E: number, mode: number, table: Ptr, R: number,
    indices: Ptr, offsets: Ptr, L: number, weights: Ptr | 0, out: Ptr,
  ): number;
  embedding_bag_bwd_f32(
    B: number, E: number, mode: number, dout: Ptr, offsets: Ptr,
    L: number, slots: Ptr, U: number, weights: Ptr | 0, grad: Ptr,
  ): number;
  sgd_rows_f32(U: number, E: number, lr: number, table: Ptr, R: number, ids: Ptr, grad: Ptr): number;
  adagrad_rows_f32(U: number, E: number, lr: number, eps: number, table: Ptr, R: number, acc: Ptr | 0, ids: Ptr, grad: Ptr): number;
  rowwise_adagrad_rows_f32(U: number, E: number, lr: number, eps: number, table: Ptr, R: number, acc: Ptr | 0, ids: Ptr, grad: Ptr): number;
  dot_interaction_fwd_f32(B: number, F: number, E: number, self: number, xs: Ptr, out: Ptr): void;
  dot_interaction_bwd_f32(B: number, F: number, E: number, self: number, xs: Ptr, dout: Ptr, gs: Ptr, work: Ptr): void;
  relu_fwd_f32(n: number, x: Ptr, y: Ptr): void;
  relu_bwd_f32(n: number, x: Ptr, g: Ptr, gx: Ptr, accumulate: number): void;
  col_sum_f32(R: number, C: number, x: Ptr, y: Ptr): void;
  relu_bwd_col_sum_f32(R: number, C: number, y: Ptr, g: Ptr, gx: Ptr, db: Ptr): void;
  sgd_dense_f32(n: number, lr: number, w: Ptr, g: Ptr): void;
  fill_zero_f32(n: number, y: Ptr): void;
  add_f32(n: number, x: Ptr, y: Ptr): void;
  philox_uniform_f32(n: number, out: Ptr, first: number, k0: number, k1: number, lo: number, hi: number): void;
}

/** Which build of sgemm runs: "relaxed" (fused multiply-add) or "plain". */
export type SgemmBuild = "relaxed" | "plain";

function moduleBytes(name: keyof typeof wasmModules): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(Buffer.from(wasmModules[name], "base64"));
}

let relaxedAnswer: boolean | null = null;

/**
 * Whether this engine compiles relaxed SIMD, turning V8's flag on first if needed (once per
 * process; DLRM_RELAXED_SIMD=0 answers no without trying).
 */
export function relaxedSimdAvailable(): boolean {
  if (relaxedAnswer === null) {
    const bytes = moduleBytes("sgemm_relaxed");
    const compiles = (): boolean => {
      try {
        new WebAssembly.Module(bytes);
        return true;
      } catch {
        return false;
      }
    };
    if (process.env.DLRM_RELAXED_SIMD === "0") relaxedAnswer = false;
    else if (compiles()) relaxedAnswer = true;
    else {
      setFlagsFromString("--experimental-wasm-relaxed-simd");
      relaxedAnswer = compiles();
    }
  }
  return relaxedAnswer;
}

type WasmFn = (...args: number[]) => number;

function exported(exports: Record<string, unknown>, module: string, name: string): WasmFn {
  const f = exports[name];
  if (typeof f !== "function") throw new Error(`kernels/${module}.wat: export ${name} is missing — rebuild with npm run kernels`);
  return f as WasmFn;
}

/** Instantiate the kernel modules over a shared memory (each thread or worker its own). */
export function instantiateKernels(memory: WebAssembly.Memory, sgemmBuild: SgemmBuild = relaxedSimdAvailable() ? "relaxed" : "plain"): RawKernels {
  const exportsOf = (name: keyof typeof wasmModules): Record<string, unknown> =>
    new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(name)), { env: { memory } }).exports;
  const g = exportsOf(sgemmBuild === "relaxed" ? "sgemm_relaxed" : "sgemm");
  const e = exportsOf("embedding_bag");
  const s = exportsOf("sparse_rows");
  const d = exportsOf("interaction");
  const w = exportsOf("elementwise");
  const p = exportsOf("philox");
  return {
    philox_uniform_f32: exported(p, "philox", "philox_uniform_f32"),
    dot_interaction_fwd_f32: exported(d, "interaction", "dot_interaction_fwd_f32"),
    dot_interaction_bwd_f32: exported(d, "interaction", "dot_interaction_bwd_f32"),
    relu_fwd_f32: exported(w, "elementwise", "relu_fwd_f32"),
    relu_bwd_f32: exported(w, "elementwise", "relu_bwd_f32"),
    col_sum_f32: exported(w, "elementwise", "col_sum_f32"),
    relu_bwd_col_sum_f32: exported(w, "elementwise", "relu_bwd_col_sum_f32"),
    sgd_dense_f32: exported(w, "elementwise", "sgd_dense_f32"),
    fill_zero_f32: exported(w, "elementwise", "fill_zero_f32"),
    add_f32: exported(w, "elementwise", "add_f32"),
    sgemm_f32: exported(g, "sgemm", "sgemm_f32"),
    sgemm_f32_work_bytes: exported(g, "sgemm", "sgemm_f32_work_bytes"),
    embedding_bag_fwd_f32: exported(e, "embedding_bag", "embedding_bag_fwd_f32"),
    embedding_bag_bwd_f32: exported(e, "embedding_bag", "embedding_bag_bwd_f32"),
    sgd_rows_f32: exported(s, "sparse_rows", "sgd_rows_f32"),
    adagrad_rows_f32: exported(s, "sparse_rows", "adagrad_rows_f32"),
    rowwise_adagrad_rows_f32: exported(s, "sparse_rows", "rowwise_adagrad_rows_f32"),
  };
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

/** The kernels of this thread's heap, instantiated on first call. */
export function wasmState(): WasmState {
  if (theState === null) {
    const heap = defaultHeap();
    const sgemmBuild: SgemmBuild = relaxedSimdAvailable() ? "relaxed" : "plain";
    const raw = instantiateKernels(heap.memory, sgemmBuild);
    theState = { heap, raw, sgemmBuild, scratch: new Scratch(heap), work: heap.alloc(raw.sgemm_f32_work_bytes()) };
  }
  return theState;
}

// ---------------------------------------------------------------------------------------
// Argument checks and staging

function checkCount(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new KernelError(`${op}: ${name} must be a non-negative int32, got ${v}`);
}

/** The rows×cols matrix at off with row stride ld must lie inside arr. */
function checkMatrix(op: string, name: string, arr: FloatArray, off: number, rows: number, cols: number, ld: number): void {
  if (rows === 0 || cols === 0) return;
  checkCount(op, `offset of ${name}`, off);
  checkCount(op, `leading dim of ${name}`, ld);
  const end = off + (rows - 1) * ld + cols;
  if (end > arr.length) {
    throw new KernelError(
      `${op}: ${name} (${rows}×${cols}, leading dim ${ld}, offset ${off}) needs elements up to ${end} but the array has ${arr.length}`,
    );
  }
}

/** n consecutive elements at off must lie inside arr. */
function checkSpan(op: string, name: string, arr: { length: number }, off: number, n: number): void {
  checkCount(op, `offset of ${name}`, off);
  if (off + n > arr.length) {
    throw new KernelError(`${op}: ${name} needs ${n} elements from offset ${off} but the array has ${arr.length}`);
  }
}

/** Copy a rows×cols matrix (row stride ld) into the memory at dst, rows packed (stride cols). */
function stageMatrixIn(heap: WasmHeap, src: Float32Array, off: number, rows: number, cols: number, ld: number, dst: Ptr): void {
  const H = heap.heapF32;
  const d = dst / 4;
  if (ld === cols || rows === 1) {
    H.set(src.subarray(off, off + rows * cols), d);
    return;
  }
  for (let r = 0; r < rows; r++) H.set(src.subarray(off + r * ld, off + r * ld + cols), d + r * cols);
}

/** Copy a packed rows×cols matrix at src in the memory back out (row stride ld). */
function stageMatrixOut(heap: WasmHeap, src: Ptr, rows: number, cols: number, dst: Float32Array, off: number, ld: number): void {
  const H = heap.heapF32;
  const s = src / 4;
  if (ld === cols || rows === 1) {
    dst.set(H.subarray(s, s + rows * cols), off);
    return;
  }
  for (let r = 0; r < rows; r++) dst.set(H.subarray(s + r * cols, s + (r + 1) * cols), off + r * ld);
}

function stageIn(heap: WasmHeap, src: Float32Array | Int32Array, off: number, n: number, dst: Ptr): void {
  const H = src instanceof Float32Array ? heap.heapF32 : heap.heapI32;
  H.set(src.subarray(off, off + n), dst / 4);
}

function stageOut(heap: WasmHeap, src: Ptr, n: number, dst: Float32Array, off: number): void {
  dst.set(heap.heapF32.subarray(src / 4, src / 4 + n), off);
}

/**
 * The arguments of one call: resident ones resolve to their address, the others are noted
 * and staged once the scratch area has room for all of them.
 */
class CallPlan {
  readonly #state: WasmState;
  #bytes = 0;
  constructor(state: WasmState) {
    this.#state = state;
  }
  /** The address of arr[off] if resident (and not at address 0, which means "none"), else null after noting n elements to stage. */
  resolve(arr: Float32Array | Int32Array, off: number, n: number): Ptr | null {
    const p = this.#state.heap.addressOf(arr, off);
    if (p !== null && p !== 0) return p;
    this.#bytes += align64(4 * n);
    return null;
  }
  /** Note n more elements of scratch that the caller will take() itself. */
  note(n: number): void {
    this.#bytes += align64(4 * n);
  }
  /** Room for everything noted; false when over the scratch limit or the memory is full. */
  begin(): boolean {
    if (this.#bytes === 0) return true;
    try {
      return this.#state.scratch.begin(this.#bytes);
    } catch (e) {
      if (e instanceof WasmMemoryError) return false; // the reference kernel needs no staging
      throw e;
    }
  }
  take(n: number): Ptr {
    return this.#state.scratch.take(4 * n);
  }
}

/** Staging a whole table of `tableElems` to touch `touchedElems` pays only when it is small. */
function worthStagingTable(tableElems: number, touchedElems: number): boolean {
  return tableElems * 4 <= Math.max(1 << 20, 8 * 4 * touchedElems);
}

// ---------------------------------------------------------------------------------------
// The kernels, with the exact signatures of ref.ts

export const sgemm: typeof ref.sgemm = (transA, transB, M, N, K, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, bias = null, biasOff = 0, relu = false) => {
  if (!(a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array && (bias === null || bias instanceof Float32Array))) {
    ref.sgemm(transA, transB, M, N, K, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, bias, biasOff, relu);
    return;
  }
  checkCount("sgemm", "M", M);
  checkCount("sgemm", "N", N);
  checkCount("sgemm", "K", K);
  if (M === 0 || N === 0) return;
  const aRows = transA ? K : M; // A stored (aRows, aCols)
  const aCols = transA ? M : K;
  const bRows = transB ? N : K; // B stored (bRows, bCols)
  const bCols = transB ? K : N;
  checkMatrix("sgemm", "A", a, aOff, aRows, aCols, lda);
  checkMatrix("sgemm", "B", b, bOff, bRows, bCols, ldb);
  checkMatrix("sgemm", "C", c, cOff, M, N, ldc);
  if (bias !== null) checkSpan("sgemm", "bias", bias, biasOff, N);
  // Rows of C that overlap would make the result depend on the order of the writes.
  if (M > 1 && ldc < N) throw new KernelError(`sgemm: leading dim of C (${ldc}) is below N (${N}), so rows of C overlap`);

  const s = wasmState();
  const plan = new CallPlan(s);
  let pa = plan.resolve(a, aOff, aRows * aCols);
  let pb = plan.resolve(b, bOff, bRows * bCols);
  let pc = plan.resolve(c, cOff, M * N);
  let pBias: Ptr | 0 | null = bias === null ? 0 : plan.resolve(bias, biasOff, N);
  if (!plan.begin()) {
    ref.sgemm(transA, transB, M, N, K, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, bias, biasOff, relu);
    return;
  }
  if (pBias === null && bias !== null) stageIn(s.heap, bias, biasOff, N, (pBias = plan.take(N)));
  let lda2 = lda;
  let ldb2 = ldb;
  let ldc2 = ldc;
  if (pa === null) {
    pa = plan.take(aRows * aCols);
    if (K > 0) stageMatrixIn(s.heap, a, aOff, aRows, aCols, lda, pa);
    lda2 = aCols;
  }
  if (pb === null) {
    pb = plan.take(bRows * bCols);
    if (K > 0) stageMatrixIn(s.heap, b, bOff, bRows, bCols, ldb, pb);
    ldb2 = bCols;
  }
  const cStaged = pc === null;
  if (pc === null) {
    pc = plan.take(M * N);
    if (beta !== 0) stageMatrixIn(s.heap, c, cOff, M, N, ldc, pc); // β = 0: C is only written
    ldc2 = N;
  }
  s.raw.sgemm_f32(transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, pa, lda2, pb, ldb2, beta, pc, ldc2, s.work, pBias ?? 0, relu ? 1 : 0);
  if (cStaged) stageMatrixOut(s.heap, pc, M, N, c, cOff, ldc);
};

/** Check B, E and offsets (B+1 entries) common to both embedding-bag kernels. */
function checkBags(op: string, B: number, E: number, offsets: Int32Array): void {
  checkCount(op, "B", B);
  checkCount(op, "E", E);
  if (offsets.length < B + 1) throw new KernelError(`${op}: offsets has ${offsets.length} entries, B + 1 = ${B + 1} needed`);
}

/** The error for a kernel status: l+1 = bad index at lookup l, -(b+1) = bad offsets at bag b. */
function bagError(op: string, status: number, offsets: Int32Array, B: number, L: number, what: string, ids: Int32Array, rows: number, rowsName: string): KernelError {
  if (status < 0) {
    const b = -status - 1;
    return new KernelError(
      `${op}: offsets must rise from offsets[0] ≥ 0 to offsets[B] ≤ ${L} (the lookups given) — ` +
        `offsets[${b}] = ${offsets[b]}, offsets[${b + 1}] = ${offsets[b + 1]}`,
    );
  }
  const l = status - 1;
  let bag = 0;
  while (bag < B - 1 && (offsets[bag + 1] as number) <= l) bag++;
  return new KernelError(`${op}: ${what} ${ids[l]} at lookup ${l} (bag ${bag}) is out of range for ${rows} ${rowsName}`);
}

export const embedding_bag_fwd: typeof ref.embedding_bag_fwd = (B, E, mode, table, tableOff, indices, offsets, weights, out, outOff) => {
  if (!(table instanceof Float32Array && out instanceof Float32Array && (weights === null || weights instanceof Float32Array))) {
    ref.embedding_bag_fwd(B, E, mode, table, tableOff, indices, offsets, weights, out, outOff);
    return;
  }
  const op = "embedding_bag_fwd";
  checkBags(op, B, E, offsets);
  if (B === 0 || E === 0) return;
  checkSpan(op, "out", out, outOff, B * E);
  checkSpan(op, "table", table, tableOff, 0);
  const R = Math.floor((table.length - tableOff) / E); // rows addressable from tableOff
  const L = weights === null ? indices.length : Math.min(indices.length, weights.length);
  const touched = Math.max(0, Math.min(L, offsets[B] as number)) * E;

  const s = wasmState();
  const plan = new CallPlan(s);
  const resident = s.heap.addressOf(table, tableOff);
  if ((resident === null || resident === 0) && !worthStagingTable(R * E, touched)) {
    ref.embedding_bag_fwd(B, E, mode, table, tableOff, indices, offsets, weights, out, outOff);
    return;
  }
  let pTable = plan.resolve(table, tableOff, R * E);
  let pIdx = plan.resolve(indices, 0, L);
  let pOffs = plan.resolve(offsets, 0, B + 1);
  let pW: Ptr | 0 | null = weights === null ? 0 : plan.resolve(weights, 0, L);
  let pOut = plan.resolve(out, outOff, B * E);
  if (!plan.begin()) {
    ref.embedding_bag_fwd(B, E, mode, table, tableOff, indices, offsets, weights, out, outOff);
    return;
  }
  if (pTable === null) stageIn(s.heap, table, tableOff, R * E, (pTable = plan.take(R * E)));
  if (pIdx === null) stageIn(s.heap, indices, 0, L, (pIdx = plan.take(L)));
  if (pOffs === null) stageIn(s.heap, offsets, 0, B + 1, (pOffs = plan.take(B + 1)));
  if (pW === null && weights !== null) stageIn(s.heap, weights, 0, L, (pW = plan.take(L)));
  const outStaged = pOut === null;
  if (pOut === null) pOut = plan.take(B * E);
  const status = s.raw.embedding_bag_fwd_f32(B, E, mode, pTable, R, pIdx, pOffs, L, pW ?? 0, pOut);
  if (status !== 0) throw bagError(op, status, offsets, B, L, "index", indices, R, "table rows");
  if (outStaged) stageOut(s.heap, pOut, B * E, out, outOff);
};

export const embedding_bag_bwd: typeof ref.embedding_bag_bwd = (B, E, mode, dout, doutOff, offsets, slots, weights, gradRows, gradOff) => {
  if (!(dout instanceof Float32Array && gradRows instanceof Float32Array && (weights === null || weights instanceof Float32Array))) {
    ref.embedding_bag_bwd(B, E, mode, dout, doutOff, offsets, slots, weights, gradRows, gradOff);
    return;
  }
  const op = "embedding_bag_bwd";
  checkBags(op, B, E, offsets);
  if (B === 0 || E === 0) return;
  checkSpan(op, "dout", dout, doutOff, B * E);
  checkSpan(op, "gradRows", gradRows, gradOff, 0);
  const U = Math.floor((gradRows.length - gradOff) / E); // gradient rows addressable
  const L = weights === null ? slots.length : Math.min(slots.length, weights.length);

  const s = wasmState();
  const plan = new CallPlan(s);
  let pDout = plan.resolve(dout, doutOff, B * E);
  let pOffs = plan.resolve(offsets, 0, B + 1);
  let pSlots = plan.resolve(slots, 0, L);
  let pW: Ptr | 0 | null = weights === null ? 0 : plan.resolve(weights, 0, L);
  let pGrad = plan.resolve(gradRows, gradOff, U * E);
  if (!plan.begin()) {
    ref.embedding_bag_bwd(B, E, mode, dout, doutOff, offsets, slots, weights, gradRows, gradOff);
    return;
  }
  if (pDout === null) stageIn(s.heap, dout, doutOff, B * E, (pDout = plan.take(B * E)));
  if (pOffs === null) stageIn(s.heap, offsets, 0, B + 1, (pOffs = plan.take(B + 1)));
  if (pSlots === null) stageIn(s.heap, slots, 0, L, (pSlots = plan.take(L)));
  if (pW === null && weights !== null) stageIn(s.heap, weights, 0, L, (pW = plan.take(L)));
  const gradStaged = pGrad === null;
  if (pGrad === null) stageIn(s.heap, gradRows, gradOff, U * E, (pGrad = plan.take(U * E))); // += needs the old values
  const status = s.raw.embedding_bag_bwd_f32(B, E, mode, pDout, pOffs, L, pSlots, U, pW ?? 0, pGrad);
  if (status !== 0) throw bagError(op, status, offsets, B, L, "slot", slots, U, "gradient rows");
  if (gradStaged) stageOut(s.heap, pGrad, U * E, gradRows, gradOff);
};

/** Every id must address a row; checked before any row changes, so an error leaves the table as it was. */
function checkIds(op: string, U: number, ids: Int32Array, R: number): void {
  if (ids.length < U) throw new KernelError(`${op}: ids has ${ids.length} entries, U = ${U} needed`);
  for (let u = 0; u < U; u++) {
    const r = ids[u] as number;
    if (r < 0 || r >= R) throw new KernelError(`${op}: id ${r} at position ${u} is out of range for ${R} table rows`);
  }
}

/** The common part of the three row updates: checks, residency, staging, the call. */
function rowUpdate(
  op: string, U: number, E: number, table: Float32Array, tableOff: number, acc: Float32Array | null, accOff: number,
  accPerElement: boolean, ids: Int32Array, gradRows: Float32Array, gradOff: number,
  call: (s: WasmState, pTable: Ptr, R: number, pAcc: Ptr | 0, pIds: Ptr, pGrad: Ptr) => void,
): boolean {
  checkCount(op, "U", U);
  checkCount(op, "E", E);
  if (U === 0 || E === 0) return true;
  checkSpan(op, "gradRows", gradRows, gradOff, U * E);
  checkSpan(op, "table", table, tableOff, 0);
  let R = Math.floor((table.length - tableOff) / E);
  if (acc !== null) {
    checkSpan(op, "acc", acc, accOff, 0);
    R = Math.min(R, accPerElement ? Math.floor((acc.length - accOff) / E) : acc.length - accOff);
  }
  checkIds(op, U, ids, R);
  const accElems = acc === null ? 0 : accPerElement ? R * E : R;

  const s = wasmState();
  const plan = new CallPlan(s);
  let pTable = plan.resolve(table, tableOff, R * E);
  let pAcc = acc === null ? null : plan.resolve(acc, accOff, accElems);
  const tableStaged = pTable === null;
  const accStaged = acc !== null && pAcc === null;
  // Copying a whole table (and its state) in and out to touch U rows pays only when small.
  if ((tableStaged || accStaged) && !worthStagingTable(R * E + accElems, U * E)) return false;
  let pIds = plan.resolve(ids, 0, U);
  let pGrad = plan.resolve(gradRows, gradOff, U * E);
  if (!plan.begin()) return false;
  if (pTable === null) stageIn(s.heap, table, tableOff, R * E, (pTable = plan.take(R * E)));
  if (pAcc === null && acc !== null) stageIn(s.heap, acc, accOff, accElems, (pAcc = plan.take(accElems)));
  if (pIds === null) stageIn(s.heap, ids, 0, U, (pIds = plan.take(U)));
  if (pGrad === null) stageIn(s.heap, gradRows, gradOff, U * E, (pGrad = plan.take(U * E)));
  call(s, pTable, R, pAcc ?? 0, pIds, pGrad);
  if (tableStaged) stageOut(s.heap, pTable, R * E, table, tableOff);
  if (accStaged && pAcc !== null) stageOut(s.heap, pAcc, accElems, acc, accOff);
  return true;
}

export const sgd_rows: typeof ref.sgd_rows = (U, E, lr, table, tableOff, ids, gradRows, gradOff) => {
  const done =
    table instanceof Float32Array &&
    gradRows instanceof Float32Array &&
    rowUpdate("sgd_rows", U, E, table, tableOff, null, 0, false, ids, gradRows, gradOff, (s, pT, R, _pA, pI, pG) => {
      s.raw.sgd_rows_f32(U, E, lr, pT, R, pI, pG);
    });
  if (!done) ref.sgd_rows(U, E, lr, table, tableOff, ids, gradRows, gradOff);
};

export const adagrad_rows: typeof ref.adagrad_rows = (U, E, lr, eps, table, tableOff, acc, accOff, ids, gradRows, gradOff) => {
  const done =
    table instanceof Float32Array &&
    acc instanceof Float32Array &&
    gradRows instanceof Float32Array &&
    rowUpdate("adagrad_rows", U, E, table, tableOff, acc, accOff, true, ids, gradRows, gradOff, (s, pT, R, pA, pI, pG) => {
      s.raw.adagrad_rows_f32(U, E, lr, eps, pT, R, pA, pI, pG);
    });
  if (!done) ref.adagrad_rows(U, E, lr, eps, table, tableOff, acc, accOff, ids, gradRows, gradOff);
};

export const rowwise_adagrad_rows: typeof ref.rowwise_adagrad_rows = (U, E, lr, eps, table, tableOff, acc, accOff, ids, gradRows, gradOff) => {
  const done =
    table instanceof Float32Array &&
    acc instanceof Float32Array &&
    gradRows instanceof Float32Array &&
    rowUpdate("rowwise_adagrad_rows", U, E, table, tableOff, acc, accOff, false, ids, gradRows, gradOff, (s, pT, R, pA, pI, pG) => {
      s.raw.rowwise_adagrad_rows_f32(U, E, lr, eps, pT, R, pA, pI, pG);
    });
  if (!done) ref.rowwise_adagrad_rows(U, E, lr, eps, table, tableOff, acc, accOff, ids, gradRows, gradOff);
};

// ---------------------------------------------------------------------------------------
// Interaction and elementwise kernels

/** The (B, E) matrices of dot_interaction, checked; null when any is not float32 (→ reference). */
function interactionInputs(op: string, B: number, F: number, E: number, xs: readonly FloatArray[]): Float32Array[] | null {
  checkCount(op, "B", B);
  checkCount(op, "F", F);
  checkCount(op, "E", E);
  if (xs.length !== F) throw new KernelError(`${op}: ${xs.length} feature arrays for F = ${F}`);
  const out: Float32Array[] = [];
  for (let k = 0; k < F; k++) {
    const x = xs[k] as FloatArray;
    if (!(x instanceof Float32Array)) return null;
    checkSpan(op, `xs[${k}]`, x, 0, B * E);
    out.push(x);
  }
  return out;
}

/** Resolve (or note for staging) each feature array; returns the addresses, null = staged. */
function resolveAll(plan: CallPlan, arrs: readonly (Float32Array | null)[], n: number): (Ptr | null)[] {
  const seen = new Set<Float32Array>();
  return arrs.map((a) => {
    if (a === null || seen.has(a)) return null; // a repeat: staged (or addressed) once, see placeAll
    seen.add(a);
    return plan.resolve(a, 0, n);
  });
}

/**
 * Write the table of F addresses (0 for a null array) into the scratch area, staging the
 * arrays that are not resident (each distinct array once, so repeats share one copy).
 * Returns the table's address and the staged copies (array → address) to copy back.
 */
function placeAll(s: WasmState, plan: CallPlan, arrs: readonly (Float32Array | null)[], ptrs: (Ptr | null)[], n: number): { table: Ptr; staged: Map<Float32Array, Ptr> } {
  const F = arrs.length;
  const table = plan.take(F);
  const addr = new Map<Float32Array, Ptr>();
  const staged = new Map<Float32Array, Ptr>();
  arrs.forEach((a, k) => {
    if (a === null || addr.has(a)) return;
    let p = ptrs[k] ?? null;
    if (p === null) {
      p = plan.take(n);
      stageIn(s.heap, a, 0, n, p);
      staged.set(a, p);
    }
    addr.set(a, p);
  });
  const H = s.heap.heapI32;
  arrs.forEach((a, k) => {
    H[table / 4 + k] = a === null ? 0 : (addr.get(a) as number);
  });
  return { table, staged };
}

export const dot_interaction_fwd: typeof ref.dot_interaction_fwd = (B, F, E, self, xs, out, outOff) => {
  const op = "dot_interaction_fwd";
  const xf = interactionInputs(op, B, F, E, xs);
  if (xf === null || !(out instanceof Float32Array)) {
    ref.dot_interaction_fwd(B, F, E, self, xs, out, outOff);
    return;
  }
  if (F === 0) throw new KernelError(`${op}: needs F ≥ 1 (the bottom vector), got 0`);
  const W = E + (self ? (F * (F + 1)) / 2 : (F * (F - 1)) / 2);
  if (B === 0 || W === 0) return;
  checkSpan(op, "out", out, outOff, B * W);
  const s = wasmState();
  const plan = new CallPlan(s);
  const ptrs = resolveAll(plan, xf, B * E);
  plan.note(F);
  let pOut = plan.resolve(out, outOff, B * W);
  if (!plan.begin()) {
    ref.dot_interaction_fwd(B, F, E, self, xs, out, outOff);
    return;
  }
  const { table } = placeAll(s, plan, xf, ptrs, B * E);
  const outStaged = pOut === null;
  if (pOut === null) pOut = plan.take(B * W);
  s.raw.dot_interaction_fwd_f32(B, F, E, self ? 1 : 0, table, pOut);
  if (outStaged) stageOut(s.heap, pOut, B * W, out, outOff);
};

export const dot_interaction_bwd: typeof ref.dot_interaction_bwd = (B, F, E, self, xs, dout, doutOff, gs) => {
  const op = "dot_interaction_bwd";
  const xf = interactionInputs(op, B, F, E, xs);
  const gf: (Float32Array | null)[] = [];
  let allF32 = xf !== null && dout instanceof Float32Array;
  if (gs.length !== F) throw new KernelError(`${op}: ${gs.length} gradient arrays for F = ${F}`);
  for (let k = 0; k < F && allF32; k++) {
    const g = gs[k] ?? null;
    if (g !== null && !(g instanceof Float32Array)) allF32 = false;
    else {
      if (g !== null) checkSpan(op, `gs[${k}]`, g, 0, B * E);
      gf.push(g);
    }
  }
  if (!allF32 || xf === null || !(dout instanceof Float32Array)) {
    ref.dot_interaction_bwd(B, F, E, self, xs, dout, doutOff, gs);
    return;
  }
  if (F === 0) throw new KernelError(`${op}: needs F ≥ 1 (the bottom vector), got 0`);
  const W = E + (self ? (F * (F + 1)) / 2 : (F * (F - 1)) / 2);
  if (B === 0 || E === 0) return; // no gradient element exists
  checkSpan(op, "dout", dout, doutOff, B * W);
  const s = wasmState();
  const plan = new CallPlan(s);
  const xp = resolveAll(plan, xf, B * E);
  const gp = resolveAll(plan, gf, B * E);
  plan.note(2 * F + F * F); // the two address tables and the F×F work matrix
  let pDout = plan.resolve(dout, doutOff, B * W);
  if (!plan.begin()) {
    ref.dot_interaction_bwd(B, F, E, self, xs, dout, doutOff, gs);
    return;
  }
  const xt = placeAll(s, plan, xf, xp, B * E);
  const gt = placeAll(s, plan, gf, gp, B * E); // staged gradients carry their old values in: the kernel adds
  if (pDout === null) stageIn(s.heap, dout, doutOff, B * W, (pDout = plan.take(B * W)));
  const work = plan.take(F * F);
  s.raw.dot_interaction_bwd_f32(B, F, E, self ? 1 : 0, xt.table, pDout, gt.table, work);
  for (const [g, p] of gt.staged) stageOut(s.heap, p, B * E, g, 0);
};

/**
 * The common part of the elementwise wrappers: every array float32 (else the reference),
 * extents checked, resident ones by address, others staged in (when read) and out (when
 * written). `args` are [array, offset, elements, mode]; mode "in" read, "out" written only,
 * "inout" read and written.
 */
type Arg = readonly [FloatArray, number, number, "in" | "out" | "inout"];

function elementwiseCall(op: string, args: readonly Arg[], call: (s: WasmState, ptrs: Ptr[]) => void): boolean {
  for (const [a] of args) if (!(a instanceof Float32Array)) return false;
  for (const [a, off, n] of args) checkSpan(op, "array", a, off, n);
  const s = wasmState();
  const plan = new CallPlan(s);
  const resolved = args.map(([a, off, n]) => plan.resolve(a as Float32Array, off, n));
  if (!plan.begin()) return false;
  const ptrs = args.map(([a, off, n, mode], k) => {
    const p = resolved[k] ?? null;
    if (p !== null) return p;
    const q = plan.take(n);
    if (mode !== "out") stageIn(s.heap, a as Float32Array, off, n, q);
    return q;
  });
  call(s, ptrs);
  args.forEach(([a, off, n, mode], k) => {
    if (mode !== "in" && resolved[k] === null) stageOut(s.heap, ptrs[k] as Ptr, n, a as Float32Array, off);
  });
  return true;
}

export const relu_fwd: typeof ref.relu_fwd = (n, x, xOff, y, yOff) => {
  checkCount("relu_fwd", "n", n);
  if (n === 0) return;
  const done = elementwiseCall("relu_fwd", [[x, xOff, n, "in"], [y, yOff, n, "out"]], (s, [px, py]) => {
    s.raw.relu_fwd_f32(n, px as Ptr, py as Ptr);
  });
  if (!done) ref.relu_fwd(n, x, xOff, y, yOff);
};

export const relu_bwd: typeof ref.relu_bwd = (n, x, xOff, g, gOff, gx, gxOff, accumulate) => {
  checkCount("relu_bwd", "n", n);
  if (n === 0) return;
  const done = elementwiseCall("relu_bwd", [[x, xOff, n, "in"], [g, gOff, n, "in"], [gx, gxOff, n, accumulate ? "inout" : "out"]], (s, [px, pg, pgx]) => {
    s.raw.relu_bwd_f32(n, px as Ptr, pg as Ptr, pgx as Ptr, accumulate ? 1 : 0);
  });
  if (!done) ref.relu_bwd(n, x, xOff, g, gOff, gx, gxOff, accumulate);
};

export const col_sum: typeof ref.col_sum = (R, C, x, xOff, y, yOff) => {
  checkCount("col_sum", "R", R);
  checkCount("col_sum", "C", C);
  if (R === 0 || C === 0) return;
  const done = elementwiseCall("col_sum", [[x, xOff, R * C, "in"], [y, yOff, C, "inout"]], (s, [px, py]) => {
    s.raw.col_sum_f32(R, C, px as Ptr, py as Ptr);
  });
  if (!done) ref.col_sum(R, C, x, xOff, y, yOff);
};

export const relu_bwd_col_sum: typeof ref.relu_bwd_col_sum = (R, C, y, yOff, g, gOff, gx, gxOff, db, dbOff) => {
  checkCount("relu_bwd_col_sum", "R", R);
  checkCount("relu_bwd_col_sum", "C", C);
  if (R === 0 || C === 0) return;
  const n = R * C;
  const done = elementwiseCall(
    "relu_bwd_col_sum",
    [[y, yOff, n, "in"], [g, gOff, n, "in"], [gx, gxOff, n, "out"], [db, dbOff, C, "inout"]],
    (s, [py, pg, pgx, pdb]) => s.raw.relu_bwd_col_sum_f32(R, C, py as Ptr, pg as Ptr, pgx as Ptr, pdb as Ptr),
  );
  if (!done) ref.relu_bwd_col_sum(R, C, y, yOff, g, gOff, gx, gxOff, db, dbOff);
};

export const sgd_dense: typeof ref.sgd_dense = (n, lr, w, wOff, g, gOff) => {
  checkCount("sgd_dense", "n", n);
  if (n === 0) return;
  const done = elementwiseCall("sgd_dense", [[w, wOff, n, "inout"], [g, gOff, n, "in"]], (s, [pw, pg]) => {
    s.raw.sgd_dense_f32(n, lr, pw as Ptr, pg as Ptr);
  });
  if (!done) ref.sgd_dense(n, lr, w, wOff, g, gOff);
};

export const fill_zero: typeof ref.fill_zero = (n, y, yOff) => {
  checkCount("fill_zero", "n", n);
  if (n === 0) return;
  checkSpan("fill_zero", "y", y, yOff, n);
  const s = wasmState();
  const p = y instanceof Float32Array ? s.heap.addressOf(y, yOff) : null;
  if (p === null || p === 0) ref.fill_zero(n, y, yOff); // not in the memory: JS's fill is the fast way
  else s.raw.fill_zero_f32(n, p);
};

export const add: typeof ref.add = (n, x, xOff, y, yOff) => {
  checkCount("add", "n", n);
  if (n === 0) return;
  const done = elementwiseCall("add", [[x, xOff, n, "in"], [y, yOff, n, "inout"]], (s, [px, py]) => {
    s.raw.add_f32(n, px as Ptr, py as Ptr);
  });
  if (!done) ref.add(n, x, xOff, y, yOff);
};

export const philox_uniform: typeof ref.philox_uniform = (n, out, outOff, first, k0, k1, lo, hi) => {
  checkCount("philox_uniform", "n", n);
  if (n === 0) return;
  checkSpan("philox_uniform", "out", out, outOff, n);
  if (!Number.isSafeInteger(first) || first < 0) throw new KernelError(`philox_uniform: first must be a non-negative safe integer, got ${first}`);
  const s = wasmState();
  const p = out instanceof Float32Array ? s.heap.addressOf(out, outOff) : null;
  // A table is resident (it is the bulk of initialisation); anything else is small: the reference.
  if (p === null || p === 0) ref.philox_uniform(n, out, outOff, first, k0, k1, lo, hi);
  else s.raw.philox_uniform_f32(n, p, first, k0 | 0, k1 | 0, lo, hi);
};

/** The wasm kernel set, with the signatures of ref.ts. */
export const wasmKernels = {
  sgemm, embedding_bag_fwd, embedding_bag_bwd, sgd_rows, adagrad_rows, rowwise_adagrad_rows,
  dot_interaction_fwd, dot_interaction_bwd, relu_fwd, relu_bwd, col_sum, relu_bwd_col_sum,
  sgd_dense, fill_zero, add, philox_uniform,
};
