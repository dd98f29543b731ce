// Parity of the QR and MD tables with the reference's own modules: each case in
// test/fixtures/tricks was computed by QREmbeddingBag / PrEmbeddingBag / md_solver of
// facebookresearch/dlrm in float64 (test/fixtures/tricks/make.py; the files as
// ../shared/golden/README.md describes). Through the CLI, on one worker and on two: the
// initial checkpoint (the reference's state_dict names) loads, batch 0's predictions match,
// and so do the losses and weights after the case's SGD steps.
//
// Tolerance (the golden README's): |ours - expected| <= 1e-4 + 1e-3·|expected|.

import { test } from "uvu";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readSafetensors, toFloat32 } from "../../src/io/safetensors.ts";
import { assertClose } from "../../src/testing/index.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

const TOL = { atol: 1e-4, rtol: 1e-3 };
const FIXTURES = fileURLToPath(new URL("../fixtures/tricks/", import.meta.url));

function tensors(path: string): Map<string, Float32Array> {
  return new Map([...readSafetensors(path).tensors].map(([name, t]) => [name, toFloat32(t, name)]));
}

async function cli(args: string[]): Promise<void> {
  const r = await runCli(args);
  if (r.code !== 0) throw new Error(`dlrm ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
}

const cases = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

for (const name of cases) {
  const dir = join(FIXTURES, name);
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { steps: number; batch_size: number };
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

  for (const workers of ["1", "2"]) {
    test(`reference tricks ${name}: predictions of batch 0 with the initial parameters, --workers ${workers}`, async () => {
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
          "--workers",
          workers,
        ]);
        assertClose(
          (tensors(out).get("pred") as Float32Array).subarray(0, config.batch_size),
          expected.get("pred.0") as Float32Array,
          TOL,
          "pred.0",
        );
      } finally {
        cleanup();
      }
    });

    test(`reference tricks ${name}: losses and weights after ${config.steps} SGD steps, --workers ${workers}`, async () => {
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
          .map((l) => JSON.parse(l) as { loss?: number })
          .filter((o) => o.loss !== undefined)
          .map((o) => o.loss as number);
        assertClose(losses, expected.get("loss") as Float32Array, TOL, "loss");
        const final = tensors(out);
        for (const param of init.keys())
          assertClose(
            final.get(param) as Float32Array,
            expected.get(`final.${param}`) as Float32Array,
            TOL,
            `final.${param}`,
          );
      } finally {
        cleanup();
      }
    });
  }
}

test.run();
