// `dlrm train` before/after, through the command: a git revision's tree ("before", exported
// into a temporary directory) and this working tree ("after") train the same Kaggle-shaped
// model (13 dense features, bottom 13-512-256-64-16, the 26 Kaggle tables of dim 16 capped at
// --rows-cap rows, dot interaction, top 367-512-256-1, SGD, random data with one index per
// bag) with the same arguments, alternately, --rounds times, which one goes first alternating
// from round to round. On a shared machine only such interleaved ratios mean anything.
//
//   node --import tsx bench/cli_ab.ts [--base main] [--batches 128,2048] [--workers 1]
//        [--rounds 3] [--warmup-samples 12800] [--measure-samples 25600] [--rows-cap 100000]
//
// Per run: samples/s = batch / the median step time after the warm-up samples, the step
// times being differences of the per-step `t_ms` of the --log JSONL (bench/cli_train.bench.ts's
// command and measure), and crit CPU, the busiest thread's CPU time per step over the same
// steps (bench/thread_cpu.ts), with the cores other processes used meanwhile: on a shared
// machine the CPU figure moves far less than the wall time. Per round: after/before of the two
// runs of that round. Printed: every run, and per configuration the median over rounds of
// each tree's samples/s, of the ratio, and of the CPU ratio; the last stdout line is one JSON
// object, with the load average before and after.
//
// Glossary: B batch size, N workers.

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { arg, dlrmTrainArgs, median, rate, stepTimes } from "./cli_train.bench.ts";
import { runWithThreadCpu } from "./thread_cpu.ts";
import { KAGGLE_TABLES, kaggleModel } from "./train.bench.ts";

const round2 = (x: number): number => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const base = arg("base", "main");
  const batches = arg("batches", "128,2048").split(",").map(Number);
  const workers = arg("workers", "1").split(",").map(Number);
  const rounds = Number(arg("rounds", "3"));
  const warmupSamples = Number(arg("warmup-samples", "12800"));
  const measureSamples = Number(arg("measure-samples", "25600"));
  const cap = Number(arg("rows-cap", "100000"));
  const root = fileURLToPath(new URL("..", import.meta.url));
  const rev = execFileSync("git", ["rev-parse", "--short", base], { cwd: root, encoding: "utf8" }).trim();
  const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
  const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: root, encoding: "utf8" });
  const tmp = mkdtempSync(join(tmpdir(), "dlrm-cli-ab-"));
  const load0 = loadavg();
  try {
    // the base tree: its files at rev, with this tree's node_modules
    const baseDir = join(tmp, "base");
    mkdirSync(baseDir);
    const tar = execFileSync("git", ["archive", rev], { cwd: root, maxBuffer: 1 << 30 });
    execFileSync("tar", ["-x", "-C", baseDir], { input: tar });
    symlinkSync(join(root, "node_modules"), join(baseDir, "node_modules"));
    const modelPath = join(tmp, "kaggle.json");
    writeFileSync(modelPath, JSON.stringify(kaggleModel(KAGGLE_TABLES.map((R) => (cap > 0 ? Math.min(R, cap) : R)))));
    const trees = [
      { name: `before (${rev})`, dir: baseDir },
      { name: `after (${head}${dirty ? " + changes" : ""})`, dir: root },
    ];
    const results: {
      B: number;
      N: number;
      round: number;
      tree: string;
      samplesPerSec: number;
      critCpuMs: number;
      busiest: string;
      otherCores: number;
      wallS: number;
    }[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const B of batches) {
        for (const N of workers) {
          const warmupSteps = Math.ceil(warmupSamples / B);
          const steps = warmupSteps + Math.max(10, Math.ceil(measureSamples / B));
          const order = round % 2 === 0 ? [0, 1] : [1, 0];
          for (const t of order) {
            const tree = trees[t] as (typeof trees)[number];
            const log = join(tmp, `log-${t}.jsonl`);
            rmSync(log, { force: true });
            const run = await runWithThreadCpu(
              tree.dir,
              dlrmTrainArgs(modelPath, N, B, steps, log),
              log,
              warmupSteps,
              steps,
            );
            if (run.status !== 0) throw new Error(`${tree.name}: dlrm train exited ${run.status}: ${run.stderrTail}`);
            const sps = rate(stepTimes(log), warmupSteps, B).samplesPerSec ?? Number.NaN;
            results.push({
              B,
              N,
              round: round + 1,
              tree: tree.name,
              samplesPerSec: Math.round(sps),
              critCpuMs: round2(run.critCpuMs),
              busiest: run.busiest,
              otherCores: round2(run.otherCores),
              wallS: Math.round(run.wallS * 10) / 10,
            });
            console.error(
              `round ${round + 1} B=${B} N=${N} ${tree.name}: ${Math.round(sps)} samples/s, crit CPU ${run.critCpuMs.toFixed(2)} ms/step (${run.busiest}), other processes ${run.otherCores.toFixed(2)} cores (${run.wallS.toFixed(1)} s)`,
            );
          }
        }
      }
    }
    const summary = batches.flatMap((B) =>
      workers.map((N) => {
        const rows = results.filter((r) => r.B === B && r.N === N);
        const of = (t: number): number[] =>
          rows.filter((r) => r.tree === (trees[t] as (typeof trees)[number]).name).map((r) => r.samplesPerSec);
        const before = of(0);
        const after = of(1);
        const ratios = before.map((b, i) => (after[i] as number) / b);
        const cpuOf = (t: number): number[] =>
          rows.filter((r) => r.tree === (trees[t] as (typeof trees)[number]).name).map((r) => r.critCpuMs);
        const cpuBefore = cpuOf(0);
        const cpuAfter = cpuOf(1);
        const cpuRatios = cpuBefore.map((b, i) => b / (cpuAfter[i] as number));
        return {
          batch: B,
          workers: N,
          before,
          after,
          ratios: ratios.map((x) => Math.round(x * 1000) / 1000),
          medianRatio: Math.round(median(ratios) * 1000) / 1000,
          critCpuMsBefore: cpuBefore,
          critCpuMsAfter: cpuAfter,
          cpuRatios: cpuRatios.map((x) => Math.round(x * 1000) / 1000),
          medianCpuRatio: Math.round(median(cpuRatios) * 1000) / 1000,
        };
      }),
    );
    for (const s of summary)
      console.log(
        `batch ${s.batch}, ${s.workers} worker(s): before ${s.before.join(", ")}; after ${s.after.join(", ")} samples/s; after/before per round ${s.ratios.join(", ")}, median ${s.medianRatio}; crit CPU ms/step before ${s.critCpuMsBefore.join(", ")}, after ${s.critCpuMsAfter.join(", ")}, before/after median ${s.medianCpuRatio}`,
      );
    console.log(
      JSON.stringify({
        date: new Date().toISOString(),
        base: rev,
        head,
        dirty: dirty !== "",
        rowsCap: cap,
        warmupSamples,
        measureSamples,
        loadAverage: { before: load0, after: loadavg() },
        results,
        summary,
      }),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
