// The training path loads without Node: walking the static imports from the modules a
// browser page trains with (model, optimizers, the loop and its local executor, metrics,
// synthetic data, progress, the SVG plots, the hybrid executor and a browser's rank workers,
// the checkpoint bytes a page saves, the data-source registry and its readers) reaches no
// `node:` module, no package, and no Node global (process, Buffer, require) outside
// src/kernels/host.ts, the one file that asks the host for them (and only when they exist).
// Lazy `import()`s (the checkpoint file writer behind LocalExecutor.save and
// HybridExecutor.save, Node's rank starter behind HybridExecutor.start, the batch file writer
// behind raw Criteo files streamed to disk) are not followed: they load only when called.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const root = new URL("../..", import.meta.url).pathname;

const ENTRIES = [
  "src/train/trainer.ts",
  "src/train/local.ts",
  "src/train/progress.ts",
  "src/dlrm/model.ts",
  "src/dlrm/defaults.ts",
  "src/data/sources/builtin_models.ts",
  "src/dlrm/synthetic.ts",
  "src/optim/make.ts",
  "src/metrics/metrics.ts",
  "src/data/batch.ts",
  "src/data/random.ts",
  "src/plot/svg.ts",
  // The hybrid executor and a browser's rank threads (module Workers), and the checkpoint a page saves.
  "src/parallel/hybrid.ts",
  "src/parallel/spawn_browser.ts",
  "src/parallel/worker_browser.ts",
  "src/dlrm/checkpoint_bytes.ts",
  "src/io/safetensors_bytes.ts",
  // The run recipe the demo and the CLI plan runs and open executors with.
  "src/run/recipe.ts",
  // The demo page's training thread, and the data-source registry it opens the picked files
  // with, handed them as bytes (the registry's readers read through the files handed in).
  "src/demo/train_worker.ts",
  "src/data/sources/registry.ts",
  "src/data/byte_files.ts",
  "src/data/movielens_parse.ts",
  "src/data/criteo_parse.ts",
];
const HOST = "src/kernels/host.ts";

/** Static (value) import and re-export specifiers of a module; `import type` is erased, `import()` is lazy. */
function staticImports(src: string): string[] {
  const out: string[] = [];
  for (const m of src.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?\s+from\s+"([^"]+)"|^import\s+"([^"]+)"/gms))
    out.push((m[1] ?? m[2]) as string);
  return out;
}

/** Code without comments and string/template literals, to look for globals in. */
function codeOnly(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`/g, '""');
}

test("the training path's static imports reach no Node module, package or Node global", () => {
  const seen = new Set<string>();
  const problems: string[] = [];
  const walk = (file: string, from: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(join(root, file), "utf8");
    for (const spec of staticImports(src)) {
      if (spec.startsWith(".")) walk(relative(root, join(root, dirname(file), spec)), file);
      else problems.push(`${file} imports ${spec} (reached from ${from})`);
    }
    if (file !== HOST)
      for (const g of codeOnly(src).matchAll(/\b(process|Buffer|require)\b/g))
        problems.push(`${file} uses ${g[1]} (reached from ${from})`);
  };
  for (const e of ENTRIES) walk(e, e);
  assert.equal(problems, []);
  assert.ok(
    seen.has("src/kernels/wasm.ts") && seen.has("src/ops/matmul.ts") && seen.has("src/optim/adagrad.ts"),
    "the walk reaches the kernels, ops and optimizers",
  );
});

test("the import walk sees a Node import and a Node global (it can fail)", () => {
  assert.equal(
    staticImports(
      `import { readFileSync } from "node:fs";\nimport type { X } from "node:os";\nexport { a } from "./a.ts";`,
    ),
    ["node:fs", "./a.ts"],
  );
  assert.match(codeOnly(`const e = process.env; // process\nconst s = "process";`), /\bprocess\b/);
  assert.not.match(codeOnly(`// process.env\nconst s = "Buffer";`), /\b(process|Buffer)\b/);
});

test.run();
