// The wasm memory that the kernels, resident tensor storage and (later) worker threads
// share; its allocator; and the scratch area where kernel arguments that live elsewhere are
// staged.
//
// One shared WebAssembly.Memory per thread (its buffer is a SharedArrayBuffer that other
// workers can view), created with an explicit maximum of 65536 pages: wasm32 addresses
// reach 4 GiB and no further. Layout:
//   [0, 64)       never handed out, so address 0 can mean "none" in kernel calls
//   [64, top)     blocks, 64-byte aligned, carved by a bump pointer that only rises; a freed
//                 block goes to the free list of its size class and serves the next request
//                 of that class (training steps repeat their sizes, so this reuses well)
//   [top, size)   grown, not yet handed out (fresh pages read as zero)
// The memory grows in steps of at least 64 MiB (or an eighth of its size): growing is
// cheap, but the first touch of a fresh page costs ~15 µs, so blocks are reused rather than
// taken from fresh memory, and nothing ever shrinks.
//
// Growth replaces memory.buffer with a new, longer SharedArrayBuffer; views made before keep
// working (a shared buffer is never detached) but keep their old length, so every view here
// is made from the current buffer, and every buffer this memory ever had is remembered so
// that a view made before a growth is still recognised as resident.
//
// Above 4 GiB: an allocation that does not fit throws WasmMemoryError naming the requested
// size, the limit and what is in use. A thread may have several memories: its default one
// (the step's: the head, activations, staging) and table memories, each with its own heap
// and its own instance of the kernels (src/kernels/wasm.ts), where the embedding pieces that
// do not fit the default one live (placed by src/dlrm/tables/memories.ts). heapOfBuffer
// tells which of this thread's heaps an array lies in, so a kernel runs in its table's memory.
//
// Debug mode (DLRM_DEBUG_MEMORY=1, or the heap option debug): blocks are returned by a
// FinalizationRegistry once their array and its subarray()s are unreachable, but a view made
// by hand (new Float32Array(x.buffer, …)) or a saved address does not keep a block alive and
// can outlive it. In debug mode a freed block is filled with NaN (a float read of it gives
// NaN, an int read an id out of range), kept out of reuse while fresh memory lasts, and
// checked: a kernel call with an array on a freed block throws (addressOf, which every
// kernel wrapper asks), and reusing a block whose poison was overwritten throws (something
// wrote through a stale view). The step arena also poisons its memory when a step begins, so
// storage kept from an earlier step reads NaN (src/tensor/storage.ts).
//
// Glossary: Ptr a byte address in the memory; size class the rounded size of a block.

import { hostEnv } from "./host.ts";

/** A byte address in a wasm memory. Only this module makes them (from the allocator or a resident view). */
export type Ptr = number & { readonly __brand: "Ptr" };

export const PAGE_BYTES = 65536;
/** The wasm32 limit: 65536 pages = 4 GiB. */
export const MAX_PAGES = 65536;
export const MAX_BYTES = PAGE_BYTES * MAX_PAGES;
/** Bytes at address 0 that are never handed out. */
export const RESERVED_BYTES = 64;
/** Every block starts on a 64-byte boundary (a cache line; more than any SIMD load needs). */
export const BLOCK_ALIGN = 64;
const GROW_MIN_BYTES = 64 * 1024 * 1024;
const DEFAULT_INITIAL_BYTES = 16 * 1024 * 1024;

/** Whether DLRM_DEBUG_MEMORY asks for debug mode: "1" yes, unset, "" or "0" no, anything else an error. */
export function debugMemoryFromEnv(value: string | undefined): boolean {
  if (value === undefined || value === "" || value === "0") return false;
  if (value === "1") return true;
  throw new Error(`DLRM_DEBUG_MEMORY must be "1" or "0", got ${JSON.stringify(value)}`);
}

/** Debug mode for this thread's heaps (see the top of this file), fixed when this module loads. */
export const debugMemory: boolean = debugMemoryFromEnv(hostEnv("DLRM_DEBUG_MEMORY"));

/** The bit pattern a freed block is filled with in debug mode (float32 NaN). */
const POISON = 0x7fc00000;

/** An allocation that a wasm memory cannot hold. */
export class WasmMemoryError extends Error {
  override name = "WasmMemoryError";
}

/** Human-readable bytes: 1.5 GiB, 64 MiB, 512 B. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

/**
 * The block size serving a request of `bytes`: multiples of 64 up to 4 KiB, then 8 classes
 * per power of two (at most 12.5 % unused), and whole pages above 64 MiB.
 */
export function sizeClass(bytes: number): number {
  if (bytes <= BLOCK_ALIGN) return BLOCK_ALIGN;
  if (bytes <= 4096) return Math.ceil(bytes / BLOCK_ALIGN) * BLOCK_ALIGN;
  if (bytes > GROW_MIN_BYTES) return Math.ceil(bytes / PAGE_BYTES) * PAGE_BYTES;
  const step = 2 ** Math.floor(Math.log2(bytes - 1)) / 8;
  return Math.ceil(bytes / step) * step;
}

export interface HeapOptions {
  /** Use this memory (it must be shared) instead of creating one. */
  memory?: WebAssembly.Memory;
  /** Bytes to grow to right away (default 16 MiB). */
  initialBytes?: number;
  /** Page limit of a memory created here (default 65536 = 4 GiB). */
  maximumPages?: number;
  /** Poison freed blocks and detect their use (default: DLRM_DEBUG_MEMORY). */
  debug?: boolean;
}

/** What addressOf needs of a typed array. */
export interface TypedView {
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  readonly BYTES_PER_ELEMENT: number;
}

export interface HeapStats {
  /** Current size of the memory. */
  memoryBytes: number;
  /** End of the bump region: bytes ever carved into blocks (plus the reserved head). */
  topBytes: number;
  liveBlocks: number;
  liveBytes: number;
  freeBlocks: number;
  freeBytes: number;
}

/**
 * The allocator of one wasm memory: 64-byte aligned blocks, reused by size class. The heap
 * that creates or is given a memory is the only allocator of that memory.
 */
export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  readonly maximumBytes: number;
  /** Debug mode: freed blocks poisoned, quarantined and checked (see the top of this file). */
  readonly debug: boolean;
  readonly #starts: number[] = []; // debug mode: the address of every block, ascending (carved in order)
  readonly #freed = new Map<number, number>(); // debug mode: address → size of blocks freed and not reused
  #top = RESERVED_BYTES;
  readonly #free = new Map<number, number[]>(); // size class → free block addresses
  readonly #live = new Map<number, number>(); // address → size class, blocks in use
  #liveBytes = 0;
  #freeBytes = 0;
  readonly #freshIsZero: boolean; // false for a memory handed in: its content is unknown
  readonly #buffers = new WeakSet<object>(); // every buffer this memory has had
  #buffer!: SharedArrayBuffer;
  #f32!: Float32Array<SharedArrayBuffer>;
  #i32!: Int32Array<SharedArrayBuffer>;
  #u8!: Uint8Array<SharedArrayBuffer>;

  constructor(opts: HeapOptions = {}) {
    const maximumPages = opts.maximumPages ?? MAX_PAGES;
    if (!Number.isInteger(maximumPages) || maximumPages < 1 || maximumPages > MAX_PAGES) {
      throw new WasmMemoryError(
        `wasm memory: maximumPages must be an integer in [1, ${MAX_PAGES}], got ${maximumPages}`,
      );
    }
    this.memory = opts.memory ?? new WebAssembly.Memory({ initial: 1, maximum: maximumPages, shared: true });
    this.maximumBytes = opts.memory === undefined ? maximumPages * PAGE_BYTES : MAX_BYTES;
    this.#freshIsZero = opts.memory === undefined;
    this.debug = opts.debug ?? debugMemory;
    this.#refresh();
    this.#ensure(Math.min(opts.initialBytes ?? DEFAULT_INITIAL_BYTES, this.maximumBytes), false);
  }

  /** The memory's current buffer (after a growth by anyone, the new one). */
  buffer(): SharedArrayBuffer {
    this.#refresh();
    return this.#buffer;
  }

  /** Whether buf is (a past or present) buffer of this memory. */
  owns(buf: ArrayBufferLike): boolean {
    if (!(buf instanceof SharedArrayBuffer)) return false; // a plain ArrayBuffer never is
    if (this.#buffers.has(buf)) return true;
    this.#refresh();
    return buf === this.#buffer;
  }

  /** The byte address of view[elementOffset] when the view lies in this memory, else null. */
  addressOf(view: TypedView, elementOffset = 0): Ptr | null {
    if (!this.owns(view.buffer)) return null;
    const address = view.byteOffset + elementOffset * view.BYTES_PER_ELEMENT;
    if (this.debug) this.#checkNotFreed(address);
    return address as Ptr;
  }

  /** A block of at least `bytes` bytes; contents unspecified (stale data when reused). */
  alloc(bytes: number): Ptr {
    if (!Number.isInteger(bytes) || bytes < 0) {
      throw new WasmMemoryError(`wasm memory: cannot allocate ${bytes} bytes: need a non-negative integer`);
    }
    const cls = sizeClass(bytes);
    let got = cls;
    // Debug mode reuses a freed block only when fresh memory has run out (quarantine).
    let ptr = this.debug && this.#top + cls <= this.maximumBytes ? null : this.#takeFree(cls);
    if (ptr === null) {
      if (this.#top + cls <= this.maximumBytes) {
        ptr = this.#top;
        this.#ensure(this.#top + cls);
        this.#top += cls;
        if (this.debug) this.#starts.push(ptr);
      } else {
        // The bump region is exhausted: settle for the smallest larger free block.
        const larger = this.#smallestFreeAbove(cls);
        if (larger === null) throw this.#outOfMemory(bytes);
        got = larger;
        ptr = this.#takeFree(larger) as number;
      }
    }
    if (this.debug) this.#checkPoison(ptr, got);
    this.#live.set(ptr, got);
    this.#liveBytes += got;
    return ptr as Ptr;
  }

  /** A block of at least `bytes` bytes, all zero. */
  allocZeroed(bytes: number): Ptr {
    const fresh = this.#top;
    const ptr = this.alloc(bytes);
    // Blocks carved from the bump region of our own memory were never written (fresh pages
    // are zero); reused blocks hold stale data.
    if (ptr < fresh || !this.#freshIsZero) this.#u8.fill(0, ptr, ptr + (this.#live.get(ptr) as number));
    return ptr;
  }

  /** Return a block for reuse. Freeing an address that is not a live block throws. */
  free(ptr: Ptr): void {
    const cls = this.#live.get(ptr);
    if (cls === undefined) throw new WasmMemoryError(`wasm memory: free(${ptr}): not a live block (double free?)`);
    this.#live.delete(ptr);
    this.#liveBytes -= cls;
    this.#freeBytes += cls;
    if (this.debug) {
      this.#refresh();
      this.#i32.fill(POISON, ptr / 4, (ptr + cls) / 4);
      this.#freed.set(ptr, cls);
    }
    const list = this.#free.get(cls);
    if (list === undefined) this.#free.set(cls, [ptr]);
    else list.push(ptr);
  }

  /** The size of a live block (its size class), or null. */
  blockBytes(ptr: Ptr): number | null {
    return this.#live.get(ptr) ?? null;
  }

  /** Grow now so that `bytes` more can be allocated from fresh memory without growing later. */
  reserve(bytes: number): void {
    if (this.#top + bytes > this.maximumBytes) throw this.#outOfMemory(bytes);
    this.#ensure(this.#top + bytes);
  }

  /** n float32 at ptr, on the current buffer. */
  f32(ptr: Ptr, n: number): Float32Array<SharedArrayBuffer> {
    return new Float32Array(this.buffer(), ptr, n);
  }

  /** n int32 at ptr, on the current buffer. */
  i32(ptr: Ptr, n: number): Int32Array<SharedArrayBuffer> {
    return new Int32Array(this.buffer(), ptr, n);
  }

  /** The whole memory as float32 (index = address / 4); refreshed after growth. */
  get heapF32(): Float32Array<SharedArrayBuffer> {
    this.#refresh();
    return this.#f32;
  }

  /** The whole memory as int32 (index = address / 4); refreshed after growth. */
  get heapI32(): Int32Array<SharedArrayBuffer> {
    this.#refresh();
    return this.#i32;
  }

  /** The whole memory as bytes (index = address); refreshed after growth. */
  get heapU8(): Uint8Array<SharedArrayBuffer> {
    this.#refresh();
    return this.#u8;
  }

  stats(): HeapStats {
    let freeBlocks = 0;
    for (const list of this.#free.values()) freeBlocks += list.length;
    return {
      memoryBytes: this.buffer().byteLength,
      topBytes: this.#top,
      liveBlocks: this.#live.size,
      liveBytes: this.#liveBytes,
      freeBlocks,
      freeBytes: this.#freeBytes,
    };
  }

  #refresh(): void {
    const buf = this.memory.buffer;
    if (buf === this.#buffer) return;
    if (!(buf instanceof SharedArrayBuffer)) {
      throw new WasmMemoryError("wasm memory: the memory must be shared (created with shared: true and a maximum)");
    }
    this.#buffer = buf;
    this.#buffers.add(buf);
    heapOfBuffers.set(buf, this);
    this.#f32 = new Float32Array(buf);
    this.#i32 = new Int32Array(buf);
    this.#u8 = new Uint8Array(buf);
  }

  /** Grow the memory to at least `end` bytes, in large steps unless `stepped` is false. */
  #ensure(end: number, stepped = true): void {
    this.#refresh();
    const cur = this.#buffer.byteLength;
    if (end <= cur) return;
    const want = stepped ? Math.max(end, cur + GROW_MIN_BYTES, cur + Math.floor(cur / 8)) : end;
    const target = Math.min(Math.ceil(want / PAGE_BYTES) * PAGE_BYTES, this.maximumBytes);
    try {
      this.memory.grow((target - cur) / PAGE_BYTES);
    } catch (e) {
      throw new WasmMemoryError(
        `wasm memory: growing from ${formatBytes(cur)} to ${formatBytes(target)} failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    this.#refresh();
  }

  /** Debug mode: throw if address lies in a block that was freed (a view or pointer outlived it). */
  #checkNotFreed(address: number): void {
    const starts = this.#starts;
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1; // index of the last block starting at or before address
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= address) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return;
    const start = starts[found];
    const size = this.#freed.get(start);
    if (size !== undefined && address < start + size) {
      throw new WasmMemoryError(
        `wasm memory (DLRM_DEBUG_MEMORY): an array at address ${address} lies in the block [${start}, ${start + size}) that was freed: a view or pointer outlived its block (make views with subarray(), which keeps the block alive)`,
      );
    }
  }

  /** Debug mode: a freed block about to be reused must still hold its poison. */
  #checkPoison(ptr: number, cls: number): void {
    if (!this.#freed.delete(ptr)) return; // carved fresh
    this.#refresh();
    const i32 = this.#i32;
    for (let i = ptr / 4; i < (ptr + cls) / 4; i++) {
      if (i32[i] !== POISON) {
        throw new WasmMemoryError(
          `wasm memory (DLRM_DEBUG_MEMORY): the freed block [${ptr}, ${ptr + cls}) was written at address ${4 * i} after it was freed: a view or pointer outlived its block`,
        );
      }
    }
  }

  #takeFree(cls: number): number | null {
    const ptr = this.#free.get(cls)?.pop();
    if (ptr === undefined) return null;
    this.#freeBytes -= cls;
    return ptr;
  }

  #smallestFreeAbove(cls: number): number | null {
    let best: number | null = null;
    for (const [size, list] of this.#free) {
      if (size > cls && list.length > 0 && (best === null || size < best)) best = size;
    }
    return best;
  }

  #outOfMemory(bytes: number): WasmMemoryError {
    const limit =
      this.maximumBytes === MAX_BYTES
        ? `a wasm32 memory holds at most ${formatBytes(MAX_BYTES)}`
        : `this memory holds at most ${formatBytes(this.maximumBytes)}`;
    return new WasmMemoryError(
      `wasm memory: cannot allocate ${formatBytes(bytes)} (${bytes} bytes): ${limit} and ` +
        `${formatBytes(this.#liveBytes)} are in use — tables past one memory get memories of their own ` +
        `(src/dlrm/tables/memories.ts): for the step's (MLPs, a batch's activations) take a smaller batch or MLP, ` +
        `and split a table piece this big into row ranges over several workers (--workers N)`,
    );
  }
}

/**
 * A region of the heap for staging kernel arguments that live outside the memory: begin()
 * sizes it for one kernel call, take() hands out consecutive 64-byte aligned pieces. Its
 * contents are garbage from earlier calls (kernels must write before they read).
 */
export class Scratch {
  readonly #heap: WasmHeap;
  /** Staging larger than this is declined (the caller falls back to the reference kernel). */
  readonly limitBytes: number;
  #ptr = 0;
  #capacity = 0;
  #used = 0;

  constructor(heap: WasmHeap, limitBytes = 512 * 1024 * 1024) {
    this.#heap = heap;
    this.limitBytes = limitBytes;
  }

  /** Make room for `bytes` (the sum of align64 of each piece); false when over the limit. */
  begin(bytes: number): boolean {
    if (bytes > this.limitBytes) return false;
    if (bytes > this.#capacity) {
      const capacity = Math.min(Math.max(bytes, 2 * this.#capacity, 1 << 20), this.limitBytes);
      const ptr = this.#heap.alloc(capacity); // may throw WasmMemoryError before anything changes
      if (this.#capacity > 0) this.#heap.free(this.#ptr as Ptr);
      this.#ptr = ptr;
      this.#capacity = capacity;
    }
    this.#used = 0;
    return true;
  }

  /** The next piece of `bytes` bytes. */
  take(bytes: number): Ptr {
    const ptr = this.#ptr + this.#used;
    this.#used += align64(bytes);
    if (this.#used > this.#capacity) {
      throw new WasmMemoryError(`scratch: took ${this.#used} bytes after begin() made room for ${this.#capacity}`);
    }
    return ptr as Ptr;
  }
}

/** bytes rounded up to a multiple of 64. */
export function align64(bytes: number): number {
  return Math.ceil(bytes / BLOCK_ALIGN) * BLOCK_ALIGN;
}

// Every buffer of every heap of this thread, with its heap: which memory an array lies in
// (and so which kernel instance can use it with no copy). Weak both ways: a heap lives as long
// as an array on one of its buffers, or its owner, does.
const heapOfBuffers = new WeakMap<object, WasmHeap>();

/** The heap of this thread whose memory buf is (a past or present buffer of), or null. */
export function heapOfBuffer(buf: ArrayBufferLike): WasmHeap | null {
  return heapOfBuffers.get(buf) ?? null;
}

// ---------------------------------------------------------------------------------------
// Resident arrays: typed arrays on heap blocks that return to the heap when unreachable.

// A view made with subarray() keeps its parent (and so the block) alive: child → parent.
const parentOf = new WeakMap<object, object>();

/**
 * A Float32Array on a heap block. Its block returns to the heap (FinalizationRegistry) once
 * neither it nor any subarray() of it is reachable. Do not build views on its buffer by
 * hand (new Float32Array(x.buffer, …)) that outlive it: only subarray() keeps it alive.
 */
export class ResidentFloat32Array extends Float32Array<SharedArrayBuffer> {
  override subarray(begin?: number, end?: number): Float32Array<SharedArrayBuffer> {
    const view = super.subarray(begin, end);
    parentOf.set(view, this);
    return view;
  }
}

/** An Int32Array on a heap block, returned like ResidentFloat32Array. */
export class ResidentInt32Array extends Int32Array<SharedArrayBuffer> {
  override subarray(begin?: number, end?: number): Int32Array<SharedArrayBuffer> {
    const view = super.subarray(begin, end);
    parentOf.set(view, this);
    return view;
  }
}

/** A Uint8Array on a heap block (a quantized table's fused rows), returned like ResidentFloat32Array. */
export class ResidentUint8Array extends Uint8Array<SharedArrayBuffer> {
  override subarray(begin?: number, end?: number): Uint8Array<SharedArrayBuffer> {
    const view = super.subarray(begin, end);
    parentOf.set(view, this);
    return view;
  }
}

const registries = new WeakMap<WasmHeap, FinalizationRegistry<number>>();

function registryOf(heap: WasmHeap): FinalizationRegistry<number> {
  let r = registries.get(heap);
  if (r === undefined) {
    r = new FinalizationRegistry<number>((ptr) => heap.free(ptr as Ptr));
    registries.set(heap, r);
  }
  return r;
}

/** n zero float32 in the heap, returned to it when unreachable. */
export function residentF32(heap: WasmHeap, n: number): ResidentFloat32Array {
  const ptr = heap.allocZeroed(n * 4);
  const view = new ResidentFloat32Array(heap.buffer(), ptr, n);
  registryOf(heap).register(view, ptr);
  return view;
}

/** n zero int32 in the heap, returned to it when unreachable. */
export function residentI32(heap: WasmHeap, n: number): ResidentInt32Array {
  const ptr = heap.allocZeroed(n * 4);
  const view = new ResidentInt32Array(heap.buffer(), ptr, n);
  registryOf(heap).register(view, ptr);
  return view;
}

/** n zero bytes in the heap, returned to it when unreachable. */
export function residentU8(heap: WasmHeap, n: number): ResidentUint8Array {
  const ptr = heap.allocZeroed(n);
  const view = new ResidentUint8Array(heap.buffer(), ptr, n);
  registryOf(heap).register(view, ptr);
  return view;
}

// ---------------------------------------------------------------------------------------
// This thread's heap, made on first use (DLRM_KERNELS=js never makes one).

let theHeap: WasmHeap | null = null;

/** The heap of this thread's memory (created on first call). */
export function defaultHeap(): WasmHeap {
  if (theHeap === null) theHeap = new WasmHeap();
  return theHeap;
}
