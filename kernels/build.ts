// Assembles the hand-written kernels (kernels/*.wat) with wabt into src/kernels/wasm.gen.ts:
// one base64 string of module bytes per .wat file, keyed by the file's base name. The
// generated file is committed, so the library needs neither wabt nor a build step at run
// time; test/kernels/build.test.ts re-assembles and compares, so an edited .wat without a
// rebuild fails the suite.
//
//   node --import tsx kernels/build.ts          (npm run kernels) rewrite wasm.gen.ts
//   node --import tsx kernels/build.ts --check  exit 1 when wasm.gen.ts is stale

import { readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import wabt from "wabt";

export const kernelsDir = fileURLToPath(new URL(".", import.meta.url));
export const generatedPath = fileURLToPath(new URL("../src/kernels/wasm.gen.ts", import.meta.url));

/** The features our kernels use: SIMD128 and a shared (threads) memory. */
const FEATURES = { simd: true, threads: true } as const;

/** Assemble WAT text to module bytes; a syntax or validation error names the file and line. */
export async function assemble(name: string, text: string): Promise<Uint8Array<ArrayBuffer>> {
  const w = await wabt();
  const mod = w.parseWat(name, text, FEATURES);
  try {
    mod.resolveNames();
    // wabt's validate() takes the feature set too (index.d.ts omits the parameter); without
    // it, the shared memory import is rejected.
    Reflect.apply(mod.validate, mod, [FEATURES]);
    const { buffer } = mod.toBinary({ canonicalize_lebs: true, write_debug_names: false });
    return new Uint8Array(buffer);
  } finally {
    mod.destroy();
  }
}

/** Every kernels/*.wat assembled, sorted by name. */
export async function assembleAll(dir: string = kernelsDir): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const files = readdirSync(dir).filter((f) => f.endsWith(".wat")).sort();
  const out = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const f of files) out.set(basename(f, ".wat"), await assemble(f, readFileSync(join(dir, f), "utf8")));
  return out;
}

/** The text of wasm.gen.ts for these modules. */
export function renderGenerated(modules: Map<string, Uint8Array>): string {
  const lines = [
    "// generated from kernels/*.wat by kernels/build.ts — do not edit",
    "// Module bytes, base64, keyed by the .wat file's base name. Rebuild: npm run kernels",
    "",
    "export const wasmModules = {",
  ];
  for (const [name, bytes] of modules) {
    lines.push(`  ${name}: "${Buffer.from(bytes).toString("base64")}",`);
  }
  lines.push("} as const;", "");
  return lines.join("\n");
}

async function main(): Promise<void> {
  const text = renderGenerated(await assembleAll());
  if (process.argv.includes("--check")) {
    const current = readFileSync(generatedPath, "utf8");
    if (current !== text) {
      console.error("kernels/build.ts: src/kernels/wasm.gen.ts is stale — run npm run kernels");
      process.exit(1);
    }
    console.log("kernels/build.ts: src/kernels/wasm.gen.ts is up to date");
    return;
  }
  // written atomically: a temp file, then rename
  const tmp = `${generatedPath}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, generatedPath);
  console.log(`kernels/build.ts: wrote ${generatedPath}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
