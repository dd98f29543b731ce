// How fast the table files of `dlrm train --table-dir` are made from the seed (issue 27): one
// table of row-wise Adagrad records (64 weights and the accumulator) of --gb gigabytes, made
// by the table store (src/dlrm/store/disk_tables.ts) on 1 thread and on --makers threads,
// rounds interleaved, each timed to the end of the making (the page cache has the bytes) and
// to the end of an fdatasync of the file (the disk has them). The disk's own rate is measured
// in the same run by dd (sequential writes of as many bytes, then fdatasync), so the ratio
// says whether the making is bound by the disk or by the generator.
//
//   nice -n 10 node --import tsx bench/table_files.bench.ts [--gb 4] [--rounds 2] [--makers 2]
//     [--dir /tmp/...]
//
// Glossary: F floats per record.

import { execFileSync } from "node:child_process";
import { closeSync, fdatasyncSync, mkdirSync, openSync, readdirSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { DLRMConfig } from "../src/dlrm/config.ts";
import { DiskTables } from "../src/dlrm/store/disk_tables.ts";
import { machine } from "./markdown.ts";

const DIM = 64;
const F = DIM + 1;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

/** Seconds to make the files (to the page cache) and to have them on disk (fdatasync). */
function makeOnce(dir: string, rows: number, makers: number): { madeS: number; syncedS: number } {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const config = {
    dense_features: 13,
    bottom_mlp: [13, DIM],
    embedding_dim: DIM,
    table_sizes: [rows],
    pooling: "sum",
    interaction: "dot",
    top_mlp: [DIM + 1, 1],
    loss: "bce",
    optimizer: "rowwise-adagrad",
    lr: 0.01,
    batch_size: 16,
  } as DLRMConfig;
  const t0 = performance.now();
  const tables = new DiskTables(
    config,
    { kind: "rowwise-adagrad", lr: 0.01, eps: 1e-10 },
    { kind: "seed", seed: 7 },
    { dir, cacheBytes: 1 << 20, lookAhead: 0, makers },
  );
  const made = performance.now();
  for (const name of readdirSync(dir)) {
    const fd = openSync(join(dir, name), "r+");
    fdatasyncSync(fd);
    closeSync(fd);
  }
  const synced = performance.now();
  tables.close();
  rmSync(dir, { recursive: true, force: true });
  return { madeS: (made - t0) / 1000, syncedS: (synced - t0) / 1000 };
}

/** dd's rate writing `bytes` sequentially to a file in dir, flushed (MB/s). */
function ddRate(dir: string, bytes: number): number {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "dd.bin");
  const count = Math.ceil(bytes / (16 << 20));
  const t0 = performance.now();
  execFileSync("dd", ["if=/dev/zero", `of=${path}`, "bs=16M", `count=${count}`, "conv=fdatasync"], { stdio: "ignore" });
  const s = (performance.now() - t0) / 1000;
  rmSync(path, { force: true });
  return (count * (16 << 20)) / 1e6 / s;
}

const gb = Number(arg("gb", "4"));
const rounds = Number(arg("rounds", "2"));
const makers = Number(arg("makers", "2"));
const dir = arg("dir", join(tmpdir(), "dlrm-table-files"));
const rows = Math.round((gb * 1e9) / (4 * F));
const bytes = rows * 4 * F;
const started = new Date();
const startLoad = loadavg();
const results: { round: number; makers: number; madeS: number; syncedS: number; madeMBs: number; syncedMBs: number }[] =
  [];
const dd: number[] = [];
for (let r = 0; r < rounds; r++) {
  dd.push(ddRate(dir, bytes));
  for (const m of r % 2 === 0 ? [1, makers] : [makers, 1]) {
    const t = makeOnce(join(dir, "tables"), rows, m);
    results.push({ round: r, makers: m, ...t, madeMBs: bytes / 1e6 / t.madeS, syncedMBs: bytes / 1e6 / t.syncedS });
    console.error(JSON.stringify(results.at(-1)));
  }
}
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    command: `nice -n 10 node --import tsx bench/table_files.bench.ts ${process.argv.slice(2).join(" ")}`.trim(),
    date: started.toISOString(),
    machine: machine(),
    loadAvg: { start: startLoad, end: loadavg() },
    rows,
    bytes,
    ddMBs: dd,
    results,
  }),
);
