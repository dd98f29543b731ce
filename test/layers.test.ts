// The layers of src/ as docs/architecture.md draws them, checked against the imports: every
// import (type-only ones included) points to the same layer or one below, and no chain of
// imports between files closes a cycle; the core (CORE below) never reaches src/interop. The
// table is read from the doc itself, so the doc and the code cannot drift apart unnoticed.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;

/** folder under src/ (a sub-folder when the table gives it its own row) → layer number, from the "## Layers" table of docs/architecture.md. */
function layersFromDoc(): Map<string, number> {
  const doc = readFileSync(join(root, "docs/architecture.md"), "utf8");
  const section = doc.split(/^## /m).find((s) => s.startsWith("Layers"));
  assert.ok(section !== undefined, 'docs/architecture.md has no "## Layers" section');
  const layers = new Map<string, number>();
  for (const line of section.split("\n")) {
    const m = /^\| (\d+) \| ([^|]+) \|/.exec(line);
    if (m === null) continue;
    for (const f of (m[2] as string).matchAll(/`src\/([\w./]+?)\/?`/g)) layers.set(f[1] as string, Number(m[1]));
  }
  return layers;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith(".ts")) out.push(relative(root, p));
  }
  return out;
}

/** file → the files it imports or re-exports from (relative specifiers only). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(join(root, "src"))) {
    const text = readFileSync(join(root, file), "utf8");
    const targets: string[] = [];
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms)) {
      targets.push(normalize(join(dirname(file), m[1] as string)));
    }
    graph.set(file, targets);
  }
  return graph;
}

/** src/ops/matmul.ts → "ops"; src/index.ts → "index.ts"; a file of a sub-folder with its own row → that sub-folder ("data/sources"). */
function unit(file: string, layers: Map<string, number>): string {
  const parts = file.split("/").slice(1, -1);
  for (let k = parts.length; k > 1; k--) {
    const folder = parts.slice(0, k).join("/");
    if (layers.has(folder)) return folder;
  }
  return file.split("/")[1] as string;
}

test("docs/architecture.md gives every folder of src/ a layer", () => {
  const layers = layersFromDoc();
  const units = new Set([...importGraph().keys()].map((f) => unit(f, layers)));
  for (const u of units) assert.ok(layers.has(u), `src/${u} has no row in the Layers table of docs/architecture.md`);
  for (const u of layers.keys()) assert.ok(units.has(u), `docs/architecture.md names src/${u}, which does not exist`);
});

test("every import points to the same layer or below", () => {
  const layers = layersFromDoc();
  const up: string[] = [];
  for (const [file, targets] of importGraph()) {
    for (const t of targets) {
      const from = layers.get(unit(file, layers));
      const to = layers.get(unit(t, layers));
      if (from !== undefined && to !== undefined && to > from)
        up.push(`${file} (layer ${from}) imports ${t} (layer ${to})`);
    }
  }
  assert.equal(up, [], `imports that point up:\n${up.join("\n")}`);
});

/** The core: what trains a DLRM. Other systems' formats (src/interop) stay outside it. */
const CORE = [
  "kernels",
  "types",
  "tensor",
  "autograd",
  "ops",
  "io",
  "metrics",
  "nn",
  "optim",
  "data",
  "dlrm",
  "train",
  "run",
  "parallel",
];

/** src/data/sources/registry.ts → "data": the folder right under src/. */
const topFolder = (file: string): string => file.split("/")[1] as string;

test("the core never reaches src/interop, directly or through other files", () => {
  const layers = layersFromDoc();
  const interop = layers.get("interop");
  assert.ok(interop !== undefined, "docs/architecture.md has no row for src/interop");
  for (const u of CORE) {
    const l = layers.get(u);
    assert.ok(l !== undefined && l < interop, `src/${u} (layer ${l}) must sit below src/interop (layer ${interop})`);
  }
  const graph = importGraph();
  const reached: string[] = [];
  for (const file of graph.keys()) {
    if (!CORE.includes(topFolder(file))) continue;
    // breadth-first over the imports, remembering how each file was reached
    const from = new Map<string, string>([[file, ""]]);
    const queue = [file];
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
      if (topFolder(f) === "interop") {
        const chain = [f];
        for (let g = from.get(f) as string; g !== ""; g = from.get(g) as string) chain.unshift(g);
        reached.push(chain.join(" → "));
        break;
      }
      for (const t of graph.get(f) ?? [])
        if (!from.has(t)) {
          from.set(t, f);
          queue.push(t);
        }
    }
  }
  assert.equal(reached, [], `core files that reach src/interop:\n${reached.join("\n")}`);
});

test("no import closes a cycle", () => {
  const graph = importGraph();
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (f: string): void => {
    state.set(f, "open");
    path.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === "open") cycles.push([...path.slice(path.indexOf(t)), t].join(" → "));
      else if (!state.has(t)) visit(t);
    }
    path.pop();
    state.set(f, "done");
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  assert.equal(cycles, [], `import cycles:\n${cycles.join("\n")}`);
});

test.run();
