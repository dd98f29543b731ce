// The README's autodiff example runs as written (through the public API) and says true.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import * as dlrm from "../src/index.ts";

test("README example: backward fills w.grad and gradcheck passes", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  assert.match(readme, /loss\.backward\(\)/);
  const { fromArray, randn, matmul, relu, sum, gradcheck, Rng } = dlrm;
  const x = fromArray([[1, 2], [3, 4]]);
  const w = randn([2, 3], { requiresGrad: true, rng: new Rng(0) });
  const loss = sum(relu(matmul(x, w)));
  loss.backward();
  assert.ok(w.grad !== null && w.grad.length === 6);
  // d/dw of sum(relu(x·w)): column j gets xᵀ·1[x·w_j > 0]; check against that formula.
  const xw = [0, 1].map((i) => [0, 1, 2].map((j) => (x.data[2 * i] as number) * (w.data[j] as number) + (x.data[2 * i + 1] as number) * (w.data[3 + j] as number)));
  for (let k = 0; k < 2; k++) {
    for (let j = 0; j < 3; j++) {
      const expected = [0, 1].reduce((s, i) => s + ((xw[i] as number[])[j] as number > 0 ? (x.data[2 * i + k] as number) : 0), 0);
      assert.ok(Math.abs((w.grad[3 * k + j] as number) - expected) < 1e-5);
    }
  }
  assert.ok(gradcheck((a, b) => sum(relu(matmul(a, b))), [x, w]).ok);
});

test.run();
