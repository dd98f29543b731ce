// The in-process ceilings every benchmark figure is compared with, and the naive baseline:
// bench_kernels.wat (assembled here with wabt, never shipped) instantiated over the same
// wasm memory as the kernels.
//   peak    register-only f32x4 multiply + add loop (GFLOP/s): the compute ceiling
//   triad   STREAM triad a = b + s·c (GB/s): the bandwidth ceiling, once with arrays that
//           fit in L2 and once with arrays far larger than the caches
//   naive   embedding_bag_sum_naive, the plain scalar gather loop
//
// Each ceiling is a Probe: one call of known work. bench/report.ts times every benchmark
// case interleaved with its ceiling's probe (alternating calls, fastest of each), so that
// both see the same machine: this VM's clock moves with the load on the other core (the
// peak measured 32 GFLOP/s in one run and 41 in the next), and a ceiling taken at another
// moment would compare unlike with unlike.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { assemble } from "../kernels/build.ts";
import type { Ptr } from "../src/kernels/memory.ts";
import { wasmState } from "../src/kernels/wasm.ts";
import { fastestCall, type Probe } from "./report.ts";

export interface BenchKernels {
  simd_peak(iters: number): number;
  triad(n: number, a: Ptr, b: Ptr, c: Ptr, s: number): void;
  embedding_bag_sum_naive(B: number, E: number, table: Ptr, indices: Ptr, offsets: Ptr, out: Ptr): void;
}

type WasmFn = (...args: number[]) => number;

let theBench: BenchKernels | null = null;

/** The bench kernels over this thread's wasm memory (assembled on first call). */
export async function benchKernels(): Promise<BenchKernels> {
  if (theBench !== null) return theBench;
  const path = fileURLToPath(new URL("./bench_kernels.wat", import.meta.url));
  const bytes = await assemble("bench_kernels.wat", readFileSync(path, "utf8"));
  const { heap } = wasmState();
  const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: heap.memory } }).exports;
  const fn = (name: string): WasmFn => {
    const f = ex[name];
    if (typeof f !== "function") throw new Error(`bench_kernels.wat: export ${name} is missing`);
    return f as WasmFn;
  };
  theBench = { simd_peak: fn("simd_peak"), triad: fn("triad"), embedding_bag_sum_naive: fn("embedding_bag_sum_naive") };
  return theBench;
}

/** The compute ceiling: one call of the register-only loop, 9.6 MFLOP (~0.3 ms). */
export async function peakProbe(): Promise<Probe> {
  const k = await benchKernels();
  for (let i = 0; i < 50; i++) k.simd_peak(10_000); // warm-up: TurboFan code, not Liftoff's
  const iters = 100_000;
  return { name: "SIMD peak", fn: () => k.simd_peak(iters), work: iters * 12 * 8 };
}

/** The bandwidth ceiling: one triad over arrays of n floats each (12·n bytes), kept allocated. */
export async function triadProbe(n: number, name: string): Promise<Probe> {
  const k = await benchKernels();
  const { heap } = wasmState();
  const a = heap.alloc(4 * n);
  const b = heap.alloc(4 * n);
  const c = heap.alloc(4 * n);
  heap.heapF32.fill(1, b / 4, b / 4 + n); // touch every page before timing
  heap.heapF32.fill(2, c / 4, c / 4 + n);
  heap.heapF32.fill(0, a / 4, a / 4 + n);
  for (let i = 0; i < 3; i++) k.triad(n, a, b, c, 0.5);
  return { name, fn: () => k.triad(n, a, b, c, 0.5), work: 12 * n };
}

/** A probe's rate on its own (fastest call over about a second), GFLOP/s or GB/s. */
export function probeRate(p: Probe): number {
  const t0 = performance.now();
  p.fn();
  return p.work / fastestCall(p.fn, (performance.now() - t0) / 1000, 1) / 1e9;
}
