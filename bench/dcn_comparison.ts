// DLRM's paper, section 6 (its Figure: DLRM against DCN, trained with SGD and with Adagrad),
// on the data we have (issue 28, item 4): for each interaction (the paper's dot DLRM; DCN,
// `--interaction cross`; DCN-v2, `--interaction dcn`) and each optimizer (sgd, adagrad), one
// `dlrm train` run with held-out evaluations every --test-freq steps, logged; then `dlrm plot`
// draws each data set's runs together, and a markdown table of the final evaluations is printed
// (docs/results.md keeps it).
//
//   nice -n 10 node --import tsx bench/dcn_comparison.ts --data <spec> --name <name> --out-dir <dir>
//        --test-freq <n> --sgd-lr <lr> --adagrad-lr <lr> [--rank <r>] [--workers <n>] [--seed <s>]
//        [--optimizers sgd,adagrad] [-- more train flags]
//
// The runs are `dlrm train --data <spec> --workers <n, default 1> --seed <s, default 123>
// --interaction I --optimizer O --lr <lr> --test-freq <n> --log <dir>/<name>-<I>-<O>.jsonl`
// plus the flags after `--`; dcn
// runs get `--dcn-low-rank-dim <r>` with --rank (docs/results.md uses N/4, N = (tables + 1)·E,
// LowRankCrossNet's advice for keeping a full-rank net's accuracy). Each run's wall time is
// measured around the child.

import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) throw new Error(`bench/dcn_comparison.ts: --${name} is required`);
  return v;
}

const dash = process.argv.indexOf("--");
const extra = dash >= 0 ? process.argv.slice(dash + 1) : [];
const [data, name, dir, testFreq] = [arg("data"), arg("name"), arg("out-dir"), arg("test-freq")];
const lrs = { sgd: arg("sgd-lr"), adagrad: arg("adagrad-lr") };
const rank = process.argv.includes("--rank") ? arg("rank") : null;
const workers = process.argv.includes("--workers") ? arg("workers") : "1";
const seed = process.argv.includes("--seed") ? arg("seed") : "123";
const optimizers = (process.argv.includes("--optimizers") ? arg("optimizers") : "sgd,adagrad").split(",") as (
  "sgd" | "adagrad"
)[];
mkdirSync(dir, { recursive: true });

const dlrm = (args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });

const LABEL = { dot: "DLRM (dot)", cross: "DCN (cross)", dcn: "DCN-v2 (dcn)" } as const;
const rows: string[] = [];
const logs: string[] = [];
for (const interaction of ["dot", "cross", "dcn"] as const) {
  for (const optimizer of optimizers) {
    const log = join(dir, `${name}-${interaction}-${optimizer}.jsonl`);
    const args = ["train", "--data", data, "--workers", workers, "--seed", seed, "--interaction", interaction]
      .concat(["--optimizer", optimizer, "--lr", lrs[optimizer], "--test-freq", testFreq, "--log", log])
      .concat(interaction === "dcn" && rank !== null ? ["--dcn-low-rank-dim", rank] : [])
      .concat(extra);
    const t0 = performance.now();
    const r = dlrm(args);
    const wall = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`dlrm ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    const last = JSON.parse(r.stdout.trim().split("\n").at(-1) as string) as Record<string, number>;
    const f = (k: string, d = 4): string => (typeof last[k] === "number" ? last[k].toFixed(d) : "—");
    rows.push(
      `| ${LABEL[interaction]} | ${optimizer} ${lrs[optimizer]} | ${f("auc")} | ${f("logloss")} | ${f("accuracy")} | ${f("ne")} | ${f("calibration")} | ${f("train_loss")} | ${wall.toFixed(0)} |`,
    );
    logs.push(log);
    process.stderr.write(`${rows.at(-1)}\n`);
  }
}
const svg = join(dir, `${name}.svg`);
const p = dlrm(["plot", ...logs, "--out", svg, "--title", `${name}: DLRM vs DCN vs DCN-v2, SGD and Adagrad`]);
if (p.status !== 0) throw new Error(`dlrm plot exited ${p.status}: ${p.stderr}`);
process.stdout.write(
  [
    `| model | optimizer, lr | AUC | logloss | accuracy | NE | calibration | train loss | wall (s) |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
    ...rows,
    "",
    `curves: ${svg}`,
    "",
  ].join("\n"),
);
