// The folder of the dlrm-ts package this code runs from: the checkout (sources run by tsx
// from src/cli/) or an installed package (compiled code in dist/src/cli/). The two sit at
// different depths below the package.json, so the folder is found by walking up to it.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's folder and version, from the nearest package.json named dlrm-ts above this file. */
export function packageInfo(): { root: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "dlrm-ts") return { root: dir, version: String(pkg.version) };
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`no dlrm-ts package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}
