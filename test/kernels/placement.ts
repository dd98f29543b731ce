// Test helpers for the kernel suites: put test data where a kernel argument can live (in
// the wasm memory, or in a plain JS array that the wrapper stages) at an element offset,
// with sentinel values around it so that writes outside the argument's extent show up.

import fc from "fast-check";
import { defaultHeap, residentF32, residentI32 } from "../../src/kernels/memory.ts";
import { POOL_MEAN, POOL_SUM } from "../../src/kernels/ref.ts";
import { wasmState, type RawKernels } from "../../src/kernels/wasm.ts";

export type Where = "resident" | "plain";

export const whereArb: fc.Arbitrary<Where> = fc.constantFrom<Where>("resident", "plain");

/** The value around placed data: any write outside the extent changes it. */
export const SENTINEL = -12345.5;

/** A float32 array of off + data.length + tail elements, data at off, sentinels elsewhere. */
export function placeF32(data: ArrayLike<number>, where: Where, off: number, tail = 3): Float32Array {
  const n = off + data.length + tail;
  const arr = where === "resident" ? residentF32(defaultHeap(), n) : new Float32Array(n);
  arr.fill(SENTINEL);
  arr.set(data, off);
  return arr;
}

/** An int32 array holding data at offset 0 (the kernels take int arrays from their start). */
export function placeI32(data: ArrayLike<number>, where: Where): Int32Array {
  const arr = where === "resident" ? residentI32(defaultHeap(), data.length) : new Int32Array(data.length);
  arr.set(data);
  return arr;
}

/** n values uniform in [lo, hi), rounded to float32, from a fast-check seed. */
export function values(seed: number, n: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // xorshift32: cheap, deterministic, good enough for test data
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return out;
}

/** Unit roundoff of float32. */
export const U32 = 2 ** -24;

/** Embedding bags for a kernel test: B bags of 0..6 lookups (a quarter empty) into R rows of
 *  width E, with repeats; where each argument lives and at which offsets. */
export interface Bags {
  B: number;
  E: number;
  R: number;
  mode: number;
  indices: number[]; // (L,)
  offsets: number[]; // (B + 1,)
  weighted: boolean;
  tableOff: number;
  outOff: number;
  where: { table: Where; out: Where; indices: Where; offsets: Where; weights: Where };
  seed: number;
}

export const bagsArb: fc.Arbitrary<Bags> = fc
  .record({
    B: fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 40 })),
    E: fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 20, 31, 32, 33, 48, 64, 67),
    R: fc.integer({ min: 1, max: 60 }),
    mode: fc.constantFrom(POOL_SUM, POOL_MEAN),
    weighted: fc.boolean(),
    tableOff: fc.integer({ min: 0, max: 7 }),
    outOff: fc.integer({ min: 0, max: 7 }),
    where: fc.record({ table: whereArb, out: whereArb, indices: whereArb, offsets: whereArb, weights: whereArb }),
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    lengthSeed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  })
  .map(({ lengthSeed, ...c }) => {
    // bag lengths 0..6 (a quarter empty) and ids drawn with repeats from [0, R)
    const u = values(lengthSeed, 2 * c.B * 7, 0, 1);
    const offsets = [0];
    const indices: number[] = [];
    let k = 0;
    for (let b = 0; b < c.B; b++) {
      const len = (u[k++] as number) < 0.25 ? 0 : 1 + Math.floor((u[k++] as number) * 6);
      for (let l = 0; l < len; l++) indices.push(Math.floor((u[k++] as number) * c.R));
      offsets.push(indices.length);
    }
    return { ...c, indices, offsets };
  });

/** Run fn counting the calls of one wasm export (the path a wrapper took: wasm, or the twin). */
export function wasmCalls(name: keyof RawKernels, fn: () => void): number {
  const raw = wasmState().raw as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = raw[name] as (...args: unknown[]) => unknown;
  let calls = 0;
  raw[name] = (...args) => {
    calls++;
    return original(...args);
  };
  try {
    fn();
  } finally {
    raw[name] = original;
  }
  return calls;
}
