// The README's "Autodiff in ten lines" runs as written, extracted from README.md: only its
// import specifier is pointed at the sources (test/package.test.ts runs it unchanged against
// the installed package). It must print w.grad and then `true`.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { autodiffExample } from "./helpers/readme.ts";
import { tempDir } from "./helpers/cli.ts";

test("README example: extracted from README.md, prints w.grad and gradcheck's true", () => {
  const code = autodiffExample();
  assert.match(code, /from "dlrm-ts";/);
  const src = new URL("../src/index.ts", import.meta.url).href;
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, "example.mts");
    writeFileSync(file, code.replace(/from "dlrm-ts";/, `from ${JSON.stringify(src)};`));
    const root = new URL("..", import.meta.url).pathname;
    const out = execFileSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8" });
    const lines = out.trim().split("\n");
    assert.is(lines.at(-1), "true");
    // console.log of a Float32Array(6): the gradient of a (2, 3) weight
    assert.match(out, /Float32Array\(6\)/);
  } finally {
    cleanup();
  }
});

test.run();
