// dlrm-ts/testing (src/testing): assertClose's rule and PyTorch-worded messages, the
// arbitraries' edge cases (empty and size-1 dims, empty bags, repeats), and the
// docs/testing.md example, extracted from the doc and run as written (import pointed at src/).
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromArray } from "../src/index.ts";
import { assertClose, assertThrows, indexBags, shapes, tensors } from "../src/testing/index.ts";
import { tempDir } from "./helpers/cli.ts";

test("assertClose: passes within atol + rtol·|expected|, same infinities, NaN only with equalNan", () => {
  assertClose([1, 2, Infinity], [1 + 5e-6, 2, Infinity], { atol: 1e-5, rtol: 0 });
  assertThrows(() => assertClose([NaN], [NaN]), /not close/);
  assertClose([NaN], [NaN], { atol: 0.1, rtol: 0, equalNan: true });
  assertThrows(() => assertClose([Infinity], [-Infinity]), /Mismatched elements: 1 \/ 1/);
});

test("assertClose: PyTorch's message with count, greatest differences, multi-index and tolerances", () => {
  const a = fromArray([
    [1, 2, 3],
    [4, 5, 6.5],
  ]);
  const e = fromArray([
    [1, 2.1, 3],
    [4, 5, 6],
  ]);
  assertThrows(
    () => assertClose(a, e),
    /^Tensor-likes are not close!\n\nMismatched elements: 2 \/ 6 \(33\.3%\)\nGreatest absolute difference: 0\.5 at index \(1, 2\) \(up to 1e-05 allowed\)\nGreatest relative difference: 0\.0833\d* at index \(1, 2\) \(up to 1\.3e-06 allowed\)$/,
  );
  assertThrows(
    () => assertClose(2, 1),
    /^Scalars are not close!\n\nExpected 1\.0 but got 2\.0\.\nAbsolute difference: 1\.0 \(up to 1e-07 allowed\)/,
  );
  assertThrows(() => assertClose([1], [1], { atol: 1 }), /Both 'rtol' and 'atol' must be either specified or omitted/);
  assertThrows(
    () => assertClose(fromArray([1, 2]), fromArray([[1, 2]])),
    /attribute 'shape' do not match: \(2\) != \(1, 2\)/,
  );
  assertThrows(
    () => assertClose([1, 2], [1, 3], { atol: 0, rtol: 0 }, "ids"),
    /^ids are not equal!\n\nMismatched elements: 1 \/ 2 \(50\.0%\)\nGreatest absolute difference: 1\.0 at index \(1,\)\nGreatest relative difference: 0\.333\d*3 at index \(1,\)$/,
  );
});

test("arbitraries: empty and size-1 dims, empty bags and repeated rows all come up", () => {
  const seen = { empty: false, one: false, emptyBag: false, repeat: false };
  fc.assert(
    fc.property(tensors(), (t) => {
      assert.is(
        t.size,
        t.shape.reduce((p, d) => p * d, 1),
      );
      for (const v of t.data) assert.ok(Number.isFinite(v));
      if (t.shape.includes(0)) seen.empty = true;
      if (t.shape.includes(1)) seen.one = true;
    }),
    { seed: 3, numRuns: 200 },
  );
  fc.assert(
    fc.property(indexBags({ rows: 3 }), ({ indices, offsets, bags }) => {
      assert.is(offsets.size, bags.length);
      assert.equal(Array.from(indices.data), bags.flat());
      for (const b of bags) {
        for (const i of b) assert.ok(i >= 0 && i < 3);
        if (b.length === 0) seen.emptyBag = true;
        if (new Set(b).size < b.length) seen.repeat = true;
      }
    }),
    { seed: 4, numRuns: 200 },
  );
  assert.equal(seen, { empty: true, one: true, emptyBag: true, repeat: true });
  fc.assert(
    fc.property(shapes({ allowEmpty: false, maxRank: 2 }), (s) => s.every((d) => d >= 1) && s.length <= 2),
    { seed: 5, numRuns: 100 },
  );
});

test("docs/testing.md example runs as written and says softplus ok", () => {
  const doc = readFileSync(new URL("../docs/testing.md", import.meta.url), "utf8");
  const block = /```js\n([\s\S]*?)^```$/m.exec(doc);
  assert.ok(block !== null, "docs/testing.md has a js example");
  const src = (p: string): string => JSON.stringify(new URL(p, import.meta.url).href);
  const code = (block[1] as string)
    .replace(/from "dlrm-ts";/, `from ${src("../src/index.ts")};`)
    .replace(/from "dlrm-ts\/testing";/, `from ${src("../src/testing/index.ts")};`)
    .replace(/from "fast-check";/, `from ${JSON.stringify(import.meta.resolve("fast-check"))};`);
  assert.ok(!code.includes('"dlrm-ts'), "both imports were pointed at the sources");
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, "softplus.mjs");
    writeFileSync(file, code);
    const root = new URL("..", import.meta.url).pathname;
    // the temp dir has no node_modules, so fast-check was pointed at the checkout's copy above
    const out = execFileSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8" });
    assert.is(out.trim(), "softplus ok");
  } finally {
    cleanup();
  }
});

test.run();
