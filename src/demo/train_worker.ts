// The demo page's training thread (a module Worker, so the page stays responsive): builds
// the built-in model (src/dlrm/defaults.ts) and the synthetic teacher data with its held-out
// split, trains on this thread's shared WebAssembly.Memory with the library's one training
// loop, and posts each step's loss and each evaluation back to the page.
//
// Messages in:  { steps, batchSize, seed, testFreq }
// Messages out: { kind: "step", step, loss, samples, tMs } | { kind: "eval", step, auc, logloss, accuracy, n }
//               | { kind: "done", auc, teacherAuc } | { kind: "error", message }

import { defaultConfig } from "../dlrm/defaults.ts";
import { DLRM } from "../dlrm/model.ts";
import { SYNTHETIC_MIN_SIZE, syntheticData, syntheticEvalSize } from "../dlrm/synthetic.ts";
import { makeOptimizer, optimizerSpec } from "../optim/make.ts";
import { train } from "../train/trainer.ts";

export interface TrainRequest {
  steps: number;
  batchSize: number;
  seed: number;
  testFreq: number;
}

/** The worker's global scope, as far as this file uses it (the project's types have no DOM). */
const scope = globalThis as { postMessage?: (m: object) => void; onmessage?: (e: { data: TrainRequest }) => void };
const post = (m: object): void => scope.postMessage?.(m);

scope.onmessage = async (e) => {
  try {
    const r = e.data;
    const config = defaultConfig();
    // The data, model and optimizer `dlrm train --data synthetic --workers 1` builds for these flags.
    const dataSize = Math.max(SYNTHETIC_MIN_SIZE, r.steps * r.batchSize);
    const syn = syntheticData(config, { sizes: [dataSize, syntheticEvalSize(dataSize)], seed: r.seed });
    const [trainData, evalData] = syn.splits as [(typeof syn.splits)[0], (typeof syn.splits)[0]];
    const model = new DLRM(config, r.seed);
    const optimizer = makeOptimizer(optimizerSpec(config.optimizer, config.lr), model.namedParameters());
    const result = await train({
      model,
      optimizer,
      data: trainData,
      evalData,
      batchSize: r.batchSize,
      steps: r.steps,
      shuffle: true,
      seed: r.seed,
      testFreq: r.testFreq,
      progress: null,
      onStep: (s) => post({ kind: "step", step: s.step, loss: s.loss, samples: s.samples, tMs: s.tMs }),
      onEval: (m) => post({ kind: "eval", step: m.step, auc: m.auc, logloss: m.logloss, accuracy: m.accuracy, n: m.n }),
    });
    post({ kind: "done", auc: result.eval?.auc ?? null, teacherAuc: syn.teacherAuc[1] });
  } catch (err) {
    post({ kind: "error", message: err instanceof Error ? err.message : String(err) });
  }
};
