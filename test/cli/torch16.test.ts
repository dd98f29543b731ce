// PyTorch as the oracle, through fixtures made once by test/fixtures/torch16/make.py (torch
// 1.13): our F16/BF16 rounding gives torch's .half()/.bfloat16() bit patterns (ties,
// subnormals, overflow), and a model under TorchRec's names, converted with `dlrm convert --to
// reference` and run by `dlrm predict` (config inferred from the shapes), gives the sigmoid of
// the logits torch computed in TorchRec's interaction order.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { float32ToBfloat16, float32ToHalf } from "../../src/kernels/half.ts";
import { halfsToFloat32 } from "../../src/io/dtype.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

const fixtures = new URL("../fixtures/torch16/", import.meta.url).pathname;

test("float32ToHalf / float32ToBfloat16 give torch's .half() / .bfloat16() patterns; the upcasts give torch's values back", () => {
  const f = readSafetensors(join(fixtures, "halfs.safetensors")).tensors;
  const values = f.get("values")?.data as Float32Array;
  const f16 = f.get("f16")?.data as Uint16Array;
  const bf16 = f.get("bf16")?.data as Uint16Array;
  assert.ok(values.length > 5000, "the fixture's values");
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (float32ToHalf(v) !== f16[i])
      assert.unreachable(`F16 of ${v}: ours 0x${float32ToHalf(v).toString(16)}, torch 0x${f16[i]?.toString(16)}`);
    if (float32ToBfloat16(v) !== bf16[i])
      assert.unreachable(`BF16 of ${v}: ours 0x${float32ToBfloat16(v).toString(16)}, torch 0x${bf16[i]?.toString(16)}`);
  }
  // Up again: each 16-bit value is a float32 within half a unit of the original (the rounding), or inf past the range.
  const up = halfsToFloat32("F16", f16);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    const u = up[i] as number;
    if (Math.abs(v) < 65504 && Math.abs(v) > 2 ** -14 && Math.abs(u - v) > Math.abs(v) * 2 ** -11)
      assert.unreachable(`F16 of ${v} came back as ${u}`);
  }
});

test("a TorchRec-named model converted to the reference's names predicts sigmoid(torch's TorchRec logits)", async () => {
  const t = tempDir();
  try {
    const converted = join(t.dir, "ref.safetensors");
    let r = await runCli(["convert", join(fixtures, "torchrec_dlrm.safetensors"), converted, "--to", "reference"]);
    assert.is(r.code, 0, r.stderr);
    const out = join(t.dir, "pred.safetensors");
    r = await runCli([
      "predict",
      "--checkpoint",
      converted,
      "--data",
      join(fixtures, "torchrec_batch.safetensors"),
      "--out",
      out,
    ]);
    assert.is(r.code, 0, r.stderr);
    const pred = readSafetensors(out).tensors.get("pred")?.data as Float32Array;
    const logits = readSafetensors(join(fixtures, "torchrec_logits.safetensors")).tensors.get("logits")
      ?.data as Float32Array;
    assert.is(pred.length, logits.length);
    // Tolerance: our float32 forward against torch's float64 one, outputs in (0, 1).
    logits.forEach((z, i) =>
      assert.ok(
        Math.abs((pred[i] as number) - 1 / (1 + Math.exp(-z))) < 2e-6,
        `sample ${i}: ours ${pred[i]}, torch ${1 / (1 + Math.exp(-z))}`,
      ),
    );
  } finally {
    t.cleanup();
  }
});

test.run();
