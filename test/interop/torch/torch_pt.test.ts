// PyTorch .pt checkpoints. The fixture (test/fixtures/reference_pt, made once by its
// make_reference_pt.py with torch) is the reference's --save-model file of a small DLRM_Net
// and the predictions PyTorch made with it: `dlrm predict` on that file gives them, on one
// thread and on ranks that read their own rows; the optimizer state and counters are indexed.
// What `dlrm train --save x.pt` writes has the fixture's structure (keys, dtypes, shapes), and
// resumes to the same model as a safetensors checkpoint. Hostile files (a pickle calling
// os.system, truncated archives, offsets and storage sizes that lie) give one-line errors
// naming the file and the global or offset. Zip64 records read back; pickles round-trip.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeBatchFile } from "../../../src/data/batch_file.ts";
import { offsetsFromLengths, type Dataset } from "../../../src/data/dataset.ts";
import { loadCheckpoint, runMetadata, saveCheckpoint, type RunState } from "../../../src/dlrm/checkpoint.ts";
import { readIndexedTensor, writeAllAt } from "../../../src/dlrm/checkpoint_format.ts";
import { readCheckpointIndex } from "../../../src/interop/checkpoint_file.ts";
import { ptFormat } from "../../../src/interop/torch/checkpoint_pt.ts";
import { readConfig } from "../../../src/dlrm/config_file.ts";
import { DLRM } from "../../../src/dlrm/model.ts";
import { makeOptimizer, optimizerSpec } from "../../../src/optim/make.ts";
import { readSafetensors, toFloat32 } from "../../../src/io/safetensors.ts";
import {
  OutDict,
  OutFloat,
  OutGlobal,
  OutPersistent,
  OutReduce,
  OutTuple,
  BUDGET_BASE,
  BUDGET_PER_BYTE,
  pickle,
  PickleError,
  PyDict,
  PyTuple,
  unpickle,
  type OutValue,
  type PyValue,
} from "../../../src/interop/torch/pickle.ts";
import { outTensorF32, readTorchSave, TorchTensor } from "../../../src/interop/torch/torch_save.ts";
import { crc32, finishZip, layoutZip, readZipIndex } from "../../../src/interop/torch/zip.ts";
import { runCli, tempDir } from "../../helpers/cli.ts";

const FIXTURE = fileURLToPath(new URL("../../fixtures/reference_pt/", import.meta.url));
const REF_PT = join(FIXTURE, "reference.pt");
const CONFIG = join(FIXTURE, "config.json");
const fixture = JSON.parse(readFileSync(join(FIXTURE, "predictions.json"), "utf8")) as {
  dense: number[][];
  lengths: number[][];
  indices: number[][];
  pred: number[];
};

function fixtureData(): Dataset {
  const n = fixture.dense.length;
  return {
    n,
    denseFeatures: (fixture.dense[0] as number[]).length,
    dense: Float32Array.from(fixture.dense.flat()),
    labels: new Float32Array(n),
    sparse: fixture.lengths.map((l, t) => {
      const lengths = Int32Array.from(l);
      return {
        lengths,
        offsets: offsetsFromLengths(lengths),
        indices: Int32Array.from(fixture.indices[t] as number[]),
        weights: null,
      };
    }),
  };
}

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args);
  assert.is(r.code, 0, `dlrm ${args.join(" ")}: ${r.stderr}`);
  return r.stderr;
}

/** Write a stored zip of these records with our writer (the archive format torch.save uses); forceZip64 as for files over 4 GiB. */
function writeArchive(
  path: string,
  records: { name: string; bytes: Uint8Array }[],
  forceZip64 = false,
): ReturnType<typeof layoutZip> {
  const layout = layoutZip(
    records.map((r) => ({ name: r.name, size: r.bytes.length, bytes: r.bytes })),
    { forceZip64 },
  );
  const fd = openSync(path, "w+");
  try {
    const write = (bytes: Uint8Array, at: number): void => writeAllAt(fd, bytes, at);
    for (const c of layout.chunks) write(c.bytes, c.at);
    finishZip(fd, layout, write);
  } finally {
    closeSync(fd);
  }
  return layout;
}

/** A torch.save-shaped archive whose data.pkl is `pkl` and whose storages are `storages` (and a byteorder record, if given). */
function archive(
  path: string,
  pkl: Uint8Array,
  storages: Record<string, Uint8Array> = {},
  byteorder: string | null = null,
): void {
  writeArchive(path, [
    { name: "a/data.pkl", bytes: pkl },
    ...(byteorder === null ? [] : [{ name: "a/byteorder", bytes: new TextEncoder().encode(byteorder) }]),
    ...Object.entries(storages).map(([k, bytes]) => ({ name: `a/data/${k}`, bytes })),
    { name: "a/version", bytes: new TextEncoder().encode("3\n") },
  ]);
}

// ---------------------------------------------------------------------------------------
// The reference's file

for (const workers of ["1", "2"]) {
  test(`the reference's --save-model file predicts as PyTorch did (--workers ${workers})`, async () => {
    const t = tempDir();
    try {
      const data = join(t.dir, "batches.safetensors");
      const out = join(t.dir, "preds.safetensors");
      writeBatchFile(data, fixtureData());
      await ok([
        "predict",
        "--model",
        CONFIG,
        "--checkpoint",
        REF_PT,
        "--data",
        data,
        "--out",
        out,
        "--workers",
        workers,
      ]);
      const pred = toFloat32(readSafetensors(out).tensors.get("pred") as never, "pred");
      assert.is(pred.length, fixture.pred.length);
      fixture.pred.forEach((want, i) =>
        assert.ok(Math.abs((pred[i] as number) - want) <= 1e-6, `sample ${i}: ${pred[i]} vs PyTorch's ${want}`),
      );
    } finally {
      t.cleanup();
    }
  });
}

test("the reference's file: optimizer state as optimizer.state.<param>.sum, the counters as metadata", () => {
  const index = readCheckpointIndex(REF_PT);
  const params = [
    "emb_l.0.weight",
    "emb_l.1.weight",
    "emb_l.2.weight",
    "bot_l.0.weight",
    "bot_l.0.bias",
    "bot_l.2.weight",
    "bot_l.2.bias",
    "top_l.0.weight",
    "top_l.0.bias",
    "top_l.2.weight",
    "top_l.2.bias",
  ];
  assert.equal([...index.entries.keys()], [...params, ...params.map((p) => `optimizer.state.${p}.sum`)]);
  assert.equal(index.entries.get("optimizer.state.top_l.0.weight.sum")?.shape, [4, 8]);
  // Adagrad's accumulators after two steps: sums of squared gradients, non-negative and not all zero
  const sum = toFloat32(readIndexedTensor(index, "optimizer.state.bot_l.0.weight.sum"), "sum");
  assert.ok(sum.every((x) => x >= 0) && sum.some((x) => x > 0), `accumulators ${sum}`);
  // the values the script saved: 2 steps, 1 epoch, 2 of 3 test samples right (a numpy float64 there)
  assert.is(index.metadata["reference_iter"], "2");
  assert.is(index.metadata["reference_nepochs"], "1");
  assert.is(Number(index.metadata["reference_test_acc"]), 2 / 3);
  assert.ok(Number.isFinite(Number(index.metadata["reference_train_loss"])));
  assert.is(JSON.parse(index.metadata["reference_optimizer"] as string).lr, 0.1);
});

// ---------------------------------------------------------------------------------------
// What we write

/** The structure of a saved object: keys, and each tensor's dtype and shape. */
function structure(v: PyValue): unknown {
  if (v instanceof TorchTensor) return { dtype: v.dtype, shape: v.shape };
  if (v instanceof PyDict) return Object.fromEntries([...v.map].map(([k, x]) => [String(k), structure(x)]));
  if (Array.isArray(v)) return v.map(structure);
  return typeof v;
}

test("dlrm train --save x.pt writes the reference's dict: its keys, the state_dict and optimizer state of the fixture's dtypes and shapes", async () => {
  const t = tempDir();
  try {
    const ours = join(t.dir, "ours.pt");
    await ok([
      "train",
      "--model",
      CONFIG,
      "--data",
      "random",
      "--data-size",
      "8",
      "--batch-size",
      "4",
      "--optimizer",
      "adagrad",
      "--lr",
      "0.1",
      "--steps",
      "2",
      "--save",
      ours,
    ]);
    const want = readTorchSave(REF_PT).root as PyDict;
    const got = readTorchSave(ours).root as PyDict;
    for (const key of want.map.keys()) assert.ok(got.map.has(key), `our file has "${String(key)}"`);
    assert.equal(structure(got.map.get("state_dict") as PyValue), structure(want.map.get("state_dict") as PyValue));
    const [gotOpt, wantOpt] = [got, want].map((d) => d.map.get("opt_state_dict") as PyDict);
    assert.equal(
      structure((gotOpt as PyDict).map.get("state") as PyValue),
      structure((wantOpt as PyDict).map.get("state") as PyValue),
    );
    const groups = (d: PyDict): Map<PyValue, PyValue> =>
      ((d.map.get("param_groups") as PyValue[])[0] as PyDict).map as Map<PyValue, PyValue>;
    assert.equal(
      [...groups(gotOpt as PyDict).keys()],
      [...groups(wantOpt as PyDict).keys()],
      "the param group's hyperparameters",
    );
    assert.equal(groups(gotOpt as PyDict).get("params"), groups(wantOpt as PyDict).get("params"));
    // counters: ints where the reference formats them with {:d}, floats for the metrics
    for (const key of ["epoch", "iter", "nepochs", "nbatches", "nbatches_test"])
      assert.ok(Number.isInteger(got.map.get(key)), key);
    assert.is(got.map.get("iter"), 2);
    // and our reader sees every tensor of it as a checkpoint
    const index = readCheckpointIndex(ours);
    assert.ok(index.entries.has("optimizer.state.emb_l.1.weight.sum"));
    assert.is(JSON.parse(index.metadata["dlrm_run"] as string).step, 2);
  } finally {
    t.cleanup();
  }
});

test("a run saved as .pt resumes to the model a .safetensors run resumes to, bit for bit (Adagrad, Adam); --init takes a .pt", async () => {
  const t = tempDir();
  try {
    for (const optimizer of ["adagrad", "adam"]) {
      const run = [
        "--model",
        CONFIG,
        "--data",
        "random",
        "--data-size",
        "40",
        "--batch-size",
        "4",
        "--optimizer",
        optimizer,
        "--lr",
        "0.05",
        "--seed",
        "3",
      ];
      const [a, b, ar, br] = ["a.pt", "b.safetensors", "ar.safetensors", "br.safetensors"].map((n) =>
        join(t.dir, `${optimizer}-${n}`),
      ) as [string, string, string, string];
      await ok(["train", ...run, "--steps", "3", "--save", a]);
      await ok(["train", ...run, "--steps", "3", "--save", b]);
      await ok(["train", "--resume", a, "--steps", "7", "--save", ar]);
      await ok(["train", "--resume", b, "--steps", "7", "--save", br]);
      const [x, y] = [readSafetensors(ar), readSafetensors(br)];
      for (const [name, tb] of y.tensors)
        assert.equal(Array.from(x.tensors.get(name)?.data as Float32Array), Array.from(tb.data as Float32Array), name);
      if (optimizer === "adam") {
        // torch.optim.Adam's param group, and its step as a float32 tensor beside the moments
        const opt = (readTorchSave(a).root as PyDict).map.get("opt_state_dict") as PyDict;
        const group = (opt.map.get("param_groups") as PyDict[])[0] as PyDict;
        assert.equal([...group.map.keys()].slice(0, 3), ["lr", "betas", "eps"]);
        const keys = [...((opt.map.get("state") as PyDict).map.values() as Iterable<PyDict>)].map((st) => [
          ...st.map.keys(),
        ]);
        assert.equal(keys[0], ["step", "momentum1", "momentum2"], "a table: TorchRec's row-wise names");
        assert.equal(keys.at(-1), ["step", "exp_avg", "exp_avg_sq"], "an MLP parameter: torch.optim.Adam's names");
      }
    }
    const init = join(t.dir, "init.safetensors");
    await ok(["train", "--model", CONFIG, "--data", "random", "--init", REF_PT, "--steps", "0", "--save", init]);
    const started = readSafetensors(init).tensors.get("top_l.0.weight")?.data as Float32Array;
    const ref = toFloat32(readIndexedTensor(readCheckpointIndex(REF_PT), "top_l.0.weight"), "w");
    assert.equal(Array.from(started), Array.from(ref));
  } finally {
    t.cleanup();
  }
});

test("a .pt written by 2 workers equals the one written on 1, tensor for tensor", async () => {
  const t = tempDir();
  try {
    const run = [
      "--model",
      CONFIG,
      "--data",
      "random",
      "--data-size",
      "16",
      "--batch-size",
      "4",
      "--optimizer",
      "rowwise-adagrad",
      "--lr",
      "0.05",
      "--steps",
      "0",
    ];
    const [one, two] = [join(t.dir, "one.pt"), join(t.dir, "two.pt")];
    await ok(["train", ...run, "--save", one]);
    await ok(["train", ...run, "--workers", "2", "--save", two]);
    const [i1, i2] = [readCheckpointIndex(one), readCheckpointIndex(two)];
    assert.equal([...i1.entries.keys()], [...i2.entries.keys()]);
    assert.ok(i1.entries.has("optimizer.state.emb_l.0.weight.momentum"), "row-wise state of a table");
    for (const name of i1.entries.keys())
      assert.equal(
        Array.from(toFloat32(readIndexedTensor(i2, name), name)),
        Array.from(toFloat32(readIndexedTensor(i1, name), name)),
        name,
      );
    // the CRC-32 of every entry (computed after the ranks wrote their rows in place) is its bytes'
    for (const path of [one, two]) {
      const bytes = readFileSync(path);
      const fd = openSync(path, "r");
      try {
        for (const e of readZipIndex(fd, path, bytes.length).values())
          assert.is(e.crc32, crc32(bytes.subarray(e.dataStart, e.dataStart + e.size)), `${path}: ${e.name}`);
      } finally {
        closeSync(fd);
      }
    }
  } finally {
    t.cleanup();
  }
});

test("per-table weight decay: one param group per run of equal decay, numbered in state_dict order, read back to the same state", async () => {
  const t = tempDir();
  try {
    const config = readConfig(CONFIG);
    const model = new DLRM(config, 1);
    const spec = optimizerSpec("adagrad", 0.05, {
      weightDecay: { "emb_l.0.weight": 0.01, "emb_l.1.weight": 0.01, "emb_l.2.weight": 0.02 },
    });
    const optimizer = makeOptimizer(spec, model.namedParameters());
    const run: RunState = {
      seed: 1,
      step: 0,
      plannedSteps: 0,
      orderRng: null,
      batchSize: 4,
      shuffle: false,
      optimizer: spec,
      schedule: null,
      interrupted: false,
      flags: {},
    };
    const path = join(t.dir, "decay.pt");
    await saveCheckpoint(path, model, runMetadata(config, run), optimizer, spec, "F32", ptFormat);
    const opt = (readTorchSave(path).root as PyDict).map.get("opt_state_dict") as PyDict;
    const groups = (opt.map.get("param_groups") as PyDict[]).map((g) => [
      g.map.get("weight_decay"),
      g.map.get("params"),
    ]);
    assert.equal(groups, [
      [0.01, [0, 1]],
      [0.02, [2]],
      [0, [3, 4, 5, 6, 7, 8, 9, 10]],
    ]);
    const back = new DLRM(config, 2);
    const again = makeOptimizer(spec, back.namedParameters());
    loadCheckpoint(path, back, again, spec, ptFormat);
    for (const [name, p] of model.namedParameters())
      assert.equal(
        Array.from(back.namedParameters().find(([n]) => n === name)?.[1].data as Float32Array),
        Array.from(p.data as Float32Array),
        name,
      );
  } finally {
    t.cleanup();
  }
});

// ---------------------------------------------------------------------------------------
// Hostile and broken files

/** `dlrm predict` on a checkpoint: exit 1 and one line naming the file and the thing. */
async function refused(ckpt: string, ...needles: string[]): Promise<void> {
  const t = tempDir();
  try {
    const data = join(t.dir, "batches.safetensors");
    writeBatchFile(data, fixtureData());
    const r = await runCli([
      "predict",
      "--model",
      CONFIG,
      "--checkpoint",
      ckpt,
      "--data",
      data,
      "--out",
      join(t.dir, "p.safetensors"),
    ]);
    assert.is(r.code, 1, r.stderr);
    assert.is(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
    for (const n of [ckpt, ...needles]) assert.ok(r.stderr.includes(n), `"${n}" in: ${r.stderr}`);
  } finally {
    t.cleanup();
  }
}

test("a pickle that calls os.system (GLOBAL + REDUCE) is refused, naming the global, and runs nothing", async () => {
  const t = tempDir();
  try {
    const evil = join(t.dir, "evil.pt");
    const marker = join(t.dir, "ran");
    const enc = new TextEncoder();
    const cmd = enc.encode(`touch ${marker}`);
    const pkl = Uint8Array.from([
      0x80,
      2,
      ...enc.encode("cos\nsystem\n"),
      0x58,
      cmd.length,
      0,
      0,
      0,
      ...cmd,
      0x85,
      0x52,
      0x2e,
    ]);
    archive(evil, pkl);
    await refused(evil, "os.system", "not allowed");
    assert.throws(() => readFileSync(marker), "nothing ran");
  } finally {
    t.cleanup();
  }
});

test("truncated archives, offsets past the end and storages of the wrong size are refused with the offset or storage", async () => {
  const t = tempDir();
  try {
    const bytes = readFileSync(REF_PT);
    const cut = join(t.dir, "cut.pt");
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await refused(cut, "no end-of-central-directory record");

    // the central directory entry of reference/data/0 pointing its local header past the directory
    const moved = Buffer.from(bytes);
    const name = Buffer.from("reference/data/0");
    let cd = moved.lastIndexOf(Buffer.concat([Buffer.from([0x50, 0x4b, 0x01, 0x02])]));
    while (cd >= 0 && !moved.subarray(cd + 46, cd + 46 + name.length).equals(name))
      cd = moved.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), cd - 1);
    moved.writeUInt32LE(bytes.length - 10, cd + 42);
    const far = join(t.dir, "far.pt");
    writeFileSync(far, moved);
    await refused(far, `offset ${bytes.length - 10}`);

    // a storage that claims 100 float32s over a record of 40 bytes
    const tensor = (numel: number, offset: number, shape: number[]): OutValue => {
      const v = pickleTensor(numel, offset, shape);
      return new OutDict([["bot_l.0.weight", v]], true);
    };
    const wrong = join(t.dir, "wrong.pt");
    archive(wrong, pickle(tensor(100, 0, [10, 10])), { "0": new Uint8Array(40) });
    await refused(wrong, 'storage "0"', "need 400 bytes but its record has 40");

    // a tensor view past the end of its storage
    const past = join(t.dir, "past.pt");
    archive(past, pickle(tensor(10, 8, [3])), { "0": new Uint8Array(40) });
    await refused(past, "elements [8, 11) are outside storage");

    // a compressed entry (method 8, deflate), which torch.save never writes
    const packed = join(t.dir, "packed.pt");
    archive(packed, pickle(new OutDict([], true)));
    const pb = readFileSync(packed);
    pb.writeUInt16LE(8, pb.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 10);
    writeFileSync(packed, pb);
    await refused(packed, 'entry "a/data.pkl" is compressed (method 8)');

    // a legacy (non-zip) torch.save file
    const legacy = join(t.dir, "legacy.pt");
    writeFileSync(
      legacy,
      Uint8Array.from([0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]),
    );
    await refused(legacy, "legacy torch.save format");
  } finally {
    t.cleanup();
  }
});

function pickleTensor(numel: number, offset: number, shape: number[]): OutValue {
  const storage = new OutPersistent(
    new OutTuple(["storage", new OutGlobal("torch", "FloatStorage"), "0", "cpu", numel]),
  );
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return new OutReduce("torch._utils", "_rebuild_tensor_v2", [
    storage,
    offset,
    new OutTuple(shape),
    new OutTuple(strides),
    false,
    new OutReduce("collections", "OrderedDict", []),
  ]);
}

test("pickle opcodes outside torch.load(weights_only=True)'s, and broken streams, are refused with the byte", () => {
  const where = { where: "f.pt: data.pkl", findGlobal: () => undefined, persistentLoad: () => null };
  const cases: [number[], string][] = [
    [[0x80, 2, 0x8c, 1, 0x41, 0x2e], "opcode 0x8c at byte 2"], // SHORT_BINUNICODE (protocol 4)
    [[0x80, 2, 0x58, 0xff, 0xff, 0, 0], "needs 65535 bytes"], // a string longer than the pickle
    [[0x80, 2, 0x68, 7, 0x2e], "memo entry 7 was never stored"],
    [[0x80, 2, 0x74, 0x2e], "no mark to pop"],
    [[0x80, 2, 0x4e], "ends without STOP"],
    [[0x80, 2, 0x28, 0x4e, 0x75, 0x2e], "odd number"],
  ];
  for (const [bytes, msg] of cases) {
    assert.throws(
      () => unpickle(Uint8Array.from(bytes), where),
      (e: Error) => e.message.startsWith("f.pt: data.pkl: ") && e.message.includes(msg),
      msg,
    );
  }
});

// ---------------------------------------------------------------------------------------
// Formats: pickles and zip64

/** Our pickle value of a plain value tree, and what the reader gives back for it. */
const plain: fc.Arbitrary<[OutValue, unknown]> = fc.letrec<{ v: [OutValue, unknown] }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    fc.constant<[OutValue, unknown]>([null, null]),
    fc.boolean().map((b): [OutValue, unknown] => [b, b]),
    fc.maxSafeInteger().map((n): [OutValue, unknown] => [n, n]),
    fc.double({ noNaN: true }).map((x): [OutValue, unknown] => [new OutFloat(x), x]),
    fc.string().map((s): [OutValue, unknown] => [s, s]),
    fc
      .array(tie("v"), { maxLength: 5 })
      .map((xs): [OutValue, unknown] => [new OutTuple(xs.map((x) => x[0])), { tuple: xs.map((x) => x[1]) }]),
    fc.array(tie("v"), { maxLength: 5 }).map((xs): [OutValue, unknown] => [xs.map((x) => x[0]), xs.map((x) => x[1])]),
    fc
      .uniqueArray(fc.tuple(fc.string(), tie("v")), { maxLength: 4, selector: (e) => e[0] })
      .map((es): [OutValue, unknown] => [
        new OutDict(es.map(([k, x]) => [k, x[0]])),
        { dict: es.map(([k, x]) => [k, x[1]]) },
      ]),
  ),
})).v;

function asPlain(v: PyValue): unknown {
  if (v instanceof PyTuple) return { tuple: v.items.map(asPlain) };
  if (v instanceof PyDict) return { dict: [...v.map].map(([k, x]) => [k, asPlain(x)]) };
  if (Array.isArray(v)) return v.map(asPlain);
  return v;
}

test("pickle then unpickle gives the value back (property)", () => {
  fc.assert(
    fc.property(plain, ([out, want]) => {
      const got = unpickle(pickle(out), { where: "p", findGlobal: () => undefined, persistentLoad: () => null });
      assert.equal(asPlain(got), want);
    }),
    { seed: 12, numRuns: 300 },
  );
});

test("zip64 records (forced, as for files over 4 GiB) read back: names, offsets, sizes, CRCs", () => {
  const t = tempDir();
  try {
    const records = [
      { name: "a/data.pkl", bytes: Uint8Array.from([1, 2, 3]) },
      { name: "a/data/0", bytes: new Uint8Array(1000).map((_, i) => i % 251) },
      { name: "a/version", bytes: new TextEncoder().encode("3\n") },
    ];
    const path = join(t.dir, "z.zip");
    const layout = writeArchive(path, records, true);
    const fd = openSync(path, "r");
    try {
      const index = readZipIndex(fd, path, layout.totalBytes);
      for (const r of records) {
        const e = index.get(r.name);
        assert.ok(e !== undefined, r.name);
        assert.is(e?.size, r.bytes.length);
        assert.is((e?.dataStart as number) % 64, 0, "64-byte aligned");
        assert.is(e?.crc32, crc32(r.bytes));
        assert.equal(
          readFileSync(path).subarray(e?.dataStart, (e?.dataStart as number) + r.bytes.length),
          Buffer.from(r.bytes),
        );
      }
    } finally {
      closeSync(fd);
    }
    // CRC-32 of "123456789" is the check value of the zip polynomial
    assert.is(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  } finally {
    t.cleanup();
  }
});

test("a pickle of empty dicts is refused once its objects would pass the memory budget; a 5000-tensor state_dict fits", () => {
  // `}` makes a dict (~240 bytes of heap) from one byte: unbounded, 20 MB of them took 4.6 GB.
  const n = 200_000;
  const pkl = new Uint8Array(n + 6); // PROTO 2, EMPTY_LIST, MARK, `}` × n, APPENDS, STOP
  pkl.set([0x80, 2, 0x5d, 0x28]);
  pkl.fill(0x7d, 4, 4 + n);
  pkl.set([0x65, 0x2e], 4 + n);
  const where = "hostile.pt: data.pkl";
  const budget = BUDGET_PER_BYTE * pkl.length + BUDGET_BASE;
  assert.ok(budget < n * 240, "the dicts need more than the budget");
  assert.throws(
    () => unpickle(pkl, { where, findGlobal: () => undefined, persistentLoad: () => null }),
    (e: unknown) =>
      e instanceof PickleError &&
      e.message.startsWith(`${where}: the objects it makes would take more than ${budget} bytes of memory`),
  );
  // A real state_dict costs far less per byte: 5000 tensors, each a storage, a rebuild call and its tuples.
  const tensors = new OutDict(
    Array.from({ length: 5000 }, (_, i): [string, OutValue] => [`layer.${i}.weight`, outTensorF32(String(i), [4, 3])]),
    true,
  );
  const state = pickle(tensors);
  const stored = new Map<string, PyValue>();
  const root = unpickle(state, {
    where,
    findGlobal: (module, name) => ({
      kind: "global",
      module,
      name,
      call: (args: PyValue[]) => (name === "OrderedDict" ? new PyDict(true) : new PyTuple(args)),
    }),
    persistentLoad: (pid) => {
      const key = pid instanceof PyTuple ? String(pid.items[2]) : "";
      stored.set(key, pid);
      return pid;
    },
  });
  assert.ok(root instanceof PyDict && root.map.size === 5000, "all 5000 tensors read");
  assert.is(stored.size, 5000);
});

test("archive/byteorder: 'little' (and no record) are read; 'big' is refused naming the record, not read byte-swapped", async () => {
  const t = tempDir();
  try {
    const pkl = pickle(new OutDict([["w", outTensorF32("0", [2])]], true));
    const values = new Uint8Array(Float32Array.from([1.5, -2]).buffer);
    for (const order of ["little", null]) {
      const path = join(t.dir, `${order ?? "none"}.pt`);
      archive(path, pkl, { "0": values }, order);
      const root = readTorchSave(path).root;
      const w = root instanceof PyDict ? root.map.get("w") : null;
      assert.ok(w instanceof TorchTensor, `${order}: a tensor`);
      const bytes = readFileSync(path).subarray(w.begin, w.end);
      assert.equal(Array.from(new Float32Array(Uint8Array.from(bytes).buffer)), [1.5, -2]);
    }
    const big = join(t.dir, "big.pt");
    archive(big, pkl, { "0": values }, "big");
    assert.throws(
      () => readTorchSave(big),
      /big\.pt: its tensors are stored big-endian \(a\/byteorder is "big": saved on a big-endian machine\), which this reader does not convert/,
    );
    const odd = join(t.dir, "odd.pt");
    archive(odd, pkl, { "0": values }, "middle");
    assert.throws(() => readTorchSave(odd), /odd\.pt: a\/byteorder is "middle", neither "little" nor "big"/);
  } finally {
    t.cleanup();
  }
});

test.run();
