// The streaming data path (issue 23) measured through the commands users run, on
// Kaggle-shaped Criteo files (bench/criteo_gen.ts):
//
//   preprocess  `dlrm preprocess criteo` on 1M and 4M lines: wall time, lines/s and peak RSS
//               (/usr/bin/time -v), this checkout and a baseline checkout (--base <dir>, e.g.
//               the code before streaming, unpacked with `git archive <commit>`), in the same
//               run (the machine is shared: compare the ratio);
//   train       `dlrm train --workers 2 --batch-size 2048` on the 1M- and 4M-row files
//               (preprocessed with --max-ind-range R, the 1M file through the 4M file's
//               dictionary, so both have the same model) and on `--data random` with the same
//               model (--model, one lookup per table): samples/s of the steps after the first
//               10 (from the --log lines' times) and peak RSS;
//   predict     `dlrm predict --metrics --workers 2` of the model trained on the 1M-row file,
//               streamed over the 1M- and 4M-row files: wall time and rows/s (start-up included)
//               and peak RSS. What grows with the rows is the prediction and label kept per
//               sample for the exact AUC (8 bytes a sample, docs/datasets.md), 24 MiB more at 4M.
//
//   node --import tsx bench/stream.bench.ts [--work <dir>] [--base <dir>] [--lines 4000000] [--steps 150]
//                                           [--preprocess-only | --train-only] [--rounds 1]
//                                           [--no-predict]
//
// --rounds N runs the three training runs N times, interleaved (random, small file, big file,
// random, ...), so that a change in a shared machine's load falls on all three; each run's
// samples/s is kept, and the ratios are taken round by round.
//
// Prints one JSON object; the big files are deleted at the end.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import { criteoModel } from "../src/data/sources/builtin_models.ts";
import { writeCriteoLines } from "./criteo_gen.ts";
import { dlrmTimed as dlrm, samplesPerSecond } from "./timed_cli.ts";

const args = process.argv.slice(2);
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? dflt : (args[i + 1] as string);
};
const work = flag("work", "/tmp/dlrm-stream-bench");
const base = flag("base", "");
const LINES = Number(flag("lines", "4000000"));
const SMALL = LINES / 4;
const STEPS = Number(flag("steps", "150"));
const R = Number(flag("max-ind-range", "1000000"));
const PREPROCESS_ONLY = args.includes("--preprocess-only");
const TRAIN_ONLY = args.includes("--train-only");
const ROUNDS = Number(flag("rounds", "1"));
const PREDICT = !args.includes("--no-predict");
const root = new URL("..", import.meta.url).pathname;

mkdirSync(work, { recursive: true });
const big = join(work, `criteo-${LINES}.txt`);
const small = join(work, `criteo-${SMALL}.txt`);
const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: `${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores, shared with other developers' jobs`,
  lines: [SMALL, LINES],
};
try {
  if (!existsSync(big)) writeCriteoLines(big, LINES, 1);
  if (!existsSync(small)) execFileSync("sh", ["-c", `head -n ${SMALL} '${big}' > '${small}'`]);

  // Preprocessing: this checkout and the baseline one after the other on each size (so that a
  // change in the machine's load falls on both), 1M and 4M lines, no --max-ind-range (the
  // dictionary grows).
  const pre: Record<string, unknown> = {};
  for (const [n, file] of (TRAIN_ONLY
    ? []
    : [
        [SMALL, small],
        [LINES, big],
      ]) as [number, string][]) {
    for (const [name, dir] of [["stream", root], ...(base === "" ? [] : [["base", base]])] as [string, string][]) {
      const out = join(work, `pre-${name}-${n}.safetensors`);
      const t = dlrm(dir, ["preprocess", "criteo", file, "--out", out]);
      pre[`${name}_${n}`] = {
        wall_s: t.wallS,
        lines_per_s: Math.round(n / t.wallS),
        cpu_s: t.cpuS,
        lines_per_cpu_s: Math.round(n / t.cpuS),
        peak_rss_mib: t.peakRssMiB,
      };
      rmSync(out, { force: true });
      rmSync(out.replace(/\.safetensors$/, ".dict.safetensors"), { force: true });
    }
  }
  result.preprocess = pre;

  if (!PREPROCESS_ONLY) {
    // Training: the same model on the 1M- and 4M-row files and on random data.
    const x4 = join(work, "x4.safetensors");
    const x1 = join(work, "x1.safetensors");
    const p4 = JSON.parse(
      dlrm(root, ["preprocess", "criteo", big, "--out", x4, "--max-ind-range", String(R)]).stdout,
    ) as {
      table_sizes: number[];
    };
    dlrm(root, [
      "preprocess",
      "criteo",
      small,
      "--out",
      x1,
      "--dictionary",
      x4.replace(/\.safetensors$/, ".dict.safetensors"),
    ]);
    const cfgPath = join(work, "model.json");
    writeFileSync(cfgPath, JSON.stringify(criteoModel(p4.table_sizes, 13).config));
    const common = ["--workers", "2", "--batch-size", "2048", "--steps", String(STEPS), "--model", cfgPath];
    const tr: Record<string, unknown> = {
      steps: STEPS,
      batch: 2048,
      workers: 2,
      max_ind_range: R,
      table_rows: p4.table_sizes.reduce((a, b) => a + b, 0),
    };
    const runs: [string, string[]][] = [
      ["random", ["--data", "random", "--num-indices-per-lookup", "1", "--num-indices-per-lookup-fixed"]],
      ["file_small", ["--data", x1]],
      ["file_big", ["--data", x4]],
    ];
    const rate: Record<string, number[]> = {};
    const saved = join(work, "trained.safetensors");
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, data] of runs) {
        const log = join(work, `${name}.jsonl`);
        const save = PREDICT && round === 0 && name === "file_small" ? ["--save", saved] : [];
        const t = dlrm(root, ["train", ...data, ...common, "--log", log, ...save]);
        const r = samplesPerSecond(log, 2048);
        (rate[name] ??= []).push(r);
        const prev = tr[name] as { peak_rss_mib: number } | undefined;
        tr[name] = {
          samples_per_s: ROUNDS === 1 ? r : rate[name],
          peak_rss_mib: Math.max(prev?.peak_rss_mib ?? 0, t.peakRssMiB),
          wall_s: t.wallS,
          load_avg_1m: Number(loadavg()[0]?.toFixed(1)),
        };
      }
    }
    // File over random, round by round (each pair ran minutes apart).
    const ratio = (name: string): number[] =>
      (rate[name] as number[]).map((r, i) => Number((r / (rate.random as number[])[i]).toFixed(3)));
    tr.file_small_over_random = ratio("file_small");
    tr.file_big_over_random = ratio("file_big");
    result.train = tr;

    if (PREDICT) {
      // Streamed prediction of the same model over both files: peak RSS should not follow the rows.
      const pr: Record<string, unknown> = {};
      for (const [name, file, rows] of [
        ["file_small", x1, SMALL],
        ["file_big", x4, LINES],
      ] as [string, string, number][]) {
        const t = dlrm(root, ["predict", "--checkpoint", saved, "--data", file, "--metrics", "--workers", "2"]);
        pr[name] = { wall_s: t.wallS, rows_per_s: Math.round(rows / t.wallS), peak_rss_mib: t.peakRssMiB };
      }
      const rss = (name: string): number => (pr[name] as { peak_rss_mib: number }).peak_rss_mib;
      pr.peak_rss_big_over_small = Number((rss("file_big") / rss("file_small")).toFixed(3));
      result.predict = pr;
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
