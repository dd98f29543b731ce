// How far 2 workers can scale on this machine at a batch size, measured through the command:
// per round, in rotating order,
//   one    `dlrm train --workers 1 --batch-size B`
//   pair   two `dlrm train --workers 1 --batch-size B/2` at once: the work of two ranks
//          with collectives, sharding and a coordinating thread all free (each process its
//          own model and data), both cores busy as with 2 workers
//   two    `dlrm train --workers 2 --batch-size B`
// The Kaggle-shaped model of bench/cli_ab.ts. Reported per run: samples/s (pair: the sum of
// both) and the busiest thread's CPU per step (bench/thread_cpu.ts); per round: pair/one and
// two/one, by wall time and by CPU (one's CPU per B samples over pair's per B/2: what 2 cores
// give with nothing but the split batch, the ceiling of two/one), beside the VM's own two-core
// scaling measured before the round (bench/core_probe.ts: a register-only loop on one thread,
// then on two at once; a shared host can give less than two cores, and then every run less).
//
//   node --import tsx bench/scaling_limit.ts [--batch 128] [--rounds 3] [--warmup-samples 12800]
//        [--measure-samples 25600] [--rows-cap 100000]
//
// Glossary: B batch size.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { arg, dlrmTrainArgs, rate, stepTimes } from "./cli_train.bench.ts";
import { CoreProbe } from "./core_probe.ts";
import { runWithThreadCpu } from "./thread_cpu.ts";
import { KAGGLE_TABLES, kaggleModel } from "./train.bench.ts";

const r2 = (x: number): number => Math.round(x * 100) / 100;

interface Measured {
  samplesPerSec: number;
  critCpuMs: number;
  otherCores: number;
}

async function main(): Promise<void> {
  const B = Number(arg("batch", "128"));
  const rounds = Number(arg("rounds", "3"));
  const warmupSamples = Number(arg("warmup-samples", "12800"));
  const measureSamples = Number(arg("measure-samples", "25600"));
  const cap = Number(arg("rows-cap", "100000"));
  if (!Number.isInteger(B / 2)) throw new Error(`scaling_limit: --batch must be even, got ${B}`);
  const root = fileURLToPath(new URL("..", import.meta.url));
  const tmp = mkdtempSync(join(tmpdir(), "dlrm-scaling-"));
  const load0 = loadavg();
  try {
    const modelPath = join(tmp, "kaggle.json");
    writeFileSync(modelPath, JSON.stringify(kaggleModel(KAGGLE_TABLES.map((R) => (cap > 0 ? Math.min(R, cap) : R)))));
    const run = async (workers: number, batch: number, tag: string): Promise<Measured> => {
      const warmup = Math.ceil(warmupSamples / batch);
      const steps = warmup + Math.max(10, Math.ceil(measureSamples / batch));
      const log = join(tmp, `log-${tag}.jsonl`);
      rmSync(log, { force: true });
      const r = await runWithThreadCpu(root, dlrmTrainArgs(modelPath, workers, batch, steps, log), log, warmup, steps);
      if (r.status !== 0) throw new Error(`dlrm train --workers ${workers} --batch-size ${batch}: ${r.stderrTail}`);
      const sps = rate(stepTimes(log), warmup, batch).samplesPerSec ?? Number.NaN;
      return { samplesPerSec: Math.round(sps), critCpuMs: r2(r.critCpuMs), otherCores: r2(r.otherCores) };
    };
    const kinds = ["one", "pair", "two"] as const;
    const results: { round: number; twoCoreScaling: number; one?: Measured; pair?: Measured[]; two?: Measured }[] = [];
    const probe = new CoreProbe();
    for (let round = 0; round < rounds; round++) {
      const res: (typeof results)[number] = { round: round + 1, twoCoreScaling: r2(probe.scaling()) };
      console.error(`round ${round + 1}: this VM's two-core scaling ${res.twoCoreScaling}`);
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + round) % kinds.length];
        if (kind === "one") res.one = await run(1, B, "one");
        else if (kind === "two") res.two = await run(2, B, "two");
        else res.pair = await Promise.all([run(1, B / 2, "pair-a"), run(1, B / 2, "pair-b")]);
        console.error(`round ${round + 1} ${kind}: ${JSON.stringify(res[kind])}`);
      }
      results.push(res);
    }
    await probe.close();
    const summary = results.map((r) => {
      const one = r.one as Measured;
      const pair = r.pair as Measured[];
      const two = r.two as Measured;
      const pairSps = pair.reduce((a, m) => a + m.samplesPerSec, 0);
      const pairCpu = Math.max(...pair.map((m) => m.critCpuMs));
      return {
        round: r.round,
        twoCoreScaling: r.twoCoreScaling,
        pairOverOneWall: r2(pairSps / one.samplesPerSec),
        pairOverOneCpu: r2(one.critCpuMs / pairCpu),
        twoOverOneWall: r2(two.samplesPerSec / one.samplesPerSec),
        twoOverOneCpu: r2(one.critCpuMs / two.critCpuMs),
      };
    });
    for (const s of summary)
      console.log(
        `round ${s.round} (two-core scaling ${s.twoCoreScaling}): pair/one ${s.pairOverOneWall}× by wall, ${s.pairOverOneCpu}× by CPU; two/one ${s.twoOverOneWall}× by wall, ${s.twoOverOneCpu}× by CPU`,
      );
    console.log(
      JSON.stringify({
        date: new Date().toISOString(),
        batch: B,
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
