// Where tensor storage comes from. One place, so the memory model can change without
// touching the ops.
//
// Three kinds of float32 storage (float64 is always a plain Float64Array):
//   resident   a view on a block of this thread's wasm memory (src/kernels/memory.ts), or of
//              a table memory of its own (tableMemory): the wasm kernels read and write it
//              with no copy. For what lives long and is big: parameters, embedding tables,
//              optimizer state. Asked for by name, never by a
//              mode: allocResident() (or toResident() of values made elsewhere), and
//              allocFloatLike() for state that lives where its parameter does.
//   step       a view on the step arena: what one training step makes and drops
//              (activations, their gradients, the step's parameter gradients). Made inside
//              withStepArena(). With the wasm kernels the arena lives in wasm memory, so the
//              kernels use it with no copy; with the reference kernels it is one plain
//              ArrayBuffer. Either way a steady-state step allocates no storage at all:
//              its index arrays (allocInt32: bag offsets, unique rows, slots) come from
//              the arena too.
//              Pieces are zero-filled (fill_zero, a memset), except those an op writes in
//              full: allocFloatUninit for outputs and for a gradient buffer its first
//              writer fills instead of adding into zeros (gradForWrite, autograd/grad.ts).
//   transient  a plain Float32Array on the JS heap: everything else (tests, evaluation,
//              batches). The wasm kernels stage it (copy into the memory's scratch area and
//              back).
//
// The step arena's rule: storage allocated inside withStepArena(fn) stays valid until the
// next withStepArena on this thread begins, and no longer: that call hands the same memory
// out again. So nothing made in one step may be used in the next. The training loop keeps
// the rule by dropping, before each step, every gradient its parameters hold in the arena
// (releaseStepGrads); a tensor the caller keeps from a step must be copied out
// (x.data.slice()) before the next one. Why an arena and not the garbage collector: a
// resident block can only be reused once no tensor can see it, and the only witness of that
// is the GC (FinalizationRegistry) — but V8 does not count wasm memory as heap pressure, so
// in a training loop it rarely collects (measured here: a loop that dropped 40 MB of
// wasm-backed activations per step had reclaimed nothing when the memory reached its 4 GiB
// limit). A step, on the other hand, has a known end.
//
// Resident blocks return to the heap when their array and every subarray() of it are
// unreachable (never while a tensor still uses them). A resident allocation that the 4 GiB
// memory cannot hold throws WasmMemoryError naming the requested size; allocFloatLike falls
// back to transient storage instead, since its callers cannot know the memory is full.
// Under DLRM_KERNELS=js nothing is resident (the reference kernels need no residency).
// With DLRM_DEBUG_MEMORY=1 (src/kernels/memory.ts) the arena is filled with NaN as each step
// begins, so a tensor kept from an earlier step reads NaN instead of stale numbers.

import { kernels, kernelSet } from "../kernels/index.ts";
import {
  BLOCK_ALIGN,
  debugMemory,
  defaultHeap,
  heapOfBuffer,
  residentF32,
  WasmHeap,
  WasmMemoryError,
  type Ptr,
} from "../kernels/memory.ts";
import { hostWarning } from "../kernels/host.ts";
import type { DType, FloatArray, RowSparseGrad } from "./types.ts";

let warnedFull = false;

let transientBytes = 0;

/**
 * A zero-filled float array of n elements: from the step arena inside withStepArena
 * (float32 only), else a plain array. Resident storage is allocResident's.
 */
export function allocFloat(dtype: DType, n: number): FloatArray {
  if (dtype === "float64") {
    transientBytes += 8 * n;
    return new Float64Array(n);
  }
  if (arenaDepth > 0 && n > 0) {
    const a = theArena().take(n);
    kernels.fill_zero(n, a, 0); // a memset in wasm memory (JS's fill on a shared buffer is slow)
    return a;
  }
  transientBytes += 4 * n;
  return new Float32Array(n);
}

/**
 * allocFloat without the zero fill, for outputs an op overwrites in full before anyone
 * reads them. Contents are unspecified (stale data of an earlier step).
 */
export function allocFloatUninit(dtype: DType, n: number): FloatArray {
  if (dtype === "float32" && arenaDepth > 0 && n > 0) return theArena().take(n);
  return allocFloat(dtype, n);
}

/**
 * A zero-filled Int32Array of n elements (row ids, bag offsets, slots): from the step arena
 * inside withStepArena (as a view on its float32 memory), else a plain array.
 */
export function allocInt32(n: number): Int32Array {
  if (arenaDepth > 0 && n > 0) {
    const a = theArena().take(n);
    kernels.fill_zero(n, a, 0); // zero bits are the int32 0
    return new Int32Array(a.buffer, a.byteOffset, n);
  }
  return new Int32Array(n);
}

/** Bytes of float storage allocated on the JS heap so far (transient arrays; not resident, not arena). */
export function transientAllocatedBytes(): number {
  return transientBytes;
}

/**
 * n float32 zeros resident in this thread's wasm memory, where the kernels use them with no
 * copy: for parameters, tables and a rank's gradient bucket. A plain array under
 * DLRM_KERNELS=js (nothing is resident there). Throws WasmMemoryError, naming the size, when
 * the memory cannot hold it.
 */
export function allocResident(n: number, memory: WasmHeap | null = null): Float32Array {
  if (kernelSet === "wasm" && n > 0) return residentF32(memory ?? defaultHeap(), n);
  transientBytes += 4 * n;
  return new Float32Array(n);
}

/**
 * A wasm memory of its own for embedding tables (src/dlrm/tables/memories.ts), grown to
 * initialBytes at once; null under DLRM_KERNELS=js, where allocResident(n, null) is a plain array.
 */
export function tableMemory(initialBytes: number): WasmHeap | null {
  return kernelSet === "wasm" ? new WasmHeap({ initialBytes }) : null;
}

/** values, resident (a copy; float64 stays as it is): a parameter drawn by a creation function. */
export function toResident(values: FloatArray): FloatArray {
  if (values instanceof Float64Array) return values;
  const out = allocResident(values.length);
  out.set(values);
  return out;
}

/** Whether arr lives in one of this thread's wasm memories (kernels use it with no copy). */
export function isResident(arr: ArrayBufferView): boolean {
  return kernelSet === "wasm" && heapOfBuffer(arr.buffer) !== null;
}

/**
 * n zeros (default like.length) of like's dtype, resident when like is: the optimizer state
 * of a resident table, for example. If the memory is full, a transient array (and one warning).
 */
export function allocFloatLike(like: FloatArray, n: number = like.length): FloatArray {
  if (like instanceof Float64Array) return new Float64Array(n);
  const heap = kernelSet === "wasm" ? heapOfBuffer(like.buffer) : null;
  if (n === 0 || heap === null) return new Float32Array(n);
  try {
    return residentF32(heap, n); // in like's memory: a table's state beside its table
  } catch (e) {
    if (!(e instanceof WasmMemoryError)) throw e;
    warnFullOnce(e);
    return new Float32Array(n);
  }
}

function warnFullOnce(e: WasmMemoryError): void {
  if (warnedFull) return;
  warnedFull = true;
  hostWarning(`${e.message}; using plain (staged, slower) arrays from now on`, "DlrmMemoryWarning");
}

// ---------------------------------------------------------------------------------------
// The step arena

/** One contiguous region of the arena: a view over it and how much of it is handed out. */
interface Chunk {
  readonly f32: Float32Array; // the whole chunk
  readonly ptr: Ptr | null; // its heap block (wasm), or null (a plain ArrayBuffer)
  used: number; // elements handed out this step
}

/** Elements per alignment unit: every piece starts on a 64-byte boundary (SIMD, cache lines). */
const ALIGN_ELEMS = BLOCK_ALIGN / 4;
const FIRST_CHUNK_ELEMS = (16 << 20) / 4;

/**
 * A bump allocator over chunks of float32. A step takes pieces; the next step's reset()
 * hands the same memory out again. When a step needs more than the chunks hold, a new,
 * larger chunk is added; at the next reset, several chunks are merged into one of their
 * total size, so from the second step of the same shape on, the arena is one chunk and a
 * step allocates nothing.
 */
class StepArena {
  readonly #wasm: boolean;
  #chunks: Chunk[] = [];
  #current = 0; // index of the chunk being filled
  steps = 0;

  constructor(wasm: boolean) {
    this.#wasm = wasm;
  }

  /** n zero-or-stale floats, 64-byte aligned. */
  take(n: number): Float32Array {
    let need = Math.ceil(n / ALIGN_ELEMS) * ALIGN_ELEMS;
    // A piece whose size is a multiple of 4 KiB gets one more cache line: otherwise pieces
    // of the same such size (a batch's pooled embeddings, 26 × (2048, 16) floats = 128 KiB
    // each) sit at power-of-two strides, row b of every one maps to the same cache set, and
    // a kernel reading row b of all of them at once (the dot interaction) evicts its own
    // lines: its backward took twice as long.
    if (need % (4096 / 4) === 0) need += ALIGN_ELEMS;
    for (;;) {
      const c = this.#chunks[this.#current];
      if (c === undefined) {
        const capacity = Math.max(need, FIRST_CHUNK_ELEMS, 2 * this.capacityElems());
        try {
          this.#chunks.push(this.#newChunk(Math.max(need, Math.min(capacity, this.#roomElems()))));
        } catch (e) {
          // The wasm memory is full (tables take most of it): this piece is a plain array
          // that the kernels stage, as outside a step.
          if (!(e instanceof WasmMemoryError)) throw e;
          warnFullOnce(e);
          transientBytes += 4 * n;
          return new Float32Array(n);
        }
        continue;
      }
      if (c.used + need <= c.f32.length) {
        const view = c.f32.subarray(c.used, c.used + n);
        c.used += need;
        return view;
      }
      this.#current++;
    }
  }

  /** Start a step: everything handed out before may be handed out again. */
  reset(): void {
    this.steps++;
    if (this.#chunks.length > 1) {
      let merged: Chunk | null = null;
      try {
        merged = this.#newChunk(this.capacityElems());
      } catch (e) {
        if (!(e instanceof WasmMemoryError)) throw e; // no room for one piece: keep the chunks
      }
      if (merged !== null) {
        for (const c of this.#chunks) this.#freeChunk(c);
        this.#chunks = [merged];
      }
    }
    for (const c of this.#chunks) {
      c.used = 0;
      if (debugMemory) c.f32.fill(Number.NaN); // storage kept from the last step now reads NaN
    }
    this.#current = 0;
  }

  /** Whether arr is a view on this arena's memory. */
  holds(arr: ArrayBufferView): boolean {
    for (const c of this.#chunks) {
      if (arr.buffer !== c.f32.buffer) continue;
      const start = c.f32.byteOffset;
      if (arr.byteOffset >= start && arr.byteOffset < start + c.f32.byteLength) return true;
    }
    return false;
  }

  capacityElems(): number {
    let n = 0;
    for (const c of this.#chunks) n += c.f32.length;
    return n;
  }

  usedElems(): number {
    let n = 0;
    for (const c of this.#chunks) n += c.used;
    return n;
  }

  chunkCount(): number {
    return this.#chunks.length;
  }

  /** Elements the wasm memory could still give a new chunk (unbounded for a plain arena). */
  #roomElems(): number {
    if (!this.#wasm) return Infinity;
    const heap = defaultHeap();
    return Math.floor((heap.maximumBytes - heap.stats().topBytes) / 4);
  }

  #newChunk(elems: number): Chunk {
    if (!this.#wasm) return { f32: new Float32Array(elems), ptr: null, used: 0 };
    const heap = defaultHeap();
    const ptr = heap.alloc(4 * elems); // may throw WasmMemoryError, naming the size
    return { f32: heap.f32(ptr, elems), ptr, used: 0 };
  }

  #freeChunk(c: Chunk): void {
    if (c.ptr !== null) defaultHeap().free(c.ptr);
  }
}

let arenaDepth = 0;
let arena: StepArena | null = null;

function theArena(): StepArena {
  if (arena === null) arena = new StepArena(kernelSet === "wasm");
  return arena;
}

/**
 * Run one training step with every float32 allocation (that is not resident) taken from the
 * step arena: forward, backward and the optimizer's update inside fn. The outermost call
 * first recycles everything the previous step took, so storage from a step is valid until
 * the next step begins (see the rule at the top of this file). A nested call just runs fn.
 */
export function withStepArena<T>(fn: () => T): T {
  if (arenaDepth === 0) theArena().reset();
  arenaDepth++;
  try {
    return fn();
  } finally {
    arenaDepth--;
  }
}

/** Whether arr lives in the step arena (and so is recycled when the next step begins). */
export function inStepArena(arr: ArrayBufferView): boolean {
  return arena !== null && arena.holds(arr);
}

/**
 * Drop the gradients of params that live in the step arena (dense .grad, and .rowGrad whose
 * values do), so that no parameter carries step storage into the next step. The training
 * loop calls it before each step, after the optimizer's zeroGrad.
 */
export function releaseStepGrads(params: Iterable<{ grad: FloatArray | null; rowGrad: RowSparseGrad | null }>): void {
  if (arena === null) return;
  for (const p of params) {
    if (p.grad !== null && arena.holds(p.grad)) p.grad = null;
    if (p.rowGrad !== null && arena.holds(p.rowGrad.values)) p.rowGrad = null;
  }
}

export interface StepArenaStats {
  /** Steps begun (outermost withStepArena calls). */
  steps: number;
  chunks: number;
  capacityBytes: number;
  /** Bytes handed out since the current step began. */
  usedBytes: number;
}

export function stepArenaStats(): StepArenaStats {
  const a = theArena();
  return { steps: a.steps, chunks: a.chunkCount(), capacityBytes: 4 * a.capacityElems(), usedBytes: 4 * a.usedElems() };
}
