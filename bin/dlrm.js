#!/usr/bin/env node
// The `dlrm` command. An installed package (under node_modules/, or wherever tsx is absent)
// runs the compiled CLI in dist/, which `npm pack` builds on prepack: no dev dependency is
// needed. A checkout runs the TypeScript sources through tsx (a dev dependency), so a stale
// dist/ left by an earlier build never answers for the current sources.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = new URL("../dist/src/cli/main.js", import.meta.url);
const installed = fileURLToPath(import.meta.url)
  .split(/[\\/]/)
  .includes("node_modules");
let tsxApi = null;
if (!installed) {
  try {
    tsxApi = import.meta.resolve("tsx/esm/api");
  } catch {
    tsxApi = null;
  }
}
let cli;
if (tsxApi === null) {
  if (!existsSync(dist)) {
    process.stderr.write(
      "dlrm: dist/ is missing and tsx is not installed: run `npm run build` (or `npm ci` in a checkout)\n",
    );
    process.exit(2);
  }
  cli = await import(dist.href);
} else {
  const { register } = await import(tsxApi);
  register();
  cli = await import(new URL("../src/cli/main.ts", import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
