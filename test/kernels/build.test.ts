// The committed module bytes (src/kernels/wasm.gen.ts) must be what kernels/build.ts makes
// of kernels/*.wat today: an edited .wat without `npm run kernels` fails here.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { assemble, assembleAll, generatedPath, renderGenerated } from "../../kernels/build.ts";
import { wasmModules } from "../../src/kernels/wasm.gen.ts";

test("wasm.gen.ts is up to date with kernels/*.wat (rebuild: npm run kernels)", async () => {
  const modules = await assembleAll();
  assert.equal([...modules.keys()], ["embedding_bag", "sgemm", "sparse_rows"]);
  const fresh = renderGenerated(modules);
  const committed = readFileSync(generatedPath, "utf8");
  assert.ok(committed === fresh, "src/kernels/wasm.gen.ts differs from a fresh build of kernels/*.wat: run npm run kernels");
  assert.ok(committed.startsWith("// generated from kernels/*.wat by kernels/build.ts — do not edit\n"));
});

test("every generated module compiles and imports only the shared memory env.memory", () => {
  for (const [name, b64] of Object.entries(wasmModules)) {
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

test.run();
