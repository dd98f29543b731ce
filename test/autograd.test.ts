// The tape: ordering, accumulation, release, noGrad, explicit upstream gradients, sparse
// row gradients, and gradcheck itself.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { accumulateRows } from "../src/autograd/grad.ts";
import { isGradEnabled, noGrad } from "../src/autograd/tape.ts";
import { denseGradient, gradcheck } from "../src/autograd/gradcheck.ts";
import { add, mul, relu, sigmoid, tanh } from "../src/ops/elementwise.ts";
import { sum } from "../src/ops/reduce.ts";
import { matmul } from "../src/ops/matmul.ts";
import { reshape } from "../src/ops/shape.ts";
import { SGD } from "../src/optim/sgd.ts";
import { fromArray, scalar, zeros } from "../src/tensor/tensor.ts";
import { Rng } from "../src/tensor/rng.ts";
import { assertThrows } from "../src/testing/index.ts";

test("a diamond graph sums both paths: d(x·x + x)/dx = 2x + 1", () => {
  const x = fromArray([3, -2], [2], { requiresGrad: true });
  sum(add(mul(x, x), x)).backward();
  assert.equal(Array.from(x.grad ?? []), [7, -3]);
});

test("gradients accumulate across backward calls until zeroGrad", () => {
  const x = fromArray([1, 2], [2], { requiresGrad: true });
  sum(mul(x, 3)).backward();
  sum(mul(x, 3)).backward();
  assert.equal(Array.from(x.grad ?? []), [6, 6]);
  x.zeroGrad();
  assert.is(x.grad, null);
  sum(mul(x, 3)).backward();
  assert.equal(Array.from(x.grad ?? []), [3, 3]);
});

test("a 100,000-op chain runs backward without hitting the recursion limit", () => {
  const x = scalar(0.5, { requiresGrad: true });
  let y = x;
  for (let i = 0; i < 100000; i++) y = add(y, 1e-6);
  y.backward();
  assert.is(x.grad?.[0], 1);
});

test("the graph is released after backward: nodes dropped, non-leaf grads freed, a second backward is an error", () => {
  const x = fromArray([1, 2], [2], { requiresGrad: true });
  const h = mul(x, 2);
  const kept = mul(x, 5).retainGrad();
  const y = sum(add(h, kept));
  y.backward();
  assert.is(h.node, null);
  assert.is(h.grad, null);
  assert.equal(Array.from(kept.grad ?? []), [1, 1]);
  assertThrows(() => y.backward(), /backward: the graph of this sum result was already released/);
});

test("two losses sharing a subgraph: the second backward is an error naming the released op, or correct with retainGraph", () => {
  const x = fromArray([1, 2], [2], { requiresGrad: true });
  const h = mul(x, x);
  sum(h).backward();
  assertThrows(
    () => sum(h).backward(),
    /backward: the mul result \(2,\) in this graph was released by an earlier backward\(\).*retainGraph/,
  );
  assert.equal(Array.from(x.grad ?? []), [2, 4], "the refused call added nothing");

  const x2 = fromArray([1, 2], [2], { requiresGrad: true });
  const h2 = mul(x2, x2);
  sum(h2).backward(undefined, { retainGraph: true });
  assert.is(h2.grad, null, "non-leaf gradients are freed even when the graph is retained");
  sum(h2).backward();
  assert.equal(Array.from(x2.grad ?? []), [4, 8]); // d/dx of 2·Σx² = 4x
});

test("retainGrad with retainGraph: the kept gradient accumulates and is not passed on twice", () => {
  const x = fromArray([1, 2], [2], { requiresGrad: true });
  const h = mul(x, 3).retainGrad();
  const y = sum(h);
  y.backward(undefined, { retainGraph: true });
  y.backward();
  assert.equal(Array.from(h.grad ?? []), [2, 2]);
  assert.equal(Array.from(x.grad ?? []), [6, 6]);
});

test("an input written in place between forward and backward is an error naming the op and input", () => {
  const x = fromArray([1, 2], [2], { requiresGrad: true });
  const w = fromArray([3, 4], [2], { requiresGrad: true });
  const y = sum(mul(w, x));
  x.data[0] = 5;
  x.markModified();
  assertThrows(
    () => y.backward(),
    /backward: input 1 of mul \(a leaf \(2,\)\) was modified in place after mul used it/,
  );
  assert.is(w.grad, null, "no gradient from the refused call");

  // A write through a view (reshape shares data) counts for the tensor it views.
  const a = fromArray([1, 2], [2], { requiresGrad: true });
  const view = reshape(a, [2, 1]);
  const z = sum(mul(a, a));
  view.markModified();
  assertThrows(() => z.backward(), /input 0 of mul \(a leaf \(2,\)\) was modified in place/);

  // An optimizer step is an in-place write.
  const p = fromArray([1, 2], [2], { requiresGrad: true });
  const opt = new SGD([p], { lr: 0.1 });
  sum(mul(p, p)).backward();
  const pending = sum(mul(p, p));
  opt.step();
  assertThrows(() => pending.backward(), /input 0 of mul \(a leaf \(2,\)\) was modified in place/);
  // Written before the forward: no error.
  opt.zeroGrad();
  sum(mul(p, p)).backward();
  assert.equal(Array.from(p.grad ?? []), [2 * (1 - 0.2), 2 * (2 - 0.4)].map(Math.fround));
});

test("noGrad records nothing and restores the previous state, even when fn throws", () => {
  const x = fromArray([1], [1], { requiresGrad: true });
  const y = noGrad(() => mul(x, 2));
  assert.not.ok(y.requiresGrad);
  assert.is(y.node, null);
  assert.throws(
    () =>
      noGrad(() => {
        throw new Error("boom");
      }),
    /boom/,
  );
  assert.ok(isGradEnabled());
});

test("requiresGrad: ops on tensors without it build no graph; backward on them is an error", () => {
  const a = fromArray([1, 2]);
  const b = mul(a, a);
  assert.not.ok(b.requiresGrad);
  assertThrows(() => sum(b).backward(), /backward: the tensor \(\) does not require a gradient/);
});

test("backward of a non-scalar needs an explicit gradient of its size", () => {
  const x = fromArray([1, 2, 3], [3], { requiresGrad: true });
  const y = mul(x, x);
  assertThrows(() => y.backward(), /backward: a non-scalar output needs an explicit gradient — output is \(3,\)/);
  assertThrows(() => mul(x, x).backward(new Float32Array(2)), /gradient has 2 elements but the output \(3,\) has 3/);
  mul(x, x).backward(new Float32Array([1, 0, -1]));
  assert.equal(Array.from(x.grad ?? []), [2, 0, -6]);
});

test("row-sparse gradients: a leaf keeps unique ascending ids with summed rows; a non-leaf gets them dense", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 12 }),
      fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 12 }),
      (a, b) => {
        const table = zeros([6, 2], { requiresGrad: true });
        const va = Float32Array.from(a.flatMap((id, i) => [id + i, 1]));
        const vb = Float32Array.from(b.flatMap((id, i) => [-id, i]));
        accumulateRows(table, Int32Array.from(a), va, 2);
        accumulateRows(table, Int32Array.from(b), vb, 2);
        const expected = new Float64Array(12);
        a.forEach((id, i) => {
          expected[2 * id] += id + i;
          expected[2 * id + 1] += 1;
        });
        b.forEach((id, i) => {
          expected[2 * id] += -id;
          expected[2 * id + 1] += i;
        });
        assert.equal(Array.from(denseGradient(table)), Array.from(expected));
        const ids = Array.from(table.rowGrad?.ids ?? []);
        assert.equal(
          ids,
          [...new Set([...a, ...b])].sort((x, y) => x - y),
        );
        assert.is(table.grad, null);
      },
    ),
    { seed: 11, numRuns: 60 },
  );
});

test("gradcheck passes a correct composite function and reports a wrong backward", () => {
  const rng = new Rng(4);
  const a = fromArray(
    Array.from({ length: 6 }, () => rng.uniformIn(-1, 1)),
    [2, 3],
    { requiresGrad: true },
  );
  const b = fromArray(
    Array.from({ length: 12 }, () => rng.uniformIn(-1, 1)),
    [3, 4],
    { requiresGrad: true },
  );
  const ok = gradcheck((x, y) => sum(tanh(matmul(x, y))), [a, b]);
  assert.ok(ok.ok, JSON.stringify(ok.mismatches));
  assert.ok(ok.maxAbsError < 1e-7);
  // A function whose graph hides part of the dependence (detach) has a wrong backward.
  const bad = gradcheck((x) => sum(mul(sigmoid(x), x.detach())), [a]);
  assert.not.ok(bad.ok);
  assert.ok(bad.mismatches.length > 0);
  assertThrows(() => gradcheck((x) => relu(x), [fromArray([1])]), /gradcheck: no input has requiresGrad/);
});

test.run();
