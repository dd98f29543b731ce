// Output paths are checked before any work (src/cli/paths.ts): a missing or unwritable folder
// and an output that is one of the inputs (by device and inode: other spellings and hard
// links too) are usage errors (exit 2) naming the flag, printed before training starts and
// leaving the inputs as they were; --save over --init stays allowed (atomic).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { defaultConfig } from "../../src/dlrm/defaults.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

/** A batch file for the built-in model, and a checkpoint of that model. */
async function inputs(dir: string): Promise<{ data: string; ckpt: string }> {
  const data = join(dir, "data.safetensors");
  writeBatchFile(
    data,
    randomDataset({
      n: 40,
      denseFeatures: defaultConfig().dense_features,
      tableSizes: defaultConfig().table_sizes,
      numIndicesPerLookup: 3,
      numIndicesPerLookupFixed: false,
      seed: 7,
    }),
  );
  const ckpt = join(dir, "ckpt.safetensors");
  const r = await runCli([
    "train",
    "--data",
    data,
    "--steps",
    "2",
    "--batch-size",
    "20",
    "--workers",
    "1",
    "--save",
    ckpt,
  ]);
  assert.is(r.code, 0, r.stderr);
  return { data, ckpt };
}

/** Runs dlrm and expects a usage error matching `message`, printed before any training. */
async function refused(args: string[], message: RegExp): Promise<void> {
  const r = await runCli(args);
  assert.is(r.code, 2, `dlrm ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.not.match(r.stderr, /dlrm train: \d+ samples/, "refused before the run started");
  assert.is(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
}

test("train --save or --log in a missing folder, in a folder where nothing can be created, on a folder or a pipe: refused before training", async () => {
  const t = tempDir();
  try {
    // 1e6 steps: were the path checked after the work, this test would time out.
    const run = ["train", "--data", "random", "--steps", "1000000", "--workers", "1"];
    await refused(
      [...run, "--save", join(t.dir, "no", "x.safetensors")],
      /^dlrm: train: --save .*no\/x\.safetensors: the folder .*\/no does not exist$/m,
    );
    await refused(
      [...run, "--log", join(t.dir, "no", "x.jsonl")],
      /^dlrm: train: --log .*: the folder .* does not exist$/m,
    );
    await refused(
      [...run, "--save", "/proc/x.safetensors"],
      /^dlrm: train: --save \/proc\/x\.safetensors: cannot create files in \/proc \(E[A-Z]+\)$/m,
    );
    mkdirSync(join(t.dir, "sub"));
    await refused([...run, "--save", join(t.dir, "sub")], /^dlrm: train: --save .*sub: is a folder, not a file$/m);
    const fifo = join(t.dir, "fifo");
    assert.is(spawnSync("mkfifo", [fifo]).status, 0, "mkfifo");
    await refused(
      [...run, "--save", fifo],
      /^dlrm: train: --save .*fifo: is not a regular file \(a device or a pipe\)/m,
    );
  } finally {
    t.cleanup();
  }
});

test("predict --out equal to --data or --checkpoint (also spelt otherwise, or a hard link) is refused and the input kept", async () => {
  const t = tempDir();
  try {
    const { data, ckpt } = await inputs(t.dir);
    const before = readFileSync(data);
    const base = ["predict", "--checkpoint", ckpt, "--data", data];
    await refused(
      [...base, "--out", data],
      /^dlrm: predict: --out .*data\.safetensors is the same file as --data .*data\.safetensors: writing it would destroy an input; give another path$/m,
    );
    await refused(
      [...base, "--out", join(t.dir, "sub", "..", "data.safetensors")],
      /predict: --out .* is the same file as --data/,
    );
    const link = join(t.dir, "link.safetensors");
    linkSync(ckpt, link);
    await refused(
      [...base, "--out", link],
      /predict: --out .*link\.safetensors is the same file as --checkpoint .*ckpt\.safetensors/,
    );
    assert.ok(readFileSync(data).equals(before), "the data file is untouched");
    const ok = await runCli([...base, "--out", join(t.dir, "pred.safetensors")]);
    assert.is(ok.code, 0, ok.stderr);
  } finally {
    t.cleanup();
  }
});

test("train --save or --log equal to --data is refused; --save equal to --init is allowed (atomic replacement)", async () => {
  const t = tempDir();
  try {
    const { data, ckpt } = await inputs(t.dir);
    const run = ["train", "--data", data, "--steps", "2", "--batch-size", "20", "--workers", "1"];
    await refused([...run, "--save", data], /^dlrm: train: --save .* is the same file as --data /m);
    await refused([...run, "--log", data], /^dlrm: train: --log .* is the same file as --data /m);
    await refused([...run, "--log", ckpt, "--init", ckpt], /^dlrm: train: --log .* is the same file as --init /m);
    await refused(
      [...run, "--save", ckpt, "--log", ckpt],
      /^dlrm: train: --log .* is the same file as --save .*; give each output its own path$/m,
    );
    const again = await runCli([...run, "--init", ckpt, "--save", ckpt]);
    assert.is(again.code, 0, again.stderr);
  } finally {
    t.cleanup();
  }
});

test("preprocess criteo x --out x, and an --out whose dictionary would land on an input, are refused", async () => {
  const t = tempDir();
  try {
    const hex = (i: number): string => (0x1000 + i).toString(16);
    const line = (i: number): string =>
      [
        String(i % 2),
        ...Array.from({ length: 13 }, (_, k) => String(k + i)),
        ...Array.from({ length: 26 }, (_, k) => hex(k * i)),
      ].join("\t");
    const raw = join(t.dir, "train.txt");
    writeFileSync(raw, `${[0, 1, 2, 3].map(line).join("\n")}\n`);
    const before = readFileSync(raw);
    await refused(
      ["preprocess", "criteo", raw, "--out", raw],
      /^dlrm: preprocess: --out .*train\.txt is the same file as input file .*train\.txt/m,
    );
    const dictClash = join(t.dir, "x.dict.safetensors");
    writeFileSync(dictClash, "");
    await refused(
      ["preprocess", "criteo", raw, dictClash, "--out", join(t.dir, "x.safetensors")],
      /^dlrm: preprocess: its dictionary .*x\.dict\.safetensors is the same file as input file /m,
    );
    assert.ok(readFileSync(raw).equals(before), "the raw file is untouched");
    const ok = await runCli(["preprocess", "criteo", raw, "--out", join(t.dir, "b.safetensors")]);
    assert.is(ok.code, 0, ok.stderr);
  } finally {
    t.cleanup();
  }
});

/** A pipe and, where mknod is allowed (root), a character device like /dev/null, in dir. */
function specialFiles(dir: string): string[] {
  const fifo = join(dir, "fifo");
  assert.is(spawnSync("mkfifo", [fifo]).status, 0, "mkfifo");
  const dev = join(dir, "null-device");
  return spawnSync("mknod", [dev, "c", "1", "3"]).status === 0 ? [fifo, dev] : [fifo];
}

/** A training log (dlrm train --log) in dir. */
async function trainingLog(dir: string): Promise<string> {
  const log = join(dir, "run.jsonl");
  const r = await runCli(["train", "--data", "random", "--steps", "2", "--workers", "1", "--log", log]);
  assert.is(r.code, 0, r.stderr);
  return log;
}

test("convert, export and plot refuse a pipe or device, a folder and a folder that takes no file as output, before any work", async () => {
  const t = tempDir();
  try {
    const { ckpt } = await inputs(t.dir);
    const log = await trainingLog(t.dir);
    mkdirSync(join(t.dir, "sub"));
    const verbs: [string, (out: string) => string[]][] = [
      ["convert", (out) => ["convert", ckpt, out, "--to", "torchrec"]],
      ["export", (out) => ["export", "--checkpoint", ckpt, "--out", out]],
      ["plot", (out) => ["plot", log, "--out", out]],
    ];
    for (const [verb, args] of verbs) {
      const flag = verb === "convert" ? "<out>" : "--out";
      for (const special of specialFiles(join(t.dir, "sub"))) {
        await refused(
          args(special),
          new RegExp(`^dlrm: ${verb}: ${flag} .*: is not a regular file \\(a device or a pipe\\)`, "m"),
        );
        assert.ok(!statSync(special).isFile(), `${verb} left ${special} as it was`);
        rmSync(special);
      }
      await refused(
        args(join(t.dir, "sub")),
        new RegExp(`^dlrm: ${verb}: ${flag} .*sub: is a folder, not a file$`, "m"),
      );
      await refused(
        args("/proc/x.out"),
        new RegExp(`^dlrm: ${verb}: ${flag} /proc/x\\.out: cannot create files in /proc`, "m"),
      );
    }
  } finally {
    t.cleanup();
  }
});

test("plot --out equal to its log is refused and the log kept; plot replaces an existing picture by a rename, never in place", async () => {
  const t = tempDir();
  try {
    const log = await trainingLog(t.dir);
    const before = readFileSync(log);
    await refused(
      ["plot", log, "--out", log],
      /^dlrm: plot: --out .*run\.jsonl is the same file as log file .*run\.jsonl: writing it would destroy an input/m,
    );
    assert.ok(readFileSync(log).equals(before), "the log is untouched");
    const svg = join(t.dir, "curves.svg");
    writeFileSync(svg, "old picture");
    const second = join(t.dir, "second-name.svg");
    linkSync(svg, second); // the old file's inode, under another name
    const r = await runCli(["plot", log, "--out", svg]);
    assert.is(r.code, 0, r.stderr);
    assert.match(readFileSync(svg, "utf8"), /<svg /);
    assert.is(readFileSync(second, "utf8"), "old picture", "the old file was replaced by a rename, not overwritten");
  } finally {
    t.cleanup();
  }
});

/** Runs dlrm in a child process (a read that blocks or never ends would hang this one); kills it after timeoutMs. */
function cliChild(args: string[], timeoutMs = 60_000): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    timeout: timeoutMs,
    encoding: "utf8",
    env: { ...process.env, NODE_OPTIONS: "--max-old-space-size=512" },
  });
  return { code: r.status, stderr: r.stderr };
}

test("inputs that never end or block (/dev/zero, /dev/urandom, a pipe) are refused before reading, by the CLI and the readers", async () => {
  const t = tempDir();
  try {
    const { data, ckpt } = await inputs(t.dir);
    const [fifo] = specialFiles(t.dir) as [string];
    const train = ["train", "--data", "random", "--steps", "1", "--workers", "1"];
    const cases: [string[], RegExp][] = [
      [[...train, "--model", "/dev/zero"], /^dlrm: train: --model \/dev\/zero: is not a regular file/m],
      [[...train, "--init", fifo], /^dlrm: train: --init .*fifo: is not a regular file/m],
      [
        ["predict", "--checkpoint", "/dev/urandom", "--data", data, "--out", join(t.dir, "p.safetensors")],
        /--checkpoint \/dev\/urandom: is not a regular file/,
      ],
      [
        ["predict", "--checkpoint", ckpt, "--data", fifo, "--out", join(t.dir, "p.safetensors")],
        /predict: --data .*fifo: is not a regular file/,
      ],
      [["train", "--data", `criteo:${fifo}`, "--steps", "1"], /train: --data .*fifo: is not a regular file/],
      [
        ["convert", fifo, join(t.dir, "o.safetensors"), "--to", "torchrec"],
        /convert: <in> .*fifo: is not a regular file/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = cliChild(args);
      assert.is(r.code, 2, `dlrm ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    // The readers themselves (the API), in a child so that a reader that blocks fails the test by timeout.
    const script = `
      const { readConfig } = await import("./src/dlrm/config_file.ts");
      const { readSafetensorsIndex } = await import("./src/io/safetensors.ts");
      const { readTorchSave } = await import("./src/interop/torch/torch_save.ts");
      for (const [read, path] of [[readConfig, "/dev/zero"], [readSafetensorsIndex, ${JSON.stringify(fifo)}], [readTorchSave, ${JSON.stringify(fifo)}]]) {
        try { read(path); console.log("read " + path); } catch (e) { console.log(e.message); }
      }`;
    const api = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      timeout: 60_000,
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "--max-old-space-size=512" },
    });
    assert.is(api.status, 0, api.stderr);
    const lines = api.stdout.trim().split("\n");
    assert.match(lines[0] as string, /^\/dev\/zero: is not a regular file .*, not a model config \(JSON\)$/);
    assert.match(lines[1] as string, /fifo: is not a regular file .*, not a safetensors file$/);
    assert.match(lines[2] as string, /fifo: is not a regular file .*, not a torch\.save file$/);
  } finally {
    t.cleanup();
  }
});

test("a config file larger than 1 MiB is refused by its size, before it is read", async () => {
  const t = tempDir();
  try {
    const big = join(t.dir, "big.json");
    writeFileSync(big, `${JSON.stringify(defaultConfig())}${" ".repeat(2 * 1024 * 1024)}`);
    const r = await runCli(["train", "--data", "random", "--steps", "1", "--workers", "1", "--model", big]);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /^dlrm: .*big\.json: \d+ bytes is too large for a model config \(at most 1048576\)$/m);
  } finally {
    t.cleanup();
  }
});

test.run();
