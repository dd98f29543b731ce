// npm run bench: the kernel benchmarks of issue 4, quick (under 5 minutes) by default.
//
//   node --import tsx bench/run.ts           quick: ~1 s per case
//   node --import tsx bench/run.ts --full    ~5 s per case, more shapes staged and referenced
//   … --docs                                 also rewrite docs/benchmarks.md from this run
//
// Prints, for every case, the mean and best rate and the best as a percent of the matching
// in-process ceiling (SIMD peak for GFLOP/s, triad bandwidth for GB/s), then the targets of
// issue 4 with pass/fail, and writes everything as JSON to bench/results.json (the figures
// in docs/benchmarks.md come from there).
//
// Warm-up: wasm functions start in V8's baseline compiler (Liftoff) and a call that is
// already running is never moved to optimised code, so this process turns Liftoff off
// (--no-liftoff, before any module is compiled) and every case is also called a few
// times before timing.
//
// Training: bench/train.bench.ts runs in child processes (one per kernel set, since
// DLRM_KERNELS is fixed when a process loads the kernels): samples/s of the Kaggle-shaped
// DLRM at batch 128 and 2048 and the heap after GC over 1,000 steps. Quick mode caps every
// table at 100,000 rows (50 MB instead of 2.2 GB: building the full tables takes ~20 s per
// process here, the first touch of fresh memory being slow) and runs the reference kernels
// at batch 128 only; --full uses the full Kaggle tables and both batch sizes for both
// kernel sets.
//
// `dlrm train` itself (start-up, peak RSS, 1 vs 2 workers vs every PyTorch) is measured by
// bench/cli_train.bench.ts, its own command since it takes minutes with the full tables;
// --docs keeps its section of docs/benchmarks.md, and every other marked section
// (docs_sections.ts KEPT_SECTIONS).

import { setFlagsFromString } from "node:v8";
import { enableRelaxedSimd, wasmState } from "../src/kernels/wasm.ts";
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { extractSection, KEPT_SECTIONS } from "./docs_sections.ts";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchKernels, peakProbe, probeRate, triadProbe } from "./ceilings.ts";
import { embeddingCases } from "./embedding_bag.bench.ts";
import { machine, renderMarkdown, type BenchRun, type TrainBench } from "./markdown.ts";
import { runSuite, type BenchRow } from "./report.ts";
import { sgemmCases } from "./sgemm.bench.ts";
import { fmaPeakProbe } from "./train.bench.ts";

setFlagsFromString("--no-liftoff");
enableRelaxedSimd(); // as the `dlrm` command does

const full = process.argv.includes("--full");
const suiteOpts = full ? { maxTime: 5, minSamples: 10 } : { maxTime: 1, minSamples: 5 };

/** The native C gather (bench/native_gather.c) if a C compiler is there, GB/s; else null. */
function nativeGather(R: number, E: number, B: number, perBag: number): number | null {
  const src = fileURLToPath(new URL("./native_gather.c", import.meta.url));
  const cc = ["cc", "gcc", "clang"].find((c) => {
    try {
      execFileSync(c, ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
  if (cc === undefined || !existsSync(src)) return null;
  const exe = join(mkdtempSync(join(tmpdir(), "dlrm-bench-")), "native_gather");
  execFileSync(cc, ["-O3", "-march=native", "-o", exe, src]);
  const out = execFileSync(exe, [R, E, B, perBag, 8].map(String), { encoding: "utf8" });
  return Number(out.split(" ")[0]);
}

/** One bench/train.bench.ts process: its JSON (last stdout line), or null with the error printed. */
function trainBench(kernels: "wasm" | "js", args: string[]): TrainBench | null {
  const script = fileURLToPath(new URL("./train.bench.ts", import.meta.url));
  console.log(`\ntraining, ${kernels} kernels: ${args.join(" ")}`);
  const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", script, ...args], {
    env: { ...process.env, DLRM_KERNELS: kernels },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 1 << 24,
  });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !last.startsWith("{")) {
    console.log(`  failed (exit ${r.status}): ${last}`);
    return null;
  }
  return JSON.parse(last) as TrainBench;
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = loadavg()[0] ?? 0;
  const info = machine();
  console.log(
    `dlrm-ts kernel benchmarks (${full ? "full" : "quick"}) — ${info.cpu}, ${info.cores} cores, Node ${info.node}`,
  );

  // Ceiling probes; each case is timed alongside its own (bench/report.ts). sgemm's ceiling
  // is the peak of the instructions its build uses: the FMA (relaxed_madd) loop for the
  // relaxed build, the multiply + add loop for the plain one.
  const peak = await peakProbe();
  const fmaPeak = await fmaPeakProbe();
  const sgemmBuild = wasmState().sgemmBuild;
  const gemmPeak = sgemmBuild === "relaxed" && fmaPeak !== null ? fmaPeak : peak;
  const triads = [
    { footprint: 3 << 19, probe: await triadProbe(1 << 17, "triad 3×512 KiB") },
    { footprint: 3 << 24, probe: await triadProbe(1 << 22, "triad 3×16 MiB") },
    { footprint: 3 << 27, probe: await triadProbe(1 << 25, "triad 3×128 MiB") },
  ];
  /** The triad whose arrays are at least as big as the working set (the largest if none). */
  const triadFor = (bytes: number) =>
    (triads.find((t) => t.footprint >= bytes) ?? (triads[triads.length - 1] as (typeof triads)[number])).probe;
  const alone = () =>
    [peak, ...(fmaPeak === null ? [] : [fmaPeak]), ...triads.map((t) => t.probe)].map((p) => ({
      name: p.name,
      rate: probeRate(p),
    }));
  const ceilingsBefore = alone();
  console.log(
    `\nceilings alone: ${ceilingsBefore.map((c) => `${c.name} ${c.rate.toFixed(1)}`).join(", ")} (GFLOP/s, GB/s)`,
  );

  const rows: BenchRow[] = [];
  rows.push(
    ...(await runSuite(
      "sgemm",
      sgemmCases({
        peak: gemmPeak,
        stagedShapes: full
          ? [
              [128, 367, 512],
              [2048, 512, 512],
              [512, 512, 512],
            ]
          : [
              [128, 367, 512],
              [2048, 512, 512],
            ],
        refShapes: full
          ? [
              [128, 367, 512],
              [128, 512, 256],
            ]
          : [[128, 367, 512]],
      }),
      suiteOpts,
    )),
  );
  const R = 1 << 20;
  const B = 2048;
  rows.push(
    ...(await runSuite(
      "embedding_bag",
      embeddingCases({ R, B, dims: [16, 64], perBag: [1, 32], triadFor, naive: await benchKernels(), withRef: true }),
      suiteOpts,
    )),
  );

  const ceilingsAfter = alone();
  console.log(`\nceilings alone, after: ${ceilingsAfter.map((c) => `${c.name} ${c.rate.toFixed(1)}`).join(", ")}`);

  const native: Record<string, number | null> = {};
  for (const [E, perBag] of [
    [16, 1],
    [16, 32],
    [64, 1],
    [64, 32],
  ] as const) {
    native[`${E}/${perBag}`] = nativeGather(R, E, B, perBag);
  }
  console.log(`\nnative C gather (cc -O3 -march=native), GB/s: ${JSON.stringify(native)}`);

  // ---- the targets of issue 4
  const best = (pred: (r: BenchRow) => boolean): BenchRow[] => rows.filter(pred);
  const sg = (M: number, K: number, N: number) =>
    best(
      (r) =>
        r.suite === "sgemm" &&
        r.meta.M === M &&
        r.meta.K === K &&
        r.meta.N === N &&
        r.meta.placement === "resident" &&
        r.meta.kernels === "wasm",
    );
  const minPct = (rs: BenchRow[]): number => Math.min(...rs.map((r) => r.pctOfCeiling));
  const emb = (E: number, perBag: number, kernels: string, pass = "fwd") =>
    rows.find(
      (r) =>
        r.suite === "embedding_bag" &&
        r.meta.E === E &&
        r.meta.perBag === perBag &&
        r.meta.kernels === kernels &&
        r.meta.pass === pass,
    );
  const targets: { target: string; value: string; pass: boolean | null }[] = [];
  const p512 = minPct(sg(512, 512, 512));
  const ceilingName = `${gemmPeak.name} (sgemm ${sgemmBuild} build)`;
  const best512 = Math.min(...sg(512, 512, 512).map((r) => r.best));
  targets.push({
    target: `sgemm 512³ ≥ 80 % of the ${ceilingName} (worst of NT/NN/TN)`,
    value: `${p512} % (${best512} GFLOP/s)`,
    pass: p512 >= 80,
  });
  const dlrm = [...sg(128, 367, 512), ...sg(128, 512, 256), ...sg(2048, 512, 512)];
  const pDlrm = minPct(dlrm);
  targets.push({
    target: `sgemm DLRM shapes ≥ 70 % of the ${ceilingName} (worst)`,
    value: `${pDlrm} %`,
    pass: pDlrm >= 70,
  });
  for (const [E, perBag] of [
    [16, 1],
    [16, 32],
    [64, 1],
    [64, 32],
  ] as const) {
    const w = emb(E, perBag, "wasm");
    const n = emb(E, perBag, "naive wasm");
    if (w !== undefined && n !== undefined) {
      const ratio = w.best / n.best;
      targets.push({
        target: `embedding fwd 1M×${E}, ${perBag}/bag ≥ 2× naive scalar wasm`,
        value: `${ratio.toFixed(2)}×`,
        pass: ratio >= 2,
      });
    }
  }
  const w16 = emb(16, 1, "wasm");
  const c16 = native["16/1"] ?? null;
  if (w16 !== undefined) {
    targets.push({
      target: "embedding fwd 1M×16, 1/bag within 1.5× of native C gather (issue: ≈ 5 GB/s)",
      value:
        c16 === null
          ? `wasm ${w16.best} GB/s (no C compiler here)`
          : `wasm ${w16.best} GB/s, native C ${c16} GB/s (C/wasm = ${(c16 / w16.best).toFixed(2)})`,
      pass: c16 === null ? w16.best * 1.5 >= 5 : w16.best * 1.5 >= c16,
    });
  }
  // ---- training (bench/train.bench.ts), both kernel sets
  const cap = full ? [] : ["--rows-cap", "100000"];
  const train: TrainBench[] = [];
  const wasmTrain = trainBench("wasm", [
    "--batch",
    "128,2048",
    "--steps",
    full ? "300,40" : "200,20",
    "--heap-steps",
    "1000",
    ...cap,
  ]);
  if (wasmTrain !== null) train.push(wasmTrain);
  const jsTrain = trainBench(
    "js",
    full
      ? ["--batch", "128,2048", "--steps", "10,2", "--warmup", "2,1"]
      : ["--batch", "128", "--steps", "5", "--warmup", "2", ...cap],
  );
  if (jsTrain !== null) train.push(jsTrain);
  const tables = full ? "full Kaggle tables" : "tables capped at 100k rows";
  for (const [B, goal] of [
    [128, 10_000],
    [2048, 12_000],
  ] as const) {
    const r = wasmTrain?.runs.find((x) => x.batch === B);
    targets.push({
      target: `Kaggle-shaped training, batch ${B}, one thread ≥ ${goal.toLocaleString("en-US")} samples/s`,
      value:
        r === undefined
          ? "not measured (the run failed)"
          : `${r.samplesPerSec} samples/s (median step ${r.msPerStepMedian} ms; mean ${r.msPerStep} ms, ${r.samplesPerSecMean ?? "–"} samples/s; ${tables}; load ${r.loadAverage})`,
      pass: r === undefined ? null : r.samplesPerSec >= goal,
    });
  }
  const h = wasmTrain?.heap ?? null;
  targets.push({
    target:
      "A steady-state step allocates no JS memory proportional to the batch (heap after GC flat over 1,000 steps)",
    value:
      h === null
        ? "not measured"
        : `heap after GC ${h.heapMB[0]} → ${h.heapMB[h.heapMB.length - 1]} MB over ${h.steps} steps at batch ${h.batch}; float storage on the JS heap ${h.transientBytesPerStep} B/step; wasm heap growth ${h.wasmHeapGrowthBytes} B`,
    pass: h === null ? null : h.growthMB < 1 && h.transientBytesPerStep === 0 && h.wasmHeapGrowthBytes === 0,
  });
  console.log("\ntargets (issue 4):");
  for (const t of targets)
    console.log(`  ${t.pass === null ? "  –  " : t.pass ? " PASS" : " FAIL"}  ${t.target}: ${t.value}`);

  const result: BenchRun = {
    date: new Date().toISOString(),
    mode: full ? "full" : "quick",
    machine: { ...info, sgemmBuild },
    ceilings: {
      before: Object.fromEntries(ceilingsBefore.map((c) => [c.name, Number(c.rate.toFixed(2))])),
      after: Object.fromEntries(ceilingsAfter.map((c) => [c.name, Number(c.rate.toFixed(2))])),
    },
    nativeGatherGBs: native,
    rows,
    train,
    targets,
    // 1-minute load average of the machine before and after: other work running at the same
    // time slows the long calls most (2 cores)
    loadAverage: { before: Number(loadBefore.toFixed(2)), after: Number((loadavg()[0] ?? 0).toFixed(2)) },
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  };
  const path = fileURLToPath(new URL("./results.json", import.meta.url));
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\n${result.seconds} s; JSON written to ${path}`);
  if (process.argv.includes("--docs")) {
    const docs = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));
    // keep the sections other programs (and hand-written records) own (docs_sections.ts)
    const old = existsSync(docs) ? readFileSync(docs, "utf8") : "";
    const kept = KEPT_SECTIONS.map((name) => extractSection(old, name)).filter((x): x is string => x !== null);
    writeFileSync(docs, [renderMarkdown(result).trimEnd(), ...kept].join("\n\n") + "\n");
    console.log(`docs/benchmarks.md rewritten`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
