// train() on the four forms of data (src/train/batch_feed.ts): a Dataset, a BatchSource, an
// iterable and an async iterable of the same batches train the same model bit for bit (a
// streamed batch file too, and a resumed stream continues exactly); an
// iterable that ends ends the run; evaluation from a source equals evaluation from the
// Dataset; and the docs' example runs as written.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { BatchFileSource } from "../../src/data/batch_file_source.ts";
import { DatasetSource, type BatchSource } from "../../src/data/batch_source.ts";
import { sliceDataset, type Dataset } from "../../src/data/dataset.ts";
import { randomDataset } from "../../src/data/random.ts";
import { parseConfig } from "../../src/dlrm/config.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { SGD } from "../../src/optim/sgd.ts";
import { train, type TrainData, type TrainResult } from "../../src/train/trainer.ts";
import { batchFeed } from "../../src/train/batch_feed.ts";
import { tempDir } from "../helpers/cli.ts";
import { markdownBlocks } from "../helpers/readme.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

// Glossary: N samples, B batch size.

const N = 100;
const B = 16;
const data = randomDataset({
  n: N,
  denseFeatures: 3,
  tableSizes: [20, 9],
  numIndicesPerLookup: 3,
  numIndicesPerLookupFixed: false,
  seed: 8,
});

function model(): DLRM {
  const config = parseConfig({
    dense_features: 3,
    bottom_mlp: [3, 6, 4],
    embedding_dim: 4,
    table_sizes: [20, 9],
    interaction: "dot",
    top_mlp: [7, 5, 1],
    optimizer: "sgd",
    lr: 0.1,
    batch_size: B,
  });
  return new DLRM(config, 4);
}

async function run(d: TrainData, steps: number, evalData: Dataset | BatchSource | null = null) {
  const m = model();
  const r = await train({
    model: m,
    optimizer: new SGD(m.parameters(), { lr: 0.1 }),
    data: d,
    batchSize: B,
    steps,
    shuffle: false,
    seed: 1,
    evalData,
  });
  return { r, params: m.parameters().map((p) => Array.from(p.data)) };
}

/** The batches of file order over `epochs` passes, as the trainer cuts them (the last of each epoch short). */
function* inOrder(epochs: number): Generator<Dataset> {
  for (let e = 0; e < epochs; e++) for (let s = 0; s < N; s += B) yield sliceDataset(data, s, Math.min(N, s + B));
}

test("a Dataset, a BatchSource, an iterable and an async iterable of the same batches train the same model bit for bit", async () => {
  const steps = 17; // past an epoch's end (7 batches per epoch)
  const want = await run(data, steps);
  async function* asyncBatches(): AsyncGenerator<Dataset> {
    yield* inOrder(3);
  }
  for (const [what, d] of [
    ["DatasetSource", new DatasetSource(data)],
    ["iterable", inOrder(3)],
    ["async iterable", asyncBatches()],
  ] as const) {
    const got = await run(d, steps);
    assert.equal(got.r.losses, want.r.losses, `${what}: losses`);
    assert.equal(got.params, want.params, `${what}: parameters`);
    assert.is(got.r.position.step, steps);
  }
});

test("an iterable that ends ends the run after its batches; evaluation from a source equals evaluation from the Dataset", async () => {
  const short = await run(inOrder(1), 50);
  assert.is(short.r.position.step, 7);
  assert.is(short.r.losses.length, 7);
  const fromData = await run(data, 5, data);
  const fromSource = await run(data, 5, new DatasetSource(data));
  assert.equal(fromSource.r.eval as TrainResult["eval"], fromData.r.eval);
  assert.ok(fromData.r.eval !== null && fromData.r.eval.auc > 0, JSON.stringify(fromData.r.eval));
});

async function assertRejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match(String(e instanceof Error ? e.message : e), pattern);
    return;
  }
  assert.unreachable(`expected an error matching ${pattern}`);
}

test("a streamed batch file trains the model the Dataset trains (file order), and a resumed run continues a shuffled stream exactly", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, "d.safetensors");
    writeBatchFile(path, data);
    const file = await BatchFileSource.open(path, nodeDataFiles);
    try {
      const steps = 17;
      const want = await run(data, steps);
      const got = await run(file, steps);
      assert.equal(got.r.losses, want.r.losses, "losses");
      assert.equal(got.params, want.params, "parameters");

      // Shuffled (the trainer's order for the file: blocks of 8 rows, windows of 2 blocks), 17
      // steps at once against 9 steps, then 8 more from position 9 on the same model.
      const shuffled = file.view({ blockRows: 8, windowBlocks: 2 });
      const once = model();
      const o = { batchSize: B, shuffle: true, seed: 5 };
      const all = await train({
        ...o,
        model: once,
        optimizer: new SGD(once.parameters(), { lr: 0.1 }),
        data: shuffled,
        steps,
      });
      const twice = model();
      const opt = new SGD(twice.parameters(), { lr: 0.1 });
      const first = await train({ ...o, model: twice, optimizer: opt, data: shuffled, steps: 9 });
      assert.is(first.position.orderRng, null, "a stream's position is its step");
      const rest = await train({ ...o, model: twice, optimizer: opt, data: shuffled, steps, start: first.position });
      assert.equal([...first.losses, ...rest.losses], all.losses);
      assert.equal(
        twice.parameters().map((p) => Array.from(p.data)),
        once.parameters().map((p) => Array.from(p.data)),
      );
      assert.not.equal(all.losses, want.r.losses, "shuffling changes the order");
      await shuffled.close();
    } finally {
      await file.close();
    }
  } finally {
    cleanup();
  }
});

test("peek hands out the next batches without taking them: a source up to k (not past the end), an async iterable up to its prefetch, a sync one none", async () => {
  const o = { batchSize: B, shuffle: false, seed: 1, first: 0, orderRng: null, end: 5, prefetch: 2 };
  const batches = Array.from({ length: 5 }, (_, s) => sliceDataset(data, s * B, (s + 1) * B));
  const feeds = {
    source: batchFeed(new DatasetSource(data, { shuffle: false, seed: 1 }), o),
    async: batchFeed(
      (async function* () {
        yield* batches;
      })(),
      o,
    ),
    sync: batchFeed(batches, o),
  };
  const firstLabel = (d: Dataset): number => d.dense[0] as number; // a uniform float: it tells batches apart
  for (const [kind, feed] of Object.entries(feeds)) {
    await feed.next(); // step 0
    const ahead = await feed.peek(3);
    const want = kind === "source" ? [1, 2, 3] : kind === "async" ? [1, 2] : [];
    assert.equal(
      ahead.map(firstLabel),
      want.map((s) => firstLabel(batches[s] as Dataset)),
      kind,
    );
    assert.is(
      firstLabel((await feed.next()) as Dataset),
      firstLabel(batches[1] as Dataset),
      `${kind}: next after peek`,
    );
    if (kind === "source") {
      await feed.next(); // step 2
      assert.is((await feed.peek(4)).length, 2, "steps 3 and 4: nothing past the end");
    }
    await feed.close();
  }
});

test("data of none of the forms, and an empty batch, are errors", async () => {
  const m = model();
  const opt = new SGD(m.parameters(), { lr: 0.1 });
  const o = { model: m, optimizer: opt, batchSize: B, steps: 2, shuffle: false, seed: 1 };
  await assertRejects(
    train({ ...o, data: 7 as unknown as TrainData }),
    /train: data must be a Dataset, a BatchSource, or an iterable/,
  );
  await assertRejects(train({ ...o, data: [sliceDataset(data, 0, 0)] }), /step 0: the batch has no samples/);
});

test("docs/datasets.md's example trains on batches from code as written", () => {
  const ts = markdownBlocks("docs/datasets.md", "Your own batches in code").filter((b) => b.lang === "ts");
  assert.is(ts.length, 1);
  const src = new URL("../../src/index.ts", import.meta.url).href;
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, "example.mts");
    writeFileSync(file, (ts[0] as { code: string }).code.replace(/from "dlrm-ts";/, `from ${JSON.stringify(src)};`));
    const root = new URL("../..", import.meta.url).pathname;
    const out = execFileSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8" });
    assert.match(out, /^steps 300$/m);
    const m = /first 50 steps ([\d.]+), of the last 50 ([\d.]+)/.exec(out);
    assert.ok(m !== null && Number(m[2]) < Number(m[1]), `the loss goes down: ${out}`);
  } finally {
    cleanup();
  }
});

test.run();
