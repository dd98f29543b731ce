// Parity with PyTorch: every case in ../shared/golden (format in its README) is run through
// the CLI (on one worker and on two, the hybrid-parallel path), and the predictions of batch 0, the first-step gradients, the per-step losses
// and the final weights are compared with what PyTorch computed.
//
// Tolerance (the golden README's): |ours - expected| <= 1e-4 + 1e-3·|expected|.
// The first-step gradient is recovered from a one-step SGD run: g = (w0 - w1) / lr. That
// subtraction of float32 weights adds at most ~1e-7·|w|/lr of error, far inside 1e-4.

import { test } from "uvu";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readSafetensors, toFloat32 } from "../../src/io/safetensors.ts";
import { assertClose } from "../../src/testing/index.ts";
import { runCli, tempDir } from "../helpers/cli.ts";
import { GOLDEN, goldenCases } from "../helpers/golden.ts";

const TOL = { atol: 1e-4, rtol: 1e-3 };

function tensors(path: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of readSafetensors(path).tensors) out.set(name, toFloat32(t, name));
  return out;
}

async function cli(args: string[]): Promise<void> {
  const r = await runCli(args);
  if (r.code !== 0) throw new Error(`dlrm ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
}

for (const name of goldenCases(test, "golden parity")) {
  const dir = join(GOLDEN, name);
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as {
    steps: number;
    lr: number;
    batch_size: number;
  };
  const expected = tensors(join(dir, "expected.safetensors"));
  const init = tensors(join(dir, "init.safetensors"));
  const common = [
    "--model",
    join(dir, "config.json"),
    "--data",
    join(dir, "batches.safetensors"),
    "--init",
    join(dir, "init.safetensors"),
    "--no-shuffle",
  ];

  test(`golden ${name}: predictions of batch 0 with the initial parameters`, async () => {
    const { dir: tmp, cleanup } = tempDir();
    try {
      const out = join(tmp, "pred.safetensors");
      await cli([
        "predict",
        "--model",
        join(dir, "config.json"),
        "--checkpoint",
        join(dir, "init.safetensors"),
        "--data",
        join(dir, "batches.safetensors"),
        "--out",
        out,
      ]);
      const pred = tensors(out).get("pred") as Float32Array;
      assertClose(pred.subarray(0, config.batch_size), expected.get("pred.0") as Float32Array, TOL, "pred.0");
    } finally {
      cleanup();
    }
  });

  for (const workers of ["1", "2"]) {
    test(`golden ${name}: first-step gradients (from --steps 1), --workers ${workers}`, async () => {
      const { dir: tmp, cleanup } = tempDir();
      try {
        const out = join(tmp, "one.safetensors");
        await cli(["train", ...common, "--workers", workers, "--steps", "1", "--save", out]);
        const one = tensors(out);
        for (const [param, w0] of init) {
          const w1 = one.get(param) as Float32Array;
          const g = new Float64Array(w0.length);
          for (let i = 0; i < g.length; i++) g[i] = ((w0[i] as number) - (w1[i] as number)) / config.lr;
          assertClose(g, expected.get(`grad.${param}`) as Float32Array, TOL, `grad.${param}`);
        }
      } finally {
        cleanup();
      }
    });

    test(`golden ${name}: per-step losses and final weights after ${config.steps} steps, --workers ${workers}`, async () => {
      const { dir: tmp, cleanup } = tempDir();
      try {
        const out = join(tmp, "final.safetensors");
        const log = join(tmp, "log.jsonl");
        await cli([
          "train",
          ...common,
          "--workers",
          workers,
          "--steps",
          String(config.steps),
          "--save",
          out,
          "--log",
          log,
        ]);
        const losses = readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { step?: number; loss?: number })
          .filter((o) => o.loss !== undefined)
          .map((o) => o.loss as number);
        assertClose(losses, expected.get("loss") as Float32Array, TOL, "loss");
        const final = tensors(out);
        for (const param of init.keys()) {
          assertClose(
            final.get(param) as Float32Array,
            expected.get(`final.${param}`) as Float32Array,
            TOL,
            `final.${param}`,
          );
        }
      } finally {
        cleanup();
      }
    });
  }
}

test.run();
