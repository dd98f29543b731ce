// Where tensor storage comes from. One place, so the memory model can change without
// touching the ops.
//
// Two kinds of float32 storage (float64 is always a plain Float64Array):
//   resident   a view on a block of this thread's wasm memory (src/kernels/memory.ts): the
//              wasm kernels read and write it with no copy. For what lives long and is big:
//              parameters, embedding tables, optimizer state. Made inside
//              withResidentStorage(), or by allocFloatLike() from resident storage.
//   transient  a plain Float32Array on the JS heap: activations, gradients, batches. The
//              wasm kernels stage it (copy into the memory's scratch area and back), which
//              costs about 5 % of a large GEMM and nothing that grows with a table.
// Why activations are not resident: a block can only be reused once no tensor can see it,
// and the only safe witness of that is the garbage collector (FinalizationRegistry). But V8
// does not count wasm memory as heap pressure, so in a training loop it rarely collects,
// and finalizers only run when the loop yields to the event loop: measured here, a loop
// that dropped 40 MB of wasm-backed activations per step had reclaimed nothing when the
// memory reached its 4 GiB limit, even yielding every step. Plain typed arrays are counted
// by the GC, so they are collected on time. (A per-step arena would need lifetimes that
// the tape does not know: a user may keep any tensor of the last step.)
//
// Resident blocks return to the heap when their array and every subarray() of it are
// unreachable (never while a tensor still uses them). A resident allocation that the 4 GiB
// memory cannot hold throws WasmMemoryError naming the requested size; allocFloatLike falls
// back to transient storage instead, since its callers cannot know the memory is full.
// Under DLRM_KERNELS=js every array is transient (the reference kernels need no residency).

import { kernelSet } from "../kernels/index.ts";
import { defaultHeap, residentF32, WasmMemoryError } from "../kernels/memory.ts";
import type { DType, FloatArray } from "./tensor.ts";

let residentDepth = 0;
let warnedFull = false;

/** A zero-filled float array of n elements (resident inside withResidentStorage). */
export function allocFloat(dtype: DType, n: number): FloatArray {
  if (dtype === "float64") return new Float64Array(n);
  if (residentDepth > 0 && kernelSet === "wasm" && n > 0) return residentF32(defaultHeap(), n);
  return new Float32Array(n);
}

/**
 * Run fn with every float32 allocation resident in wasm memory: build models (parameters,
 * embedding tables) and long-lived optimizer state inside it.
 */
export function withResidentStorage<T>(fn: () => T): T {
  residentDepth++;
  try {
    return fn();
  } finally {
    residentDepth--;
  }
}

/** Whether arr lives in this thread's wasm memory (kernels use it with no copy). */
export function isResident(arr: ArrayBufferView): boolean {
  return kernelSet === "wasm" && arr.buffer instanceof SharedArrayBuffer && defaultHeap().owns(arr.buffer);
}

/**
 * n zeros (default like.length) of like's dtype, resident when like is: the optimizer state
 * of a resident table, for example. If the memory is full, a transient array (and one warning).
 */
export function allocFloatLike(like: FloatArray, n: number = like.length): FloatArray {
  if (like instanceof Float64Array) return new Float64Array(n);
  if (n === 0 || !isResident(like)) return new Float32Array(n);
  try {
    return residentF32(defaultHeap(), n);
  } catch (e) {
    if (!(e instanceof WasmMemoryError)) throw e;
    if (!warnedFull) {
      warnedFull = true;
      process.emitWarning(`${e.message}; using plain (staged, slower) arrays from now on`, "DlrmMemoryWarning");
    }
    return new Float32Array(n);
  }
}

/**
 * Let the event loop run once, so that resident blocks whose arrays were collected return
 * to the heap (finalizers run between tasks). Await it now and then in long async loops.
 */
export function reclaimStorage(): Promise<void> {
  return new Promise((done) => setImmediate(done));
}
