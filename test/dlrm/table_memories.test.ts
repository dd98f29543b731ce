// The placement of embedding pieces into wasm memories (src/dlrm/tables/memories.ts): first-fit,
// largest first, with a part's optimizer state counted; a part bigger than one memory is an
// error naming it and its bytes. A DLRM whose tables a small per-memory cap
// (DLRM_TABLE_MEMORY_BYTES) spreads over 3+ memories trains to the same numbers as one memory,
// each piece and its optimizer state in its own memory, run by that memory's kernels (no
// fallback to the reference kernels).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { SPREAD_TABLES_CONFIG } from "../helpers/spread_tables.ts";
import { batchOf } from "../../src/data/batch.ts";
import { randomDataset } from "../../src/data/random.ts";
import type { DLRMConfig } from "../../src/dlrm/config.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { partBytes, placeParts, TableMemories } from "../../src/dlrm/tables/memories.ts";
import { kernelSet } from "../../src/kernels/index.ts";
import { heapOfBuffer, sizeClass } from "../../src/kernels/memory.ts";
import { wasmFallbacks } from "../../src/kernels/wasm.ts";
import { makeOptimizer, optimizerSpec, stateArray, stateTensors, type OptimizerName } from "../../src/optim/make.ts";
import { withStepArena } from "../../src/tensor/storage.ts";

/** Run fn with DLRM_TABLE_MEMORY_BYTES set to bytes (undefined: unset), restoring it after. */
function withCap<T>(bytes: number | undefined, fn: () => T): T {
  const before = process.env.DLRM_TABLE_MEMORY_BYTES;
  if (bytes === undefined) delete process.env.DLRM_TABLE_MEMORY_BYTES;
  else process.env.DLRM_TABLE_MEMORY_BYTES = String(bytes);
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.DLRM_TABLE_MEMORY_BYTES;
    else process.env.DLRM_TABLE_MEMORY_BYTES = before;
  }
}

test("placeParts: first-fit, largest first, the step's memory first; ties by position", () => {
  // capacities 10 (step) and 10 (table): 7 → 0, 6 → 1, 4 → 1, 3 → 0, 3 → 2 (0 has 0 left, 1 has 0)
  assert.equal(placeParts(["a", "b", "c", "d", "e"], [3, 7, 4, 6, 3], { step: 10, table: 10 }), [0, 0, 1, 1, 2]);
  // a step's memory with less room than a table memory takes what fits
  assert.equal(placeParts(["a", "b"], [5, 8], { step: 6, table: 8 }), [0, 1]);
  assert.equal(placeParts([], [], { step: 6, table: 8 }), []);
});

test("placeParts: a part bigger than one memory is an error naming it and its bytes", () => {
  assert.throws(
    () => placeParts(["table 0", "table 7 rows [0, 9)"], [5, 9000], { step: 8192, table: 8192 }),
    (e: Error) =>
      /^table 7 rows \[0, 9\): its weights and optimizer state take 8\.8 KiB \(9000 bytes\), more than one wasm memory holds for tables \(8 KiB\): split its rows over more workers/.test(
        e.message,
      ),
  );
});

test("partBytes: weights, learned pooling weights and each optimizer's state, as the heap's blocks", () => {
  const part = { label: "t", rows: 1000, dim: 16, pooling: false };
  const w = sizeClass(4 * 1000 * 16);
  const row = sizeClass(4 * 1000);
  assert.is(partBytes(part, null), w);
  assert.is(partBytes(part, optimizerSpec("sgd", 0.1)), w);
  assert.is(partBytes(part, optimizerSpec("adagrad", 0.1)), 2 * w);
  assert.is(partBytes(part, optimizerSpec("rowwise-adagrad", 0.1)), w + row);
  assert.is(partBytes(part, optimizerSpec("adam", 0.1)), 2 * w + row);
  // a learned pooling weight per row, and its own state (row-wise Adagrad: one value per row of it)
  assert.is(partBytes({ ...part, pooling: true }, optimizerSpec("rowwise-adagrad", 0.1)), w + row + 2 * row);
});

test("DLRM_TABLE_MEMORY_BYTES must be a byte count", () => {
  assert.throws(
    () => withCap(-1, () => new TableMemories([], null)),
    /DLRM_TABLE_MEMORY_BYTES must be a non-negative integer of bytes, got "-1"/,
  );
});

const CONFIG = SPREAD_TABLES_CONFIG;

const DATA = randomDataset({
  n: 200,
  denseFeatures: 4,
  tableSizes: CONFIG.table_sizes,
  numIndicesPerLookup: 6,
  numIndicesPerLookupFixed: false,
  seed: 3,
});

/** The model's parameters after 10 steps of 20 samples, and the model. */
function trained(
  kind: OptimizerName,
  cap: number | undefined,
  config: DLRMConfig = CONFIG,
): { model: DLRM; values: Float32Array[]; state: Float32Array[] } {
  const spec = optimizerSpec(kind, 0.05);
  const model = withCap(cap, () => new DLRM(config, 7, spec));
  const named = model.namedParameters();
  const opt = makeOptimizer(spec, named);
  for (let s = 0; s < 10; s++) {
    opt.zeroGrad();
    withStepArena(() => {
      const batch = batchOf(DATA, 20 * s, 20 * s + 20);
      model.criterion(model.forward(batch), batch.labels).backward();
      opt.step();
    });
  }
  const state = named.flatMap(([, p], i) =>
    stateTensors(spec, p.shape, model.pieceWeights.includes(p) || model.poolingWeights.includes(p)).map(
      (st) => stateArray(opt, i, st.key) as Float32Array,
    ),
  );
  return { model, values: named.map(([, p]) => (p.data as Float32Array).slice()), state };
}

for (const kind of ["sgd", "adagrad", "rowwise-adagrad", "adam"] as const) {
  test(`${kind}: tables spread over 3+ memories train to the numbers of one memory, each in its own memory's kernels`, () => {
    const spec = optimizerSpec(kind, 0.05);
    const largest = partBytes({ label: "", rows: 400, dim: 8, pooling: false }, spec);
    const one = trained(kind, undefined);
    assert.is(one.model.memories.count, 1);
    const before = JSON.stringify(wasmFallbacks());
    const spread = trained(kind, largest);
    assert.ok(spread.model.memories.count >= 3, `${spread.model.memories.count} memories`);
    assert.is(spread.values.length, one.values.length);
    spread.values.forEach((v, i) => assert.equal(v, one.values[i], `parameter ${i}`));
    spread.state.forEach((v, i) => assert.equal(v.slice(), one.state[i].slice(), `state ${i}`));
    if (kernelSet !== "wasm") return; // the reference kernels: nothing is resident
    assert.is(JSON.stringify(wasmFallbacks()), before, "a kernel fell back to the reference");
    const heaps = new Set(spread.model.pieceWeights.map((w) => heapOfBuffer(w.data.buffer)));
    assert.is(heaps.size, spread.model.memories.count);
    assert.ok(!heaps.has(null));
    // each piece's state lies in its piece's memory
    const named = spread.model.namedParameters();
    const opt = makeOptimizer(spec, named);
    spread.model.pieceWeights.forEach((w) => {
      const i = named.findIndex(([, p]) => p === w);
      for (const st of stateTensors(spec, w.shape, true))
        assert.is(heapOfBuffer(stateArray(opt, i, st.key).buffer), heapOfBuffer(w.data.buffer));
    });
  });
}

test("learned pooling weights and QR halves spread over memories train to the one-memory numbers", () => {
  // tables above 250 rows become QR pairs (20-row quotient, 20-row remainder); the others are
  // plain with learned per-row pooling weights, which live (with their state) beside their rows
  const config = {
    ...CONFIG,
    qr: { threshold: 250, collisions: 20, operation: "mult" },
    weighted_pooling: "learned",
  } as DLRMConfig;
  for (const kind of ["adagrad", "adam"] as const) {
    const largest = partBytes({ label: "", rows: 200, dim: 8, pooling: true }, optimizerSpec(kind, 0.05));
    const one = trained(kind, undefined, config);
    const spread = trained(kind, largest, config);
    assert.ok(spread.model.memories.count >= 3, `${kind}: ${spread.model.memories.count} memories`);
    spread.values.forEach((v, i) => assert.equal(v, one.values[i], `${kind}: parameter ${i}`));
    spread.state.forEach((v, i) => assert.equal(v.slice(), one.state[i].slice(), `${kind}: state ${i}`));
    if (kernelSet !== "wasm") continue;
    spread.model.poolingWeights.forEach((w, i) => {
      if (w !== null)
        assert.is(heapOfBuffer(w.data.buffer), heapOfBuffer(spread.model.pieceWeights[i].data.buffer), `piece ${i}`);
    });
  }
});

test.run();
