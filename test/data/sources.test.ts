// src/data is handed its file access (DataFiles, src/data/files.ts; the CLI's is node:fs in
// src/cli/node_files.ts, a page's is bytes in memory, src/data/byte_files.ts): no file of the
// folder or of the registry's (src/data/sources/) imports a `node:` module itself, except the
// writers named below, which write files for CLI commands.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("../../src/data/", import.meta.url).pathname;

/** The writers that are Node's, and why. */
const NODE_WRITERS: Record<string, string> = {
  "batch_writer.ts":
    "writes batch files in chunks to temporary files and joins them (dlrm preprocess, raw Criteo streamed to disk)",
  "mlperf_bin_writer.ts": "writes the MLPerf .bin (dlrm preprocess criteo --out x.bin)",
};

/** `node:` specifiers a module imports or re-exports (type-only ones included). */
function nodeImports(src: string): string[] {
  return [...src.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(node:[^"]+)"/gms)].map((m) => m[1] as string);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

test("no file of src/data/ imports a node: module, but the writers named", () => {
  const files = tsFiles(root).map((f) => relative(root, f));
  assert.ok(files.includes("sources/registry.ts") && files.includes("files.ts"), `files: ${files.join(", ")}`);
  const found = files.flatMap((f) => nodeImports(readFileSync(join(root, f), "utf8")).map((s) => `${f} imports ${s}`));
  assert.equal(
    found.filter((line) => !((line.split(" ")[0] as string) in NODE_WRITERS)),
    [],
  );
  // Each writer named still is one (else it leaves the list).
  for (const w of Object.keys(NODE_WRITERS))
    assert.ok(
      found.some((line) => line.startsWith(`${w} `)),
      w,
    );
});

test("the check sees a node: import (it can fail)", () => {
  assert.equal(nodeImports('import { existsSync } from "node:fs";\nimport type { X } from "./files.ts";\n'), [
    "node:fs",
  ]);
});

test.run();
