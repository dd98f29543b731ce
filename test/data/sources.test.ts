// The data-source registry (src/data/sources/) is handed its file access (DataFiles; the CLI's
// is node:fs in src/cli/node_files.ts): no file of the folder imports a `node:` module itself.
// The readers it opens (src/data/*.ts, src/io/*.ts) read their own files and are not checked here.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = new URL("../../src/data/sources/", import.meta.url).pathname;

/** `node:` specifiers a module imports or re-exports (type-only ones included). */
function nodeImports(src: string): string[] {
  return [...src.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(node:[^"]+)"/gms)].map((m) => m[1] as string);
}

test("no file of src/data/sources/ imports a node: module", () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
  assert.ok(files.includes("registry.ts") && files.includes("files.ts"), `files: ${files.join(", ")}`);
  const found = files.flatMap((f) => nodeImports(readFileSync(join(dir, f), "utf8")).map((s) => `${f} imports ${s}`));
  assert.equal(found, []);
});

test("the check sees a node: import (it can fail)", () => {
  assert.equal(nodeImports('import { existsSync } from "node:fs";\nimport type { X } from "./files.ts";\n'), [
    "node:fs",
  ]);
});

test.run();
