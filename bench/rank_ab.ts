// The hybrid step before/after in one process: a git revision's tree ("before", exported into a
// temporary directory, as bench/cli_ab.ts does) and this working tree ("after") each start a
// HybridExecutor of the Kaggle-shaped model of bench/cli_ab.ts (tables capped at --rows-cap
// rows, SGD, endless random data with one index per bag, made batch by batch as `dlrm train
// --data random` makes it) and train it with the training loop, alternately, --rounds times,
// which one goes first alternating from round to round. Both trees' modules load side by side
// (different paths), and each tree's rank threads run its own code.
//
//   node --import tsx bench/rank_ab.ts [--base main] [--batch 128] [--workers 2] [--rounds 6]
//        [--warmup-samples 12800] [--measure-samples 19200] [--rows-cap 100000]
//
// Per run, over the steps after the warm-up: the busiest rank's CPU time per step (the mean
// over the steps of the larger of the ranks' /proc schedstat times, which the ranks report per
// step through onStepStats), the main thread's CPU per step, and the wall time per step. On a
// shared machine the CPU figures of two runs interleaved in one process are the ones to
// compare: other processes slow both alike, and the wall time follows them. Printed: every
// run, and per figure the before/after ratio of each round and their median; the last stdout
// line is one JSON object, with the load average before and after.
//
// Glossary: B batch size, N workers.

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { arg, median } from "./cli_train.bench.ts";

setFlagsFromString("--no-liftoff"); // as the `dlrm` command runs

interface Tree {
  name: string;
  dir: string;
}

interface Run {
  round: number;
  tree: string;
  rankCpuMs: number;
  mainCpuMs: number;
  wallMs: number;
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** One training run of the tree at dir: its figures per step after the warm-up. */
async function runTree(dir: string, B: number, N: number, warmup: number, steps: number, cap: number) {
  // The base tree's modules are an earlier version of these, with the same entry points.
  const at = <M>(p: string): Promise<M> => import(pathToFileURL(join(dir, p)).href) as Promise<M>;
  const [wasm, random, generated, cfg, hybrid, make, files, trainer, shapes] = await Promise.all([
    at<typeof import("../src/kernels/wasm.ts")>("src/kernels/wasm.ts"),
    at<typeof import("../src/data/random.ts")>("src/data/random.ts"),
    at<typeof import("../src/data/generated.ts")>("src/data/generated.ts"),
    at<typeof import("../src/dlrm/config.ts")>("src/dlrm/config.ts"),
    at<typeof import("../src/parallel/hybrid.ts")>("src/parallel/hybrid.ts"),
    at<typeof import("../src/optim/make.ts")>("src/optim/make.ts"),
    at<typeof import("../src/parallel/rank_files.ts")>("src/parallel/rank_files.ts"),
    at<typeof import("../src/train/trainer.ts")>("src/train/trainer.ts"),
    at<typeof import("./train.bench.ts")>("bench/train.bench.ts"),
  ]);
  wasm.enableRelaxedSimd(); // as the `dlrm` command does
  const tables = shapes.KAGGLE_TABLES.map((R) => (cap > 0 ? Math.min(R, cap) : R));
  const config = cfg.parseConfig(shapes.kaggleModel(tables), "Kaggle-shaped DLRM");
  const spec = {
    denseFeatures: 13,
    tableSizes: tables,
    numIndicesPerLookup: 1,
    numIndicesPerLookupFixed: true,
    seed: 1,
  };
  const draw = (first: number, n: number) => random.randomSamples(spec, generated.STREAM.train, first, n);
  const source = new generated.GeneratedSource(random.randomLayout(spec), draw);
  const rankCpu: number[] = [];
  const executor = await hybrid.HybridExecutor.start({
    config,
    workers: N,
    optimizer: make.optimizerSpec("sgd", config.lr),
    source: { kind: "seed", seed: 1 },
    datasets: [draw(0, 1)],
    maxBatch: B,
    onStepStats: (step, s) => {
      if (step >= warmup) rankCpu.push(Math.max(...s.rankCpuMs));
    },
  });
  let main0 = 0;
  let t0 = 0;
  try {
    await trainer.train({
      executor,
      data: source,
      batchSize: B,
      steps,
      shuffle: false,
      seed: 0,
      lr: config.lr,
      onStep: (r) => {
        if (r.step === warmup - 1) {
          main0 = files.threadCpuMs();
          t0 = performance.now();
        }
      },
    });
  } finally {
    await executor.close();
  }
  const measured = steps - warmup;
  return {
    rankCpuMs: rankCpu.reduce((a, b) => a + b, 0) / rankCpu.length,
    mainCpuMs: (files.threadCpuMs() - main0) / measured,
    wallMs: (performance.now() - t0) / measured,
  };
}

async function main(): Promise<void> {
  const base = arg("base", "main");
  const B = Number(arg("batch", "128"));
  const N = Number(arg("workers", "2"));
  const rounds = Number(arg("rounds", "6"));
  const warmupSamples = Number(arg("warmup-samples", "12800"));
  const measureSamples = Number(arg("measure-samples", "19200"));
  const cap = Number(arg("rows-cap", "100000"));
  const root = fileURLToPath(new URL("..", import.meta.url));
  const git = (...a: string[]): string => execFileSync("git", a, { cwd: root, encoding: "utf8" }).trim();
  const rev = git("rev-parse", "--short", base);
  const head = git("rev-parse", "--short", "HEAD");
  const dirty = git("status", "--porcelain", "--untracked-files=no") !== "";
  const tmp = mkdtempSync(join(tmpdir(), "dlrm-rank-ab-"));
  const load0 = loadavg();
  try {
    const baseDir = join(tmp, "base");
    mkdirSync(baseDir);
    execFileSync("tar", ["-x", "-C", baseDir], {
      input: execFileSync("git", ["archive", rev], { cwd: root, maxBuffer: 1 << 30 }),
    });
    symlinkSync(join(root, "node_modules"), join(baseDir, "node_modules"));
    const trees: Tree[] = [
      { name: `before (${rev})`, dir: baseDir },
      { name: `after (${head}${dirty ? " + changes" : ""})`, dir: root },
    ];
    const warmup = Math.ceil(warmupSamples / B);
    const steps = warmup + Math.max(10, Math.ceil(measureSamples / B));
    const runs: Run[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const t of round % 2 === 1 ? [0, 1] : [1, 0]) {
        const tree = trees[t] as Tree;
        const m = await runTree(tree.dir, B, N, warmup, steps, cap);
        runs.push({
          round,
          tree: tree.name,
          rankCpuMs: r3(m.rankCpuMs),
          mainCpuMs: r3(m.mainCpuMs),
          wallMs: r3(m.wallMs),
        });
        console.error(
          `round ${round} ${tree.name}: busiest rank ${m.rankCpuMs.toFixed(2)} ms/step, main thread ${m.mainCpuMs.toFixed(2)}, wall ${m.wallMs.toFixed(2)}`,
        );
      }
    }
    const figures = ["rankCpuMs", "mainCpuMs", "wallMs"] as const;
    const summary = Object.fromEntries(
      figures.map((f) => {
        const of = (t: number): number[] => runs.filter((r) => r.tree === (trees[t] as Tree).name).map((r) => r[f]);
        const ratios = of(0).map((b, i) => r3(b / (of(1)[i] as number)));
        return [f, { before: of(0), after: of(1), beforeOverAfter: ratios, median: r3(median(ratios)) }];
      }),
    );
    for (const f of figures)
      console.log(`${f}: before/after per round ${summary[f].beforeOverAfter.join(", ")}, median ${summary[f].median}`);
    console.log(
      JSON.stringify({
        date: new Date().toISOString(),
        base: rev,
        head,
        dirty,
        batch: B,
        workers: N,
        rowsCap: cap,
        warmupSamples,
        measureSamples,
        loadAverage: { before: load0.map(r3), after: loadavg().map(r3) },
        runs,
        summary,
      }),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
