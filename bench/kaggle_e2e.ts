// Issue 23's end-to-end run at Kaggle scale, through the commands users run: a Kaggle-sized
// Criteo TSV (bench/criteo_gen.ts: Kaggle's 45,840,617 lines, labels planted by a hidden rule),
// six "days" for training and a seventh held out, then
//
//   preprocess  `dlrm preprocess criteo` of the training days (building the dictionary), and of
//               the held-out day through that dictionary;
//   train       one epoch of `dlrm train --workers 2 --batch-size 2048` from the batch file,
//               saving the model;
//   evaluate    `dlrm predict --metrics --workers 2` of the saved model on the held-out day;
//   random      the same model on `--data random` for a few hundred steps, before and after the
//               epoch, for samples/s from the file against generated data (bracketing the epoch, so
//               a change in the machine's load shows as a gap between the two).
//
// Each stage runs under /usr/bin/time -v (wall time, peak RSS). The result is printed as one
// JSON object and also written, stage by stage, to <work>/e2e.json (a long run keeps what it has
// measured if a later stage fails). The big files are deleted at the end unless --keep.
//
// A run that stopped after preprocessing (killed, or --keep) resumes from its batch files: the
// stages already in <work>/e2e.json are kept. --train-steps N trains N steps instead of one epoch
// (for a machine too busy for the epoch; the result records it).
//
//   node --import tsx bench/kaggle_e2e.ts [--work <dir>] [--lines 45840617] [--train-steps N]
//                                         [--random-steps 300] [--keep]

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import { criteoModel } from "../src/data/sources/builtin_models.ts";
import { dlrmTimed, samplesPerSecond } from "./timed_cli.ts";

const args = process.argv.slice(2);
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? dflt : (args[i + 1] as string);
};
const work = flag("work", "/tmp/dlrm-kaggle-e2e");
const LINES = Number(flag("lines", "45840617"));
const RANDOM_STEPS = Number(flag("random-steps", "300"));
const TRAIN_STEPS = flag("train-steps", "");
const keep = args.includes("--keep");
const root = new URL("..", import.meta.url).pathname;
const BATCH = 2048;
/** Kaggle's train.txt holds 7 days; the reference holds out the last one. */
const EVAL_LINES = Math.floor(LINES / 7);
const TRAIN_LINES = LINES - EVAL_LINES;

let result: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: `${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores, shared with other developers' jobs`,
  lines: { train: TRAIN_LINES, eval: EVAL_LINES },
};
/** Step lines in a --log file. */
const trainedSteps = (log: string): number =>
  readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l.startsWith('{"step"')).length;
/** The eval line train writes at the end (the batch file's test split). */
const heldOutEval = (log: string): unknown =>
  readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l.includes('"event":"eval"'))
    .map((l) => JSON.parse(l) as unknown)
    .at(-1) ?? null;
const save = (): void => writeFileSync(join(work, "e2e.json"), `${JSON.stringify(result, null, 2)}\n`);
const stage = (name: string, value: Record<string, unknown>): void => {
  result[name] = { ...value, load_avg_1m: Number(loadavg()[0]?.toFixed(1)) };
  save();
  process.stderr.write(`[kaggle_e2e] ${name}: ${JSON.stringify(result[name])}\n`);
};

/** Runs bench/criteo_gen.ts in a child process (the two files are written side by side). */
function generate(out: string, lines: number, seed: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(root, "bench/criteo_gen.ts"), out, String(lines), String(seed)],
      {
        cwd: root,
        stdio: ["ignore", "inherit", "inherit"],
      },
    );
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`criteo_gen ${out} exited ${code}`))));
  });
}

mkdirSync(work, { recursive: true });
const trainTxt = join(work, "train.txt");
const evalTxt = join(work, "day_6.txt");
const trainBatches = join(work, "train.safetensors");
const evalBatches = join(work, "day_6.safetensors");
const ckpt = join(work, "model.safetensors");
const previous = join(work, "e2e.json");
const resumed =
  existsSync(previous) && existsSync(trainBatches) && existsSync(evalBatches)
    ? (JSON.parse(readFileSync(previous, "utf8")) as Record<string, unknown>)
    : null;
if (resumed !== null && resumed.preprocess_eval !== undefined) {
  result = { ...resumed, resumed_at: new Date().toISOString() };
  delete result.train;
  delete result.evaluate;
  delete result.random_before;
  delete result.random_after;
  delete result.file_over_random;
}
try {
  const t0 = Date.now();
  // A resumed run reads its table sizes back from the model it wrote.
  const cfgPath = join(work, "model.json");
  let tableSizes =
    (result.table_sizes as number[] | undefined) ??
    (existsSync(cfgPath) ? (JSON.parse(readFileSync(cfgPath, "utf8")) as { table_sizes: number[] }).table_sizes : []);
  if (result.preprocess_eval === undefined) {
    // Seeds 1 and 2 draw different lines; the hidden rule that labels them is the same.
    await Promise.all([
      existsSync(trainTxt) ? undefined : generate(trainTxt, TRAIN_LINES, 1),
      existsSync(evalTxt) ? undefined : generate(evalTxt, EVAL_LINES, 2),
    ]);
    stage("generate", {
      wall_s: (Date.now() - t0) / 1000,
      bytes: statSync(trainTxt).size + statSync(evalTxt).size,
    });

    const pre = dlrmTimed(root, ["preprocess", "criteo", trainTxt, "--out", trainBatches]);
    const summary = JSON.parse(pre.stdout) as { table_sizes: number[] };
    tableSizes = summary.table_sizes;
    const tableRows = tableSizes.reduce((a, b) => a + b, 0);
    stage("preprocess_train", {
      wall_s: pre.wallS,
      lines_per_s: Math.round(TRAIN_LINES / pre.wallS),
      cpu_s: pre.cpuS,
      lines_per_cpu_s: Math.round(TRAIN_LINES / pre.cpuS),
      peak_rss_mib: pre.peakRssMiB,
      table_rows: tableRows,
      out_bytes: statSync(trainBatches).size,
    });
    const dict = trainBatches.replace(/\.safetensors$/, ".dict.safetensors");
    const preEval = dlrmTimed(root, ["preprocess", "criteo", evalTxt, "--out", evalBatches, "--dictionary", dict]);
    stage("preprocess_eval", {
      wall_s: preEval.wallS,
      lines_per_s: Math.round(EVAL_LINES / preEval.wallS),
      cpu_s: preEval.cpuS,
      peak_rss_mib: preEval.peakRssMiB,
    });
  }
  if (!keep) rmSync(trainTxt, { force: true });

  // The model the data gives (Criteo's built-in config over these table sizes), written out so
  // the random-data run trains exactly the same one.
  result.table_sizes = tableSizes;
  const model = criteoModel(tableSizes, 13).config;
  writeFileSync(cfgPath, JSON.stringify(model));
  const tablesMiB = (tableSizes.reduce((a, b) => a + b, 0) * model.embedding_dim * 4) / 2 ** 20;

  /** The same model on `--data random` (one lookup per table, like the file's), samples/s after warm-up. */
  const randomRun = (name: string): number => {
    const rlog = join(work, `${name}.jsonl`);
    const rnd = dlrmTimed(root, [
      "train",
      "--data",
      "random",
      "--num-indices-per-lookup",
      "1",
      "--num-indices-per-lookup-fixed",
      "--model",
      cfgPath,
      "--workers",
      "2",
      "--batch-size",
      String(BATCH),
      "--steps",
      String(RANDOM_STEPS),
      "--log",
      rlog,
    ]);
    const rate = samplesPerSecond(rlog, BATCH);
    stage(name, { steps: RANDOM_STEPS, samples_per_s: rate, peak_rss_mib: rnd.peakRssMiB });
    return rate;
  };
  const before = randomRun("random_before");

  const log = join(work, "train.jsonl");
  const tr = dlrmTimed(root, [
    "train",
    "--data",
    trainBatches,
    "--model",
    cfgPath,
    "--workers",
    "2",
    "--batch-size",
    String(BATCH),
    ...(TRAIN_STEPS === "" ? ["--epochs", "1"] : ["--steps", TRAIN_STEPS]),
    "--save",
    ckpt,
    "--log",
    log,
    "--print-freq",
    "1000",
  ]);
  const fileRate = samplesPerSecond(log, BATCH);
  stage("train", {
    wall_s: tr.wallS,
    // The batch file keeps the reference's test split out of training (its eval line is in the log).
    steps: trainedSteps(log),
    samples: trainedSteps(log) * BATCH,
    epochs: TRAIN_STEPS === "" ? 1 : "a part (--train-steps)",
    held_out_eval: heldOutEval(log),
    samples_per_s: fileRate,
    peak_rss_mib: tr.peakRssMiB,
    tables_mib: Math.round(tablesMiB),
    optimizer: "sgd (no state)",
    rss_beyond_tables_mib: Math.round(tr.peakRssMiB - tablesMiB),
  });

  const ev = dlrmTimed(root, ["predict", "--checkpoint", ckpt, "--data", evalBatches, "--metrics", "--workers", "2"]);
  stage("evaluate", {
    wall_s: ev.wallS,
    peak_rss_mib: ev.peakRssMiB,
    rss_beyond_tables_mib: Math.round(ev.peakRssMiB - tablesMiB),
    metrics: JSON.parse(ev.stdout.trim().split("\n").at(-1) as string) as unknown,
  });

  const after = randomRun("random_after");
  const randomRate = (before + after) / 2;
  result.file_over_random = {
    mean_random_samples_per_s: Math.round(randomRate),
    ratio: Number((fileRate / randomRate).toFixed(3)),
  };
  save();
} finally {
  if (!keep) {
    for (const f of [trainTxt, evalTxt, trainBatches, evalBatches, ckpt]) rmSync(f, { force: true });
  }
}
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
