// The checkpoint a page saves is the file the CLI writes: the bytes made in memory (one
// thread: modelCheckpointBytes; N ranks: HybridExecutor.saveBytes, each rank writing its own
// pieces into shared memory) equal, byte for byte, the file that saveCheckpoint and
// HybridExecutor.save write for the same model, optimizer state, metadata and dtype, after a
// few training steps (so the optimizer state is not all zeros); and they parse back.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { modelCheckpointBytes } from "../../src/dlrm/checkpoint_bytes.ts";
import { saveCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { parseSafetensors } from "../../src/io/safetensors.ts";
import { makeOptimizer, optimizerSpec } from "../../src/optim/make.ts";
import { HybridExecutor } from "../../src/parallel/hybrid.ts";
import { train } from "../../src/train/trainer.ts";
import { bagsDataset, smallConfig } from "../parallel/hybrid_helpers.ts";

const tables = [3, 50, 700];
const config = smallConfig({ tables, E: 4, pooling: "sum", interaction: "dot" });
const data = bagsDataset({
  n: 40,
  denseFeatures: 3,
  tableSizes: tables,
  maxBag: 3,
  weighted: [false, true, false],
  seed: 3,
});
const spec = optimizerSpec("adagrad", 0.1);
const metadata = { format: "pt", note: "checkpoint bytes test" };

function withDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "dlrm-ckpt-bytes-"));
  return use(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test("one thread: modelCheckpointBytes = the file saveCheckpoint writes (F32 and F16)", () =>
  withDir(async (dir) => {
    const model = new DLRM(config, 5);
    const optimizer = makeOptimizer(spec, model.namedParameters());
    await train({ model, optimizer, data, batchSize: 8, steps: 6, shuffle: true, seed: 1, progress: null });
    for (const dtype of ["F32", "F16"] as const) {
      const path = join(dir, `one-${dtype}.safetensors`);
      await saveCheckpoint(path, model, metadata, optimizer, spec, dtype);
      const bytes = modelCheckpointBytes(model, metadata, optimizer, spec, dtype);
      assert.ok(Buffer.from(bytes).equals(readFileSync(path)), `${dtype}: the same bytes as the file`);
      const parsed = parseSafetensors(bytes, "in memory");
      assert.ok(
        parsed.tensors.has("emb_l.2.weight") && [...parsed.tensors.keys()].some((k) => k.startsWith("optimizer.")),
      );
    }
  }));

test("2 ranks: HybridExecutor.saveBytes = the file HybridExecutor.save writes (the 700-row table split by rows)", () =>
  withDir(async (dir) => {
    const executor = await HybridExecutor.start({
      config,
      workers: 2,
      optimizer: spec,
      source: { kind: "seed", seed: 5 },
      datasets: [data],
      maxBatch: 8,
      maxBytesPerRank: 12 * 1024, // forces the 700 × 4 float table (22 KiB with its Adagrad state) to be split by rows
    });
    try {
      assert.ok((executor.plan.tables[2]?.shards.length ?? 0) > 1, "table 2 is split by rows");
      await train({ executor, data, batchSize: 8, steps: 6, shuffle: true, seed: 1, lr: spec.lr, progress: null });
      const path = join(dir, "ranks.safetensors");
      await executor.save(path, metadata);
      const bytes = await executor.saveBytes(metadata);
      assert.ok(Buffer.from(bytes).equals(readFileSync(path)), "the same bytes as the file");
    } finally {
      await executor.close();
    }
  }));

test.run();
