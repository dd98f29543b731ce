// Bundles the demo's scripts for the browser (esbuild, a dev dependency) into docs/demo/build/:
// train_worker.js (the training thread: the library, its kernels and their wasm),
// rank_worker.js (a rank of a hybrid run, src/parallel/worker_browser.ts, which the training
// thread starts N of) and plot.js (the SVG plotting the page draws its live curves with). `npm run -s demo` runs it, before
// `dlrm serve-demo`; the output is not committed (it would go stale with every change to the
// library), the browser test builds it first, and `npm pack`'s prepack builds it into the
// package, whose `dlrm serve-demo` serves it (test/package.test.ts).

import { build, type BuildOptions } from "esbuild";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

export const DEMO_BUILD: BuildOptions = {
  absWorkingDir: root,
  entryPoints: {
    train_worker: "src/demo/train_worker.ts",
    rank_worker: "src/parallel/worker_browser.ts",
    plot: "src/plot/svg.ts",
  },
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  // What the library loads lazily on Node only (the checkpoint file writer behind the
  // executors' save, Node's rank starter behind HybridExecutor.start) goes to chunks of their
  // own, their Node imports left external; the page never loads them.
  splitting: true,
  external: ["node:*", "worker-threads-pool"],
  outdir: "docs/demo/build",
  legalComments: "none",
  logLevel: "silent",
};

/** The bundle's files: path relative to the checkout → contents. Writing replaces the folder,
 *  so the chunks of earlier builds (their names are content hashes) do not pile up. */
export async function buildDemo(write: boolean): Promise<Map<string, string>> {
  if (write) rmSync(join(root, DEMO_BUILD.outdir as string), { recursive: true, force: true });
  const r = await build({ ...DEMO_BUILD, write });
  const out = new Map<string, string>();
  for (const f of r.outputFiles ?? []) out.set(f.path.slice(root.length), f.text);
  return out;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await buildDemo(false);
  await buildDemo(true);
  process.stderr.write(`demo: wrote ${[...files.keys()].join(", ")}\n`);
}
