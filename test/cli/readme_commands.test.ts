// The README's `dlrm train` / `dlrm predict` commands on ../shared/golden, extracted from
// README.md and run as written (in a temp folder laid out like the checkout's parent, so
// `../shared/...` resolves and the outputs do not land in the checkout). `npm run -s dlrm --`
// is the bin, run directly (the same file `npm run dlrm` runs through tsx). Skipped, and
// counted as skipped, when ../shared/golden is absent.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { readmeBlocks } from "../helpers/readme.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { tempDir } from "../helpers/cli.ts";
import { GOLDEN, SHARED } from "../helpers/golden.ts";

const root = new URL("../..", import.meta.url).pathname;
const golden = existsSync(join(GOLDEN, "small", "config.json"));

/** The commands of a sh block: comment lines dropped, `\` continuations joined. */
function commands(code: string): string[] {
  return code
    .replace(/\\\n\s*/g, "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

(golden ? test : test.skip)("README: the golden train and predict commands run as written", () => {
  const block = readmeBlocks("The `dlrm` command").find((b) => b.lang === "sh" && b.code.includes("golden"));
  assert.ok(block !== undefined, "README has the golden sh block");
  const cmds = commands(block.code);
  assert.is(cmds.length, 2);
  const { dir, cleanup } = tempDir();
  try {
    symlinkSync(SHARED, join(dir, "shared"));
    const cwd = join(dir, "checkout");
    mkdirSync(cwd);
    for (const cmd of cmds) {
      assert.match(cmd, /^npm run -s dlrm -- /);
      // split on spaces: the README's arguments hold no quoted spaces
      const args = cmd.replace(/^npm run -s dlrm -- /, "").split(/\s+/);
      execFileSync(process.execPath, [join(root, "bin", "dlrm.js"), ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    }
    assert.ok(existsSync(join(cwd, "run.jsonl")) && existsSync(join(cwd, "ckpt.safetensors")));
    const pred = readSafetensors(join(cwd, "preds.safetensors")).tensors.get("pred");
    assert.ok(pred !== undefined && pred.shape.length === 1 && (pred.shape[0] as number) > 0);
  } finally {
    cleanup();
  }
});

test.run();
