// docs/serving.md's "A runnable example" runs as written: its tiny.json, its commands
// (`npm run -s dlrm --` is the bin, run directly) and its serve.mjs in ONNX Runtime, in a
// temp folder; the two probabilities serve.mjs prints are the ones `dlrm predict` gives for
// the samples the script describes (rebuilt here as a batch file), within the tolerance of
// test/interop/onnx/export_onnx.test.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../../helpers/cli.ts";
import { markdownBlocks, shellCommands } from "../../helpers/readme.ts";
import { writeBatchFile } from "../../../src/data/batch_file.ts";
import { offsetsFromLengths } from "../../../src/data/dataset.ts";
import { readSafetensors } from "../../../src/io/safetensors.ts";
import { assertClose } from "../../../src/testing/index.ts";

const root = new URL("../../..", import.meta.url).pathname;

test("docs/serving.md: the runnable example runs as written and serve.mjs prints dlrm predict's probabilities", async () => {
  const blocks = markdownBlocks("docs/serving.md", "A runnable example");
  const only = (lang: string): string => {
    const found = blocks.filter((b) => b.lang === lang);
    assert.is(found.length, 1, `one ${lang} block`);
    return (found[0] as { code: string }).code;
  };
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, "tiny.json"), only("json"));
    writeFileSync(join(dir, "serve.mjs"), only("js"));
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules")); // where serve.mjs finds onnxruntime-node
    let printed = "";
    for (const cmd of shellCommands(only("sh"))) {
      const args = cmd.split(/\s+/);
      if (cmd.startsWith("npm run -s dlrm -- "))
        execFileSync(process.execPath, [join(root, "bin", "dlrm.js"), ...args.slice(5)], {
          cwd: dir,
          stdio: ["ignore", "pipe", "pipe"],
        });
      else {
        assert.equal(args, ["node", "serve.mjs"]);
        printed = execFileSync(process.execPath, ["serve.mjs"], { cwd: dir, encoding: "utf8" });
      }
    }
    const out = JSON.parse(printed) as { dims: number[]; pred: number[] };
    assert.equal(out.dims, [2]);

    // The script's two samples: dense rows (0.1, 0.5) and (0.9, 0.2); table 0 bags {3}, {9}; table 1 bags {1, 7}, {}.
    const lengths = [Int32Array.of(1, 1), Int32Array.of(2, 0)];
    const ids = [Int32Array.of(3, 9), Int32Array.of(1, 7)];
    const data = join(dir, "two.safetensors");
    writeBatchFile(data, {
      n: 2,
      denseFeatures: 2,
      dense: Float32Array.of(0.1, 0.5, 0.9, 0.2),
      labels: new Float32Array(2),
      sparse: lengths.map((l, t) => ({
        lengths: l,
        offsets: offsetsFromLengths(l),
        indices: ids[t] as Int32Array,
        weights: null,
      })),
    });
    const preds = join(dir, "pred.safetensors");
    const r = await runCli(["predict", "--checkpoint", join(dir, "tiny.safetensors"), "--data", data, "--out", preds]);
    assert.is(r.code, 0, r.stderr);
    assertClose(out.pred, readSafetensors(preds).tensors.get("pred")?.data as Float32Array, { atol: 1e-5, rtol: 1e-4 });
  } finally {
    cleanup();
  }
});

test.run();
