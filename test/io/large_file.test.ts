// Files past 2 and 4 GiB, without the memory: sparse files whose first tensor is a 4.5 GiB
// hole that the reader must skip, so that every tensor it does read lies at an offset past
// 2^32. A batch file with an extra payload tensor (ignored by the format) and a checkpoint
// with an optimizer state tensor (ignored by predict) give the same predictions as their
// small twins, on this thread and on 2 ranks; the index reports the offsets past 2^32.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { closeSync, fstatSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { readBatchFile, writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { defaultConfig } from "../../src/dlrm/defaults.ts";
import {
  layoutSafetensors,
  readSafetensors,
  readSafetensorsIndex,
  type SafetensorsTensor,
} from "../../src/io/safetensors.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

/** Elements of the hole tensor: 4.5 GiB of F32. */
const HOLE = 1.125 * 2 ** 30;

/**
 * Writes `tensors` after a hole tensor `holeName` (F32, HOLE elements) as a sparse file: only
 * the header and the small tensors are written. Returns false (and writes nothing more) when
 * the file system stores the hole (the test then skips).
 */
function writeSparse(
  path: string,
  holeName: string,
  tensors: Map<string, SafetensorsTensor>,
  metadata: Record<string, string>,
): boolean {
  const specs = [
    { name: holeName, dtype: "F32" as const, shape: [HOLE] },
    ...[...tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
  ];
  const layout = layoutSafetensors(specs, metadata);
  const fd = openSync(path, "w");
  try {
    ftruncateSync(fd, layout.totalBytes);
    if (fstatSync(fd).blocks * 512 > 64 * 1024 * 1024) return false;
    writeSync(fd, layout.header, 0, layout.header.length, 0);
    for (const [name, t] of tensors) {
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      writeSync(fd, bytes, 0, bytes.length, layout.offsets.get(name) as number);
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

test("a 4.5 GiB sparse batch file and checkpoint: tensors past 2^32 are read by position, predictions equal the small files'", async () => {
  const t = tempDir();
  try {
    const c = defaultConfig();
    const data = join(t.dir, "data.safetensors");
    writeBatchFile(
      data,
      randomDataset({
        n: 30,
        denseFeatures: c.dense_features,
        tableSizes: c.table_sizes,
        numIndicesPerLookup: 2,
        numIndicesPerLookupFixed: false,
        seed: 9,
      }),
    );
    const ckpt = join(t.dir, "ckpt.safetensors");
    const r = await runCli([
      "train",
      "--data",
      data,
      "--steps",
      "2",
      "--batch-size",
      "10",
      "--workers",
      "1",
      "--save",
      ckpt,
    ]);
    assert.is(r.code, 0, r.stderr);

    const bigData = join(t.dir, "big-data.safetensors");
    const bigCkpt = join(t.dir, "big-ckpt.safetensors");
    const d = readSafetensors(data);
    const k = readSafetensors(ckpt);
    if (
      !writeSparse(bigData, "payload", d.tensors, d.metadata) ||
      !writeSparse(bigCkpt, "optimizer.state.emb_l.0.weight.momentum_buffer", k.tensors, k.metadata)
    ) {
      console.log("large file test: skipped, this file system does not keep sparse files sparse");
      return;
    }
    const index = readSafetensorsIndex(bigCkpt);
    assert.ok(index.fileBytes > 2 ** 32, `${index.fileBytes} bytes`);
    for (const name of k.tensors.keys())
      assert.ok((index.entries.get(name)?.begin as number) > 2 ** 32, `${name} lies past 2^32`);
    assert.equal(readBatchFile(bigData).labels, readBatchFile(data).labels);

    const want = join(t.dir, "want.safetensors");
    const ok = await runCli(["predict", "--checkpoint", ckpt, "--data", data, "--out", want]);
    assert.is(ok.code, 0, ok.stderr);
    for (const workers of ["1", "2"]) {
      const got = join(t.dir, `got${workers}.safetensors`);
      const p = await runCli([
        "predict",
        "--checkpoint",
        bigCkpt,
        "--data",
        bigData,
        "--out",
        got,
        "--workers",
        workers,
      ]);
      assert.is(p.code, 0, p.stderr);
      if (workers === "1")
        assert.ok(readFileSync(got).equals(readFileSync(want)), "the same predictions, byte for byte");
      else assert.equal(readSafetensors(got).tensors.get("pred")?.shape, [30]);
    }
  } finally {
    t.cleanup();
  }
});

test.run();
