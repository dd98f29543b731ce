// The files of tables on disk (src/dlrm/store/disk_tables.ts) as they are made at the start of
// a run: each record holds the row's initial weights, the values the in-memory model draws
// (src/dlrm/init.ts, fillInitial over the whole table), then its fresh optimizer state. The
// tables span more than one chunk of records (the file is made chunk by chunk, the weights
// drawn straight into the records), and a rank's row range starts inside a Philox block;
// made on this thread and on three threads (src/dlrm/store/file_makers.ts), the same bytes;
// a thread that cannot write its file fails the making with the file's name.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DLRMConfig } from "../../src/dlrm/config.ts";
import { fillInitial } from "../../src/dlrm/init.ts";
import { DiskTables } from "../../src/dlrm/store/disk_tables.ts";
import { makeFilesOnThreads } from "../../src/dlrm/store/file_makers.ts";
import { chunkRows, RowFile } from "../../src/dlrm/store/row_file.ts";
import { tableLayout } from "../../src/dlrm/tables/layout.ts";
import type { OptimizerSpec } from "../../src/optim/make.ts";
import { fillUniform } from "../../src/tensor/philox.ts";
import { allocResident, isResident } from "../../src/tensor/storage.ts";

const W = 16;
const R = chunkRows(W + 1) * 2 + 7; // two whole chunks and a partial one, for row-wise Adagrad's records

function config(): DLRMConfig {
  return {
    dense_features: 4,
    bottom_mlp: [4, W],
    embedding_dim: W,
    table_sizes: [R, 5],
    pooling: "sum",
    interaction: "dot",
    top_mlp: [W + 3, 1],
    loss: "bce",
    optimizer: "sgd",
    lr: 0.1,
    batch_size: 4,
  } as DLRMConfig;
}

const SPECS: [OptimizerSpec, number][] = [
  [{ kind: "sgd", lr: 0.1 }, 0],
  [{ kind: "rowwise-adagrad", lr: 0.1, eps: 1e-10 }, 1],
  [{ kind: "adagrad", lr: 0.1, eps: 1e-10, initialAccumulator: 0.25, weightDecay: {} }, W],
];

for (const [spec, stateFloats] of SPECS)
  test(`${spec.kind}: every record is the in-memory row's initial weights, then its fresh state (whole table, and a rank's rows from 4k+3; 1 and 3 threads)`, () => {
    const c = config();
    const piece = tableLayout(c).pieces[0];
    const whole = new Float32Array(R * W);
    fillInitial(11, piece.name, piece.init, whole);
    const initial = spec.kind === "adagrad" ? spec.initialAccumulator : 0;
    const F = W + stateFloats;
    for (const [range, makers] of [
      [null, 1],
      [null, 3],
      [{ rowStart: 4 * 1001 + 3, rowEnd: R - 2 }, 1],
      [{ rowStart: 4 * 1001 + 3, rowEnd: R - 2 }, 3],
    ] as const) {
      const dir = mkdtempSync(join(tmpdir(), "table-files-"));
      try {
        const d = new DiskTables(
          c,
          spec,
          { kind: "seed", seed: 11 },
          { dir, cacheBytes: 1 << 16, lookAhead: 0, makers },
          [{ piece: 0, rows: range }],
        );
        d.close();
        const name = range === null ? piece.name : `${piece.name}.${range.rowStart}-${range.rowEnd}`;
        const bytes = readFileSync(join(dir, `${name}.rows`));
        const got = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
        const first = range === null ? 0 : range.rowStart;
        const rows = range === null ? R : range.rowEnd - range.rowStart;
        assert.is(got.length, rows * F);
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < W; j++)
            if (!Object.is(got[r * F + j], whole[(first + r) * W + j]))
              throw new Error(
                `row ${first + r} weight ${j}: ${got[r * F + j]}, in memory ${whole[(first + r) * W + j]}`,
              );
          for (let j = W; j < F; j++)
            if (got[r * F + j] !== initial) throw new Error(`row ${first + r} state ${j - W}: ${got[r * F + j]}`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

/** The making threads share the wasm memory: under DLRM_KERNELS=js there is none (the tables are made on one thread). */
const NO_MEMORY = isResident(allocResident(1)) ? null : "DLRM_KERNELS=js: no wasm memory for making threads";

test("chunks taken before the wasm memory grew still make the file (the threads see the grown memory)", () => {
  if (NO_MEMORY !== null) return console.log(`skipped: ${NO_MEMORY}`);
  const dir = mkdtempSync(join(tmpdir(), "table-files-"));
  const path = join(dir, "grown.rows");
  try {
    const chunks = [allocResident(chunkRows(5) * 5), allocResident(chunkRows(5) * 5)];
    const grown = allocResident(64 << 20); // 256 MiB more: the memory grows, its buffer is a new object
    assert.ok(grown.buffer !== chunks[0]?.buffer, "the memory did not grow");
    const rows = 3 * chunkRows(5) + 11;
    const file = RowFile.create(path, rows, 5, null);
    const key = [5, 6] as const;
    makeFilesOnThreads(
      [
        {
          fd: file.fd,
          path,
          rowStart: 0,
          rows,
          F: 5,
          W: 4,
          key,
          lo: -1,
          hi: 1,
          state: [{ offset: 4, perRow: 1, initial: 0.5 }],
        },
      ],
      chunks,
    );
    file.close();
    const bytes = readFileSync(path);
    const got = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const want = new Float32Array(rows * 4);
    fillUniform(want, key, 0, -1, 1);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < 4; j++)
        if (!Object.is(got[r * 5 + j], want[r * 4 + j])) throw new Error(`row ${r} weight ${j}: ${got[r * 5 + j]}`);
      assert.is(got[r * 5 + 4], 0.5);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file a making thread cannot write is an error naming it, not a hang", () => {
  if (NO_MEMORY !== null) return console.log(`skipped: ${NO_MEMORY}`);
  const dir = mkdtempSync(join(tmpdir(), "table-files-"));
  const path = join(dir, "read-only.rows");
  writeFileSync(path, "");
  const fd = openSync(path, "r");
  try {
    const chunks = [allocResident(chunkRows(5) * 5), allocResident(chunkRows(5) * 5)];
    const job = { fd, path, rowStart: 0, rows: 1000, F: 5, W: 4, key: [1, 2] as const, lo: -1, hi: 1 };
    assert.throws(
      () => makeFilesOnThreads([{ ...job, state: [{ offset: 4, perRow: 1, initial: 0 }] }], chunks),
      (e: Error) => e.message.startsWith(`table files: ${path}: EBADF`),
    );
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
