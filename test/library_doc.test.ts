// docs/library.md runs as written: its ts blocks, in order, are one program (the import
// pointed at the sources), which builds, reads a Criteo day held in memory, trains on one
// thread and on two ranks, evaluates, predicts, saves and loads a DLRM, and prints what the
// guide says it does.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./helpers/cli.ts";

test("docs/library.md: every example runs, in order, and prints what the guide says", () => {
  const root = new URL("..", import.meta.url).pathname;
  const doc = readFileSync(join(root, "docs/library.md"), "utf8");
  const blocks = [...doc.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  assert.ok(blocks.length >= 6, `${blocks.length} code blocks`);
  const src = new URL("../src/index.ts", import.meta.url).href;
  const code = blocks.join("\n").replace(/from "dlrm-ts";/, `from ${JSON.stringify(src)};`);
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, "guide.mts");
    writeFileSync(file, code);
    const out = execFileSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8" });
    assert.match(out, /^parameters 10$/m);
    assert.match(out, /^criteo samples 3 tables 26$/m);
    assert.match(out, /^one thread, last loss \d\.\d{3}$/m);
    assert.match(out, /^auc 0\.\d{3}$/m);
    assert.match(out, /^predictions 256$/m);
    assert.match(out, /^loaded from the guide true$/m);
    assert.match(out, /^two ranks, last loss \d\.\d{3}$/m);
    assert.match(out, /^same losses true$/m);
    assert.match(out, /^rank predictions 256$/m);
  } finally {
    cleanup();
  }
});

test.run();
