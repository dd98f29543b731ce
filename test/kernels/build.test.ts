// The committed module bytes (src/kernels/wasm.gen.ts) must be what kernels/build.ts makes
// of kernels/*.wat today: an edited .wat without `npm run kernels` fails here.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import {
  assemble,
  assembleAll,
  generatedPath,
  RELAXED_DIRECTIVE,
  relaxedVariant,
  renderGenerated,
} from "../../kernels/build.ts";
import { wasmModules } from "../../src/kernels/wasm.gen.ts";
import { enableRelaxedSimd } from "../../src/kernels/wasm.ts";

test("wasm.gen.ts is up to date with kernels/*.wat (rebuild: npm run kernels)", async () => {
  const modules = await assembleAll();
  assert.equal(
    [...modules.keys()],
    ["elementwise", "embedding_bag", "interaction", "philox", "quantized_bag", "sgemm", "sgemm_relaxed", "sparse_rows"],
  );
  const fresh = renderGenerated(modules);
  const committed = readFileSync(generatedPath, "utf8");
  assert.ok(
    committed === fresh,
    "src/kernels/wasm.gen.ts differs from a fresh build of kernels/*.wat: run npm run kernels",
  );
  assert.ok(committed.startsWith("// generated from kernels/*.wat by kernels/build.ts — do not edit\n"));
});

test("every generated module compiles and imports only the shared memory env.memory", () => {
  // the relaxed build needs relaxed SIMD, which Node 20 has behind a flag that the opt-in turns on
  const relaxed = enableRelaxedSimd();
  assert.ok(relaxed || process.env.DLRM_RELAXED_SIMD === "0", "relaxed SIMD could not be enabled");
  for (const [name, b64] of Object.entries(wasmModules)) {
    if (name.endsWith("_relaxed") && !relaxed) continue;
    const bytes = Uint8Array.from(Buffer.from(b64, "base64"));
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    assert.ok(new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }), name);
  }
});

test("assemble names the file and line of a WAT error", async () => {
  let message = "";
  try {
    await assemble("broken.wat", "(module\n  (func (result i32) (i32.add (i32.const 1))))");
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  assert.match(message, /broken\.wat:2:/);
});

test("relaxedVariant turns each acc + x·y of locals into one relaxed_madd, swaps @relaxed lines, and nothing else", () => {
  const text = [
    "(local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a) (local.get $b0))))",
    "(v128.store (f32x4.add (f32x4.mul (local.get $c) (local.get $x)) (local.get $y)))",
    "  (global $MR i32 (i32.const 4)) ;; @relaxed: (global $MR i32 (i32.const 5))",
  ].join("\n");
  const v = relaxedVariant(text);
  assert.is(v.madds, 1);
  assert.is(v.lines, 1);
  assert.is(
    v.text,
    [
      "(local.set $c00 (f32x4.relaxed_madd (local.get $a) (local.get $b0) (local.get $c00)))",
      "(v128.store (f32x4.add (f32x4.mul (local.get $c) (local.get $x)) (local.get $y)))",
      "  (global $MR i32 (i32.const 5))",
    ].join("\n"),
  );
  // sgemm.wat asks for the variant: its two micro-kernels have 8 + 10 multiply-adds, and
  // the relaxed build takes the 5-high tile
  const sgemmText = readFileSync(new URL("../../kernels/sgemm.wat", import.meta.url), "utf8");
  assert.ok(sgemmText.includes(RELAXED_DIRECTIVE));
  const sv = relaxedVariant(sgemmText);
  assert.is(sv.madds, 18);
  assert.is(sv.lines, 1);
  assert.match(sv.text, /\(global \$MR i32 \(i32\.const 5\)\)/);
});

test.run();
