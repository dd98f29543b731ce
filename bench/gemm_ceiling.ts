// The compute ceiling of one core for the benchmarks of issue 26: the library's wasm sgemm
// (the relaxed-SIMD build where the engine has it, as the `dlrm` command runs) at its best
// on large and DLRM-shaped operands, and the register-only FMA loop of bench/train.bench.ts
// for the instruction peak. Run as its own process on one thread, so that it measures what
// one core gives and nothing of the caller's JIT state leaks in:
//
//   node --no-liftoff --import tsx bench/gemm_ceiling.ts [--seconds 0.4]
//
// --no-liftoff: every function is compiled by TurboFan before it first runs, so no call is
// timed in Liftoff's baseline code. Each case is timed as the fastest of its calls over
// --seconds (the machine is shared: the fastest call is the least disturbed), after warm-up
// calls. Every call's result is folded into a checksum that the output carries (one element
// of C for sgemm, the returned lane for the FMA loop), so no engine may drop the work.
// Prints one JSON object: { sgemmBuild, cases: [{ name, M, K, N, gflops }], fmaPeakGflops,
// peakGflops (the best sgemm case), checksum }.
//
// Glossary: M, N, K GEMM dims (C is M×N, the shared dim is K).

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { defaultHeap, residentF32 } from "../src/kernels/memory.ts";
import { enableRelaxedSimd, sgemm, wasmState } from "../src/kernels/wasm.ts";
import { fmaPeakProbe } from "./train.bench.ts";

export interface GemmCeiling {
  sgemmBuild: string;
  cases: { name: string; M: number; K: number; N: number; gflops: number }[];
  fmaPeakGflops: number | null;
  /** The best sgemm case, GFLOP/s of one core. */
  peakGflops: number;
  checksum: number;
}

/** Square 512³ in the three transposes of a Linear layer, and the widest DLRM layers at batch 2048 and 128
 *  (the short calls of the last one are the likeliest to run undisturbed on a shared machine). */
const CASES: readonly [name: string, tA: boolean, tB: boolean, M: number, K: number, N: number][] = [
  ["NT 512×512×512", false, true, 512, 512, 512],
  ["NN 512×512×512", false, false, 512, 512, 512],
  ["TN 512×512×512", true, false, 512, 512, 512],
  ["NT 2048×367×512 (top layer 1 forward)", false, true, 2048, 367, 512],
  ["NT 2048×512×256 (layer 2 forward)", false, true, 2048, 512, 256],
  ["NT 128×367×512 (top layer 1 forward)", false, true, 128, 367, 512],
];

/** Seconds of the fastest call of fn over about `seconds` (at least 10 calls), folding each result into sink. */
export function fastest(fn: () => number, seconds: number, sink: { sum: number }): number {
  let best = Infinity;
  let calls = 0;
  const start = performance.now();
  let t = start;
  do {
    const t0 = performance.now();
    sink.sum += fn();
    t = performance.now();
    best = Math.min(best, (t - t0) / 1000);
    calls++;
  } while (t - start < seconds * 1000 || calls < 10);
  return best;
}

async function main(): Promise<void> {
  const i = process.argv.indexOf("--seconds");
  const seconds = i >= 0 ? Number(process.argv[i + 1]) : 0.4;
  enableRelaxedSimd();
  const heap = defaultHeap();
  const n = 2048 * 512;
  const A = residentF32(heap, n);
  const B = residentF32(heap, n);
  const C = residentF32(heap, n);
  for (let j = 0; j < n; j++) {
    A[j] = Math.random() - 0.5;
    B[j] = Math.random() - 0.5;
  }
  const sink = { sum: 0 };
  const cases: GemmCeiling["cases"] = [];
  for (const [name, tA, tB, M, K, N] of CASES) {
    const call = (): number => {
      sgemm(tA, tB, M, N, K, 1, A, 0, tA ? M : K, B, 0, tB ? K : N, 0, C, 0, N);
      return C[(M * N) >> 1] as number;
    };
    for (let w = 0; w < 5; w++) sink.sum += call();
    cases.push({ name, M, K, N, gflops: round((2 * M * N * K) / fastest(call, seconds, sink) / 1e9) });
  }
  const fma = await fmaPeakProbe();
  let fmaPeakGflops: number | null = null;
  if (fma !== null) {
    // Probe.fn is typed as returning nothing, but fmaPeakProbe's is `() => peak(iters)`: it
    // returns the loop's folded chains, which go into the checksum.
    const peak = fma.fn as unknown as () => number;
    fmaPeakGflops = round(fma.work / fastest(() => peak(), seconds, sink) / 1e9);
  }
  const out: GemmCeiling = {
    sgemmBuild: wasmState().sgemmBuild,
    cases,
    fmaPeakGflops,
    peakGflops: Math.max(...cases.map((c) => c.gflops)),
    checksum: sink.sum,
  };
  if (!Number.isFinite(out.checksum)) throw new Error(`gemm_ceiling: checksum ${out.checksum} is not finite`);
  console.log(JSON.stringify(out));
}

const round = (x: number): number => Math.round(x * 10) / 10;

/** Run this file as its own process (TurboFan from the first call) and return what it measured. */
export function measureGemmCeiling(seconds = 0.4): Promise<GemmCeiling> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--no-liftoff", "--import", "tsx", self, "--seconds", String(seconds)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code === 0 && line.startsWith("{")) resolve(JSON.parse(line) as GemmCeiling);
      else reject(new Error(`bench/gemm_ceiling.ts exited ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}`));
    });
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
