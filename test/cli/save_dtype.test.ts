// `dlrm train --save-dtype f16|bf16`: the parameters are saved as the 16-bit patterns nearest
// the float32 values (ties to even, by the tested scalar conversions of src/kernels/half.ts), the
// optimizer state stays F32, on one thread and on ranks; such checkpoints load back (predict
// on one thread and on ranks, --init, --resume) as their exact float32 values; a value F16
// cannot hold is an error naming it; the flag is checked before any work.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { defaultConfig } from "../../src/dlrm/defaults.ts";
import { bfloat16ToFloat32, float32ToBfloat16, float32ToHalf, halfToFloat32 } from "../../src/kernels/half.ts";
import {
  readSafetensors,
  readSafetensorsIndex,
  writeSafetensors,
  type SafetensorsTensor,
} from "../../src/io/safetensors.ts";
import { assertClose } from "../../src/testing/index.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

const RUN = [
  "--data",
  "random",
  "--data-size",
  "120",
  "--batch-size",
  "20",
  "--optimizer",
  "adagrad",
  "--lr",
  "0.05",
  "--seed",
  "9",
];

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args);
  assert.is(r.code, 0, `dlrm ${args.join(" ")}: ${r.stderr}`);
  return r.stderr;
}

const isState = (name: string): boolean => name.startsWith("optimizer.");

/** Every parameter of narrow is the rounding of wide's float32 values; optimizer state is the same F32 bytes. */
function assertRounded(narrow: string, wide: string, dtype: "F16" | "BF16"): void {
  const a = readSafetensors(narrow).tensors;
  const b = readSafetensors(wide).tensors;
  assert.equal([...a.keys()], [...b.keys()], "the same tensors in the same order");
  const round = dtype === "F16" ? float32ToHalf : float32ToBfloat16;
  for (const [name, w] of b) {
    const n = a.get(name) as SafetensorsTensor;
    assert.equal(n.shape, w.shape, name);
    if (isState(name)) {
      assert.is(n.dtype, "F32", `${name}: optimizer state stays F32`);
      assert.equal(Array.from(n.data as Float32Array), Array.from(w.data as Float32Array), name);
      continue;
    }
    assert.is(n.dtype, dtype, name);
    const bits = n.data as Uint16Array;
    const values = w.data as Float32Array;
    for (let i = 0; i < values.length; i++) {
      if (bits[i] !== round(values[i] as number))
        assert.unreachable(
          `${name}[${i}]: ${values[i]} saved as 0x${bits[i]?.toString(16)}, want 0x${round(values[i] as number).toString(16)}`,
        );
    }
  }
}

/** Write src's tensors as F32 to dst, 16-bit ones upcast by the scalar conversions (tested exhaustively in test/io/half.test.ts). */
function writeUpcast(src: string, dst: string): void {
  const file = readSafetensors(src);
  const upcast = new Map<string, SafetensorsTensor>();
  for (const [name, x] of file.tensors) {
    const up = x.dtype === "F16" ? halfToFloat32 : x.dtype === "BF16" ? bfloat16ToFloat32 : null;
    upcast.set(name, {
      dtype: "F32",
      shape: x.shape,
      data: up === null ? (x.data as Float32Array) : Float32Array.from(x.data as Uint16Array, up),
    });
  }
  writeSafetensors(dst, upcast, file.metadata);
}

test("--save-dtype f16 / bf16 after training (one thread): parameters rounded to nearest, optimizer state F32; the file is smaller", async () => {
  const t = tempDir();
  try {
    const f32 = join(t.dir, "f32.safetensors");
    await ok(["train", ...RUN, "--steps", "4", "--workers", "1", "--save", f32]);
    for (const dtype of ["f16", "bf16"] as const) {
      const out = join(t.dir, `${dtype}.safetensors`);
      await ok(["train", ...RUN, "--steps", "4", "--workers", "1", "--save", out, "--save-dtype", dtype]);
      assertRounded(out, f32, dtype.toUpperCase() as "F16" | "BF16");
      assert.ok(readSafetensorsIndex(out).fileBytes < readSafetensorsIndex(f32).fileBytes, "smaller");
    }
  } finally {
    t.cleanup();
  }
});

test("--save-dtype bf16 on 2 ranks (each writes its own rows, downcast) = the one-thread f32 initial model rounded", async () => {
  const t = tempDir();
  try {
    const f32 = join(t.dir, "init.safetensors");
    const bf16 = join(t.dir, "init-bf16.safetensors");
    const f16 = join(t.dir, "init-f16.safetensors");
    await ok(["train", ...RUN, "--steps", "0", "--workers", "1", "--save", f32]);
    await ok(["train", ...RUN, "--steps", "0", "--workers", "2", "--save", bf16, "--save-dtype", "bf16"]);
    await ok(["train", ...RUN, "--steps", "0", "--workers", "2", "--save", f16, "--save-dtype", "f16"]);
    assertRounded(bf16, f32, "BF16");
    assertRounded(f16, f32, "F16");
  } finally {
    t.cleanup();
  }
});

test("an F16 checkpoint predicts (one thread and 2 ranks) as the F32 checkpoint of its exact upcast values; --init and --resume read it", async () => {
  const t = tempDir();
  try {
    const f16 = join(t.dir, "f16.safetensors");
    await ok(["train", ...RUN, "--steps", "5", "--workers", "1", "--save", f16, "--save-dtype", "f16"]);
    const file = readSafetensors(f16);
    const f32 = join(t.dir, "upcast.safetensors");
    writeUpcast(f16, f32);
    const data = join(t.dir, "data.safetensors");
    writeBatchFile(
      data,
      randomDataset({
        n: 40,
        denseFeatures: 13,
        tableSizes: defaultConfig().table_sizes,
        numIndicesPerLookup: 3,
        numIndicesPerLookupFixed: false,
        seed: 4,
      }),
    );
    const preds = async (ckpt: string, workers: string): Promise<Float32Array> => {
      const out = join(t.dir, `p-${workers}-${ckpt.length}.safetensors`);
      await ok(["predict", "--checkpoint", ckpt, "--data", data, "--out", out, "--workers", workers]);
      return readSafetensors(out).tensors.get("pred")?.data as Float32Array;
    };
    const want = await preds(f32, "1");
    assert.equal(Array.from(await preds(f16, "1")), Array.from(want), "one thread: the same bits");
    // Tolerance: float32 rounding (a table split by rows adds its partial pooled sums after pooling).
    assertClose(await preds(f16, "2"), want, { atol: 1e-6, rtol: 1e-5 }, "2 ranks");

    // --init from the F16 file and saving as F16 again gives back the same bits (the upcast is exact).
    const again = join(t.dir, "again.safetensors");
    await ok([
      "train",
      ...RUN,
      "--init",
      f16,
      "--steps",
      "0",
      "--workers",
      "1",
      "--save",
      again,
      "--save-dtype",
      "f16",
    ]);
    const a = readSafetensors(again).tensors;
    for (const [name, x] of file.tensors)
      if (!isState(name))
        assert.equal(Array.from(a.get(name)?.data as Uint16Array), Array.from(x.data as Uint16Array), name);

    // --resume continues from the upcast values and keeps saving F16 (the recorded --save-dtype).
    const resumed = join(t.dir, "resumed.safetensors");
    const fromUpcast = join(t.dir, "resumed-upcast.safetensors");
    await ok(["train", "--resume", f16, "--steps", "7", "--workers", "1", "--save", resumed]);
    await ok(["train", "--resume", f32, "--steps", "7", "--workers", "1", "--save", fromUpcast, "--save-dtype", "f16"]);
    const r = readSafetensors(resumed).tensors;
    for (const [name, x] of readSafetensors(fromUpcast).tensors) {
      assert.is(r.get(name)?.dtype, x.dtype, name);
      assert.equal(Array.from(r.get(name)?.data as Uint16Array), Array.from(x.data as Uint16Array), name);
    }
  } finally {
    t.cleanup();
  }
});

test("a BF16 checkpoint predicts as the F32 checkpoint of its upcast values", async () => {
  const t = tempDir();
  try {
    const bf16 = join(t.dir, "bf16.safetensors");
    await ok(["train", ...RUN, "--steps", "3", "--workers", "1", "--save", bf16, "--save-dtype", "bf16"]);
    const f32 = join(t.dir, "upcast.safetensors");
    writeUpcast(bf16, f32);
    const data = join(t.dir, "data.safetensors");
    writeBatchFile(
      data,
      randomDataset({
        n: 30,
        denseFeatures: 13,
        tableSizes: defaultConfig().table_sizes,
        numIndicesPerLookup: 2,
        numIndicesPerLookupFixed: false,
        seed: 6,
      }),
    );
    const pred = async (ckpt: string): Promise<number[]> => {
      const out = join(t.dir, `p${ckpt.length}.safetensors`);
      await ok(["predict", "--checkpoint", ckpt, "--data", data, "--out", out]);
      return Array.from(readSafetensors(out).tensors.get("pred")?.data as Float32Array);
    };
    assert.equal(await pred(bf16), await pred(f32));
  } finally {
    t.cleanup();
  }
});

test("--save-dtype f16 of a value past 65504 is an error naming the file, tensor, element and value; bad flags exit 2", async () => {
  const t = tempDir();
  try {
    const init = join(t.dir, "init.safetensors");
    await ok(["train", ...RUN, "--steps", "0", "--workers", "1", "--save", init]);
    const file = readSafetensors(init);
    const w = file.tensors.get("top_l.2.bias") as SafetensorsTensor;
    (w.data as Float32Array)[0] = 1e5;
    const big = join(t.dir, "big.safetensors");
    writeSafetensors(big, file.tensors, file.metadata);
    const out = join(t.dir, "out.safetensors");
    let r = await runCli([
      "train",
      ...RUN,
      "--init",
      big,
      "--steps",
      "0",
      "--workers",
      "1",
      "--save",
      out,
      "--save-dtype",
      "f16",
    ]);
    assert.is(r.code, 1);
    assert.match(
      r.stderr,
      /out\.safetensors: tensor "top_l\.2\.bias" \(from element 0\): element 0 is 100000, beyond the largest finite F16 \(65504\); save it as f32 or bf16/,
    );
    r = await runCli([
      "train",
      ...RUN,
      "--init",
      big,
      "--steps",
      "0",
      "--workers",
      "1",
      "--save",
      out,
      "--save-dtype",
      "bf16",
    ]);
    assert.is(r.code, 0, r.stderr);
    r = await runCli(["train", ...RUN, "--steps", "0", "--save", out, "--save-dtype", "f8"]);
    assert.is(r.code, 2);
    assert.match(r.stderr, /^dlrm: train: --save-dtype must be f32, f16 or bf16, got "f8"/);
    r = await runCli(["train", ...RUN, "--steps", "0", "--save-dtype", "f16"]);
    assert.is(r.code, 2);
    assert.match(r.stderr, /--save-dtype goes with --save/);
    r = await runCli(["train", ...RUN, "--steps", "0", "--save", join(t.dir, "out.pt"), "--save-dtype", "bf16"]);
    assert.is(r.code, 2);
    assert.match(r.stderr, /--save-dtype bf16 applies to \.safetensors; a \.pt checkpoint .* is written in f32/);
  } finally {
    t.cleanup();
  }
});

test.run();
