// The step arena (src/tensor/storage.ts withStepArena): what one training step allocates
// comes from one region that the next step hands out again. Checked here: pieces of one
// step never overlap and start zeroed; the next step reuses the same memory (the rule: a
// step's storage is valid until the next step begins, and no longer); growth during the
// first steps is merged into one chunk so that a steady-state step allocates nothing;
// nothing outside the arena (resident parameters, plain arrays) is ever touched; nested
// calls do not recycle; releaseStepGrads drops only arena gradients; and train() gives the
// same losses and parameters with the arena as a plain loop without it.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { randomDataset } from "../../src/data/random.ts";
import { batchOf } from "../../src/data/batch.ts";
import { parseConfig } from "../../src/dlrm/config.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { kernelSet } from "../../src/kernels/index.ts";
import { defaultHeap } from "../../src/kernels/memory.ts";
import { SGD } from "../../src/optim/sgd.ts";
import { Rng } from "../../src/tensor/rng.ts";
import {
  allocFloat,
  allocFloatUninit,
  inStepArena,
  isResident,
  releaseStepGrads,
  stepArenaStats,
  transientAllocatedBytes,
  allocResident,
  withStepArena,
} from "../../src/tensor/storage.ts";
import { zeros } from "../../src/tensor/tensor.ts";
import { train } from "../../src/train/trainer.ts";
import { LocalExecutor } from "../../src/train/local.ts";
import { rowRange } from "../../src/dlrm/tables/pool.ts";
import type { Shard } from "../../src/parallel/plan.ts";
import { countTypedArrays } from "../helpers/typed_arrays.ts";

test("one step: pieces are zeroed, 64-byte aligned, and never overlap; float64 stays plain", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 40 }), (sizes) => {
      withStepArena(() => {
        const arrs = sizes.map((n) => allocFloat("float32", n) as Float32Array);
        arrs.forEach((a, k) => {
          assert.ok(
            a.every((v) => v === 0),
            `piece ${k} is not zeroed`,
          );
          assert.ok(inStepArena(a));
          assert.is(a.byteOffset % 64, 0);
          assert.is(isResident(a), kernelSet === "wasm");
          a.fill(k + 1);
        });
        arrs.forEach((a, k) =>
          assert.ok(
            a.every((v) => v === k + 1),
            `piece ${k} was overwritten by another piece`,
          ),
        );
        const d = allocFloat("float64", 3);
        assert.ok(d instanceof Float64Array && !inStepArena(d));
      });
    }),
    { seed: 4801, numRuns: 40 },
  );
});

test("the next step hands the same memory out again (the arena's rule), zeroed", () => {
  const first = withStepArena(() => allocFloat("float32", 100) as Float32Array);
  first.fill(3);
  assert.ok(
    first.every((v) => v === 3),
    "valid until the next step begins",
  );
  const second = withStepArena(() => allocFloat("float32", 100) as Float32Array);
  assert.is(second.buffer, first.buffer);
  assert.is(second.byteOffset, first.byteOffset);
  assert.ok(
    first.every((v) => v === 0),
    "the kept array now shows the new step's (zeroed) piece",
  );
});

test("nested withStepArena does not recycle; storage outside the arena is never touched", () => {
  const plain = allocFloat("float32", 64) as Float32Array; // outside: plain
  const res = withStepArena(() => allocResident(64)); // resident wins
  assert.ok(!inStepArena(plain) && !inStepArena(res));
  plain.fill(7);
  res.fill(8);
  withStepArena(() => {
    const a = allocFloat("float32", 64) as Float32Array;
    a.fill(1);
    const b = withStepArena(() => allocFloat("float32", 64) as Float32Array); // nested: same step
    assert.ok(
      a.every((v) => v === 1),
      "a nested call recycled the outer step's storage",
    );
    b.fill(2);
    for (let i = 0; i < 3; i++) (allocFloatUninit("float32", 4096) as Float32Array).fill(9);
  });
  withStepArena(() => (allocFloat("float32", 1 << 16) as Float32Array).fill(5));
  assert.ok(plain.every((v) => v === 7) && res.every((v) => v === 8));
  assert.ok(
    allocFloatUninit("float64", 2).every((v) => v === 0),
    "outside the arena, uninit storage is zeroed too",
  );
});

test("growth: a step bigger than the arena adds chunks, the next step merges them into one", () => {
  const big = stepArenaStats().capacityBytes / 4 + 1000; // more than the arena holds now
  withStepArena(() => {
    allocFloat("float32", 1000);
    allocFloat("float32", big);
  });
  assert.ok(stepArenaStats().chunks >= 2);
  withStepArena(() => {
    allocFloat("float32", 1000);
    allocFloat("float32", big);
  });
  const s = stepArenaStats();
  assert.is(s.chunks, 1);
  assert.ok(s.usedBytes >= 4 * (big + 1000));
});

test("releaseStepGrads drops the gradients that live in the arena, and only those", () => {
  const p = zeros([3], { requiresGrad: true });
  const q = zeros([3], { requiresGrad: true });
  withStepArena(() => {
    p.grad = allocFloat("float32", 3);
    p.rowGrad = { ids: Int32Array.of(1), values: allocFloat("float32", 1), rows: 3, cols: 1 };
  });
  q.grad = new Float32Array(3);
  releaseStepGrads([p, q]);
  assert.is(p.grad, null);
  assert.is(p.rowGrad, null);
  assert.ok(q.grad !== null, "a gradient outside the arena stays");
});

function smallModel(seed: number): DLRM {
  const config = parseConfig({
    dense_features: 4,
    bottom_mlp: [4, 8, 4],
    embedding_dim: 4,
    table_sizes: [20, 7, 30],
    interaction: "dot",
    top_mlp: [10, 6, 1],
    optimizer: "sgd",
    lr: 0.1,
    batch_size: 16,
  });
  return new DLRM(config, seed);
}

test("train() with the arena = a plain loop without it (losses and parameters bit for bit); steady steps allocate nothing", async () => {
  const data = randomDataset({
    n: 160,
    denseFeatures: 4,
    tableSizes: [20, 7, 30],
    numIndicesPerLookup: 2,
    numIndicesPerLookupFixed: false,
    seed: 5,
  });
  const a = smallModel(3);
  const b = smallModel(3);
  // optimize all but the last parameter: its gradient is left in the arena after each
  // step, and must not be accumulated into recycled memory by the next one
  const pa = a.parameters();
  const r = await train({
    model: a,
    optimizer: new SGD(pa.slice(0, -1), { lr: 0.1 }),
    data,
    batchSize: 16,
    steps: 10,
    shuffle: false,
    seed: 1,
  });
  const pb = b.parameters();
  const opt = new SGD(pb.slice(0, -1), { lr: 0.1 });
  const losses: number[] = [];
  for (let s = 0; s < 10; s++) {
    opt.zeroGrad();
    const { loss } = b.loss(batchOf(data, s * 16, (s + 1) * 16));
    losses.push(loss.item());
    loss.backward();
    opt.step();
  }
  assert.equal(r.losses, losses); // tolerance: none, the same kernels in the same order
  pa.forEach((p, i) => assert.equal(Array.from(p.data), Array.from((pb[i] as typeof p).data), `parameter ${i}`));

  // a steady-state step: no float storage on the JS heap, no growth of the wasm memory
  const optA = new SGD(pa, { lr: 0.1 });
  const step = (s: number): void => {
    optA.zeroGrad();
    withStepArena(() => {
      const { loss } = a.loss(batchOf(data, (s % 10) * 16, ((s % 10) + 1) * 16));
      loss.backward();
      optA.step();
    });
  };
  for (let s = 0; s < 3; s++) step(s);
  const before = transientAllocatedBytes();
  const top = kernelSet === "wasm" ? defaultHeap().stats().topBytes : 0;
  const made = await countTypedArrays(() => {
    for (let s = 3; s < 8; s++) step(s);
  });
  assert.is(made.arrays, 0, `a steady-state step allocated typed arrays: ${made.made.join(", ")}`);
  assert.is(transientAllocatedBytes(), before, "a steady-state step allocated float storage on the JS heap");
  if (kernelSet === "wasm") assert.is(defaultHeap().stats().topBytes, top, "a steady-state step grew the wasm heap");
});

test("LocalExecutor steps on shuffled batches (copied rows) allocate no typed array once steady", async () => {
  const data = randomDataset({
    n: 64,
    denseFeatures: 4,
    tableSizes: [20, 7, 30],
    numIndicesPerLookup: 3,
    numIndicesPerLookupFixed: false,
    seed: 8,
  });
  const model = smallModel(4);
  const exec = new LocalExecutor(model, new SGD(model.parameters(), { lr: 0.1 }));
  const rows = new Rng(2).shuffle(Int32Array.from({ length: 64 }, (_, i) => i));
  const step = (s: number) =>
    exec.step(s, { data, rows: rows.subarray((s % 4) * 16, ((s % 4) + 1) * 16), start: 0, count: 16 }, 0.1);
  for (let s = 0; s < 4; s++) await step(s);
  const made = await countTypedArrays(async () => {
    for (let s = 4; s < 8; s++) await step(s);
  });
  assert.is(made.arrays, 0, `a steady-state step allocated typed arrays: ${made.made.join(", ")}`);
});

test("rowRange (a split table's lookups on one rank) takes its arrays from the step arena", async () => {
  const ids = Int32Array.of(0, 5, 9, 3, 7);
  const offsets = Int32Array.of(0, 2, 5);
  const shard: Shard = { table: 0, rank: 0, rowStart: 3, rowEnd: 8, whole: false, bytes: 0, lookupsPerSample: 0 };
  const want = rowRange(ids, offsets, null, shard, true);
  assert.equal(Array.from(want.indices), [2, 0, 4]); // ids 5, 3, 7 renumbered from row 3
  assert.equal(Array.from(want.offsets), [0, 1, 3]);
  let got: ReturnType<typeof rowRange> | null = null;
  const made = await countTypedArrays(() => {
    withStepArena(() => {
      got = rowRange(ids, offsets, null, shard, true);
      assert.ok(inStepArena((got as ReturnType<typeof rowRange>).indices));
    });
  });
  assert.is(made.arrays, 0, made.made.join(", "));
  const r = got as unknown as ReturnType<typeof rowRange>;
  assert.equal(Array.from(r.weights ?? []), Array.from(want.weights ?? []));
});

test.run();
