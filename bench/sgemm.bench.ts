// sgemm benchmarks: the shapes of issue 4 (M, K, N) in the transpose cases the MLP uses:
//   "NT" forward  y = x·Wᵀ     (transA = false, transB = true)
//   "NN" backward dx = dy·W    (false, false)
//   "TN" backward dW = dyᵀ·x   (true, false)
// with every operand resident in wasm memory (zero copy), plus the op-level case where the
// activations are plain arrays that the wrapper stages, plus the TypeScript reference.
// Rate: 2·M·N·K flops per call, against the in-process SIMD peak.
//
// Glossary: M, N, K GEMM dims (C is M×N, the shared dim is K).

import { defaultHeap, residentF32 } from "../src/kernels/memory.ts";
import * as ref from "../src/kernels/ref.ts";
import { sgemm } from "../src/kernels/wasm.ts";
import type { BenchCase, Probe } from "./report.ts";

export const SGEMM_SHAPES: readonly (readonly [number, number, number])[] = [
  [128, 367, 512],
  [128, 512, 256],
  [2048, 512, 512],
  [512, 512, 512],
  [1024, 1024, 1024],
];

const TRANSPOSES = [
  ["NT", false, true],
  ["NN", false, false],
  ["TN", true, false],
] as const;

function fillRandom(x: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = Math.random() * 2 - 1;
  return x;
}

export interface SgemmOptions {
  /** The SIMD peak probe, timed alongside every case. */
  peak: Probe;
  /** Shapes for the staged (op-level) and reference cases. */
  stagedShapes: readonly (readonly [number, number, number])[];
  refShapes: readonly (readonly [number, number, number])[];
}

export function sgemmCases(opts: SgemmOptions): BenchCase[] {
  const heap = defaultHeap();
  const maxElems = 2048 * 1024;
  const A = fillRandom(residentF32(heap, maxElems)); // big enough for every operand
  const B = fillRandom(residentF32(heap, maxElems));
  const C = residentF32(heap, maxElems);
  const ceiling = opts.peak;
  const cases: BenchCase[] = [];
  for (const [M, K, N] of SGEMM_SHAPES) {
    for (const [tag, transA, transB] of TRANSPOSES) {
      const lda = transA ? M : K;
      const ldb = transB ? K : N;
      cases.push({
        name: `sgemm ${tag} ${M}×${K}×${N} wasm resident`,
        fn: () => sgemm(transA, transB, M, N, K, 1, A, 0, lda, B, 0, ldb, 0, C, 0, N),
        work: 2 * M * N * K,
        unit: "GFLOP/s",
        ceiling,
        meta: { M, K, N, trans: tag, kernels: "wasm", placement: "resident" },
      });
    }
  }
  for (const [M, K, N] of opts.stagedShapes) {
    // the forward of a Linear layer: x (M, K) and y (M, N) plain arrays, W (N, K) resident
    const x = fillRandom(new Float32Array(M * K));
    const y = new Float32Array(M * N);
    cases.push({
      name: `sgemm NT ${M}×${K}×${N} wasm x,y staged`,
      fn: () => sgemm(false, true, M, N, K, 1, x, 0, K, B, 0, K, 0, y, 0, N),
      work: 2 * M * N * K,
      unit: "GFLOP/s",
      ceiling,
      meta: { M, K, N, trans: "NT", kernels: "wasm", placement: "x,y staged" },
    });
  }
  for (const [M, K, N] of opts.refShapes) {
    cases.push({
      name: `sgemm NT ${M}×${K}×${N} js reference`,
      fn: () => ref.sgemm(false, true, M, N, K, 1, A, 0, K, B, 0, K, 0, C, 0, N),
      work: 2 * M * N * K,
      unit: "GFLOP/s",
      ceiling,
      meta: { M, K, N, trans: "NT", kernels: "js", placement: "resident" },
    });
  }
  return cases;
}
