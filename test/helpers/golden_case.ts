// One case in the golden format (../shared/golden/README.md; test/fixtures/tricks uses it too):
// config.json, init.safetensors, batches.safetensors and expected.safetensors computed by
// PyTorch. The checks both parity suites make through the CLI live here once.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { readSafetensors, toFloat32 } from "../../src/io/safetensors.ts";
import { assertClose } from "../../src/testing/index.ts";
import { runCli, tempDir } from "./cli.ts";

/** The golden README's rule of a match: |ours - expected| <= 1e-4 + 1e-3·|expected|. */
export const GOLDEN_TOL = { atol: 1e-4, rtol: 1e-3 };

/** Every tensor of a safetensors file, as float32. */
export function caseTensors(path: string): Map<string, Float32Array> {
  return new Map([...readSafetensors(path).tensors].map(([name, t]) => [name, toFloat32(t, name)]));
}

export interface GoldenCase {
  dir: string;
  config: { steps: number; lr: number; batch_size: number };
  expected: Map<string, Float32Array>;
  init: Map<string, Float32Array>;
  /** The train flags that start from the case's initial parameters on its batches, in order. */
  common: string[];
}

export function loadCase(dir: string): GoldenCase {
  return {
    dir,
    config: JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as GoldenCase["config"],
    expected: caseTensors(join(dir, "expected.safetensors")),
    init: caseTensors(join(dir, "init.safetensors")),
    common: [
      "--model",
      join(dir, "config.json"),
      "--data",
      join(dir, "batches.safetensors"),
      "--init",
      join(dir, "init.safetensors"),
      "--no-shuffle",
    ],
  };
}

/** Runs the dlrm command; a non-zero exit is an error with its stderr. */
export async function cli(args: string[]): Promise<void> {
  const r = await runCli(args);
  if (r.code !== 0) throw new Error(`dlrm ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
}

/** dlrm predict with the initial parameters: batch 0's predictions = expected pred.0. */
export async function checkPredictions(c: GoldenCase, extra: string[] = []): Promise<void> {
  const { dir: tmp, cleanup } = tempDir();
  try {
    const out = join(tmp, "pred.safetensors");
    const d = c.dir;
    await cli(
      ["predict", "--model", join(d, "config.json"), "--checkpoint", join(d, "init.safetensors")].concat([
        "--data",
        join(d, "batches.safetensors"),
        "--out",
        out,
        ...extra,
      ]),
    );
    const pred = caseTensors(out).get("pred") as Float32Array;
    assertClose(pred.subarray(0, c.config.batch_size), c.expected.get("pred.0") as Float32Array, GOLDEN_TOL, "pred.0");
  } finally {
    cleanup();
  }
}

/** dlrm train --steps 1: every parameter's first-step gradient, (w0 − w1) / lr under SGD, = expected grad.<name>. */
export async function checkFirstStepGradients(c: GoldenCase, workers: string): Promise<void> {
  const { dir: tmp, cleanup } = tempDir();
  try {
    const out = join(tmp, "one.safetensors");
    await cli(["train", ...c.common, "--workers", workers, "--steps", "1", "--save", out]);
    const one = caseTensors(out);
    for (const [param, w0] of c.init) {
      const w1 = one.get(param) as Float32Array;
      const g = new Float64Array(w0.length);
      for (let i = 0; i < g.length; i++) g[i] = (w0[i] - w1[i]) / c.config.lr;
      assertClose(g, c.expected.get(`grad.${param}`) as Float32Array, GOLDEN_TOL, `grad.${param}`);
    }
  } finally {
    cleanup();
  }
}

/**
 * dlrm train for the case's steps: every step's loss, and every final.<name> the case expects
 * (each parameter, and the optimizer state where the case has it) = the saved checkpoint's <name>.
 */
export async function checkTraining(c: GoldenCase, workers: string): Promise<void> {
  const { dir: tmp, cleanup } = tempDir();
  try {
    const out = join(tmp, "final.safetensors");
    const log = join(tmp, "log.jsonl");
    const steps = String(c.config.steps);
    await cli(["train", ...c.common, "--workers", workers, "--steps", steps, "--save", out, "--log", log]);
    const losses = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { loss?: number })
      .filter((o) => o.loss !== undefined)
      .map((o) => o.loss as number);
    assertClose(losses, c.expected.get("loss") as Float32Array, GOLDEN_TOL, "loss");
    const final = caseTensors(out);
    const expectedFinal = [...c.expected.keys()].filter((k) => k.startsWith("final."));
    for (const param of c.init.keys())
      assert.ok(expectedFinal.includes(`final.${param}`), `the case expects final.${param}`);
    for (const key of expectedFinal) {
      const name = key.slice("final.".length);
      const got = final.get(name);
      if (got === undefined) throw new Error(`the saved checkpoint has no ${name}`);
      assertClose(got, c.expected.get(key) as Float32Array, GOLDEN_TOL, key);
    }
  } finally {
    cleanup();
  }
}
