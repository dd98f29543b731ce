// Runs the uvu suites of the test files named on the command line in this process.
// test/run.ts starts one shard per core and adds up their summaries.
import { resolve } from "node:path";
import { run } from "uvu/run";

const files = process.argv.slice(2);
await run(
  files.map((f) => ({ name: f, file: resolve(f) })),
  { bail: false },
);
