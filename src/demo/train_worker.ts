// The demo page's training thread (a module Worker, so the page stays responsive): builds
// what `dlrm train` builds for the chosen data (src/demo/demo_data.ts), opens the executor
// `dlrm train` opens (the run recipe, src/run/recipe.ts: this thread for 1 worker, else N
// rank Workers started from here, each a module Worker of build/rank_worker.js, exactly as
// `dlrm train --workers N` runs them in Node), trains with the library's one training loop,
// and posts each step's loss, each evaluation and the sharding plan back to the page. After
// the run it keeps the model, to save the checkpoint (the same safetensors file the CLI
// writes) and to rank MovieLens items for a user.
//
// Messages in:  { kind: "train", steps, batchSize, seed, testFreq, workers, data, dataName }
//               | { kind: "save" } | { kind: "predict", user, top }
// Messages out: { kind: "plan", plan, tableNames } | { kind: "step", step, loss, samples, tMs }
//               | { kind: "eval", step, auc, logloss, accuracy, ne, calibration, n } | { kind: "done", auc, teacherAuc }
//               | { kind: "checkpoint", bytes, name } | { kind: "prediction", user, items }
//               | { kind: "error", message }
//
// Glossary: N rank workers, B batch size.

import { modelCheckpointBytes } from "../dlrm/checkpoint_bytes.ts";
import type { HybridExecutor } from "../parallel/hybrid.ts";
import { browserRankStarter } from "../parallel/spawn_browser.ts";
import type { Executor } from "../train/executor.ts";
import { LocalExecutor } from "../train/local.ts";
import { train, type TrainResult } from "../train/trainer.ts";
import { evalBatchSize, openExecutor, runCheckpointMetadata, runShardingPlan } from "../run/recipe.ts";
import { demoRun, type DemoData, type DemoRun } from "./demo_data.ts";

export interface TrainRequest {
  kind: "train";
  steps: number;
  batchSize: number;
  seed: number;
  testFreq: number;
  workers: number;
  data: DemoData;
  /** How the data is named in the checkpoint's run flags (dlrm train's --data form). */
  dataName: string;
}
type Request = TrainRequest | { kind: "save" } | { kind: "predict"; user: number; top: number };

/** The worker's global scope, as far as this file uses it (the project's types have no DOM). */
const scope = globalThis as typeof globalThis & {
  postMessage(m: object, transfer?: ArrayBuffer[]): void;
  onmessage: ((e: { data: Request }) => void) | null;
};
const post = (m: object): void => scope.postMessage(m);

/** What the run left: its executor (still open; on this thread it holds the model), the request and result. */
interface Trained {
  request: TrainRequest;
  run: DemoRun;
  executor: Executor;
  result: TrainResult;
}
let trained: Trained | null = null;
let busy = false;

async function runTraining(r: TrainRequest): Promise<void> {
  const run = await demoRun(r.data, r.steps, r.batchSize, r.seed);
  const { config, spec } = run;
  // The plan `dlrm train --workers N --print-sharding-plan` prints (one rank holds every table when N = 1).
  const plan = await runShardingPlan(config, r.workers, run.train);
  post({ kind: "plan", plan, tableNames: run.tableNames });
  const executor = await openExecutor({
    config,
    spec,
    workers: r.workers,
    seed: r.seed,
    data: [run.train, run.eval],
    maxBatch: evalBatchSize(r.batchSize),
    plan,
    startRanks: browserRankStarter(new URL("./rank_worker.js", import.meta.url)),
  });
  let result: TrainResult;
  try {
    result = await train({
      executor,
      data: run.train,
      evalData: run.eval,
      batchSize: r.batchSize,
      steps: r.steps,
      shuffle: true,
      seed: r.seed,
      lr: spec.lr,
      testFreq: r.testFreq,
      progress: null,
      onStep: (s) => post({ kind: "step", step: s.step, loss: s.loss, samples: s.samples, tMs: s.tMs }),
      onEval: (m) => post({ kind: "eval", ...m }), // step and every metric of computeMetrics
    });
  } catch (e) {
    // A failed run stops its rank workers (they would wait on Atomics until this worker ends).
    await executor.close().catch(() => undefined);
    throw e;
  }
  trained = { request: r, run, executor, result };
  post({ kind: "done", auc: result.eval?.auc ?? null, teacherAuc: run.teacherAuc });
}

/** The checkpoint's metadata: the model config and the run's state, as dlrm train --save records them. */
function metadataOf(t: Trained): Record<string, string> {
  const { request: r, result } = t;
  const flags: Record<string, string | number | boolean> = {
    data: r.dataName,
    steps: r.steps,
    "batch-size": r.batchSize,
    seed: r.seed,
    "test-freq": r.testFreq,
    workers: r.workers,
    ensemble: 1,
  };
  if (r.data.kind === "synthetic") flags["data-size"] = t.run.train.n;
  if (r.data.kind === "movielens") flags.split = r.data.split;
  return runCheckpointMetadata(
    t.run.config,
    {
      seed: r.seed,
      step: result.position.step,
      plannedSteps: r.steps,
      orderRng: result.position.orderRng,
      batchSize: r.batchSize,
      shuffle: true,
      optimizer: t.run.spec,
      schedule: null,
      interrupted: result.interrupted,
      flags,
    },
    result,
  );
}

async function save(t: Trained): Promise<void> {
  const metadata = metadataOf(t);
  const e = t.executor;
  const bytes =
    e instanceof LocalExecutor
      ? modelCheckpointBytes(e.model, metadata, e.optimizer, t.run.spec)
      : await (e as HybridExecutor).saveBytes(metadata);
  // A copy out of shared memory (a Blob of a SharedArrayBuffer view is refused), handed over without another copy.
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  scope.postMessage({ kind: "checkpoint", bytes: out, name: `dlrm-${t.request.data.kind}.safetensors` }, [out.buffer]);
}

async function predictFor(t: Trained, user: number, top: number): Promise<void> {
  const ml = t.run.movielens;
  if (ml === null) throw new Error("predictions for a user need MovieLens data");
  const { data, items } = ml.candidates(user);
  const p = await t.executor.predict(data, evalBatchSize(t.request.batchSize));
  const order = items.map((_, k) => k).sort((a, b) => p[b] - p[a] || a - b);
  post({
    kind: "prediction",
    user,
    candidates: items.length,
    items: order.slice(0, top).map((k) => {
      const row = items[k];
      return { id: ml.itemIds[row], title: ml.itemTitles[row], p: p[k] };
    }),
  });
}

scope.onmessage = async (e) => {
  const m = e.data;
  if (busy) {
    post({ kind: "error", message: `busy: the previous request is still running (got ${m.kind})` });
    return;
  }
  busy = true;
  try {
    if (m.kind === "train") {
      if (trained !== null) throw new Error("this worker has trained already: start a new one for a new run");
      await runTraining(m);
    } else {
      if (trained === null) throw new Error(`nothing to ${m.kind} yet: train first`);
      if (m.kind === "save") await save(trained);
      else await predictFor(trained, m.user, m.top);
    }
  } catch (err) {
    post({ kind: "error", message: err instanceof Error ? err.message : String(err) });
  } finally {
    busy = false;
  }
};
