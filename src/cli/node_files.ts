// The data-source registry's file access (src/data/sources/files.ts) in Node: node:fs and node:path.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { DataFiles } from "../data/sources/files.ts";

export const nodeDataFiles: DataFiles = {
  exists: (path) => existsSync(path),
  list: (dir) => readdirSync(dir).map((name) => join(dir, name)),
  size: (path) => statSync(path).size,
  readText: (path, encoding) => readFileSync(path, encoding),
  tempDir(prefix) {
    const path = mkdtempSync(join(tmpdir(), prefix));
    return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
  },
  join: (...parts) => join(...parts),
  dirname: (path) => dirname(path),
};
