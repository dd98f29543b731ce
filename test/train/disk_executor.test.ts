// Tables on disk (src/dlrm/store/, src/train/disk_executor.ts) against the in-memory model:
// the same run through the one loop, on this thread, with the tables in memory (LocalExecutor)
// and in files behind caches far smaller than the tables (so rows leave and come back many
// times), writes the same checkpoint bytes, for SGD, Adagrad (initial accumulator, weight
// decay), row-wise Adagrad and Adam, with exact look-ahead and with LRU, with rows read ahead
// (on the reader thread, or on this one) into caches down to barely a batch, across a resume.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Dataset } from "../../src/data/dataset.ts";
import type { DLRMConfig } from "../../src/dlrm/config.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { loadCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { parameterSpecs } from "../../src/dlrm/init.ts";
import { makeOptimizer, optimizerSpec, type OptimizerName, type OptimizerSpec } from "../../src/optim/make.ts";
import { DiskTableExecutor } from "../../src/train/disk_executor.ts";
import { readCheckpointIndex } from "../../src/interop/checkpoint_file.ts";
import { cacheRows } from "../../src/dlrm/store/disk_tables.ts";
import { kernelSet } from "../../src/kernels/index.ts";
import type { Executor } from "../../src/train/executor.ts";
import { LocalExecutor } from "../../src/train/local.ts";
import { train, type TrainPosition } from "../../src/train/trainer.ts";
import { bagsDataset, smallConfig } from "../parallel/hybrid_helpers.ts";

const TABLES = [3, 700, 40, 1500];

function spec(kind: OptimizerName, config: DLRMConfig): OptimizerSpec {
  if (kind !== "adagrad") return optimizerSpec(kind, kind === "adam" ? 0.01 : 0.1);
  const decay = Object.fromEntries(parameterSpecs(config).map((p, i) => [p.name, i % 2 === 0 ? 0.05 : 0]));
  return optimizerSpec(kind, 0.05, { initialAccumulator: 0.1, weightDecay: decay });
}

interface Run {
  config: DLRMConfig;
  spec: OptimizerSpec;
  data: Dataset;
  steps: number;
  start?: TrainPosition | null;
  /** null: in memory; else the tables in files behind caches of this many bytes. */
  disk: { cacheBytes: number; lookAhead: number; prefetch?: number; readerThread?: boolean } | null;
  source: { kind: "seed"; seed: number } | { kind: "file"; path: string; withOptimizer: boolean };
  save: string;
}

async function run(o: Run, dir: string): Promise<{ position: TrainPosition; executor: Executor }> {
  let executor: Executor;
  if (o.disk === null) {
    const model = new DLRM(o.config, o.source.kind === "seed" ? o.source.seed : 0);
    const optimizer = makeOptimizer(o.spec, model.namedParameters());
    if (o.source.kind === "file") loadCheckpoint(o.source.path, model, optimizer, o.spec);
    executor = new LocalExecutor(model, optimizer, o.spec);
  } else {
    const source =
      o.source.kind === "file"
        ? { kind: "file" as const, index: readCheckpointIndex(o.source.path), withOptimizer: o.source.withOptimizer }
        : o.source;
    executor = new DiskTableExecutor(o.config, o.spec, source, { dir, ...o.disk });
  }
  try {
    const r = await train({
      executor,
      data: o.data,
      batchSize: 9,
      steps: o.steps,
      shuffle: true,
      seed: 5,
      lr: o.spec.lr,
      start: o.start ?? null,
    });
    await executor.save(o.save, { steps: String(r.position.step) });
    return { position: r.position, executor };
  } finally {
    await executor.close();
  }
}

for (const kind of ["sgd", "adagrad", "rowwise-adagrad", "adam"] as const) {
  test(`${kind}: tables on disk behind small caches save the in-memory run's bytes, look-ahead and LRU, across a resume`, async () => {
    const tmp = mkdtempSync(join(tmpdir(), "dlrm-disk-"));
    try {
      const config = smallConfig({
        tables: TABLES,
        E: 4,
        pooling: kind === "adam" ? "mean" : "sum",
        interaction: "dot",
      });
      const s = spec(kind, config);
      const data = bagsDataset({
        n: 200,
        denseFeatures: 3,
        tableSizes: TABLES,
        maxBag: 4,
        weighted: [false, true, false, false],
        seed: 11,
      });
      const source = { kind: "seed" as const, seed: 3 };
      const memory = join(tmp, "memory.safetensors");
      await run({ config, spec: s, data, steps: 30, disk: null, source, save: memory }, tmp);
      const want = readFileSync(memory);
      const hits: number[] = [];
      // 6000 bytes hold 40 to 90 rows of the 700- and 1500-row tables: rows leave and come back
      // all the time; 4000 bytes barely more than a batch's rows (read ahead mostly stops).
      const disks = [
        { cacheBytes: 6000, lookAhead: 4 },
        { cacheBytes: 6000, lookAhead: 0 },
        { cacheBytes: 1 << 20, lookAhead: 2 },
        { cacheBytes: 4000, lookAhead: 4, prefetch: 4 },
        { cacheBytes: 6000, lookAhead: 4, prefetch: 2, readerThread: false },
      ];
      for (const [i, disk] of disks.entries()) {
        const path = join(tmp, `disk-${i}.safetensors`);
        const tables = join(tmp, `tables-${i}`);
        rmSync(tables, { recursive: true, force: true });
        (await import("node:fs")).mkdirSync(tables);
        const { executor } = await run({ config, spec: s, data, steps: 30, disk, source, save: path }, tables);
        const disked = executor as DiskTableExecutor;
        const c = disked.counts();
        if (disk.cacheBytes <= 6000) assert.ok(c.evictions > 100 && c.writes > 100, JSON.stringify(c)); // rows did leave and come back
        if (disk.lookAhead > 0 && disk.cacheBytes <= 6000)
          assert.ok(c.readAhead > 0, `rows were read ahead: ${JSON.stringify(c)}`);
        assert.is(
          disked.tables.threaded,
          disk.readerThread !== false && kernelSet === "wasm",
          "moves on the reader thread",
        );
        hits.push(c.hits);
        assert.ok(
          readFileSync(path).equals(want),
          `${JSON.stringify(disk)}: the checkpoint differs from the in-memory run's`,
        );
        assert.equal(readdirSync(tables).sort(), [
          "emb_l.0.weight.rows",
          "emb_l.1.weight.rows",
          "emb_l.2.weight.rows",
          "emb_l.3.weight.rows",
        ]);
      }
      assert.ok((hits[0] as number) > (hits[1] as number), `look-ahead hits ${hits[0]} vs LRU ${hits[1]}`);
      // 12 steps on disk, saved; resumed on disk to 30: the in-memory 30-step bytes.
      const half = join(tmp, "half.safetensors");
      const first = await run(
        { config, spec: s, data, steps: 12, disk: { cacheBytes: 6000, lookAhead: 4 }, source, save: half },
        tmp,
      );
      const resumed = join(tmp, "resumed.safetensors");
      const resumeSpec = kind === "adam" ? { ...s, step: 12 } : s;
      await run(
        {
          config,
          spec: resumeSpec,
          data,
          steps: 30,
          start: first.position,
          disk: { cacheBytes: 6000, lookAhead: 4 },
          source: { kind: "file", path: half, withOptimizer: true },
          save: resumed,
        },
        tmp,
      );
      assert.ok(readFileSync(resumed).equals(want), "the resumed run's checkpoint differs from the in-memory run's");
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

test("the cache bytes: small tables whole, the rest in equal shares, at least one row each", () => {
  const p = (rows: number, rowBytes: number, label: string) => ({ rows, rowBytes, label });
  // 10,000 bytes: table a (3 rows of 64) whole = 192; the other two share 9,808: 4,904 each
  assert.equal(cacheRows([p(1000, 64, "b"), p(3, 64, "a"), p(500, 128, "c")], 10_000), [76, 3, 38]);
  assert.throws(
    () => cacheRows([p(1000, 64, "table 0"), p(1000, 64, "table 1")], 100),
    /100 bytes leave 50 for table 0, less than one row of 64 bytes/,
  );
});

test.run();
