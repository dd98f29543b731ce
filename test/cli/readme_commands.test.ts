// The README's `dlrm train` / `dlrm predict` commands on ../shared/golden, and the `dlrm
// convert` commands on the checkpoint they write, extracted from
// README.md and run as written (in a temp folder laid out like the checkout's parent, so
// `../shared/...` resolves and the outputs do not land in the checkout). `npm run -s dlrm --`
// is the bin, run directly (the same file `npm run dlrm` runs through tsx). Skipped, and
// counted as skipped, when ../shared/golden is absent.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { readmeBlocks, shellCommands, shellWords } from "../helpers/readme.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { tempDir } from "../helpers/cli.ts";
import { GOLDEN, SHARED } from "../helpers/golden.ts";

const root = new URL("../..", import.meta.url).pathname;
const golden = existsSync(join(GOLDEN, "small", "config.json"));

/** Run a README block's `npm run -s dlrm -- …` commands in cwd, through the bin. */
function runBlock(cmds: string[], cwd: string): void {
  for (const cmd of cmds) {
    assert.match(cmd, /^npm run -s dlrm -- /);
    const args = shellWords(cmd.replace(/^npm run -s dlrm -- /, ""));
    execFileSync(process.execPath, [join(root, "bin", "dlrm.js"), ...args], {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  }
}

(golden ? test : test.skip)(
  "README: the golden train and predict commands run as written, then the convert and export commands on their checkpoint",
  () => {
    const blocks = readmeBlocks("The `dlrm` command").filter((b) => b.lang === "sh");
    const block = blocks.find((b) => b.code.includes("golden"));
    const convert = blocks.find((b) => b.code.includes("dlrm -- convert"));
    const exportBlock = blocks.find((b) => b.code.includes("dlrm -- export"));
    assert.ok(block !== undefined, "README has the golden sh block");
    assert.ok(convert !== undefined, "README has the convert sh block");
    assert.ok(exportBlock !== undefined, "README has the export sh block");
    const cmds = shellCommands(block.code);
    assert.is(cmds.length, 2);
    const { dir, cleanup } = tempDir();
    try {
      symlinkSync(SHARED, join(dir, "shared"));
      const cwd = join(dir, "checkout");
      mkdirSync(cwd);
      runBlock(cmds, cwd);
      assert.ok(existsSync(join(cwd, "run.jsonl")) && existsSync(join(cwd, "ckpt.safetensors")));
      const pred = readSafetensors(join(cwd, "preds.safetensors")).tensors.get("pred");
      assert.ok(pred !== undefined && pred.shape.length === 1 && (pred.shape[0] as number) > 0);
      runBlock(shellCommands(convert.code), cwd);
      assert.ok(
        readSafetensors(join(cwd, "torchrec.safetensors")).tensors.has("over_arch.model.1.weight"),
        "TorchRec's names",
      );
      const back = readSafetensors(join(cwd, "back.safetensors")).tensors;
      for (const [name, t] of readSafetensors(join(cwd, "ckpt.safetensors")).tensors) {
        if (name.startsWith("optimizer.")) continue;
        assert.equal(
          Array.from(back.get(name)?.data as Float32Array),
          Array.from(t.data as Float32Array),
          `${name}: the same parameters`,
        );
      }
      runBlock(shellCommands(exportBlock.code), cwd);
      assert.ok(statSync(join(cwd, "model.onnx")).size > 0, "dlrm export wrote model.onnx");
    } finally {
      cleanup();
    }
  },
);

const criteo = existsSync(join(SHARED, "data", "criteo-sample", "train.txt"));
if (!criteo) console.log(`skipping the README's Criteo commands: ${join(SHARED, "data", "criteo-sample")} is absent`);

(criteo ? test : test.skip)(
  "README: the Criteo preprocess and train commands run as written on the shared sample",
  () => {
    const blocks = readmeBlocks("The `dlrm` command").filter((b) => b.lang === "sh");
    const block = blocks.find((b) => b.code.includes("preprocess criteo"));
    assert.ok(block !== undefined, "README has the Criteo sh block");
    const cmds = shellCommands(block.code).filter((c) => !c.includes("movielens:"));
    assert.is(cmds.length, 2);
    const { dir, cleanup } = tempDir();
    try {
      symlinkSync(SHARED, join(dir, "shared"));
      const cwd = join(dir, "checkout");
      mkdirSync(cwd);
      runBlock(cmds, cwd);
      const log = readFileSync(join(cwd, "run.jsonl"), "utf8").trim().split("\n");
      assert.match(log.at(-1) as string, /"event":"eval"/);
    } finally {
      cleanup();
    }
  },
);

test("README: the plot commands, run as written, draw the committed docs/curves.svg", () => {
  const blocks = readmeBlocks("The `dlrm` command").filter((b) => b.lang === "sh");
  const block = blocks.find((b) => b.code.includes("dlrm -- plot"));
  assert.ok(block !== undefined, "README has the plot sh block");
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, "docs"));
    runBlock(shellCommands(block.code), dir);
    const made = readFileSync(join(dir, "docs", "curves.svg"), "utf8");
    assert.ok(
      made === readFileSync(join(root, "docs", "curves.svg"), "utf8"),
      "docs/curves.svg is not what the README's commands draw",
    );
  } finally {
    cleanup();
  }
});

test.run();
