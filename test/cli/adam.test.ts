// `dlrm train --optimizer adam` as a user runs it: on 2 workers (tables on their owner ranks,
// the MLPs replicated) it trains the same model as on 1 (parameters and Adam state, within
// float32 rounding of differently associated sums, as test/parallel's optimizer tests); the
// checkpoint holds torch's exp_avg/exp_avg_sq for the MLPs and TorchRec's row-wise
// momentum1 (R, E) / momentum2 (R,) for the tables, and records the step count.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { readRunState } from "../../src/dlrm/checkpoint.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { assertClose } from "../../src/testing/index.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

const RUN = ["train", "--data", "random", "--data-size", "300", "--batch-size", "30", "--steps", "20", "--seed", "9"];

test("--optimizer adam: --workers 2 = --workers 1; Adam's state and step count in the checkpoint", async () => {
  const t = tempDir();
  try {
    const saved: string[] = [];
    for (const workers of ["1", "2"]) {
      const path = join(t.dir, `w${workers}.safetensors`);
      const r = await runCli([...RUN, "--optimizer", "adam", "--lr", "0.01", "--workers", workers, "--save", path]);
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stderr, "adam lr 0.01");
      saved.push(path);
    }
    const [one, two] = saved.map((p) => readSafetensors(p)) as [
      ReturnType<typeof readSafetensors>,
      ReturnType<typeof readSafetensors>,
    ];
    assert.equal([...two.tensors.keys()].sort(), [...one.tensors.keys()].sort());
    const tol = { atol: 2e-6, rtol: 1e-5 };
    for (const [name, x] of one.tensors)
      assertClose((two.tensors.get(name)?.data ?? []) as Float32Array, x.data as Float32Array, tol, name);
    // state names and shapes: a table's row-wise moment has one entry per row
    const table = one.tensors.get("emb_l.0.weight");
    const [R, E] = table?.shape ?? [];
    assert.equal(one.tensors.get("optimizer.state.emb_l.0.weight.momentum1")?.shape, [R, E]);
    assert.equal(one.tensors.get("optimizer.state.emb_l.0.weight.momentum2")?.shape, [R]);
    const w = one.tensors.get("bot_l.0.weight")?.shape;
    assert.equal(one.tensors.get("optimizer.state.bot_l.0.weight.exp_avg")?.shape, w);
    assert.equal(one.tensors.get("optimizer.state.bot_l.0.weight.exp_avg_sq")?.shape, w);
    const run = readRunState(saved[0] as string, one.metadata);
    assert.equal(run?.optimizer, { kind: "adam", lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 20 });
  } finally {
    t.cleanup();
  }
});

test.run();
