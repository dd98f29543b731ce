#!/usr/bin/env node
// The `dlrm` command. Runs the compiled CLI (dist/, from `npm run build`) when it exists,
// otherwise the TypeScript sources through tsx (a dev dependency, present in a checkout).
import { existsSync } from "node:fs";

const dist = new URL("../dist/src/cli/main.js", import.meta.url);
let cli;
if (existsSync(dist)) {
  cli = await import(dist.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import(new URL("../src/cli/main.ts", import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
