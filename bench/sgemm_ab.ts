// sgemm before/after on every GEMM of a Kaggle-shaped DLRM training step (issue 26): the
// kernels/sgemm.wat of a git revision ("before", default HEAD) and of the working tree
// ("after"), both assembled here and instantiated over one shared memory, timed on the same
// operands in alternation, so that a shared machine's load falls on both alike.
//
//   node --experimental-wasm-relaxed-simd --no-liftoff --import tsx bench/sgemm_ab.ts \
//     [--base HEAD] [--batch 128,2048] [--rounds 5] [--seconds 0.05] [--build relaxed|plain]
//   node --experimental-wasm-relaxed-simd --import tsx bench/sgemm_ab.ts --train 128 \
//     [--base HEAD] [--rounds 12] [--round-samples 6400]
//
// The shapes are the step's: for each Linear layer (in → out) of the bottom MLP 13-512-256-64-16
// and the top MLP 367-512-256-1, the forward y = relu(x·Wᵀ + b) (NT, M = batch, K = in,
// N = out), the input gradient dx = dy·W (NN, M = batch, K = out, N = in; not for the first
// layer, whose input needs none) and the weight gradient dW = dyᵀ·x (TN, M = out, K = batch,
// N = in). Each round times every shape with each build (the fastest of at least 10 calls
// over --seconds: on a shared machine the fastest call is the least disturbed), alternating
// which build goes first; a shape's figure is the median over rounds of each build's rate and
// of the after/before ratio of the same round. After the warm-up the two builds' C are
// compared (they may differ only by summation order; worstRel in the output, 0 when every
// element is the same), and every call's C is folded into a checksum that the output carries,
// so that no engine may drop the work.
//
// --train B: instead, train the Kaggle-shaped model on this thread as train() does (tables
// capped at 100,000 rows, SGD, random data, batch B; V8's usual tiering, so run it without
// --no-liftoff) and swap the sgemm the library calls between the two builds every
// --round-samples samples (6,400; at least 4 steps), alternating which goes first, --rounds
// times: each round's ms/step of each build and their ratio, the median ratio last. All but
// the sgemm is the same code in the same process, so this isolates the kernel's effect on a
// step from the noise of separate processes.
//
// Glossary: M, N, K GEMM dims (C is M×N, the shared dim is K); NT, NN, TN the transposes of
// op(A), op(B) (T: transposed).

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { assemble, relaxedVariant } from "../kernels/build.ts";
import { fastest } from "./gemm_ceiling.ts";
import { randomDataset } from "../src/data/random.ts";
import { parseConfig } from "../src/dlrm/config.ts";
import { DLRM } from "../src/dlrm/model.ts";
import { defaultHeap, residentF32 } from "../src/kernels/memory.ts";
import { enableRelaxedSimd, wasmState, type RawKernels } from "../src/kernels/wasm.ts";
import { SGD } from "../src/optim/sgd.ts";
import { KAGGLE_TABLES, kaggleModel, sgdStep } from "./train.bench.ts";

type Sgemm = (...args: number[]) => void;

interface Shape {
  name: string;
  tA: boolean;
  tB: boolean;
  M: number;
  N: number;
  K: number;
  bias: boolean;
  relu: boolean;
}

const BOTTOM = [13, 512, 256, 64, 16];
const TOP = [367, 512, 256, 1];

/** Every GEMM of one training step at batch B. */
export function stepShapes(B: number): Shape[] {
  const out: Shape[] = [];
  const mlp = (tag: string, dims: number[], lastRelu: boolean): void => {
    for (let l = 0; l + 1 < dims.length; l++) {
      const I = dims[l] as number;
      const O = dims[l + 1] as number;
      const relu = l + 2 < dims.length || lastRelu;
      out.push({ name: `${tag}${l} fwd NT ${B}×${I}×${O}`, tA: false, tB: true, M: B, K: I, N: O, bias: true, relu });
      if (!(tag === "bot" && l === 0))
        out.push({
          name: `${tag}${l} dx NN ${B}×${O}×${I}`,
          tA: false,
          tB: false,
          M: B,
          K: O,
          N: I,
          bias: false,
          relu: false,
        });
      out.push({
        name: `${tag}${l} dW TN ${O}×${B}×${I}`,
        tA: true,
        tB: false,
        M: O,
        K: B,
        N: I,
        bias: false,
        relu: false,
      });
    }
  };
  mlp("bot", BOTTOM, true);
  mlp("top", TOP, false);
  return out;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] as string);
}

async function build(text: string, relaxed: boolean, memory: WebAssembly.Memory): Promise<{ f: Sgemm; work: number }> {
  const bytes = relaxed
    ? await assemble("sgemm.wat", relaxedVariant(text).text, true)
    : await assemble("sgemm.wat", text);
  const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  return { f: ex.sgemm_f32 as Sgemm, work: (ex.sgemm_f32_work_bytes as () => number)() };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[s.length >> 1] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

/** --train B: a one-thread training loop whose sgemm swaps between the two builds. */
function trainAB(B: number, rounds: number, roundSamples: number, before: Sgemm, after: Sgemm, base: string): void {
  if (wasmState().sgemmBuild !== "relaxed")
    throw new Error(
      "sgemm_ab --train: the library's sgemm is not the relaxed build; run with --experimental-wasm-relaxed-simd",
    );
  const tables = KAGGLE_TABLES.map((r) => Math.min(r, 100_000));
  const config = parseConfig(kaggleModel(tables, B));
  const model = new DLRM(config, 1);
  const opt = new SGD(model.parameters(), { lr: 0.01 });
  const per = Math.max(4, Math.round(roundSamples / B)); // steps of one build in a round
  const data = randomDataset({
    n: B * per * (2 * rounds + 4),
    denseFeatures: 13,
    tableSizes: tables,
    numIndicesPerLookup: 1,
    numIndicesPerLookupFixed: true,
    seed: 2,
  });
  const raw = wasmState().raw as unknown as Record<keyof RawKernels, unknown>;
  let s = 0;
  const msPerStep = (f: Sgemm): number => {
    raw.sgemm_f32 = f;
    const t0 = performance.now();
    for (let i = 0; i < per; i++, s++) sgdStep(model, opt, data, s, B);
    return (performance.now() - t0) / per;
  };
  msPerStep(before); // warm-up: V8 tiers both builds and the step's JavaScript up
  msPerStep(after);
  const ratios: number[] = [];
  const rows: { round: number; beforeMs: number; afterMs: number; speed: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0 ? before : after;
    const second = r % 2 === 0 ? after : before;
    const m1 = msPerStep(first);
    const m2 = msPerStep(second);
    const [b, a] = r % 2 === 0 ? [m1, m2] : [m2, m1];
    ratios.push(b / a);
    rows.push({
      round: r + 1,
      beforeMs: Math.round(b * 100) / 100,
      afterMs: Math.round(a * 100) / 100,
      speed: Math.round((b / a) * 1000) / 1000,
    });
    console.log(
      `round ${r + 1}: before ${b.toFixed(2)} ms/step, after ${a.toFixed(2)} ms/step, after/before speed ${(b / a).toFixed(3)}`,
    );
  }
  const med = Math.round(median(ratios) * 1000) / 1000;
  console.log(`batch ${B}: median after/before speed ${med} over ${rounds} rounds of ${per} steps each`);
  console.log(
    JSON.stringify({
      date: new Date().toISOString(),
      base,
      mode: "train",
      batch: B,
      stepsPerRound: per,
      rows,
      medianSpeed: med,
    }),
  );
}

async function main(): Promise<void> {
  const base = arg("base", "HEAD");
  const batches = arg("batch", "128,2048").split(",").map(Number);
  const rounds = Number(arg("rounds", "5"));
  const seconds = Number(arg("seconds", "0.05"));
  const relaxed = arg("build", "relaxed") === "relaxed";
  const root = fileURLToPath(new URL("..", import.meta.url));
  const beforeText = execFileSync("git", ["show", `${base}:kernels/sgemm.wat`], { cwd: root, encoding: "utf8" });
  const afterText = readFileSync(`${root}kernels/sgemm.wat`, "utf8");
  const heap = defaultHeap();
  const before = await build(beforeText, relaxed, heap.memory);
  const after = await build(afterText, relaxed, heap.memory);
  const trainBatch = Number(arg("train", "0"));
  if (trainBatch > 0) {
    enableRelaxedSimd();
    if (!relaxed)
      throw new Error("sgemm_ab --train swaps the relaxed build, which the dlrm command runs; drop --build plain");
    heap.reserve(KAGGLE_TABLES.reduce((t, r) => t + Math.min(r, 100_000) * 64, 0) + (512 << 20));
    trainAB(trainBatch, rounds, Number(arg("round-samples", "6400")), before.f, after.f, base);
    return;
  }
  const n = 2048 * 512;
  const A = residentF32(heap, n);
  const Bm = residentF32(heap, n);
  const bias = residentF32(heap, 512);
  const C0 = residentF32(heap, n);
  const C1 = residentF32(heap, n);
  for (let j = 0; j < n; j++) {
    A[j] = Math.random() - 0.5;
    Bm[j] = Math.random() - 0.5;
  }
  for (let j = 0; j < 512; j++) bias[j] = Math.random() - 0.5;
  const work0 = heap.alloc(before.work);
  const work1 = heap.alloc(after.work);
  const addr = (x: Float32Array): number => x.byteOffset;
  const shapes = batches.flatMap(stepShapes);
  const call = (which: 0 | 1, s: Shape): void => {
    const f = which === 0 ? before.f : after.f;
    const C = which === 0 ? C0 : C1;
    const lda = s.tA ? s.M : s.K;
    const ldb = s.tB ? s.K : s.N;
    f(
      +s.tA,
      +s.tB,
      s.M,
      s.N,
      s.K,
      1,
      addr(A),
      lda,
      addr(Bm),
      ldb,
      0,
      addr(C),
      s.N,
      which === 0 ? work0 : work1,
      s.bias ? addr(bias) : 0,
      +s.relu,
    );
  };
  const sink = { sum: 0 };
  /** GFLOP/s of the fastest call of build `which` on shape s over about --seconds. */
  const gflops = (which: 0 | 1, s: Shape): number => {
    const C = which === 0 ? C0 : C1;
    const sec = fastest(
      () => {
        call(which, s);
        return C[(s.M * s.N) >> 1] as number;
      },
      seconds,
      sink,
    );
    return (2 * s.M * s.N * s.K) / sec / 1e9;
  };
  // warm up both builds on every shape (TurboFan under --no-liftoff, caches), and check agreement
  let worstRel = 0;
  for (const s of shapes) {
    for (let w = 0; w < 3; w++) {
      call(0, s);
      call(1, s);
    }
    let scale = 0;
    let diff = 0;
    for (let j = 0; j < s.M * s.N; j++) {
      scale = Math.max(scale, Math.abs(C0[j] as number));
      diff = Math.max(diff, Math.abs((C0[j] as number) - (C1[j] as number)));
    }
    const rel = diff / Math.max(scale, 1e-30);
    worstRel = Math.max(worstRel, rel);
    if (!(rel <= 1e-5)) throw new Error(`sgemm_ab: ${s.name}: builds disagree, max |Δ| ${diff} of max |C| ${scale}`);
  }
  const rates = shapes.map(() => ({ before: [] as number[], after: [] as number[], ratio: [] as number[] }));
  for (let r = 0; r < rounds; r++) {
    shapes.forEach((s, i) => {
      const first = (r + i) % 2 === 0 ? 0 : 1;
      const g: number[] = [0, 0];
      g[first] = gflops(first, s);
      g[1 - first] = gflops(first === 0 ? 1 : 0, s);
      const rec = rates[i]!;
      rec.before.push(g[0]!);
      rec.after.push(g[1]!);
      rec.ratio.push(g[1]! / g[0]!);
    });
  }
  const round2 = (x: number): number => Math.round(x * 100) / 100;
  const rows = shapes.map((s, i) => ({
    shape: s.name,
    flop: 2 * s.M * s.N * s.K,
    before: round2(median(rates[i]!.before)),
    after: round2(median(rates[i]!.after)),
    ratio: round2(median(rates[i]!.ratio)),
  }));
  for (const r of rows)
    console.log(
      `${r.shape.padEnd(30)} ${String(r.before).padStart(7)} → ${String(r.after).padStart(7)} GFLOP/s  ×${r.ratio}`,
    );
  const perBatch = batches.map((B) => {
    const bShapes = stepShapes(B).map((s) => s.name);
    const sel = rows.filter((r) => bShapes.includes(r.shape));
    const t = (key: "before" | "after"): number => sel.reduce((acc, r) => acc + r.flop / (r[key] * 1e9), 0);
    return {
      batch: B,
      gemmMsBefore: round2(t("before") * 1e3),
      gemmMsAfter: round2(t("after") * 1e3),
      ratio: round2(t("before") / t("after")),
    };
  });
  for (const p of perBatch)
    console.log(
      `batch ${p.batch}: all GEMMs of a step ${p.gemmMsBefore} ms → ${p.gemmMsAfter} ms (×${p.ratio} faster)`,
    );
  console.log(
    JSON.stringify({
      date: new Date().toISOString(),
      base,
      build: relaxed ? "relaxed" : "plain",
      rounds,
      seconds,
      worstRel,
      rows,
      perBatch,
      checksum: sink.sum,
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
