// `dlrm convert` with PyTorch .pt files on either side (format by extension): the committed
// reference --save-model file (test/fixtures/reference_pt, written by torch.save) goes to
// TorchRec names in safetensors and back to a .pt whose parameters are the fixture's, bit for
// bit; to reference names in safetensors with its optimizer state as it was; a .pt of ours
// (with its run) keeps its optimizer state through a .pt → .pt conversion, while a file that
// names no optimizer loses it with a note; a learned-weighted-pooling model is refused by
// TorchRec's names.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readCheckpointIndex } from "../../src/interop/checkpoint_file.ts";
import { ptFormat } from "../../src/interop/torch/checkpoint_pt.ts";
import { readPiece, saveCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { parseConfig } from "../../src/dlrm/config.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/reference_pt/reference.pt", import.meta.url));
// its model: 3 tables of dim 2, where the first top layer's 8 inputs fit dot and cat alike
const MODEL = ["--model", fileURLToPath(new URL("../fixtures/reference_pt/config.json", import.meta.url))];

/** Every tensor of a checkpoint of either format, as float32, by name. */
function tensorsOf(path: string): Map<string, Float32Array> {
  const index = readCheckpointIndex(path);
  const out = new Map<string, Float32Array>();
  for (const [name, e] of index.entries) {
    const data = new Float32Array(e.shape.reduce((a, b) => a * b, 1));
    readPiece(index, name, 0, data);
    out.set(name, data);
  }
  return out;
}

/** The same names and, for each, the same float32 bits. */
function assertSameBits(got: Map<string, Float32Array>, want: Map<string, Float32Array>, what: string): void {
  assert.equal([...got.keys()].sort(), [...want.keys()].sort(), `${what}: names`);
  for (const [name, w] of want) {
    const g = got.get(name) as Float32Array;
    const gb = new Uint32Array(g.buffer, g.byteOffset, g.length);
    const wb = new Uint32Array(w.buffer, w.byteOffset, w.length);
    assert.equal(Array.from(gb), Array.from(wb), `${what}: ${name}`);
  }
}

async function convert(args: string[]): Promise<string> {
  const r = await runCli(["convert", ...args]);
  assert.is(r.code, 0, r.stderr);
  return r.stderr;
}

const isParam = (name: string): boolean => !name.startsWith("optimizer.state.");
const params = (m: Map<string, Float32Array>): Map<string, Float32Array> =>
  new Map([...m].filter(([name]) => isParam(name)));

test("the reference's .pt → TorchRec safetensors → .pt: the fixture's parameters bit for bit; the .pt reads back with its structure", async () => {
  const t = tempDir();
  try {
    const original = tensorsOf(FIXTURE);
    assert.ok(
      [...original.keys()].some((n) => !isParam(n)),
      "the fixture holds optimizer state (its opt_state_dict)",
    );
    const tr = join(t.dir, "tr.safetensors");
    const note = await convert([FIXTURE, tr, "--to", "torchrec", ...MODEL]);
    assert.match(note, /optimizer state tensors and the run position are not carried over/);
    const back = join(t.dir, "back.pt");
    await convert([tr, back, "--to", "reference"]);
    assertSameBits(tensorsOf(back), params(original), "back.pt");
    // our .pt is a torch.save zip like the fixture: the same reader indexes it, as a state_dict dict
    assert.equal(readFileSync(back).subarray(0, 2).toString("latin1"), "PK");
    assert.ok(readCheckpointIndex(back).metadata["reference_iter"] !== undefined, "the reference's counters");
    // and TorchRec names again from the .pt: the same file as the first conversion, byte for byte
    const again = join(t.dir, "again.safetensors");
    await convert([back, again, "--to", "torchrec", ...MODEL]);
    assert.ok(readFileSync(again).equals(readFileSync(tr)), "again.safetensors: the bytes of tr.safetensors");
  } finally {
    t.cleanup();
  }
});

test("the reference's .pt → reference safetensors keeps its optimizer state; → .pt again drops it (no run names the optimizer) and says so", async () => {
  const t = tempDir();
  try {
    const st = join(t.dir, "ref.safetensors");
    await convert([FIXTURE, st, "--to", "reference", ...MODEL]);
    assertSameBits(tensorsOf(st), tensorsOf(FIXTURE), "ref.safetensors");
    const pt = join(t.dir, "ref.pt");
    const note = await convert([st, pt, "--to", "reference", ...MODEL]);
    assert.match(note, /optimizer state tensors are not carried over: a \.pt names its optimizer from the run/);
    assertSameBits(tensorsOf(pt), params(tensorsOf(FIXTURE)), "ref.pt");
  } finally {
    t.cleanup();
  }
});

test("a .pt of ours with its run: .pt → .pt keeps parameters and optimizer state bit for bit", async () => {
  const t = tempDir();
  try {
    const ours = join(t.dir, "ours.pt");
    const r = await runCli([
      "train",
      "--data",
      "random",
      "--steps",
      "2",
      "--batch-size",
      "8",
      "--optimizer",
      "rowwise-adagrad",
      "--weighted-pooling",
      "learned",
      "--save",
      ours,
    ]);
    assert.is(r.code, 0, r.stderr);
    const before = tensorsOf(ours);
    assert.ok(before.has("v_W_l.0") && before.has("optimizer.state.v_W_l.0.sum"), [...before.keys()].join(", "));
    const copy = join(t.dir, "copy.pt");
    await convert([ours, copy, "--to", "reference"]);
    assertSameBits(tensorsOf(copy), before, "copy.pt");
  } finally {
    t.cleanup();
  }
});

test("TorchRec's names cannot hold learned pooling weights: the conversion is refused, naming them", async () => {
  const t = tempDir();
  try {
    const c = parseConfig({
      dense_features: 3,
      bottom_mlp: [3, 2],
      embedding_dim: 2,
      table_sizes: [4, 5],
      top_mlp: [5, 3, 1],
      weighted_pooling: "learned",
    });
    const path = join(t.dir, "m.pt");
    writeFileSync(join(t.dir, "m.json"), JSON.stringify(c));
    await saveCheckpoint(path, new DLRM(c, 1), { dlrm_config: JSON.stringify(c) }, null, null, "F32", ptFormat);
    const r = await runCli(["convert", path, join(t.dir, "o.safetensors"), "--to", "torchrec"]);
    assert.is(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /TorchRec's DLRM has no learned per-row pooling weights; this model has them \(v_W_l\.0 … v_W_l\.1/,
    );
  } finally {
    t.cleanup();
  }
});

test.run();
