// Assembles the hand-written kernels (kernels/*.wat) with wabt into src/kernels/wasm.gen.ts:
// one base64 string of module bytes per .wat file, keyed by the file's base name. The
// generated file is committed, so the library needs neither wabt nor a build step at run
// time; test/kernels/build.test.ts re-assembles and compares, so an edited .wat without a
// rebuild fails the suite.
//
// A .wat whose text contains the line `;; @variant relaxed_madd` also gets a second module,
// `<name>_relaxed`, made from the same text with every multiply-add of the form
// `(f32x4.add (local.get $acc) (f32x4.mul X Y))` turned into `(f32x4.relaxed_madd X Y
// (local.get $acc))` — one fused multiply-add instruction where the CPU has one (relaxed
// SIMD) — and every line that ends in `;; @relaxed: <text>` replaced by <text> (sgemm.wat
// uses it to pick a taller register tile). src/kernels/wasm.ts uses the variant when the
// engine accepts relaxed SIMD.
//
//   node --import tsx kernels/build.ts          (npm run kernels) rewrite wasm.gen.ts
//   node --import tsx kernels/build.ts --check  exit 1 when wasm.gen.ts is stale

import { readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import wabt from "wabt";

export const kernelsDir = fileURLToPath(new URL(".", import.meta.url));
export const generatedPath = fileURLToPath(new URL("../src/kernels/wasm.gen.ts", import.meta.url));

/** The features our kernels use: SIMD128, a shared (threads) memory, memory.fill (bulk memory). */
const FEATURES = { simd: true, threads: true, bulk_memory: true } as const;
/** …and for the relaxed variants, relaxed SIMD. */
const RELAXED_FEATURES = { ...FEATURES, relaxed_simd: true } as const;

/** The directive that asks for a relaxed_madd variant of a .wat file. */
export const RELAXED_DIRECTIVE = ";; @variant relaxed_madd";

/**
 * The text of the relaxed variant: every `acc + X·Y` of locals becomes one relaxed_madd, and
 * every line ending in `;; @relaxed: <text>` becomes <text> (same indentation).
 */
export function relaxedVariant(text: string): { text: string; madds: number; lines: number } {
  let madds = 0;
  let lines = 0;
  const out = text
    .replace(
      /\(f32x4\.add \(local\.get (\$[\w.]+)\) \(f32x4\.mul (\(local\.get \$[\w.]+\)) (\(local\.get \$[\w.]+\))\)\)/g,
      (_m, acc: string, x: string, y: string) => {
        madds++;
        return `(f32x4.relaxed_madd ${x} ${y} (local.get ${acc}))`;
      },
    )
    .replace(/^(\s*).*;; @relaxed: (.*)$/gm, (_m, indent: string, line: string) => {
      lines++;
      return `${indent}${line}`;
    });
  return { text: out, madds, lines };
}

/** Assemble WAT text to module bytes; a syntax or validation error names the file and line. */
export async function assemble(name: string, text: string, relaxed = false): Promise<Uint8Array<ArrayBuffer>> {
  const w = await wabt();
  const features = relaxed ? RELAXED_FEATURES : FEATURES;
  const mod = w.parseWat(name, text, features);
  try {
    mod.resolveNames();
    // wabt's validate() takes the feature set too (index.d.ts omits the parameter); without
    // it, the shared memory import is rejected.
    Reflect.apply(mod.validate, mod, [features]);
    const { buffer } = mod.toBinary({ canonicalize_lebs: true, write_debug_names: false });
    return new Uint8Array(buffer);
  } finally {
    mod.destroy();
  }
}

/** Every kernels/*.wat assembled, sorted by name. */
export async function assembleAll(dir: string = kernelsDir): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".wat"))
    .sort();
  const out = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const f of files) {
    const text = readFileSync(join(dir, f), "utf8");
    out.set(basename(f, ".wat"), await assemble(f, text));
    if (text.includes(RELAXED_DIRECTIVE)) {
      const v = relaxedVariant(text);
      if (v.madds === 0)
        throw new Error(
          `${f}: asks for a relaxed_madd variant but has no (f32x4.add (local.get $acc) (f32x4.mul X Y)) to turn into one`,
        );
      out.set(`${basename(f, ".wat")}_relaxed`, await assemble(f, v.text, true));
    }
  }
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
